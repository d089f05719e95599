"""test_hostile.py - the package fed hostile input: every case either raises TacError (a Python-level TypeError /
ValueError only where noted) or gives a correct result; none crashes the interpreter, hangs, or lets the C library
print to stdout / stderr (checked on the file descriptors with capfd after every case).

Shapes and names: X is N x D image embeddings (N = 60, D = 8), T is M x D noun embeddings (M = 40).
"""
import math
import os

import numpy as np
import pytest

import taclust
from taclust import TacError
from conftest import FIXTURES

IMAGE = FIXTURES / "image" / "cifar_32x32.png"

RNG = np.random.default_rng(7)
X = RNG.standard_normal((60, 8)).astype(np.float32)
T = RNG.standard_normal((40, 8)).astype(np.float32)


@pytest.fixture(autouse=True)
def silent(capfd):
    """Every test here must leave fds 1 and 2 untouched (the library prints nothing, NumPy warns about nothing)."""
    yield
    out, err = capfd.readouterr()
    assert out == "" and err == "", f"output on stdout/stderr: {out!r} {err!r}"


def with_nan(A, i=3, j=2, v=np.nan):
    B = A.copy()
    B[i, j] = v
    return B


# ---- kmeans ------------------------------------------------------------------------------------------------------
KMEANS_BAD = {
    "k=0": (lambda: taclust.kmeans(X, 0), "k must be"),
    "k=-1": (lambda: taclust.kmeans(X, -1), "k must be"),
    "k>n": (lambda: taclust.kmeans(X, 61), "larger than the number of points"),
    "k=INT_MAX": (lambda: taclust.kmeans(X, 2**31 - 1), "larger than the number of points"),
    "k huge": (lambda: taclust.kmeans(X, 2**40), "k must be"),
    "k=None": (lambda: taclust.kmeans(X, None), "k must be"),
    "k=nan": (lambda: taclust.kmeans(X, math.nan), "k must be"),
    "k=inf": (lambda: taclust.kmeans(X, math.inf), "k must be"),
    "k='3'": (lambda: taclust.kmeans(X, "3"), "k must be"),
    "k=2.5": (lambda: taclust.kmeans(X, 2.5), "k must be"),
    "n=0": (lambda: taclust.kmeans(np.zeros((0, 8), np.float32), 2), "empty"),
    "d=0": (lambda: taclust.kmeans(np.zeros((10, 0), np.float32), 2), "empty"),
    "1-D": (lambda: taclust.kmeans(X[0], 2), "2-D"),
    "3-D": (lambda: taclust.kmeans(X.reshape(2, 30, 8), 2), "2-D"),
    "0-D": (lambda: taclust.kmeans(np.float32(3), 1), "2-D"),
    "complex": (lambda: taclust.kmeans(X.astype(np.complex64), 2), "real numeric"),
    "datetime": (lambda: taclust.kmeans(np.array([[np.datetime64("2020-01-01")]]), 1), "real numeric"),
    "record": (lambda: taclust.kmeans(np.zeros((3, 2), dtype=[("a", "f4"), ("b", "f4")]), 1), "real numeric"),
    "masked": (lambda: taclust.kmeans(np.ma.masked_array(X, mask=X > 1), 3), "masked"),
    "strings": (lambda: taclust.kmeans(np.array([["a", "b"]]), 1), "numeric"),
    "ragged": (lambda: taclust.kmeans([[1, 2], [3]], 1), "numeric"),
    "NaN": (lambda: taclust.kmeans(with_nan(X), 3), "row 3 has a NaN"),
    "Inf": (lambda: taclust.kmeans(with_nan(X, v=np.inf), 3), "row 3 has an infinite"),
    "-Inf float64": (lambda: taclust.kmeans(with_nan(X.astype(np.float64), v=-np.inf), 3), "infinite"),
    "None in object array": (lambda: taclust.kmeans(np.array([[1, 2], [3, None]], dtype=object), 1), "NaN"),
    "values overflow L2": (lambda: taclust.kmeans(X * np.float32(1e20), 3), "too large"),
    "values overflow spherical": (lambda: taclust.kmeans(np.full((60, 8), 3e38, np.float32), 3, spherical=True),
                                  "too large"),
    "niter=0": (lambda: taclust.kmeans(X, 3, niter=0), "niter must be"),
    "nredo=0": (lambda: taclust.kmeans(X, 3, nredo=0), "nredo must be"),
    "nredo=-1": (lambda: taclust.kmeans(X, 3, nredo=-1), "nredo must be"),
    "mppc=0": (lambda: taclust.kmeans(X, 3, max_points_per_centroid=0), "max_points_per_centroid must be"),
    "seed=-1": (lambda: taclust.kmeans(X, 3, seed=-1), "seed must be"),
    "seed=2**32": (lambda: taclust.kmeans(X, 3, seed=2**32), "seed must be"),
    "seed=None": (lambda: taclust.kmeans(X, 3, seed=None), "seed must be"),
    "init unknown": (lambda: taclust.kmeans(X, 3, init="furthest"), "init must be"),
    "threads=-1": (lambda: taclust.kmeans(X, 3, threads=-1), "threads must be"),
    "threads=nan": (lambda: taclust.kmeans(X, 3, threads=math.nan), "threads must be"),
}


