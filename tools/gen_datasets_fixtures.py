#!/usr/bin/python3
"""gen_datasets_fixtures.py - writes tests/fixtures/datasets/: tiny fake datasets in their distributed forms, for
tests/test_datasets.c. Run with Debian's python (numpy, PIL; the ffmpeg CLI for the UCF-101 clips):

    /usr/bin/python3 tools/gen_datasets_fixtures.py

What it writes (every pixel and label follows the formulas below, which the C test recomputes):
  cifar10py/cifar-10-batches-py/   data_batch_1..5, test_batch: 3 records each (test_batch: 4), written by
      Python's own pickle in different ways so the reader meets every form: batch 1 protocol 2 with str keys
      (bytes then go through _codecs.encode), batch 2 protocol 2 with bytes keys, batch 3 a hand-built
      Python-2 cPickle stream (BINSTRING keys and data, like the original files), batch 4 protocol 4, batch 5
      protocol 5, test_batch protocol 3 with bytes keys.
      pixel(file f, record r, row y, col x, channel c) = (37*r + 5*y + 3*x + 101*c + 13*f) % 256, label = (3*r + f) % 10
      with f = 1..5 for data_batch_f and f = 0 for test_batch; stored as numpy does it: R, G, B planes of 32x32.
  cifar100py/cifar-100-python/     train (5 records, protocol 2) and test (4 records, protocol 4), with
      fine_labels = (7*r + f) % 100 and coarse_labels = (3*r + f) % 20 (f = 1 for train, 0 for test), same pixels.
  pickle/                          odd pickles for error tests (no labels, truncated, not a dict).
  dtd/                             images/<class>/<class>_000k.jpg (3 classes x 3 images, 8x8) with
      labels/train1.txt, val1.txt, test1.txt (split 1 = train + val / test).
  imagenet/                        train/<wnid>/ and val/<wnid>/ with 3 ImageNet-10 wnids and one other wnid
      (n01440764, tench) that the ImageNet-10 filter must drop.
  ucf101/                          UCF-101/<Class>/v_<Class>_gXX_cYY.avi (MPEG-4 part 2 in AVI, as distributed;
      9 or 10 frames of 32x24, frame i of class ci, group g a solid colour ucf_colour(i + 3*ci + g%5)) and ucfTrainTestlist/ (classInd.txt,
      trainlist01.txt, testlist01.txt).
Every pickle is loaded back with pickle.loads and compared with the arrays it should hold.
"""
import os
import pickle
import shutil
import struct
import subprocess
import sys

import numpy as np
from PIL import Image

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests', 'fixtures', 'datasets')


def pixels(f, n):
    """n x 3072 uint8 in CIFAR order (R plane, G plane, B plane), built from an HWC image."""
    r = np.arange(n)[:, None, None, None]
    y = np.arange(32)[None, :, None, None]
    x = np.arange(32)[None, None, :, None]
    c = np.arange(3)[None, None, None, :]
    hwc = ((37 * r + 5 * y + 3 * x + 101 * c + 13 * f) % 256).astype(np.uint8)   # n x 32 x 32 x 3
    return np.ascontiguousarray(hwc.transpose(0, 3, 1, 2)).reshape(n, 3072)


def cifar10_dict(f, n, bytes_keys):
    k = (lambda s: s.encode()) if bytes_keys else (lambda s: s)
    return {k('batch_label'): 'batch %d' % f, k('labels'): [(3 * r + f) % 10 for r in range(n)],
            k('data'): pixels(f, n), k('filenames'): ['img_%d_%d.png' % (f, r) for r in range(n)]}


