"""test_core.py - taclust.kmeans / knn / metrics against the references the C tests use (faiss 1.7.3's k-means
fixtures, float64 brute-force kNN, scikit-learn's metrics), against the C CLI (bit-identical outputs), and bad
inputs raising TacError with the process alive."""
import numpy as np
import pytest

import taclust
from conftest import FIXTURES, synth

CL = FIXTURES / "cluster"
# (name, k, spherical, niter, nredo, max_points_per_centroid, seed): as tests/test_cluster.c and
# tools/gen_cluster_fixtures.py
CASES = [("sph", 8, True, 20, 3, 256, 1234), ("l2", 8, False, 20, 3, 256, 7), ("sub", 6, True, 15, 2, 256, 99),
         ("odd", 13, False, 10, 2, 50, 5), ("empty", 10, True, 10, 1, 256, 3)]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_kmeans_matches_faiss(case):
    name, k, sph, niter, nredo, mppc, seed = case
    X = np.load(CL / f"{name}_X.npy")
    Lref, Cref = np.load(CL / f"{name}_labels.npy").ravel(), np.load(CL / f"{name}_centroids.npy")
    oref = float(np.load(CL / f"{name}_obj.npy").ravel()[0])
    labels, cent, obj = taclust.kmeans(X, k, spherical=sph, niter=niter, nredo=nredo, seed=seed,
                                       max_points_per_centroid=mppc)
    assert labels.dtype == np.int64 and labels.shape == (X.shape[0],)
    assert cent.dtype == np.float32 and cent.shape == (k, X.shape[1])
    assert np.count_nonzero(labels != Lref) <= X.shape[0] // 500     # near-ties only, as the C test
    np.testing.assert_allclose(cent, Cref, atol=1e-4)
    assert obj == pytest.approx(oref, rel=1e-4, abs=1e-2)


def test_kmeans_equals_cli(tmp_path, run_cli):
    X = np.load(CL / "sph_X.npy")
    r = run_cli("kmeans", CL / "sph_X.npy", "-k", 8, "--spherical", "--niter", 20, "--nredo", 3, "--seed", 1234,
                "--out", tmp_path / "l.npy", "--centroids", tmp_path / "c.npy", "--quiet")
    labels, cent, obj = taclust.kmeans(X, 8, spherical=True, niter=20, nredo=3, seed=1234)
    np.testing.assert_array_equal(labels, np.load(tmp_path / "l.npy"))
    np.testing.assert_array_equal(cent, np.load(tmp_path / "c.npy"))
    line = [s for s in r.stdout.splitlines() if s.startswith("objective")][0]
    assert obj == pytest.approx(float(line.split()[1]), rel=1e-6)


def test_kmeans_seed_and_input_dtypes():
    X = np.load(CL / "l2_X.npy")
    a = taclust.kmeans(X, 8, seed=3)
    b = taclust.kmeans(X.astype(np.float64), 8, seed=3)             # converted, same values
    c = taclust.kmeans(np.asfortranarray(X), 8, seed=3)             # made C-contiguous, same values
    for o in (b, c):
        np.testing.assert_array_equal(a[0], o[0])
        np.testing.assert_array_equal(a[1], o[1])
    d = taclust.kmeans(X, 8, seed=4)
    assert not np.array_equal(a[1], d[1])                             # another seed, another init
    pp = taclust.kmeans(X, 8, seed=3, init="k-means++")
    assert not np.array_equal(a[1], pp[1])


def test_knn_matches_brute_force(run_cli, tmp_path):
    X = np.load(CL / "knn_X.npy")
    Iref, Sref = np.load(CL / "knn_idx.npy"), np.load(CL / "knn_sim.npy")
    idx, sim = taclust.knn(X, k=10, return_similarity=True)
    assert idx.dtype == np.int64 and idx.shape == (X.shape[0], 10)
    np.testing.assert_allclose(sim, Sref, atol=1e-5)
    assert not np.any(idx == np.arange(X.shape[0])[:, None])        # self excluded
    # indices agree except at near-ties of the float64 reference
    gap_prev = np.diff(Sref, axis=1, prepend=np.inf)
    gap_next = np.diff(Sref, axis=1, append=-np.inf)
    tie = (np.abs(gap_prev) < 1e-5) | (np.abs(gap_next) < 1e-5)
    assert np.all((idx == Iref) | tie)
    run_cli("knn", CL / "knn_X.npy", "-k", 10, "--out", tmp_path / "i.npy", "--quiet")
    np.testing.assert_array_equal(taclust.knn(X, 10), np.load(tmp_path / "i.npy"))


def test_metrics_known_values():
    assert taclust.metrics([0, 0, 1, 1], [5, 5, 3, 3]) == {"acc": 1.0, "nmi": 1.0, "ari": 1.0}
    m = taclust.metrics([0, 0, 0, 1, 1, 1], [0, 0, 1, 1, 2, 2])
    assert m["acc"] == pytest.approx(4 / 6)
    # the generated cases of tests/fixtures/metrics/cases.txt (sklearn NMI/ARI, scipy Hungarian ACC)
    lines = (FIXTURES / "metrics" / "cases.txt").read_text().splitlines()
    n_cases = 0
    for i, line in enumerate(lines):
        if not line.startswith("case "):
            continue
        _, name, n, acc, nmi, ari = line.split()
        y = np.array(lines[i + 1].split(), dtype=np.int64)
        p = np.array(lines[i + 2].split(), dtype=np.int64)
        assert y.shape == (int(n),)
        got = taclust.metrics(y, p)
        assert got["acc"] == pytest.approx(float(acc), abs=1e-9), name
        assert got["nmi"] == pytest.approx(float(nmi), abs=1e-9), name
        assert got["ari"] == pytest.approx(float(ari), abs=1e-9), name
        n_cases += 1
    assert n_cases >= 5