@pytest.mark.parametrize("case", KMEANS_BAD, ids=list(KMEANS_BAD))
def test_kmeans_bad(case):
    fn, match = KMEANS_BAD[case]
    with pytest.raises(TacError, match=match):
        fn()


def test_kmeans_edge_cases_work():
    # k = n: every point its own cluster, objective 0
    labels, cent, obj = taclust.kmeans(X, 60)
    assert sorted(labels) == list(range(60)) and obj == pytest.approx(0, abs=1e-3)
    # k = 1: one centroid at the mean
    labels, cent, obj = taclust.kmeans(X, 1)
    assert (labels == 0).all()
    np.testing.assert_allclose(cent[0], X.mean(0), atol=1e-5)
    # other dtypes and layouts give the float32 C-contiguous result exactly
    ref = taclust.kmeans(X, 4, seed=3)
    F = np.asfortranarray(X)
    W = np.zeros((60, 16), np.float32)
    W[:, ::2] = X
    for A in (X.astype(np.float64), F, W[:, ::2], X.tolist()):
        got = taclust.kmeans(A, 4, seed=3)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
    Xi = (X * 100).astype(np.int32)
    np.testing.assert_array_equal(taclust.kmeans(Xi, 4, seed=3)[0], taclust.kmeans(Xi.astype(np.float32), 4, seed=3)[0])
    # integral floats and NumPy integers are fine as sizes
    assert taclust.kmeans(X, 4.0, niter=np.int64(5))[1].shape == (4, 8)
    # constant data: one label for all, no crash on the empty clusters
    labels, cent, obj = taclust.kmeans(np.ones((10, 3), np.float32), 3)
    assert len(set(labels.tolist())) == 1 and np.isfinite(cent).all() and obj == pytest.approx(0, abs=1e-6)
    # threads=0 (all) and a large spherical scale that still fits float32
    labels, cent, obj = taclust.kmeans(X * np.float32(1e15), 3, spherical=True, threads=0)
    assert np.isfinite(obj) and labels.min() >= 0 and labels.max() < 3


# ---- knn ----------------------------------------------------------------------------------------------------------
KNN_BAD = {
    "k=0": (lambda: taclust.knn(X, 0), "k must be"),
    "k=-3": (lambda: taclust.knn(X, -3), "k must be"),
    "k=n": (lambda: taclust.knn(X, 60), "smaller than the number of points"),
    "k>n": (lambda: taclust.knn(X, 1000), "smaller than the number of points"),
    "k huge": (lambda: taclust.knn(X, 2**40), "k must be"),
    "k=None": (lambda: taclust.knn(X, None), "k must be"),
    "n=1": (lambda: taclust.knn(X[:1], 1), "smaller than the number of points"),
    "n=0": (lambda: taclust.knn(X[:0], 1), "empty"),
    "NaN": (lambda: taclust.knn(with_nan(X), 3), "row 3 has a NaN"),
    "Inf": (lambda: taclust.knn(with_nan(X, v=-np.inf), 3), "infinite"),
    "1-D": (lambda: taclust.knn(X[0], 1), "2-D"),
}


@pytest.mark.parametrize("case", KNN_BAD, ids=list(KNN_BAD))
def test_knn_bad(case):
    fn, match = KNN_BAD[case]
    with pytest.raises(TacError, match=match):
        fn()