def py2_pickle(f, n):
    """The byte stream Python 2 cPickle.dump(d, file, 2) writes for a CIFAR batch dict (hand-built)."""
    out = bytearray(b'\x80\x02}q\x00(')
    memo = [1]

    def put():
        out.extend(b'q' + bytes([memo[0]]))
        memo[0] += 1

    def sstr(s):
        b = s.encode() if isinstance(s, str) else s
        out.extend((b'U' + bytes([len(b)]) + b) if len(b) < 256 else (b'T' + struct.pack('<i', len(b)) + b))
        put()

    sstr('data')
    out.extend(b'cnumpy.core.multiarray\n_reconstruct\n'); put()
    out.extend(b'cnumpy\nndarray\n'); put()
    out.extend(b'K\x00\x85'); put()
    sstr('b')
    out.extend(b'\x87'); put()
    out.extend(b'R'); put()
    out.extend(b'(K\x01K' + bytes([n]) + b'M\x00\x0c\x86'); put()
    out.extend(b'cnumpy\ndtype\n'); put()
    sstr('u1')
    out.extend(b'K\x00K\x01\x87'); put()
    out.extend(b'R'); put()
    out.extend(b'(K\x03'); sstr('|')
    out.extend(b'NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89')
    sstr(pixels(f, n).tobytes())
    out.extend(b'tb')
    sstr('labels')
    out.extend(b']'); put()
    out.extend(b'(' + b''.join(b'K' + bytes([(3 * r + f) % 10]) for r in range(n)) + b'e')
    sstr('batch_label'); sstr('batch %d' % f)
    sstr('filenames')
    out.extend(b']'); put()
    out.extend(b'(')
    for r in range(n):
        sstr('img_%d_%d.png' % (f, r))
    out.extend(b'eu.')
    return bytes(out)


def check(blob, f, n, label_key, labels):
    d = pickle.loads(blob, encoding='bytes')
    d = {(k.decode() if isinstance(k, bytes) else k): v for k, v in d.items()}
    assert np.array_equal(np.asarray(d['data']), pixels(f, n)), 'data differs'
    assert list(d[label_key]) == labels, 'labels differ'


def write(path, blob):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as fh:
        fh.write(blob)


