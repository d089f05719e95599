"""taclust - TAC image clustering (Li et al., ICML 2024) from Python: NumPy arrays over libtaclust (ctypes).

    import taclust
    clip = taclust.load_clip("path/to/clip-folder")
    X, paths = clip.embed_images(["photos/"])
    labels = taclust.TAC(n_clusters=10).fit(X, clip.embed_nouns(nouns), noun_names=nouns).labels_

Arrays: float32 C-contiguous inputs are passed to the library as they are (no copy, read-only arrays too); other
dtypes or layouts are converted once. Shapes: N rows (images), D (= E) embedding width, M nouns, K clusters.
Every call releases the GIL while the library works. Errors raise taclust.TacError carrying the library's reason.
"""
import os
import threading

import numpy as np

from . import _lib
from ._lib import TacError, lib, library_path

__all__ = ["TacError", "load_clip", "Clip", "wordnet_nouns", "kmeans", "knn", "metrics", "choose_k", "TAC", "library_version",
           "library_path", "prompt_templates", "preset_names", "set_heads_precision", "heads_precision"]
__version__ = "0.2.0"

prompt_templates = list(_lib.prompt_templates)   # TAC's 7 templates, each with one "{}"


def library_version():
    """The version string of the loaded libtaclust."""
    return lib.tac_version().decode()


def preset_names():
    """The dataset presets TAC(preset=...) accepts."""
    return [s.strip() for s in lib.tac_fit_preset_names().decode().split(",")]


_HEADS_PREC = {"auto": 0, "fp32": 1, "bf16": 2}


def set_heads_precision(precision):
    """The arithmetic of the heads' training products for the whole process (the CLI's --heads-precision):
    "fp32" (default, the reference), "bf16" (oneDNN on bf16 operands with float32 accumulation; needs AVX512-BF16
    or AMX-BF16; about 2x faster per step at K=1000) or "auto" (bf16 where the CPU has it)."""
    if precision not in _HEADS_PREC:
        raise TacError(f"set_heads_precision: {precision!r} is none of fp32, bf16, auto")
    _lib.check(lib.tac_heads_set_precision(_HEADS_PREC[precision]), "set_heads_precision")


def heads_precision():
    """(setting, active): the heads' precision setting ("fp32", "bf16" or "auto") and what training would use
    now ("fp32" or "bf16")."""
    name = {v: k for k, v in _HEADS_PREC.items()}[lib.tac_heads_get_precision()]
    return name, "bf16" if lib.tac_heads_bf16_active() else "fp32"


# ---- array helpers -------------------------------------------------------------------------------------------
_INT_MAX = 2**31 - 1