def test_knn_edge_cases_work():
    idx, sim = taclust.knn(X[:2], 1, return_similarity=True)
    assert idx.tolist() == [[1], [0]]
    idx = taclust.knn(X, 59)                       # k = n - 1: every other point, each once
    assert all(sorted(row) == [j for j in range(60) if j != i] for i, row in enumerate(idx.tolist()))
    # rows far from unit scale are normalised in double: the same similarities as the unit-scale rows
    for scale in (1e18, 1e-15):
        i1, s1 = taclust.knn(X * np.float32(scale), 5, return_similarity=True)
        i0, s0 = taclust.knn(X, 5, return_similarity=True)
        np.testing.assert_allclose(s1, s0, atol=1e-5)
        assert (i1 == i0).mean() > 0.98


# ---- metrics ------------------------------------------------------------------------------------------------------
METRICS_BAD = {
    "lengths": (lambda: taclust.metrics([0, 1, 2], [0, 1]), "3 labels but y_pred has 2"),
    "empty": (lambda: taclust.metrics([], []), "no samples"),
    "float labels": (lambda: taclust.metrics([0.5, 1], [0, 1]), "integers"),
    "NaN labels": (lambda: taclust.metrics([np.nan, 1], [0, 1]), "integers"),
    "labels beyond int64": (lambda: taclust.metrics([1e300, 1], [0, 1]), "int64"),
    "two labels beyond int64": (lambda: taclust.metrics([2.0**70, 2.0**71], [0, 1]), "int64"),
    "strings": (lambda: taclust.metrics(["a", "b"], ["a", "b"]), "integers"),
    "2-D": (lambda: taclust.metrics(np.zeros((2, 2), int), np.zeros((2, 2), int)), "1-D"),
    "scalar": (lambda: taclust.metrics(5, 5), "1-D"),
    "None": (lambda: taclust.metrics(None, None), "1-D"),
    "too many clusters": (lambda: taclust.metrics(np.arange(10000), np.arange(10000)), "too large"),
}


@pytest.mark.parametrize("case", METRICS_BAD, ids=list(METRICS_BAD))
def test_metrics_bad(case):
    fn, match = METRICS_BAD[case]
    with pytest.raises(TacError, match=match):
        fn()


def test_metrics_label_values_are_only_names():
    perfect = {"acc": 1.0, "nmi": 1.0, "ari": 1.0}
    y = np.array([0, 0, 1, 1, 2, 2])
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    for names in ([-5, -5, 7, 7, 2**62, 2**62], [lo, lo, -1, -1, hi, hi]):
        assert taclust.metrics(y, np.array(names, dtype=np.int64)) == pytest.approx(perfect)
    assert taclust.metrics(y, y.astype(np.float64)) == pytest.approx(perfect)
    assert taclust.metrics(y, np.array([2**64 - 1, 2**64 - 1, 0, 0, 2**63, 2**63], np.uint64)) == pytest.approx(perfect)
    assert taclust.metrics([True, False], [0, 1]) == pytest.approx(perfect)
    m = taclust.metrics(y, [0, 0, 1, 1, 1, 1])
    assert m["acc"] == pytest.approx(4 / 6)


# ---- TAC --------------------------------------------------------------------------------------------------------
XT = np.tile(X, (3, 1)) + 0.01 * RNG.standard_normal((180, 8)).astype(np.float32)   # 180 rows: enough for knn=50


def fitted(train=True):
    return taclust.TAC(n_clusters=3, train=train, batch=16, epochs=2).fit(XT, T)


