"""test_clip.py - the CLIP calls on the tiny model fixture (tests/fixtures/clip/tiny: a random-weight CLIP with its
own tokenizer files) compared with the C CLI: clip.embed_images == `taclust embed-images` (rows and paths, bad
files skipped), clip.embed_text == `taclust embed-text --prompts`, clip.embed_nouns == `taclust embed-text
--nouns` (TAC's 7 templates); plus errors."""
import os

import numpy as np
import pytest

import taclust
from conftest import FIXTURES

IMAGES = FIXTURES / "image"
PROMPTS = ["a photo of a cat", "itap of a dog.", "", "A Photo Of A Cat", "art of the volcano. " * 30]
NOUNS = ["cat", "dog", "Cat", "hot_dog", "volcano", "tulip"]


@pytest.fixture(scope="module", params=["fp32", "auto"])
def model(request, tiny_model):
    with taclust.load_clip(tiny_model, precision=request.param) as m:
        yield request.param, m


def test_model_properties(tiny_model):
    m = taclust.load_clip(tiny_model, precision="fp32")
    assert m.embed_dim == 16 and m.image_size == 224 and m.precision == "fp32"
    assert len(m.hash) == 16
    m.close()
    with pytest.raises(taclust.TacError, match="closed"):
        m.embed_text(["x"])


def test_embed_images_equals_cli(tmp_path, run_cli, model, tiny_model):
    prec, m = model
    run_cli("embed-images", "--model", tiny_model, "--precision", prec, "--out", tmp_path / "X.npy", "--quiet", IMAGES)
    X, paths = m.embed_images([IMAGES])
    ref = np.load(tmp_path / "X.npy")
    ref_paths = (tmp_path / "X.paths.txt").read_text().splitlines()
    skipped = (tmp_path / "X.skipped.txt").read_text().splitlines()
    assert X.dtype == np.float32 and X.shape == ref.shape and X.shape[1] == m.embed_dim
    assert paths == ref_paths and len(paths) >= 5
    np.testing.assert_array_equal(X, ref)
    # the corrupt fixtures were skipped, not embedded, and the call did not fail
    assert len(skipped) >= 3 and not any("bad_" in p.rsplit("/", 1)[1] for p in paths)
    # a list of files gives the same rows (up to BLAS rounding: the batch differs)
    X1, p1 = m.embed_images([paths[2], paths[0]])
    assert p1 == [paths[2], paths[0]]
    np.testing.assert_allclose(X1, X[[2, 0]], rtol=1e-5, atol=1e-5)
    # resize 256 changes the preprocessing
    X2, _ = m.embed_images(paths[:2], resize=256)
    assert not np.array_equal(X2, X[:2])


def test_embed_text_equals_cli(tmp_path, run_cli, model, tiny_model):
    prec, m = model
    (tmp_path / "p.txt").write_text("".join(p + "\n" for p in PROMPTS))
    run_cli("embed-text", "--model", tiny_model, "--precision", prec, "--prompts", tmp_path / "p.txt", "--out",
            tmp_path / "T.npy", "--quiet")
    T = m.embed_text(PROMPTS)
    assert T.dtype == np.float32 and T.shape == (len(PROMPTS), m.embed_dim)
    np.testing.assert_array_equal(T, np.load(tmp_path / "T.npy"))
    assert not np.allclose(np.linalg.norm(T, axis=1), 1)                 # unnormalised
    np.testing.assert_allclose(m.embed_text(PROMPTS[0]), T[:1], rtol=1e-5, atol=1e-5)   # a string is one prompt


def test_embed_nouns_equals_cli(tmp_path, run_cli, model, tiny_model):
    prec, m = model
    (tmp_path / "n.txt").write_text("".join(n + "\n" for n in NOUNS))
    run_cli("embed-text", "--model", tiny_model, "--precision", prec, "--nouns", tmp_path / "n.txt", "--out",
            tmp_path / "N.npy", "--quiet")
    N = m.embed_nouns(NOUNS)
    np.testing.assert_array_equal(N, np.load(tmp_path / "N.npy"))
    np.testing.assert_allclose(np.linalg.norm(N, axis=1), 1, atol=1e-6)   # normalised
    # the 7-template ensemble: the normalised mean of the unnormalised prompt embeddings
    P = m.embed_text([t.replace("{}", "volcano", 1) for t in taclust.prompt_templates]).astype(np.float64).mean(0)
    np.testing.assert_allclose(N[4], P / np.linalg.norm(P), atol=1e-6)
    # --templates none == one template "{}"
    run_cli("embed-text", "--model", tiny_model, "--precision", prec, "--nouns", tmp_path / "n.txt", "--templates",
            "none", "--out", tmp_path / "N1.npy", "--quiet")
    np.testing.assert_array_equal(m.embed_nouns(NOUNS, templates=["{}"]), np.load(tmp_path / "N1.npy"))


def test_clip_errors(tmp_path, tiny_model):
    with pytest.raises(taclust.TacError, match="load_clip"):
        taclust.load_clip(tmp_path / "no-model")
    with pytest.raises(taclust.TacError, match="auto"):
        taclust.load_clip(tiny_model, precision="fp16")
    m = taclust.load_clip(tiny_model, precision="fp32")
    with pytest.raises(taclust.TacError, match="no-such-file"):
        m.embed_images([tmp_path / "no-such-file.jpg"])
    with pytest.raises(taclust.TacError, match="resize"):
        m.embed_images([IMAGES], resize=300)
    with pytest.raises(taclust.TacError, match="strings"):
        m.embed_text([1, 2])
    (tmp_path / "empty").mkdir()
    X, paths = m.embed_images([tmp_path / "empty"])
    assert X.shape == (0, 16) and paths == []
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not a jpeg")
    X, paths = m.embed_images([bad])                      # skipped, not an error
    assert X.shape == (0, 16) and paths == []
    assert m.embed_text(["still works"]).shape == (1, 16)


def test_wordnet_nouns():
    if not os.path.isfile("/usr/share/wordnet/data.noun"):
        pytest.skip("no /usr/share/wordnet (Debian: wordnet-base)")
    nouns = taclust.wordnet_nouns()
    assert len(nouns) == 146347 and nouns[:3] == ["entity", "physical_entity", "abstraction"]
    with pytest.raises(taclust.TacError, match="data.noun"):
        taclust.wordnet_nouns(FIXTURES)


def test_one_model_from_several_threads(tiny_model):
    import threading
    m = taclust.load_clip(tiny_model, precision="fp32")
    ref = m.embed_text(PROMPTS)
    out, errors = [None] * 4, []

    def work(i):
        try:
            out[i] = m.embed_text(PROMPTS) if i % 2 else m.embed_nouns(NOUNS)
        except Exception as e:     # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors
    np.testing.assert_array_equal(out[1], ref)
    np.testing.assert_array_equal(out[3], ref)
    np.testing.assert_array_equal(out[0], out[2])
