"""test_tac.py - the TAC estimator: the same inputs and seed give exactly the outputs of `taclust fit` (labels of
TAC and TAC (no train), selected nouns, cluster names, metrics), it recovers well separated classes, predict
reproduces the image head's labels, and bad inputs raise TacError with the process alive."""
import json

import numpy as np
import pytest

import taclust
from conftest import synth


@pytest.fixture(scope="module")
def data():
    return synth(seed=11)


def write_inputs(d, Xtr, Xte, T, names, yte=None):
    np.save(d / "Xtr.npy", Xtr)
    np.save(d / "Xte.npy", Xte)
    np.save(d / "T.npy", T)
    (d / "names.txt").write_text("".join(n + "\n" for n in names))
    if yte is not None:
        np.save(d / "yte.npy", yte)


def cli_fit(run_cli, d, *extra):
    out = d / "out"
    run_cli("fit", "--train", d / "Xtr.npy", "--test", d / "Xte.npy", "--nouns", d / "T.npy", "--noun-names",
            d / "names.txt", "--out", out, "--quiet", *extra)
    return out


def cluster_names_tsv(path):
    rows = [line.split("\t") for line in path.read_text().splitlines()[1:]]
    return [int(r[1]) for r in rows], [r[2].split(", ") if r[2] else [] for r in rows]


@pytest.mark.parametrize("train", [True, False], ids=["tac", "notrain"])
def test_fit_equals_cli(tmp_path, run_cli, data, train):
    Xtr, ytr, Xte, yte, T, names = data
    write_inputs(tmp_path, Xtr, Xte, T, names, yte)
    extra = ["-K", 4, "--seed", 77, "--epochs", 8, "--labels", tmp_path / "yte.npy"] + ([] if train else ["--no-train"])
    out = cli_fit(run_cli, tmp_path, *extra)
    tac = taclust.TAC(n_clusters=4, train=train, seed=77, epochs=8)
    assert tac.fit(Xtr, T, noun_names=names, test_images=Xte, labels=yte) is tac
    notrain = np.load(out / "pred_notrain.npy")
    np.testing.assert_array_equal(tac.labels_notrain_, notrain)
    if train:
        np.testing.assert_array_equal(tac.labels_, np.load(out / "pred_tac.npy"))
    else:
        assert not (out / "pred_tac.npy").exists()
        np.testing.assert_array_equal(tac.labels_, notrain)
    assert tac.labels_.dtype == np.int64 and tac.labels_.shape == (Xte.shape[0],)
    sel = np.loadtxt(out / "selected.txt", dtype=np.int64, ndmin=1)
    np.testing.assert_array_equal(tac.selected_nouns_, sel)
    assert tac.selected_nouns_.dtype == np.int64
    sizes, cnames = cluster_names_tsv(out / "cluster_names.tsv")
    np.testing.assert_array_equal(tac.cluster_sizes_, sizes)
    assert tac.cluster_names_ == cnames and len(cnames) == 4
    m = json.loads((out / "metrics.json").read_text())
    for key in ("tac_notrain", "clip_kmeans") + (("tac",) if train else ()):
        for k in ("acc", "nmi", "ari"):
            assert tac.metrics_[key][k] == pytest.approx(m[key][k], abs=1e-6)
    # the classes are recovered, and each cluster is named after its class's nouns
    assert taclust.metrics(yte, tac.labels_)["acc"] > 0.9
    for c in range(4):
        members = yte[tac.labels_ == c]
        cls = np.bincount(members).argmax()
        assert cnames[c] and all(n.startswith(f"class{cls}_") for n in cnames[c])


def test_same_seed_same_labels_other_seed_runs(data):
    Xtr, ytr, Xte, yte, T, names = data
    a = taclust.TAC(n_clusters=4, seed=5, epochs=4).fit(Xtr, T)
    b = taclust.TAC(n_clusters=4, seed=5, epochs=4).fit(Xtr, T)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.labels_notrain_, b.labels_notrain_)
    assert a.cluster_names_ is None and a.cluster_name_indices_.shape == (4, 5)
    assert a.metrics_ is None
    # test_images default to train_images: predict on them gives labels_ exactly
    np.testing.assert_array_equal(a.predict(Xtr), a.labels_)
    np.testing.assert_array_equal(a.predict(Xtr.astype(np.float64) * 3.0), a.labels_)   # rows normalised first
    P = a.predict_proba(Xtr)
    assert P.shape == (Xtr.shape[0], 4) and np.allclose(P.sum(1), 1, atol=1e-5)
    np.testing.assert_array_equal(P.argmax(1), a.labels_)


def test_predict_needs_heads_and_width(data):
    Xtr, ytr, Xte, yte, T, names = data
    nt = taclust.TAC(n_clusters=4, train=False).fit(Xtr, T)
    with pytest.raises(taclust.TacError, match="train=True"):
        nt.predict(Xtr)
    t = taclust.TAC(n_clusters=4, epochs=2).fit(Xtr, T)
    with pytest.raises(taclust.TacError, match="columns"):
        t.predict(Xtr[:, :10])


