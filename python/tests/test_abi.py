"""test_abi.py - the struct mirrors and the library they were checked against: sizes equal tac_struct_size, a
mismatch is refused with a clear error, default parameters read through the mirrors equal the C defaults, and a
missing or broken library fails the import with a clear message (in a child process)."""
import ctypes
import os
import subprocess
import sys

import pytest

import taclust
from taclust import _lib

STRUCTS = {"tac_metrics": "metrics", "tac_kmeans_params": "kmeans_params", "tac_heads_params": "heads_params",
           "tac_fit_params": "fit_params", "tac_fit_result": "fit_result",
           "tac_embed_images_params": "embed_images_params", "tac_embed_text_params": "embed_text_params"}


@pytest.mark.parametrize("cname", sorted(STRUCTS))
def test_mirror_sizes_equal_the_library(cname):
    want = _lib.lib.tac_struct_size(cname.encode())
    assert want > 0
    assert ctypes.sizeof(getattr(_lib.S, STRUCTS[cname])) == want


def test_unknown_struct_and_mismatch_are_refused():
    assert _lib.lib.tac_struct_size(b"tac_no_such_struct") == 0
    variants = _lib._variants("tac_metrics", [("acc", ctypes.c_double)], [[("nmi", ctypes.c_double)]])
    assert _lib._choose("tac_metrics", variants, size_fn=lambda n: 16) is variants[1]
    with pytest.raises(_lib.StructMismatch, match=r"sizeof\(tac_metrics\) = 24 bytes but this package mirrors it "
                                                  r"in 8, 16 bytes"):
        _lib._choose("tac_metrics", variants, size_fn=lambda n: 24)
    with pytest.raises(_lib.StructMismatch, match="does not know struct"):
        _lib._choose("tac_metrics", variants, size_fn=lambda n: 0)
    assert issubclass(_lib.StructMismatch, ImportError)


def test_appended_field_groups_are_recognised():
    # the contract's appended fields (progress callback + user, then threads) give distinct sizes, so the
    # variant chosen by size is the right layout
    base = [("resize", ctypes.c_int), ("batch", ctypes.c_int), ("label", ctypes.c_char_p), ("on_batch", ctypes.c_void_p),
            ("ctx", ctypes.c_void_p)]
    v = _lib._variants("x", base, [_lib._PROGRESS, _lib._THREADS])
    sizes = [ctypes.sizeof(c) for c in v]
    assert sizes == sorted(set(sizes))
    assert _lib._choose("x", v, size_fn=lambda n: sizes[2]) is v[2]
    # only `int threads` appended without the progress pair (another layout) is refused, not misread
    with pytest.raises(_lib.StructMismatch):
        _lib._choose("x", v, size_fn=lambda n: ctypes.sizeof(type("y", (ctypes.Structure,), {"_fields_": base + _lib._THREADS})))


def test_defaults_read_through_the_mirrors():
    p = _lib.new_struct(_lib.S.fit_params, "tac_fit_params")
    _lib.lib.tac_fit_default_params(ctypes.byref(p))
    assert (p.gamma, p.niter, p.nredo_centres, p.nredo_concat, p.knn, p.train, p.n_names, p.seed) == \
        (5, 300, 10, 20, 50, 1, 5, 1234)
    assert p.tau == pytest.approx(0.005)
    assert (p.heads.hidden, p.heads.epochs, p.heads.batch) == (512, 20, 512)
    assert p.heads.lr == pytest.approx(1e-3) and p.heads.entropy_weight == pytest.approx(5.0)
    assert _lib.lib.tac_fit_preset(b"cifar10", ctypes.byref(p)) == 0 and p.K == 10
    k = _lib.new_struct(_lib.S.kmeans_params, "tac_kmeans_params")
    _lib.lib.tac_kmeans_default_params(ctypes.byref(k))
    assert (k.niter, k.nredo, k.spherical, k.max_points_per_centroid, k.seed) == (25, 1, 0, 256, 1234)
    e = _lib.lib.tac_embed_images_default_params()
    assert (e.resize, e.batch) == (224, 32)
    t = _lib.lib.tac_embed_text_default_params()
    assert t.batch == 512


def _import_in_child(env_lib):
    env = dict(os.environ, TACLUST_LIBRARY=env_lib)
    return subprocess.run([sys.executable, "-c", "import taclust"], env=env, capture_output=True, text=True,
                          cwd=os.path.dirname(os.path.dirname(taclust.__file__)))


def test_missing_or_foreign_library_fails_clearly(tmp_path):
    r = _import_in_child(str(tmp_path / "nope.so"))
    assert r.returncode != 0 and "cannot load $TACLUST_LIBRARY" in r.stderr
    r = _import_in_child("libm.so.6")    # loads, but is not libtaclust
    assert r.returncode != 0 and "has no tac_struct_size" in r.stderr


def test_version_and_templates():
    assert taclust.library_version().count(".") == 2
    assert len(taclust.prompt_templates) == 7 and all("{}" in t for t in taclust.prompt_templates)
    assert "cifar10" in taclust.preset_names()