def test_metrics_vs_sklearn():
    skm = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(5)
    for n, k in ((50, 3), (1000, 10), (777, 25)):
        y = rng.integers(0, k, n)
        p = np.where(rng.random(n) < 0.6, y * 3 + 7, rng.integers(0, k + 2, n))   # ids need not be 0..K-1
        got = taclust.metrics(y, p)
        assert got["nmi"] == pytest.approx(skm.normalized_mutual_info_score(y, p), abs=1e-10)
        assert got["ari"] == pytest.approx(skm.adjusted_rand_score(y, p), abs=1e-10)
        # ACC: the best one-to-one map (scipy's linear_sum_assignment on the contingency table)
        opt = pytest.importorskip("scipy.optimize")
        C = skm.cluster.contingency_matrix(y, p)
        r, c = opt.linear_sum_assignment(-C)
        assert got["acc"] == pytest.approx(C[r, c].sum() / n, abs=1e-12)


def test_bad_inputs_raise_tac_error():
    X = synth()[0]
    with pytest.raises(taclust.TacError, match="larger than the number of points"):
        taclust.kmeans(X[:5], 6)
    Xn = X.copy()
    Xn[7, 3] = np.nan
    with pytest.raises(taclust.TacError, match="row 7 has a NaN"):
        taclust.kmeans(Xn, 4)
    with pytest.raises(taclust.TacError, match="row 7 has a NaN"):
        taclust.knn(Xn, 3)
    Xi = X.copy()
    Xi[2, 0] = np.inf
    with pytest.raises(taclust.TacError, match="row 2"):
        taclust.kmeans(Xi, 4)
    with pytest.raises(taclust.TacError, match="must be smaller than the number of points"):
        taclust.knn(X[:10], 10)
    with pytest.raises(taclust.TacError, match="2-D"):
        taclust.kmeans(X[0], 2)
    with pytest.raises(taclust.TacError, match="empty"):
        taclust.kmeans(X[:0], 2)
    with pytest.raises(taclust.TacError, match="numeric"):
        taclust.kmeans([["a", "b"], ["c", "d"]], 1)
    with pytest.raises(taclust.TacError, match="k must be"):
        taclust.kmeans(X, 0)
    with pytest.raises(taclust.TacError, match="3 labels but y_pred has 2"):
        taclust.metrics([1, 2, 3], [1, 2])
    with pytest.raises(taclust.TacError, match="integers"):
        taclust.metrics([1.5, 2], [1, 2])
    with pytest.raises(taclust.TacError):
        taclust.metrics([], [])
    # the process is alive and the library still works after every failure
    assert taclust.kmeans(X, 4, seed=1)[0].shape == (X.shape[0],)
    assert issubclass(taclust.TacError, RuntimeError)


def test_the_gil_is_released_during_library_calls():
    # while a worker thread is inside a long kmeans call, this thread keeps running Python code; were the GIL
    # held for the call, the loop below would be stuck until the call returned
    import threading
    import time
    X = np.random.default_rng(1).standard_normal((20000, 64), dtype=np.float32)
    inside = threading.Event()
    out = {}

    def work():
        inside.set()
        out["r"] = taclust.kmeans(X, 64, niter=40, nredo=2, max_points_per_centroid=10**6)

    t = threading.Thread(target=work)
    t.start()
    inside.wait()
    wakeups = 0
    while t.is_alive():
        time.sleep(0.005)      # returns only when this thread gets the GIL back
        wakeups += 1
    t.join()
    assert out["r"][0].shape == (20000,)
    assert wakeups >= 10, wakeups    # GIL held during the call: 1 or 2 (before it and after it)


def test_threads_parameter():
    X = np.load(CL / "sph_X.npy")
    ref = taclust.kmeans(X, 8, spherical=True, niter=20, seed=3)
    if not taclust._lib.has_field(taclust._lib.S.kmeans_params(), "threads"):
        with pytest.raises(taclust.TacError, match="threads is not available in this libtaclust"):
            taclust.kmeans(X, 8, threads=1)
        return
    for t in (1, 2, 0):
        got = taclust.kmeans(X, 8, spherical=True, niter=20, seed=3, threads=t)
        np.testing.assert_array_equal(got[0], ref[0])
    with pytest.raises(taclust.TacError, match="threads must be"):
        taclust.kmeans(X, 8, threads=-1)


def test_heads_precision_setting():
    import taclust
    assert taclust.heads_precision() == ("fp32", "fp32")          # the library's default
    with pytest.raises(taclust.TacError, match="none of fp32, bf16, auto"):
        taclust.set_heads_precision("fp16")
    taclust.set_heads_precision("auto")
    setting, active = taclust.heads_precision()
    assert setting == "auto" and active in ("fp32", "bf16")
    if active == "fp32":                                            # no native bf16: bf16 itself is refused
        with pytest.raises(taclust.TacError, match="AVX512-BF16"):
            taclust.set_heads_precision("bf16")
    else:
        taclust.set_heads_precision("bf16")
        assert taclust.heads_precision() == ("bf16", "bf16")
    taclust.set_heads_precision("fp32")
    assert taclust.heads_precision() == ("fp32", "fp32")