def test_predict_and_saved_heads_equal_cli_predict(tmp_path, run_cli, data):
    Xtr, ytr, Xte, yte, T, names = data
    t = taclust.TAC(n_clusters=4, epochs=3, seed=9).fit(Xtr, T, test_images=Xte)
    t.save_heads(tmp_path / "heads.bin")
    np.save(tmp_path / "X.npy", Xte)
    run_cli("predict", "--heads", tmp_path / "heads.bin", "--images", tmp_path / "X.npy", "--out",
            tmp_path / "pred.npy", "--quiet")
    np.testing.assert_array_equal(np.load(tmp_path / "pred.npy"), t.predict(Xte))
    np.testing.assert_array_equal(t.predict(Xte), t.labels_)


def test_preset_and_params(data):
    Xtr, ytr, Xte, yte, T, names = data
    t = taclust.TAC(preset="stl10", n_clusters=4, train=False)
    assert t.get_params()["preset"] == "stl10"
    t.set_params(seed=3)
    assert t.seed == 3 and "n_clusters=4" in repr(t)
    t.fit(Xtr, T)
    assert t.n_clusters_ == 4
    with pytest.raises(taclust.TacError, match="unknown|preset"):
        taclust.TAC(preset="no-such-dataset").fit(Xtr, T)
    with pytest.raises(taclust.TacError, match="n_clusters is required"):
        taclust.TAC().fit(Xtr, T)


def test_bad_inputs_raise_tac_error(data):
    Xtr, ytr, Xte, yte, T, names = data
    with pytest.raises(taclust.TacError, match="nouns has 31 columns but train_images has 32"):
        taclust.TAC(n_clusters=4).fit(Xtr, T[:, :31])
    with pytest.raises(taclust.TacError, match="test_images has 16 columns"):
        taclust.TAC(n_clusters=4).fit(Xtr, T, test_images=Xte[:, :16])
    Xn = Xtr.copy()
    Xn[10, 5] = np.nan
    with pytest.raises(taclust.TacError, match="NaN"):
        taclust.TAC(n_clusters=4).fit(Xn, T)
    Tn = T.copy()
    Tn[3, 0] = np.inf
    with pytest.raises(taclust.TacError, match="Inf|non-finite|finite"):
        taclust.TAC(n_clusters=4, train=False).fit(Xtr, Tn)
    with pytest.raises(taclust.TacError, match="larger than the 30 rows"):
        taclust.TAC(n_clusters=31, train=False).fit(Xtr[:30], T)
    with pytest.raises(taclust.TacError, match="noun_names"):
        taclust.TAC(n_clusters=4).fit(Xtr, T, noun_names=names[:5])
    with pytest.raises(taclust.TacError, match="labels"):
        taclust.TAC(n_clusters=4).fit(Xtr, T, labels=yte)          # 400 labels for 1200 test (= train) images
    with pytest.raises(taclust.TacError):
        taclust.TAC(n_clusters=1).fit(Xtr, T)                      # K < 2, refused by the library
    with pytest.raises(taclust.TacError, match="batch"):
        taclust.TAC(n_clusters=4).fit(Xtr[:100], T)                # N_train < heads batch 512
    # alive, and a good fit still works
    assert taclust.TAC(n_clusters=4, train=False).fit(Xtr, T).labels_.shape == (Xtr.shape[0],)


def test_choose_k(data):
    if not taclust._lib.has_choose_k:
        pytest.skip("tac_choose_k is not in this libtaclust yet")
    Xtr, ytr, Xte, yte, T, names = data
    k, scores = taclust.choose_k(Xtr, T, k_max=8)
    assert scores.shape == (9,) and np.isnan(scores[:2]).all()
    assert k == 4 and np.nanargmax(scores) == 4
    assert np.all(np.isfinite(scores[2:])) and np.all(np.abs(scores[2:]) <= 1)
    with pytest.raises(taclust.TacError):
        taclust.choose_k(Xtr, T[:, :5], k_max=8)
    # one thread: the same K, scores equal to rounding (OpenBLAS's sums depend on its thread count)
    k1, s1 = taclust.choose_k(Xtr, T, k_max=8, threads=1)
    assert k1 == k and np.allclose(s1[2:], scores[2:], atol=1e-4)
    with pytest.raises(taclust.TacError):
        taclust.choose_k(Xtr, T, k_max=8, threads=-1)


def test_choose_k_missing_is_a_clear_error(monkeypatch, data):
    monkeypatch.setattr(taclust._lib, "has_choose_k", False)
    with pytest.raises(taclust.TacError, match="not available in this libtaclust"):
        taclust.choose_k(data[0], data[4])


def test_confidences_when_the_library_returns_them(data):
    if not taclust._lib.has_field(taclust._lib.S.fit_result(), "confidence"):
        pytest.skip("this libtaclust's fit returns no confidences")
    Xtr, ytr, Xte, yte, T, names = data
    t = taclust.TAC(n_clusters=4, epochs=3, seed=2).fit(Xtr, T, test_images=Xte)
    assert t.confidence_.shape == (Xte.shape[0],)
    P = t.predict_proba(Xte)
    np.testing.assert_allclose(t.confidence_, P[np.arange(len(P)), t.labels_], atol=1e-5)
    assert t.cluster_centroids_.shape == (4, 2 * Xtr.shape[1])
    np.testing.assert_allclose(np.linalg.norm(t.cluster_centroids_, axis=1), 1, atol=1e-5)
    nt = taclust.TAC(n_clusters=4, train=False).fit(Xtr, T, test_images=Xte)
    assert nt.confidence_.shape == (Xte.shape[0],) and np.all((nt.confidence_ > 0) & (nt.confidence_ <= 1))