TAC_BAD = {
    "n_clusters=0": (lambda: taclust.TAC(n_clusters=0).fit(X, T), "n_clusters is required"),
    "n_clusters=1": (lambda: taclust.TAC(n_clusters=1, train=False).fit(X, T), "K must be >= 2"),
    "n_clusters=-1": (lambda: taclust.TAC(n_clusters=-1).fit(X, T), "n_clusters must be"),
    "n_clusters huge": (lambda: taclust.TAC(n_clusters=2**40).fit(X, T), "n_clusters must be"),
    "n_clusters=INT_MAX": (lambda: taclust.TAC(n_clusters=2**31 - 1).fit(X, T), "larger than the 60 rows"),
    "n_clusters='3'": (lambda: taclust.TAC(n_clusters="3").fit(X, T), "n_clusters must be"),
    "n_clusters=nan": (lambda: taclust.TAC(n_clusters=math.nan).fit(X, T), "n_clusters must be"),
    "seed=-1": (lambda: taclust.TAC(n_clusters=3, seed=-1).fit(X, T), "seed must be"),
    "epochs=0": (lambda: taclust.TAC(n_clusters=3, epochs=0).fit(X, T), "epochs must be"),
    "batch=1": (lambda: taclust.TAC(n_clusters=3, batch=1).fit(XT, T), "batch must be >= 2"),
    "batch > n (train)": (lambda: taclust.TAC(n_clusters=3, batch=1000).fit(XT, T), "batch of 1000"),
    "knn needs more images (train)": (lambda: taclust.TAC(n_clusters=3, batch=8).fit(X[:50], T), "neighbours"),
    "centres > n": (lambda: taclust.TAC(n_clusters=3, train=False, centres=61).fit(X, T), "semantic centres"),
    "centres=2.5": (lambda: taclust.TAC(n_clusters=3, centres=2.5).fit(X, T), "centres must be"),
    "n_names=0": (lambda: taclust.TAC(n_clusters=3, train=False, n_names=0).fit(X, T), "1..16"),
    "preset unknown": (lambda: taclust.TAC(preset="nope").fit(X, T), "unknown preset"),
    "nouns of wrong width": (lambda: taclust.TAC(n_clusters=3).fit(X, T[:, :5]), "nouns has 5 columns"),
    "zero nouns": (lambda: taclust.TAC(n_clusters=3).fit(X, T[:0]), "nouns: empty"),
    "nouns 1-D": (lambda: taclust.TAC(n_clusters=3).fit(X, T[0]), "2-D"),
    "noun_names too few": (lambda: taclust.TAC(n_clusters=3, train=False).fit(X, T, noun_names=["a"] * 39),
                           "39 noun_names for 40"),
    "noun_names too many": (lambda: taclust.TAC(n_clusters=3, train=False).fit(X, T, noun_names=["a"] * 41),
                            "41 noun_names for 40"),
    "noun_names a string": (lambda: taclust.TAC(n_clusters=3, train=False).fit(X, T, noun_names="abc"),
                            "noun_names"),
    "noun_names with NUL": (lambda: taclust.TAC(n_clusters=3, train=False).fit(X, T, noun_names=["a\0b"] * 40),
                            "NUL"),
    "test_images wrong width": (lambda: taclust.TAC(n_clusters=3).fit(X, T, test_images=X[:, :4]),
                                "test_images has 4 columns"),
    "test_images empty": (lambda: taclust.TAC(n_clusters=3).fit(X, T, test_images=X[:0]), "empty"),
    "test_images fewer than K": (lambda: taclust.TAC(n_clusters=3).fit(X, T, test_images=X[:2]), "larger than the 2"),
    "NaN images": (lambda: taclust.TAC(n_clusters=3, train=False).fit(with_nan(X), T), "NaN"),
    "Inf nouns": (lambda: taclust.TAC(n_clusters=3, train=False).fit(X, with_nan(T, v=np.inf)), "infinite"),
    "labels wrong length": (lambda: taclust.TAC(n_clusters=3, train=False).fit(X, T, labels=[0] * 59), "59 labels"),
    "labels fractional": (lambda: taclust.TAC(n_clusters=3, train=False).fit(X, T, labels=[0.5] * 60), "integers"),
    "predict before fit": (lambda: taclust.TAC(n_clusters=3).predict(X), "train=True"),
    "predict after train=False": (lambda: fitted(False).predict(X), "train=True"),
    "save_heads before fit": (lambda: taclust.TAC(n_clusters=3).save_heads("/tmp/x"), "train=True"),
}


@pytest.mark.parametrize("case", TAC_BAD, ids=list(TAC_BAD))
def test_tac_bad(case):
    fn, match = TAC_BAD[case]
    with pytest.raises(TacError, match=match):
        fn()


