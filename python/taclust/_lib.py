"""taclust._lib - finds and loads libtaclust.so, declares the C prototypes and mirrors the public structs.

Library search order (the first that loads wins):
  1. $TACLUST_LIBRARY (a path to libtaclust.so; when set, nothing else is tried);
  2. libtaclust.so bundled in this package's folder (put there by setup.py when the package was built);
  3. the installed library: ctypes.util.find_library("taclust"), then `pkg-config --variable=libdir taclust`;
  4. build/libtaclust.so of the checkout this package sits in (python/../build/).

Struct mirrors: every public struct the package passes to or receives from the library is mirrored as a
ctypes.Structure. Fields of public structs are only ever appended (never reordered or removed), so a mirror
lists the base fields plus the groups of fields agreed to be appended; at import the variant whose size equals
the library's tac_struct_size(name) is chosen, and when none does the import fails with a clear error (a stale
mirror would otherwise make the library read or write past a buffer). Structs the library fills are allocated
on a buffer of the library's size of the struct and read through the mirror.

Every call goes through ctypes.CDLL, which releases the GIL for the duration of the C call.
"""
import ctypes
import ctypes.util
import os
import pathlib
import shutil
import subprocess

__all__ = ["TacError", "lib", "library_path", "check", "last_error", "S", "int_arg"]


class TacError(RuntimeError):
    """A failed taclust call; the message is the library's reason (tac_last_error()) or the binding's own."""