def _f32_matrix(X, what, rows_min=1):
    """X as a C-contiguous float32 N x D array: the same array (no copy) when it already is one."""
    try:
        if isinstance(X, np.ma.MaskedArray) and np.ma.is_masked(X):   # asarray would use the hidden values
            raise TacError(f"{what}: masked arrays are not supported (fill or drop the masked values first)")
        A = np.asarray(X)
        if A.ndim != 2:
            raise TacError(f"{what}: expected a 2-D array (N x D), got shape {A.shape}")
        if A.dtype.kind not in "fiubO":   # complex (the imaginary part would be dropped), strings, dates, records
            raise TacError(f"{what}: expected a real numeric array, got dtype {A.dtype}")
        if A.dtype != np.float32 or not A.flags.c_contiguous:
            A = np.ascontiguousarray(A, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise TacError(f"{what}: not a numeric array ({e})") from None
    if A.shape[0] < rows_min or A.shape[1] < 1:
        raise TacError(f"{what}: empty array of shape {A.shape}")
    if A.shape[1] > _INT_MAX or A.shape[0] > 2**62:
        raise TacError(f"{what}: shape {A.shape} is too large")
    return A


def _i64_vector(y, what):
    """y as a C-contiguous int64 vector (integers, or floats with integral values)."""
    try:
        A = np.asarray(y)
    except (TypeError, ValueError) as e:
        raise TacError(f"{what}: not a numeric array ({e})") from None
    if A.ndim == 2 and A.shape[1] == 1:
        A = A[:, 0]
    if A.ndim != 1:
        raise TacError(f"{what}: expected a 1-D array of labels, got shape {A.shape}")
    if A.dtype.kind == "f":
        if not np.all(np.isfinite(A)) or not np.all(A == np.round(A)):
            raise TacError(f"{what}: labels must be integers (got non-integral floats)")
        if A.size and (A.min() < -2.0**63 or A.max() >= 2.0**63):   # the cast would wrap them (distinct labels merged)
            raise TacError(f"{what}: labels must fit in int64 (got values up to {max(abs(A.min()), abs(A.max())):g})")
    elif A.dtype.kind not in "iub":
        raise TacError(f"{what}: labels must be integers (got dtype {A.dtype})")
    return np.ascontiguousarray(A, dtype=np.int64)


def _strings(items, what):
    """A list of str / bytes / os.PathLike as a ctypes char* array (kept alive by the returned tuple)."""
    if isinstance(items, (str, bytes, os.PathLike)):
        items = [items]
    enc = []
    for s in items:
        if isinstance(s, os.PathLike):
            s = os.fspath(s)
        if isinstance(s, str):
            s = s.encode("utf-8", "surrogateescape")
        if not isinstance(s, bytes):
            raise TacError(f"{what}: expected strings, got {type(s).__name__}")
        if b"\0" in s:
            raise TacError(f"{what}: a string holds a NUL character")
        enc.append(s)
    arr = (_lib._str * max(len(enc), 1))(*enc)
    return arr, len(enc)


def _fspath(p, what="path"):
    try:
        b = os.fsencode(os.fspath(p))
    except TypeError:
        raise TacError(f"{what}: expected a path (str, bytes or os.PathLike), got {type(p).__name__}") from None
    if b"\0" in b:
        raise TacError(f"{what}: the path {p!r} holds a NUL character")
    if not b:
        raise TacError(f"{what}: empty path")
    return b


def _ptr(a):
    return None if a is None else a.ctypes.data


# ---- CLIP ------------------------------------------------------------------------------------------------------
class _Calls:
    """Counts the calls running on a model so that close() frees it only when none is left. The calls themselves
    run side by side: a loaded model is read-only and each library call makes its own workspace (clip.h)."""

    def __init__(self):
        self._cv = threading.Condition()
        self._running = 0
        self.closed = False

    def __enter__(self):
        with self._cv:
            if self.closed:
                raise TacError("this CLIP model was closed")
            self._running += 1

    def __exit__(self, *exc):
        with self._cv:
            self._running -= 1
            if self._running == 0:
                self._cv.notify_all()

    def close(self, free):
        with self._cv:
            if self.closed:
                return
            self.closed = True
            while self._running:
                self._cv.wait()
            free()


class Clip:
    """A loaded CLIP model (taclust/clip.h). Several threads may call one model at once (the GIL is released while
    the library works, and each call has its own workspace). Release with close() or a with-block."""

    def __init__(self, path, precision="auto"):
        self._calls = _Calls()
        self._m = _lib.P()
        spec = None if path is None else _fspath(path, "load_clip")
        d = _lib.P()
        _lib.check(lib.tac_model_resolve(spec, None, _lib._c.byref(d)), f"load_clip({path!r})")
        try:
            self.path = os.fsdecode(_lib._c.string_at(d))   # the model folder
        finally:
            lib.tac_free(d)
        _lib.check(lib.tac_clip_load(_fspath(self.path), _lib._c.byref(self._m)), f"load_clip({path!r})")
        try:
            if precision is not None:
                prec = _lib._c.c_int()
                _lib.check(lib.tac_clip_parse_precision(str(precision).encode(), _lib._c.byref(prec)), "precision")
                _lib.check(lib.tac_clip_set_precision(self._m, prec.value), "precision")
        except BaseException:
            self.close()
            raise
        self.embed_dim = lib.tac_clip_embed_dim(self._m)     # E
        self.image_size = lib.tac_clip_image_size(self._m)   # S

    @property
    def precision(self):
        """What the towers run in: "fp32" or "bf16"."""
        return lib.tac_clip_precision_name(lib.tac_clip_precision(self._handle())).decode()

    @property
    def hash(self):
        """A stable digest of the weights (16 hex characters)."""
        return lib.tac_clip_hash(self._handle()).decode()

    def _handle(self):
        if not self._m:
            raise TacError("this CLIP model was closed")
        return self._m

    def close(self):
        """Frees the model (after the calls running on it in other threads have returned)."""
        if getattr(self, "_m", None) and getattr(self, "_calls", None):
            def free():
                lib.tac_clip_free(self._m)
                self._m = _lib.P()
            self._calls.close(free)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __repr__(self):
        return f"<taclust.Clip {self.path!r} E={self.embed_dim}>"

    def embed_images(self, inputs, resize=224, batch=32, list_file=None, threads=None):
        """CLIP image features of the images named by `inputs` (files, or folders walked recursively in bytewise
        order keeping .jpg .jpeg .png .webp; as `taclust embed-images`; list_file: a file of more inputs, one per
        line; threads: at most that many, 0 = all, None = the default). Returns (X, ok_paths): X float32 N x E,
        the UNNORMALISED projected embeddings of the N images that could be read, in order, and their paths.
        Unreadable or corrupt images are skipped. resize: shorter side before the center crop (224, or 256 as TAC
        does for ImageNet-style datasets)."""
        if resize not in (224, 256):
            raise TacError(f"embed_images: resize must be 224 or 256 (got {resize})")
        batch = _lib.int_arg(batch, "embed_images: batch", 1, 4096)
        arr, n_in = _strings(inputs, "embed_images")
        paths, n = _lib.P(), _lib._c.c_int64()
        lf = None if list_file is None else _fspath(list_file, "embed_images: list_file")
        _lib.check(lib.tac_list_inputs(arr, n_in, lf,
                                       _lib._c.byref(paths), _lib._c.byref(n)), "embed_images")
        n = n.value
        try:
            cpaths = _lib._c.cast(paths, _lib._c.POINTER(_lib._str))
            names = [os.fsdecode(cpaths[i]) for i in range(n)]
            E = self.embed_dim
            X = np.zeros((n, E), dtype=np.float32)
            ok = np.zeros(n, dtype=np.int8)
            if n == 0:
                return X, []
            p = lib.tac_embed_images_default_params()
            p.resize, p.batch, p.label = int(resize), int(batch), None
            _lib.set_threads(p, threads, "embed_images")
            nok = _lib._c.c_int64()
            with self._calls:
                _lib.check(lib.tac_embed_images(self._handle(), paths, n, _lib._c.byref(p), _ptr(X), _ptr(ok),
                                                _lib._c.byref(nok)), "embed_images")
        finally:
            lib.tac_free_strings(paths, n)
        keep = ok.astype(bool)
        return np.ascontiguousarray(X[keep]), [s for s, k in zip(names, keep) if k]

    def _text_params(self, batch, threads):
        batch = _lib.int_arg(batch, "batch", 1, 65536)
        p = lib.tac_embed_text_default_params()
        p.batch, p.label = batch, None
        _lib.set_threads(p, threads, "embed_text")
        return p

    def embed_text(self, prompts, batch=512, threads=None):
        """CLIP text features: float32 N x E, one UNNORMALISED row per prompt (clip.tokenize, truncate=True)."""
        arr, n = _strings(prompts, "embed_text")
        p = self._text_params(batch, threads)
        T = np.zeros((n, self.embed_dim), dtype=np.float32)
        if n:
            with self._calls:
                _lib.check(lib.tac_embed_prompts(self._handle(), arr, n, _lib._c.byref(p), _ptr(T)), "embed_text")
        return T

    def embed_nouns(self, nouns, templates=None, batch=512, threads=None):
        """TAC's noun embeddings: float32 M x E, each noun put in the templates (default TAC's 7, see
        taclust.prompt_templates), the unnormalised prompt embeddings averaged, the mean L2-normalised."""
        arr, n = _strings(nouns, "embed_nouns")
        tarr, nt = _strings(prompt_templates if templates is None else templates, "templates")
        if nt < 1:
            raise TacError("embed_nouns: no templates")
        for t in range(nt):   # (the library says so too) without the field every noun embeds alike
            if b"{}" not in tarr[t]:
                raise TacError(f"embed_nouns: template {tarr[t].decode('utf-8', 'replace')!r} has no \"{{}}\" "
                               f"for the noun")
        p = self._text_params(batch, threads)
        T = np.zeros((n, self.embed_dim), dtype=np.float32)
        if n:
            with self._calls:
                _lib.check(lib.tac_embed_nouns(self._handle(), arr, n, tarr, nt, _lib._c.byref(p), _ptr(T)),
                           "embed_nouns")
        return T


def load_clip(path=None, precision="auto"):
    """Loads a CLIP model: a folder (Hugging Face or OpenCLIP layout, with its tokenizer files) or a Hugging Face
    id "org/name[@revision]" (looked up in the huggingface_hub cache, downloaded when absent; None: $TACLUST_MODEL,
    else the default model), as the CLI's --model. precision: "auto" (bf16 where the CPU has it, else fp32),
    "fp32" (exact) or "bf16"; None keeps the process default ($TACLUST_PRECISION)."""
    return Clip(path, precision)


def wordnet_nouns(wordnet_dir="/usr/share/wordnet"):
    """TAC's noun list: every lemma of every noun synset of WORDNET_DIR/data.noun in file order (146,347 for
    WordNet 3.0, Debian's wordnet-base), underscores and case kept."""
    v, n = _lib.P(), _lib._c.c_int64()
    _lib.check(lib.tac_wordnet_nouns(_fspath(wordnet_dir, "wordnet_nouns"), _lib._c.byref(v), _lib._c.byref(n)),
               "wordnet_nouns")
    try:
        c = _lib._c.cast(v, _lib._c.POINTER(_lib._str))
        return [c[i].decode("utf-8", "surrogateescape") for i in range(n.value)]
    finally:
        lib.tac_free_strings(v, n.value)


# ---- k-means, kNN, metrics ------------------------------------------------------------------------------------
_INITS = {"random": 0, "k-means++": 1, "kmeans++": 1}


def kmeans(X, k, spherical=False, niter=25, nredo=1, seed=1234, max_points_per_centroid=256, init="random",
           threads=None):
    """k-means with faiss 1.7 semantics (taclust/cluster.h). X: N x D. Returns (labels int64 N, centroids
    float32 K x D, objective float: sum of max inner products if spherical, else sum of squared distances).
    threads: at most that many threads (0 = all the library may use; None: the library's default)."""
    A = _f32_matrix(X, "kmeans: X")
    n, d = A.shape
    if init not in _INITS:
        raise TacError(f"kmeans: init must be one of {sorted(_INITS)} (got {init!r})")
    k, niter, nredo, max_points_per_centroid = (_lib.int_arg(v, f"kmeans: {name}", 1, _INT_MAX) for name, v in (
        ("k", k), ("niter", niter), ("nredo", nredo), ("max_points_per_centroid", max_points_per_centroid)))
    seed = _lib.int_arg(seed, "kmeans: seed", 0, 2**32 - 1)
    p = _lib.new_struct(_lib.S.kmeans_params, "tac_kmeans_params")
    lib.tac_kmeans_default_params(_lib._c.byref(p))
    p.k, p.niter, p.nredo, p.spherical = k, niter, nredo, 1 if spherical else 0
    p.max_points_per_centroid, p.seed, p.init, p.progress = max_points_per_centroid, seed, _INITS[init], 0
    _lib.set_threads(p, threads, "kmeans")
    labels = np.empty(n, dtype=np.int32)
    cent = np.empty((k, d), dtype=np.float32) if k <= n else None
    obj = _lib._c.c_double()
    _lib.check(lib.tac_kmeans(_ptr(A), n, d, _lib._c.byref(p), _ptr(cent), _ptr(labels), _lib._c.byref(obj)))
    return labels.astype(np.int64), cent, obj.value


def knn(X, k=50, return_similarity=False):
    """Exact cosine k nearest neighbours of every row among all rows, self excluded (rows are normalised
    internally). Returns idx int64 N x k, most similar first (ties: lower index); with return_similarity also
    the float32 N x k cosine similarities."""
    A = _f32_matrix(X, "knn: X")
    n, d = A.shape
    k = _lib.int_arg(k, "knn: k", 1, _INT_MAX)
    if k >= n:   # checked here too: the output would otherwise be allocated for nothing
        raise TacError(f"knn: k={k} must be smaller than the number of points N={n} (self is excluded)")
    idx = np.empty((n, k), dtype=np.int64)
    sim = np.empty((n, k), dtype=np.float32) if return_similarity else None
    _lib.check(lib.tac_knn_cosine(_ptr(A), n, d, k, _ptr(idx), _ptr(sim)))
    return (idx, sim) if return_similarity else idx


def metrics(y_true, y_pred):
    """Clustering metrics as TAC reports them: {"acc": Hungarian accuracy, "nmi": NMI (arithmetic),
    "ari": adjusted Rand index}, fractions. Labels may be any integers."""
    a, b = _i64_vector(y_true, "metrics: y_true"), _i64_vector(y_pred, "metrics: y_pred")
    if a.shape != b.shape:
        raise TacError(f"metrics: y_true has {a.shape[0]} labels but y_pred has {b.shape[0]}")
    m = _lib.new_struct(_lib.S.metrics, "tac_metrics")
    _lib.check(lib.tac_metrics_compute(_ptr(a), _ptr(b), a.shape[0], _lib._c.byref(m)))
    return {"acc": m.acc, "nmi": m.nmi, "ari": m.ari}


def _same_width(A, B, what_a, what_b):
    if A.shape[1] != B.shape[1]:
        raise TacError(f"{what_b} has {B.shape[1]} columns but {what_a} has {A.shape[1]}: embeddings must have "
                       f"the same width")


def choose_k(images, nouns, k_max=30, seed=1234, threads=None):
    """TAC's K selection (`-K auto`): the K in 2..k_max (capped by N/3) with the best mean silhouette. images:
    N x D raw image embeddings, nouns: M x D noun embeddings. Returns (K, scores): scores float64 k_max+1, scores[k]
    the mean silhouette for the K tried, NaN elsewhere. threads: at most that many (0 = all; None = the default)."""
    if not _lib.has_choose_k:
        raise TacError(f"choose_k: tac_choose_k is not available in this libtaclust ({library_path})")
    X, T = _f32_matrix(images, "choose_k: images"), _f32_matrix(nouns, "choose_k: nouns")
    _same_width(X, T, "images", "nouns")
    k_max = _lib.int_arg(k_max, "choose_k: k_max", 2, 100000)
    seed = _lib.int_arg(seed, "choose_k: seed", 0, 2**32 - 1)
    scores = np.full(k_max + 1, np.nan)
    best = _lib._c.c_int()
    nthreads = 0 if threads is None else _lib.int_arg(threads, "choose_k: threads", 0, 1 << 20)
    _lib.check(lib.tac_choose_k_ex(_ptr(X), X.shape[0], X.shape[1], _ptr(T), T.shape[0], k_max, seed, 0,
                                   _lib._c.byref(best), _ptr(scores), None, 0, nthreads), "choose_k")
    return best.value, scores


# ---- TAC --------------------------------------------------------------------------------------------------------
class _Heads:
    """Owns a tac_heads* (freed with the object)."""

    def __init__(self, ptr):
        self.ptr = _lib.P(ptr)

    def __del__(self):
        if self.ptr:
            lib.tac_heads_free(self.ptr)
            self.ptr = _lib.P()


def _i64_copy(ptr, n, shape=None):
    if not ptr or n == 0:
        return np.zeros(shape if shape is not None else (n,), dtype=np.int64)
    buf = (_lib._c.c_int64 * n).from_address(ptr)
    return np.array(buf, dtype=np.int64).reshape(shape if shape is not None else (n,))


def _i32_as_i64(ptr, n):
    if not ptr:
        return None
    buf = (_lib._c.c_int32 * n).from_address(ptr)
    return np.array(buf, dtype=np.int32).astype(np.int64)


class TAC:
    """TAC (Li et al., ICML 2024) as a scikit-learn style estimator over taclust's tac_fit (taclust/pipeline.h).

    n_clusters: K (required unless preset gives it); train: True for TAC (trained heads), False for TAC (no
    train) only; seed: k-means and heads seed; preset: dataset settings (taclust.preset_names()) that set K,
    epochs, batch and temperature; centres / epochs / batch / n_names override them when given; threads: at
    most that many threads (0 = all the library may use; None: the library's default).

    After fit: labels_ (int64 predictions for the test images: TAC's image head, or TAC (no train) with
    train=False), labels_notrain_, selected_nouns_ (int64 indices into nouns, ascending),
    selected_centres_, cluster_sizes_, cluster_name_indices_ (K x n_names int64, -1 = none), cluster_names_
    (K lists of strings, when noun_names were given), n_centres_, metrics_ (with labels) and train_metrics_
    (with train_labels). Same inputs and seed give the same labels as `taclust fit`."""

    _PARAMS = ("n_clusters", "train", "seed", "preset", "centres", "epochs", "batch", "n_names", "threads")

    def __init__(self, n_clusters=None, train=True, seed=1234, preset=None, centres=None, epochs=None, batch=None,
                 n_names=None, threads=None):
        self.n_clusters, self.train, self.seed, self.preset = n_clusters, train, seed, preset
        self.centres, self.epochs, self.batch, self.n_names = centres, epochs, batch, n_names
        self.threads = threads
        self._heads = None

    def get_params(self, deep=True):
        return {k: getattr(self, k) for k in self._PARAMS}

    def set_params(self, **params):
        for k, v in params.items():
            if k not in self._PARAMS:
                raise ValueError(f"TAC has no parameter {k!r}")
            setattr(self, k, v)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in self._PARAMS if getattr(self, k) is not None)
        return f"TAC({args})"

    def _params(self):
        p = _lib.new_struct(_lib.S.fit_params, "tac_fit_params")
        lib.tac_fit_default_params(_lib._c.byref(p))
        if self.preset is not None:
            _lib.check(lib.tac_fit_preset(str(self.preset).encode(), _lib._c.byref(p)), "TAC")
        for name, field in (("n_clusters", "K"), ("centres", "centres"), ("n_names", "n_names")):
            v = getattr(self, name)
            if v is not None:
                setattr(p, field, _lib.int_arg(v, f"TAC: {name}", 0, _INT_MAX))
        for name in ("epochs", "batch"):
            v = getattr(self, name)
            if v is not None:
                setattr(p.heads, name, _lib.int_arg(v, f"TAC: {name}", 1, _INT_MAX))
        if not p.K:
            raise TacError("TAC: n_clusters is required (or a preset)")
        seed = _lib.int_arg(self.seed, "TAC: seed", 0, 2**32 - 1)
        p.train = 1 if self.train else 0
        p.notrain = 1
        p.seed = seed
        p.progress = 0
        _lib.set_threads(p, self.threads, "TAC")
        return p

    def fit(self, train_images, nouns, noun_names=None, test_images=None, labels=None, train_labels=None):
        """Runs TAC. train_images: N_train x D, nouns: M x D noun embeddings (raw or normalised), noun_names: M
        strings (optional), test_images: N_test x D (default: train_images); labels / train_labels: optional
        int labels of the test / train images, for metrics_ / train_metrics_. Returns self."""
        p = self._params()
        Xtr = _f32_matrix(train_images, "TAC.fit: train_images")
        Xte = Xtr if test_images is None else _f32_matrix(test_images, "TAC.fit: test_images")
        T = _f32_matrix(nouns, "TAC.fit: nouns")
        _same_width(Xtr, Xte, "train_images", "test_images")
        _same_width(Xtr, T, "train_images", "nouns")
        names_arr, names = None, None
        if noun_names is not None:
            names = [os.fsdecode(s) if isinstance(s, bytes) else str(s) for s in noun_names]
            names_arr, nn = _strings(names, "TAC.fit: noun_names")
            if nn != T.shape[0]:
                raise TacError(f"TAC.fit: {nn} noun_names for {T.shape[0]} noun embeddings")
        yte = ytr = None
        if labels is not None:
            yte = _i64_vector(labels, "TAC.fit: labels")
            if yte.shape[0] != Xte.shape[0]:
                raise TacError(f"TAC.fit: {yte.shape[0]} labels for {Xte.shape[0]} test images")
        if train_labels is not None:
            ytr = _i64_vector(train_labels, "TAC.fit: train_labels")
            if ytr.shape[0] != Xtr.shape[0]:
                raise TacError(f"TAC.fit: {ytr.shape[0]} train_labels for {Xtr.shape[0]} train images")
        for what, A in (("test_images", Xte), ("train_images", Xtr)):
            if p.K > A.shape[0]:
                raise TacError(f"TAC.fit: n_clusters={p.K} is larger than the {A.shape[0]} rows of {what}")
        r = _lib.new_struct(_lib.S.fit_result, "tac_fit_result")
        _lib.check(lib.tac_fit(_ptr(Xtr), Xtr.shape[0], _ptr(Xte), Xte.shape[0], Xtr.shape[1], _ptr(T), T.shape[0],
                               names_arr, _ptr(yte), _ptr(ytr), _lib._c.byref(p), _lib._c.byref(r)), "TAC.fit")
        try:
            self._read_result(r, names)
            heads, r.heads = r.heads, None
            self._heads = _Heads(heads) if heads else None
        finally:
            lib.tac_fit_result_free(_lib._c.byref(r))
        self.n_features_in_ = Xtr.shape[1]
        return self

    def _read_result(self, r, names):
        nte, K, nn = r.n_test, r.K, r.n_names
        self.n_clusters_, self.n_centres_ = K, r.k
        self.labels_notrain_ = _i32_as_i64(r.pred_notrain, nte)
        tac = _i32_as_i64(r.pred_tac, nte)
        self.labels_ = tac if tac is not None else self.labels_notrain_
        self.labels_kmeans_ = _i32_as_i64(r.pred_kmeans, nte)
        self.selected_nouns_ = _i64_copy(r.selected, r.nsel)
        self.selected_centres_ = _i32_as_i64(r.selected_centre, r.nsel) if r.nsel else np.zeros(0, np.int64)
        self.cluster_sizes_ = _i64_copy(r.cluster_size, K)
        self.cluster_name_indices_ = _i64_copy(r.cluster_names, K * nn, (K, nn))
        self.cluster_names_ = None if names is None else \
            [[names[t] for t in row if t >= 0] for row in self.cluster_name_indices_]

        def md(m):
            return {"acc": m.acc, "nmi": m.nmi, "ari": m.ari}
        self.metrics_ = None
        if r.has_metrics:
            self.metrics_ = {"tac_notrain": md(r.m_notrain)}
            if r.pred_kmeans:
                self.metrics_["clip_kmeans"] = md(r.m_kmeans)
            if r.pred_tac:
                self.metrics_["tac"] = md(r.m_tac)
        self.train_metrics_ = md(r.m_tac_train) if r.has_train_metrics else None
        # with a library whose fit returns them: the confidences and the joint-space centroids
        self.confidence_ = self.cluster_centroids_ = None
        if _lib.has_field(r, "confidence") and r.confidence:
            self.confidence_ = np.ctypeslib.as_array((_lib._c.c_float * nte).from_address(r.confidence)).copy()
        if _lib.has_field(r, "centroids") and r.centroids:
            self.cluster_centroids_ = np.ctypeslib.as_array(
                (_lib._c.c_float * (K * 2 * r.d)).from_address(r.centroids)).reshape(K, 2 * r.d).copy()

    def fit_predict(self, train_images, nouns, **kw):
        return self.fit(train_images, nouns, **kw).labels_

    def _check_heads(self, images):
        if self._heads is None:
            raise TacError("TAC.predict: needs a TAC fitted with train=True (the trained image head)")
        X = _f32_matrix(images, "TAC.predict: images")
        if X.shape[1] != self.n_features_in_:
            raise TacError(f"TAC.predict: images have {X.shape[1]} columns but the model was fitted on "
                           f"{self.n_features_in_}")
        bad = np.argwhere(~np.isfinite(X))   # checked before normalising (which turns an infinity into NaNs)
        if len(bad):
            i, j = bad[0]
            raise TacError(f"TAC.predict: images: row {i} has a non-finite value {X[i, j]} (column {j})")
        Xn = np.array(X, dtype=np.float32, order="C", copy=True)
        lib.tac_l2_normalize_rows(_ptr(Xn), Xn.shape[0], Xn.shape[1])   # as tac_fit does to its inputs
        return Xn

    def predict(self, images):
        """Clusters of N x D image embeddings (raw or normalised) with the trained image head: int64 N."""
        Xn = self._check_heads(images)
        pred = np.empty(Xn.shape[0], dtype=np.int32)
        _lib.check(lib.tac_heads_predict_sized(self._heads.ptr, b"images", _ptr(Xn), Xn.shape[0], Xn.shape[1],
                                               self.n_clusters_, _ptr(pred), None), "TAC.predict")
        return pred.astype(np.int64)

    def predict_proba(self, images):
        """The image head's softmax: float32 N x K."""
        Xn = self._check_heads(images)
        pred = np.empty(Xn.shape[0], dtype=np.int32)
        prob = np.empty((Xn.shape[0], self.n_clusters_), dtype=np.float32)
        _lib.check(lib.tac_heads_predict_sized(self._heads.ptr, b"images", _ptr(Xn), Xn.shape[0], Xn.shape[1],
                                               self.n_clusters_, _ptr(pred), _ptr(prob)), "TAC.predict_proba")
        return prob

    def save_heads(self, path):
        """Writes the trained heads (the format of `taclust fit`'s heads.bin, read by `taclust predict`)."""
        if self._heads is None:
            raise TacError("TAC.save_heads: needs a TAC fitted with train=True")
        _lib.check(lib.tac_heads_save(self._heads.ptr, _fspath(path, "TAC.save_heads")), "TAC.save_heads")
