"""test_install.py - installing the package as a user would, offline: a virtual environment (with the system's
NumPy) and `pip install --no-build-isolation --no-index ./python`, the library bundled into the package; then, in
another folder with TACLUST_LIBRARY unset, the README's example runs on the tiny model fixture and the package
uses its bundled libtaclust.so."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import FIXTURES, ROOT, TINY

EXAMPLE = f"""
import taclust
clip = taclust.load_clip({str(TINY)!r})
X, paths = clip.embed_images([{str(FIXTURES / 'image')!r}])
tac = taclust.TAC(n_clusters=3, train=False).fit(X, clip.embed_nouns(["cat", "dog", "car", "tree", "sky", "sea"]))
assert tac.labels_.shape == (len(paths),) and set(tac.labels_) == {{0, 1, 2}}, tac.labels_
print("library", taclust.library_path)
"""


def test_pip_install_offline_into_a_venv(tmp_path):
    pytest.importorskip("ensurepip")
    pytest.importorskip("wheel")          # setuptools 66 builds wheels with it (Debian: python3-wheel)
    lib = os.environ.get("TACLUST_LIBRARY") or str(ROOT / "build" / "libtaclust.so")
    if not os.path.isfile(lib):
        pytest.skip(f"no {lib} to bundle (make shared)")
    src = tmp_path / "src"          # a copy, so the build leaves nothing in the checkout
    shutil.copytree(ROOT / "python", src, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__",
                                                                         ".pytest_cache"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    env = dict(os.environ, TACLUST_LIBRARY=lib, PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-build-isolation", "--no-index", str(src)],
                       env=env, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    env.pop("TACLUST_LIBRARY")
    work = tmp_path / "elsewhere"
    work.mkdir()
    r = subprocess.run([str(venv / "bin" / "python"), "-c", EXAMPLE], cwd=work, env=env, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    where = r.stdout.split("library ", 1)[1].strip()
    assert where.startswith(str(venv)) and where.endswith("taclust/libtaclust.so"), where