def test_tac_predict_bad_input(tmp_path):
    tac = fitted()
    with pytest.raises(TacError, match="4 columns but the model was fitted on 8"):
        tac.predict(X[:, :4])
    with pytest.raises(TacError, match="empty"):
        tac.predict(X[:0])
    with pytest.raises(TacError, match="2-D"):
        tac.predict(X[0])
    with pytest.raises(TacError, match="row 1 has a non-finite value nan"):
        tac.predict(with_nan(X, i=1))
    with pytest.raises(TacError, match="non-finite value inf"):
        tac.predict_proba(with_nan(X, v=np.inf))
    with pytest.raises(TacError, match="NUL"):
        tac.save_heads(str(tmp_path / "a\0b"))
    with pytest.raises(TacError, match="cannot"):
        tac.save_heads(tmp_path / "no-dir" / "h.bin")
    # the model is still usable after all of that
    assert tac.predict(X).shape == (60,)
    np.testing.assert_allclose(tac.predict_proba(X).sum(1), 1, atol=1e-5)


def test_tac_edge_cases_work():
    tac = fitted()
    assert tac.labels_.shape == (180,) and set(tac.labels_.tolist()) <= {0, 1, 2}
    # batch = N_train exactly (one batch per epoch), and test images fewer than the batch
    t2 = taclust.TAC(n_clusters=3, batch=180, epochs=1).fit(XT, T, test_images=X[:3])
    assert t2.labels_.shape == (3,)
    # one noun, D = 1, float64 / list inputs, noun names of any type (str() of them)
    t3 = taclust.TAC(n_clusters=2, train=False).fit(X.astype(np.float64), T[:1], noun_names=[b"\xff\xfe"])
    assert all(c in ([], ["\udcff\udcfe"]) for c in t3.cluster_names_) and any(t3.cluster_names_)
    t4 = taclust.TAC(n_clusters=2, train=False).fit(X[:, :1].tolist(), T[:, :1])
    assert set(t4.labels_.tolist()) <= {0, 1}


# ---- choose_k ----------------------------------------------------------------------------------------------------
CHOOSE_BAD = {
    "k_max=1": (lambda: taclust.choose_k(X, T, k_max=1), "k_max must be"),
    "k_max=0": (lambda: taclust.choose_k(X, T, k_max=0), "k_max must be"),
    "k_max=-5": (lambda: taclust.choose_k(X, T, k_max=-5), "k_max must be"),
    "k_max=None": (lambda: taclust.choose_k(X, T, k_max=None), "k_max must be"),
    "k_max huge": (lambda: taclust.choose_k(X, T, k_max=2**31), "k_max must be"),
    "n=5": (lambda: taclust.choose_k(X[:5], T, k_max=10), "at least 6 images"),
    "n=1": (lambda: taclust.choose_k(X[:1], T, k_max=10), "at least 6 images"),
    "n=0": (lambda: taclust.choose_k(X[:0], T, k_max=10), "empty"),
    "widths differ": (lambda: taclust.choose_k(X, T[:, :3]), "same width"),
    "seed=-1": (lambda: taclust.choose_k(X, T, seed=-1), "seed must be"),
    "NaN": (lambda: taclust.choose_k(with_nan(X), T), "NaN"),
}


@pytest.mark.parametrize("case", CHOOSE_BAD, ids=list(CHOOSE_BAD))
def test_choose_k_bad(case):
    fn, match = CHOOSE_BAD[case]
    with pytest.raises(TacError, match=match):
        fn()


def test_choose_k_tiny_n_works():
    k, scores = taclust.choose_k(X[:6], T, k_max=10)     # k_max' = 6 / 3 = 2: only K = 2 is tried
    assert k == 2 and scores.shape == (11,)
    assert np.isnan(scores[[0, 1]]).all() and not np.isnan(scores[2]) and np.isnan(scores[3:]).all()
    k, scores = taclust.choose_k(X, T, k_max=100000)     # capped by N / 3 = 20
    assert 2 <= k <= 20 and not np.isnan(scores[20]) and np.isnan(scores[21:]).all()


# ---- CLIP --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def clip(tiny_model):
    with taclust.load_clip(tiny_model, precision="fp32") as m:
        yield m


def test_load_clip_bad(tmp_path, tiny_model):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file").write_text("x")
    broken = tmp_path / "broken"
    broken.mkdir()
    for f in tiny_model.iterdir():
        (broken / f.name).write_bytes(f.read_bytes())
    (broken / "config.json").write_text('{"projection_dim": ')
    cases = [(tmp_path / "missing", "no such folder"), (tmp_path / "file", "no such folder"),
             (tmp_path / "empty", "not a CLIP model folder"), (broken, "config.json"), ("", "empty path"),
             ("a\0b", "NUL"), (str(tmp_path / "x") + "\0", "NUL")]
    for path, match in cases:
        with pytest.raises(TacError, match=match):
            taclust.load_clip(path)
    with pytest.raises(TacError, match="precision"):
        taclust.load_clip(tiny_model, precision="fp64")
    with pytest.raises(TacError, match="expected a path"):
        taclust.load_clip(3.5)