def gen_cifar():
    base = os.path.join(OUT, 'cifar10py', 'cifar-10-batches-py')
    forms = {1: (2, False), 2: (2, True), 3: ('py2', False), 4: (4, False), 5: (5, False), 0: (3, True)}
    for f, (proto, bkeys) in forms.items():
        n = 4 if f == 0 else 3
        blob = py2_pickle(f, n) if proto == 'py2' else pickle.dumps(cifar10_dict(f, n, bkeys), protocol=proto)
        check(blob, f, n, 'labels', [(3 * r + f) % 10 for r in range(n)])
        write(os.path.join(base, 'test_batch' if f == 0 else 'data_batch_%d' % f), blob)
    base = os.path.join(OUT, 'cifar100py', 'cifar-100-python')
    for name, f, n, proto in (('train', 1, 5, 2), ('test', 0, 4, 4)):
        d = {'filenames': ['x%d.png' % r for r in range(n)], 'batch_label': name,
             'fine_labels': [(7 * r + f) % 100 for r in range(n)], 'coarse_labels': [(3 * r + f) % 20 for r in range(n)],
             'data': pixels(f, n)}
        blob = pickle.dumps(d, protocol=proto)
        check(blob, f, n, 'coarse_labels', d['coarse_labels'])
        write(os.path.join(base, name), blob)
    # odd pickles for the error tests and the fuzz corpus
    pk = os.path.join(OUT, 'pickle')
    good = pickle.dumps(cifar10_dict(7, 2, False), protocol=2)
    write(os.path.join(pk, 'nolabels.pkl'), pickle.dumps({'data': pixels(7, 2), 'batch_label': 'x'}, protocol=2))
    write(os.path.join(pk, 'truncated.pkl'), good[:len(good) // 2])
    write(os.path.join(pk, 'list.pkl'), pickle.dumps([1, 2, 3], protocol=4))
    write(os.path.join(pk, 'float64.pkl'), pickle.dumps({'labels': [1, 2], 'data': np.zeros((2, 4))}, protocol=4))
    write(os.path.join(pk, 'badcount.pkl'), pickle.dumps({'labels': [1, 2, 3], 'data': pixels(7, 2)}, protocol=3))
    values = {'a': [1, -2, 255, 300, 65535, 70000, -(2 ** 31), -(2 ** 40), 2 ** 62], 'b': (1.5, b'xy', b'', ()),
              'c': [True, None, {'k': frozenset([1])}], b'd': [7]}
    for proto in (1, 2, 3, 4, 5):
        write(os.path.join(pk, 'values_p%d.pkl' % proto), pickle.dumps(values, protocol=proto))


def jpeg(path, colour):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.new('RGB', (8, 8), colour).save(path, quality=90)


def gen_dtd():
    base = os.path.join(OUT, 'dtd')
    classes = ['banded', 'dotted', 'zigzagged']
    for ci, c in enumerate(classes):
        for k in range(1, 4):
            jpeg(os.path.join(base, 'images', c, '%s_%04d.jpg' % (c, k)), (80 * ci, 60 * k, 40))
    lists = {'train1.txt': 1, 'val1.txt': 2, 'test1.txt': 3}
    os.makedirs(os.path.join(base, 'labels'), exist_ok=True)
    for name, k in lists.items():
        with open(os.path.join(base, 'labels', name), 'w') as fh:
            # the official lists are not sorted by class: write them in reverse class order
            for c in reversed(classes):
                fh.write('%s/%s_%04d.jpg\n' % (c, c, k))


def gen_imagenet():
    base = os.path.join(OUT, 'imagenet')
    wnids = ['n01440764', 'n02056570', 'n03095699', 'n07747607']   # n01440764 is not an ImageNet-10 class
    for split, count in (('train', 2), ('val', 1)):
        for wi, w in enumerate(wnids):
            for k in range(count):
                stem = ('%s_%d' % (w, k + 1)) if split == 'train' else ('ILSVRC2012_val_%08d' % (10 * wi + k + 1))
                jpeg(os.path.join(base, split, w, stem + '.JPEG'), (50 * wi, 30, 200))
        # a stray non-image file must be ignored
        with open(os.path.join(base, split, wnids[1], 'README.txt'), 'w') as fh:
            fh.write('not an image\n')


def ucf_colour(k):
    return ((k * 28) % 256, (255 - k * 45) % 256, (k * 90) % 256)


def avi(path, nframes, off):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    raw = b''.join(bytes(ucf_colour(i + off)) * (32 * 24) for i in range(nframes))
    subprocess.run(['ffmpeg', '-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', '32x24', '-r', '25',
                    '-i', '-', '-c:v', 'mpeg4', '-q:v', '2', '-g', '4', '-bf', '0', '-an', path], input=raw, check=True)


def gen_ucf():
    base = os.path.join(OUT, 'ucf101')
    if os.path.isdir(base):
        shutil.rmtree(base)
    classes = ['ApplyEyeMakeup', 'Basketball']
    lists = os.path.join(base, 'ucfTrainTestlist')
    os.makedirs(lists)
    with open(os.path.join(lists, 'classInd.txt'), 'w') as fh:
        for i, c in enumerate(classes):
            fh.write('%d %s\r\n' % (i + 1, c))   # the official files have CRLF line ends
    train, test = [], []
    for ci, c in enumerate(classes):
        for g, nf in ((8, 9), (9, 10), (1, 9)):
            name = 'v_%s_g%02d_c01.avi' % (c, g)
            avi(os.path.join(base, 'UCF-101', c, name), nf, 3 * ci + g % 5)
            (test if g == 1 else train).append((c, name, ci + 1))
    with open(os.path.join(lists, 'trainlist01.txt'), 'w') as fh:
        for c, name, lab in train:
            fh.write('%s/%s %d\r\n' % (c, name, lab))
    with open(os.path.join(lists, 'testlist01.txt'), 'w') as fh:
        for c, name, _ in test:
            fh.write('%s/%s\r\n' % (c, name))


def main():
    gen_cifar()
    gen_dtd()
    gen_imagenet()
    if shutil.which('ffmpeg'):
        gen_ucf()
    else:
        print('ffmpeg CLI not found: UCF-101 clips not regenerated', file=sys.stderr)
    print('wrote', os.path.normpath(OUT))


if __name__ == '__main__':
    main()
