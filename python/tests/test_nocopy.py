"""test_nocopy.py - C-contiguous float32 input reaches the library without a copy (read-only arrays too), other
layouts are converted once. Measured with tracemalloc, which sees NumPy's data allocations: a call on a 51 MB
matrix that copied it would allocate at least 51 MB."""
import tracemalloc

import numpy as np
import pytest

import taclust

N, D = 200_000, 64          # 51.2 MB of float32
BIG = N * D * 4


def peak_of(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.fixture(scope="module")
def X():
    return np.random.default_rng(0).standard_normal((N, D), dtype=np.float32)


def kmeans_on(A):
    # 2 clusters, 1 iteration, trained on 512 sampled rows: the outputs are N labels (int32 + int64), ~2.4 MB
    return lambda: taclust.kmeans(A, 2, niter=1)


def test_float32_c_contiguous_is_not_copied(X):
    assert peak_of(kmeans_on(X)) < BIG / 8
    ro = X.view()
    ro.flags.writeable = False
    assert peak_of(kmeans_on(ro)) < BIG / 8
    mid = np.lib.stride_tricks.as_strided(X, shape=(N // 2, D))       # a C-contiguous view of part of X
    assert peak_of(kmeans_on(mid)) < BIG / 8


def test_other_layouts_are_converted(X):
    # the measurement can fail: these must copy (once)
    assert peak_of(kmeans_on(X[:, ::2])) >= BIG / 2 * 0.99              # strided
    assert peak_of(kmeans_on(X.astype(np.float64))) >= BIG * 0.99       # float64 -> float32 copy


def test_results_do_not_depend_on_the_layout(X):
    a = taclust.kmeans(X[:5000], 3, niter=3, seed=2)
    b = taclust.kmeans(np.asfortranarray(X[:5000]).astype(np.float64), 3, niter=3, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
