"""setup.py - builds the taclust package with libtaclust.so bundled into it (pip install ./python is then
self-contained: the package loads its own copy first, see taclust/_lib.py).

Which library is bundled:
  TACLUST_BUNDLE=0        none: the package loads the installed library (or $TACLUST_LIBRARY) at run time;
  TACLUST_LIBRARY=PATH    that file;
  otherwise               the checkout's build/libtaclust.so, made first with `make -C .. build/libtaclust.so`
                          (MAKEFLAGS=-j2 unless set), when this folder sits in a taclust checkout.
The other settings are in pyproject.toml.
"""
import os
import pathlib
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = pathlib.Path(__file__).resolve().parent


def library_to_bundle():
    if os.environ.get("TACLUST_BUNDLE", "1") == "0":
        return None
    env = os.environ.get("TACLUST_LIBRARY")
    if env:
        if not os.path.isfile(env):
            raise SystemExit(f"taclust setup: TACLUST_LIBRARY={env} is not a file")
        return pathlib.Path(env)
    root = HERE.parent
    if not (root / "Makefile").is_file() or not (root / "include" / "taclust.h").is_file():
        print("taclust setup: not in a taclust checkout, no library bundled (the installed one is used)")
        return None
    env2 = dict(os.environ)
    env2.setdefault("MAKEFLAGS", "-j2")
    r = subprocess.run(["make", "-C", str(root), "build/libtaclust.so"], env=env2)
    if r.returncode != 0:
        raise SystemExit("taclust setup: `make build/libtaclust.so` failed in the checkout (install the build "
                         "dependencies: tools/install-deps.sh), or set TACLUST_LIBRARY=/path/to/libtaclust.so, or "
                         "TACLUST_BUNDLE=0 to use the installed library")
    return root / "build" / "libtaclust.so"


class BuildPyWithLibrary(build_py):
    def run(self):
        super().run()
        lib = library_to_bundle()
        if lib is not None:
            dst = pathlib.Path(self.build_lib) / "taclust" / "libtaclust.so"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(lib, dst)
            os.chmod(dst, 0o755)
            print(f"taclust setup: bundled {lib}")


class BinaryDistribution(Distribution):
    """The wheel carries a native library: tag it for this platform."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=BinaryDistribution)
