"""conftest.py - shared fixtures of the taclust Python tests: the checkout, the taclust program under test (to
compare the package with the CLI), the tiny CLIP model fixture, and a helper that runs the CLI.

Run from the checkout: `make pytest` (TACLUST_LIBRARY and TACLUST_BIN point at build/), or
/usr/bin/python3 -m pytest python/tests with the package importable (PYTHONPATH=python or installed).
"""
import os
import pathlib
import subprocess

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]          # the checkout (python/tests/ -> ..)
FIXTURES = ROOT / "tests" / "fixtures"
TINY = FIXTURES / "clip" / "tiny"


@pytest.fixture(scope="session")
def taclust_bin():
    """The taclust program: $TACLUST_BIN, else the checkout's build/taclust (skipped when neither exists)."""
    b = os.environ.get("TACLUST_BIN") or str(ROOT / "build" / "taclust")
    if not os.path.isfile(b):
        pytest.skip(f"no taclust program at {b} (build it: make, or set TACLUST_BIN)")
    return os.path.abspath(b)


@pytest.fixture(scope="session")
def run_cli(taclust_bin):
    """run_cli(*args) -> CompletedProcess of `taclust args...` (run from the checkout); fails the test unless it
    exits 0 (check=False to allow failure)."""
    def run(*args, check=True):
        r = subprocess.run([taclust_bin, *map(str, args)], cwd=ROOT, capture_output=True, text=True)
        if check and r.returncode != 0:
            pytest.fail(f"taclust {' '.join(map(str, args))} exited {r.returncode}:\n{r.stderr}")
        return r
    return run


@pytest.fixture(scope="session")
def tiny_model():
    if not (TINY / "config.json").is_file():
        pytest.skip(f"no tiny CLIP fixture at {TINY}")
    return TINY


def synth(seed=1, ntr=1200, nte=400, d=32, c=4, m=400):
    """Four well separated Gaussian classes in d dimensions (class j around e_j plus a shared offset), train and
    test splits, and m nouns: 20 near each class mean, the rest random directions (as tests/test_fit.c)."""
    rng = np.random.default_rng(seed)
    off = 0.05 * rng.standard_normal(d)

    def split(n, shift):
        y = (np.arange(n) * 7 + shift) % c
        scale = 0.5 + rng.random(n)
        X = scale[:, None] * (off + np.eye(d)[y] + 0.12 * rng.standard_normal((n, d)))
        return X.astype(np.float32), y.astype(np.int64)

    Xtr, ytr = split(ntr, 0)
    Xte, yte = split(nte, 1)
    T = rng.standard_normal((m, d))
    names = []
    for t in range(m):
        if t < 20 * c:
            T[t] = off + np.eye(d)[t % c] + 0.1 * rng.standard_normal(d)
            names.append(f"class{t % c}_{t // c}")
        else:
            names.append(f"noise_{t}")
    return Xtr, ytr, Xte, yte, T.astype(np.float32), names