def test_embed_images_bad(tmp_path, clip):
    (tmp_path / "noimg").mkdir()
    (tmp_path / "noimg" / "a.txt").write_text("hello")
    (tmp_path / "empty").mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "random.jpg").write_bytes(os.urandom(300))
    (bad / "empty.png").write_bytes(b"")
    (bad / "png-magic.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    (bad / "webp-magic.webp").write_bytes(b"RIFF\x10\0\0\0WEBPVP8 " + b"\1" * 20)
    (bad / "folder.jpg").mkdir()
    os.mkfifo(bad / "pipe.jpg")                      # must be skipped, not waited on
    with pytest.raises(TacError, match="missing"):
        clip.embed_images([tmp_path / "missing.jpg"])
    with pytest.raises(TacError, match="No such file"):
        clip.embed_images([""])
    for inputs in ([], [tmp_path / "noimg"], [tmp_path / "empty"], [bad], [bad / "random.jpg"],
                   [bad / "pipe.jpg"]):
        E, paths = clip.embed_images(inputs)
        assert E.shape == (0, 16) and E.dtype == np.float32 and paths == []
    for kw, match in (({"resize": 100}, "resize"), ({"batch": 0}, "batch"), ({"batch": None}, "batch"),
                      ({"threads": -1}, "threads"), ({"list_file": tmp_path / "nolist"}, "nolist"),
                      ({"list_file": tmp_path / "empty"}, "folder"), ({"list_file": "a\0b"}, "NUL")):
        with pytest.raises(TacError, match=match):
            clip.embed_images([IMAGE], **kw)
    E, paths = clip.embed_images([bad, IMAGE, bad / "pipe.jpg"])   # the good one among the bad: only it
    assert E.shape == (1, 16) and paths == [str(IMAGE)]
    with pytest.raises(TacError, match="strings"):
        clip.embed_images([None])
    with pytest.raises(TacError, match="NUL"):
        clip.embed_images(["a\0b.jpg"])


def test_embed_text_hostile_strings(clip):
    assert clip.embed_text([]).shape == (0, 16)
    prompts = ["", "x" * 200000, "\udcff\udcfe surrogates", b"\xff\xfe\x80 bytes", b"\xc0\xaf", "\U0001F600" * 300,
               "<|endoftext|>" * 50, " " * 10000, "\u0301" * 5000]
    E = clip.embed_text(prompts)
    assert E.shape == (len(prompts), 16) and np.isfinite(E).all()
    # truncation: a very long prompt equals its own 77-token prefix's embedding, whatever follows
    np.testing.assert_array_equal(clip.embed_text(["cat " * 1000])[0], clip.embed_text(["cat " * 2000])[0])
    with pytest.raises(TacError, match="NUL"):
        clip.embed_text(["a\0b"])
    with pytest.raises(TacError, match="strings"):
        clip.embed_text([3])
    with pytest.raises(TacError, match="batch"):
        clip.embed_text(["a"], batch=0)


def test_embed_nouns_templates(clip):
    for templates in (["no field"], ["{"], ["a photo of a {}.", "missing"], ["{0}"], ["{x}"]):
        with pytest.raises(TacError, match="has no"):
            clip.embed_nouns(["cat"], templates=templates)
    with pytest.raises(TacError, match="no templates"):
        clip.embed_nouns(["cat"], templates=[])
    assert clip.embed_nouns([], templates=["{}"]).shape == (0, 16)
    N = clip.embed_nouns(["", "x" * 100000, "cat"], templates=["a {} b" * 100, "{}"])
    np.testing.assert_allclose(np.linalg.norm(N, axis=1), 1, atol=1e-5)


def test_closed_model(tiny_model):
    m = taclust.load_clip(tiny_model, precision="fp32")
    m.close()
    m.close()
    for call in (lambda: m.embed_text(["a"]), lambda: m.embed_nouns(["a"]), lambda: m.hash):
        with pytest.raises(TacError, match="closed"):
            call()