# ---- finding the library -----------------------------------------------------------------------------------
def _installed_candidates():
    name = ctypes.util.find_library("taclust")
    if name:
        yield name
    if shutil.which("pkg-config"):
        try:
            libdir = subprocess.run(["pkg-config", "--variable=libdir", "taclust"], capture_output=True,
                                    text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            libdir = ""
        if libdir:
            yield os.path.join(libdir, "libtaclust.so")


def _candidates():
    here = pathlib.Path(__file__).resolve().parent
    yield str(here / "libtaclust.so")
    yield from _installed_candidates()
    yield str(here.parent.parent / "build" / "libtaclust.so")


def _load():
    env = os.environ.get("TACLUST_LIBRARY")
    if env:
        try:
            return ctypes.CDLL(env), env
        except OSError as e:
            raise ImportError(f"taclust: cannot load $TACLUST_LIBRARY={env}: {e}") from None
    tried = []
    for c in _candidates():
        if os.sep in c and not os.path.exists(c):
            tried.append(f"{c} (missing)")
            continue
        try:
            return ctypes.CDLL(c), c
        except OSError as e:
            tried.append(f"{c} ({e})")
    raise ImportError("taclust: libtaclust.so not found. Set TACLUST_LIBRARY=/path/to/libtaclust.so, install the "
                      "library (make install), or build it in the checkout (make shared). Tried: " +
                      "; ".join(tried))


lib, library_path = _load()
if library_path and os.sep in library_path:
    library_path = os.path.abspath(library_path)


# ---- prototypes ------------------------------------------------------------------------------------------
_c = ctypes
P = _c.c_void_p
_i64, _i32, _u32, _int, _f32, _f64, _str = _c.c_int64, _c.c_int32, _c.c_uint32, _c.c_int, _c.c_float, _c.c_double, \
    _c.c_char_p


def _proto(name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


def _need(name):
    if not hasattr(lib, name):
        raise ImportError(f"taclust: {library_path} has no {name}: the library is older than this package")


_need("tac_struct_size")
_proto("tac_struct_size", _c.c_size_t, _str)
_proto("tac_last_error", _str)
_proto("tac_clear_error", None)
_proto("tac_version", _str)
_proto("tac_free", None, P)
_proto("tac_free_strings", None, P, _i64)
_proto("tac_l2_normalize_rows", None, P, _i64, _i64)
# clip.h
_proto("tac_clip_load", _int, _str, P)
_proto("tac_clip_free", None, P)
_proto("tac_clip_embed_dim", _int, P)
_proto("tac_clip_image_size", _int, P)
_proto("tac_clip_parse_precision", _int, _str, P)
_proto("tac_clip_set_precision", _int, P, _int)
_proto("tac_clip_precision", _int, P)
_proto("tac_clip_precision_name", _str, _int)
_proto("tac_clip_hash", _str, P)
_proto("tac_wordnet_nouns", _int, _str, P, P)
# hub.h
_proto("tac_model_resolve", _int, _str, P, P)
# embed.h
_proto("tac_list_inputs", _int, P, _int, _str, P, P)
_proto("tac_embed_images", _int, P, P, _i64, P, P, P, P)
_proto("tac_embed_prompts", _int, P, P, _i64, P, P)
_proto("tac_embed_nouns", _int, P, P, _i64, P, _int, P, P)
# cluster.h
_proto("tac_kmeans_default_params", None, P)
_proto("tac_kmeans", _int, P, _i64, _int, P, P, P, P)
_proto("tac_knn_cosine", _int, P, _i64, _int, _int, P, P)
# metrics.h
_proto("tac_metrics_compute", _int, P, P, _i64, P)
# heads.h
_proto("tac_heads_predict_sized", _int, P, _str, P, _i64, _int, _int, P, P)
_proto("tac_heads_num_clusters", _int, P)
_proto("tac_heads_input_dim", _int, P)
_proto("tac_heads_save", _int, P, _str)
_proto("tac_heads_load", _int, _str, P)
_proto("tac_heads_free", None, P)
_proto("tac_heads_set_precision", _int, _int)
_proto("tac_heads_get_precision", _int)
_proto("tac_heads_bf16_active", _int)
# pipeline.h
_proto("tac_fit_default_params", None, P)
_proto("tac_fit_preset", _int, _str, P)
_proto("tac_fit_preset_names", _str)
_proto("tac_fit", _int, P, _i64, P, _i64, _int, P, _i64, P, P, P, P, P)
_proto("tac_fit_result_free", None, P)
# pipeline (K selection): in the library once the pipeline work lands; taclust.choose_k says so otherwise
has_choose_k = hasattr(lib, "tac_choose_k")
if has_choose_k:
    _proto("tac_choose_k", _int, P, _i64, _int, P, _i64, _int, _u32, P, P)
    _proto("tac_choose_k_ex", _int, P, _i64, _int, P, _i64, _int, _u32, _i64, P, P, P, _c.c_size_t, _int)

prompt_templates = [s.decode() for s in (_str * 7).in_dll(lib, "tac_prompt_templates")]


def last_error():
    msg = lib.tac_last_error()
    return msg.decode("utf-8", "replace") if msg else ""


def check(rc, what=None):
    """Raises TacError with tac_last_error() when a library call returned non-zero."""
    if rc != 0:
        msg = last_error() or "failed (no reason given)"
        raise TacError(f"{what}: {msg}" if what else msg)


# ---- struct mirrors ----------------------------------------------------------------------------------------
def _variants(name, base, groups):
    """ctypes Structure classes for `base` followed by the first 0..len(groups) appended field groups."""
    out, fields = [], list(base)
    for g in [[]] + list(groups):
        fields = fields + list(g)
        out.append(type(name, (_c.Structure,), {"_fields_": list(fields)}))
    return out


class StructMismatch(ImportError):
    """The library's size of a public struct matches none of this package's mirrors."""


def _choose(name, variants, size_fn=None):
    size_fn = size_fn or (lambda n: lib.tac_struct_size(n.encode()))
    want = size_fn(name)
    if want == 0:
        raise StructMismatch(f"taclust: {library_path} does not know struct {name} (tac_struct_size returned 0)")
    for v in variants:
        if _c.sizeof(v) == want:
            return v
    have = ", ".join(str(_c.sizeof(v)) for v in variants)
    raise StructMismatch(f"taclust: {library_path} has sizeof({name}) = {want} bytes but this package mirrors it in "
                         f"{have} bytes: the package and the library come from different versions (reinstall the "
                         f"package from the same checkout as the library, or update python/taclust/_lib.py)")


_PROGRESS = [("progress_cb", P), ("progress_user", P)]     # split: tac_progress_fn progress; void *progress_user;
_THREADS = [("threads", _int)]                             # corec / clipc / pipeline: int threads;


class S:
    """The chosen mirrors (filled below)."""


S.metrics = _choose("tac_metrics", _variants("tac_metrics", [("acc", _f64), ("nmi", _f64), ("ari", _f64)], []))

S.kmeans_params = _choose("tac_kmeans_params", _variants("tac_kmeans_params", [
    ("k", _int), ("niter", _int), ("nredo", _int), ("spherical", _int), ("max_points_per_centroid", _int),
    ("seed", _u32), ("init", _int), ("progress", _int), ("accumulate_double", _int), ("plain", _int),
    ("skipped", P), ("fallbacks", P)], [_THREADS]))

S.heads_params = _choose("tac_heads_params", _variants("tac_heads_params", [
    ("K", _int), ("hidden", _int), ("epochs", _int), ("batch", _int), ("temperature", _f32),
    ("entropy_weight", _f32), ("lr", _f32), ("beta1", _f32), ("beta2", _f32), ("eps", _f32), ("seed", _u32),
    ("progress", _int)], [_PROGRESS, _THREADS]))

S.fit_params = _choose("tac_fit_params", _variants("tac_fit_params", [
    ("K", _int), ("centres", _int), ("gamma", _int), ("tau", _f32), ("niter", _int), ("nredo_centres", _int),
    ("nredo_concat", _int), ("knn", _int), ("train", _int), ("baseline", _int), ("notrain", _int),
    ("n_names", _int), ("seed", _u32), ("heads", S.heads_params), ("progress", _int), ("inputs_read", P),
    ("inputs_read_arg", P)], [_PROGRESS + _THREADS, [("comm", P)]]))

S.fit_result = _choose("tac_fit_result", _variants("tac_fit_result", [
    ("K", _int), ("k", _int), ("d", _int), ("n_names", _int), ("n_train", _i64), ("n_test", _i64), ("m", _i64),
    ("nsel", _i64), ("selected", P), ("selected_centre", P), ("pred_notrain", P), ("pred_tac", P),
    ("pred_kmeans", P), ("cluster_size", P), ("cluster_names", P), ("heads", P), ("has_metrics", _int),
    ("has_train_metrics", _int), ("m_kmeans", S.metrics), ("m_notrain", S.metrics), ("m_tac", S.metrics),
    ("m_tac_train", S.metrics)] +
    [(f"t_{s}", _f64) for s in ("normalise", "centres", "select", "retrieve", "notrain", "baseline", "knn", "heads",
                                "predict", "names", "total")] +
    [(f"rss_{s}", _f64) for s in ("normalise", "centres", "select", "retrieve", "notrain", "knn", "heads", "total")],
    # pipeline: what a job needs besides the clusters (read when present: TAC.confidence_ etc.)
    [[("tau", _f32), ("selected_emb", P), ("test_text", P), ("test_weights", P), ("centroids", P),
      ("confidence", P)]]))

S.embed_images_params = _choose("tac_embed_images_params", _variants("tac_embed_images_params", [
    ("resize", _int), ("batch", _int), ("label", _str), ("on_batch", P), ("ctx", P)], [_PROGRESS, _THREADS]))

S.embed_text_params = _choose("tac_embed_text_params", _variants("tac_embed_text_params", [
    ("batch", _int), ("label", _str), ("tokenizer_path", _str)], [_PROGRESS, _THREADS]))

# The by-value returns of the embedding defaults (their mirrors are exact: checked above).
_proto("tac_embed_images_default_params", S.embed_images_params)
_proto("tac_embed_text_default_params", S.embed_text_params)


def has_field(struct, name):
    return any(f[0] == name for f in type(struct)._fields_)


def int_arg(v, what, lo, hi):
    """v as a Python int in lo..hi (ints, NumPy integers, or floats with an integral value); TacError otherwise
    (None, NaN, infinity, strings, fractions and values out of range included)."""
    iv = None
    if not isinstance(v, (str, bytes, bytearray)):
        try:
            iv = int(v)
            if iv != v:
                iv = None
        except (TypeError, ValueError, OverflowError):
            iv = None
    if iv is None or not lo <= iv <= hi:
        raise TacError(f"{what} must be an integer in {lo}..{hi} (got {v!r})")
    return iv


def set_threads(struct, threads, what):
    """Sets the struct's `threads` field (0 = all the library may use); an error when this library's struct has
    none (threads=None leaves the library's default)."""
    if threads is None:
        return
    threads = int_arg(threads, f"{what}: threads", 0, 1 << 20)
    if not has_field(struct, "threads"):
        raise TacError(f"{what}: threads is not available in this libtaclust ({library_path})")
    struct.threads = threads


def new_struct(cls, name):
    """A zeroed struct of the library's size of `name`, viewed through the mirror cls (returns the view; the
    buffer is kept alive by the view's _b_base_)."""
    size = lib.tac_struct_size(name.encode())
    buf = (_c.c_char * max(size, _c.sizeof(cls)))()
    return cls.from_buffer(buf)
