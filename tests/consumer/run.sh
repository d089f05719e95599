#!/usr/bin/env bash
# run.sh - the consumer test: install this build into a temporary prefix as a user would, then build a program
# against the installed copy through pkg-config and run it. tests/test_build.c runs it from the suite:
#
#   bash tests/consumer/run.sh BUILD_DIR [SAN]        # BUILD_DIR: build or build-san (the objects must be built)
#
# Steps (each prints what it does; the first failure stops the script with exit code 1):
#   1. make install PREFIX=$tmp (from the already built files of BUILD_DIR), then the files installed are checked;
#   2. consumer.c with `pkg-config --cflags --libs taclust` -> linked to libtaclust.so.0 (readelf NEEDED), run;
#   3. consumer.c with `pkg-config --static --libs taclust`, libtaclust.a taken by name (-l:libtaclust.a) -> no
#      libtaclust.so in NEEDED, run;
#   4. include/taclust.h as C++ (g++ -fsyntax-only) and as C99 -pedantic -Werror;
#   5. make uninstall leaves the prefix without a file.
# SAN=1: the build is instrumented, so the consumers are compiled with -fsanitize=address,undefined too.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:?usage: run.sh BUILD_DIR [SAN]}
SAN=${2:-}
CC=${CC:-cc}
CXX=${CXX:-g++}
SANFLAGS=
[ "$SAN" = 1 ] && SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer"
for tool in pkg-config readelf "$CXX"; do
    command -v "$tool" >/dev/null || { echo "consumer: skipped: $tool not installed"; exit 77; }
done
tmp=$(mktemp -d "${TMPDIR:-/tmp}/taclust-consumer.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
# a make started by `make test` would otherwise join the outer make's job server
unset MAKEFLAGS MFLAGS MAKELEVEL
echo "== make install PREFIX=$prefix (BUILD=$BUILD)"
make -s --no-print-directory install BUILD="$BUILD" SAN="$SAN" PREFIX="$prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; exit 1; }
ver=$(sed -n 's/^#define TAC_VERSION_STRING "\(.*\)"/\1/p' include/taclust/version.h)
for f in include/taclust.h include/taclust/version.h include/taclust/cluster.h lib/libtaclust.a \
         "lib/libtaclust.so.$ver" lib/libtaclust.so.0 lib/libtaclust.so lib/pkgconfig/taclust.pc bin/taclust; do
    [ -e "$prefix/$f" ] || { echo "consumer: make install did not install $f"; exit 1; }
done
[ "$(readlink "$prefix/lib/libtaclust.so.0")" = "libtaclust.so.$ver" ] || { echo "consumer: bad libtaclust.so.0 link"; exit 1; }
[ "$(readlink "$prefix/lib/libtaclust.so")" = "libtaclust.so.0" ] || { echo "consumer: bad libtaclust.so link"; exit 1; }
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
[ "$(pkg-config --modversion taclust)" = "$ver" ] || { echo "consumer: pkg-config --modversion is not $ver"; exit 1; }
"$prefix/bin/taclust" --version | grep -q "^taclust $ver " || { echo "consumer: installed taclust --version"; exit 1; }

echo "== shared: $CC consumer.c \$(pkg-config --cflags --libs taclust)"
cflags=$(pkg-config --cflags taclust)
# shellcheck disable=SC2046
$CC -std=c99 -Wall -Wextra -Werror $SANFLAGS $cflags tests/consumer/consumer.c -o "$tmp/consumer_shared" \
    $(pkg-config --libs taclust) -lm
readelf -d "$tmp/consumer_shared" | grep -q 'NEEDED.*\[libtaclust\.so\.0\]' ||
    { echo "consumer: the shared build does not load libtaclust.so.0"; exit 1; }
LD_LIBRARY_PATH=$prefix/lib "$tmp/consumer_shared"

echo "== static: $CC consumer.c \$(pkg-config --cflags --static --libs taclust) with -l:libtaclust.a"
libs=$(pkg-config --static --libs taclust | sed 's/-ltaclust\b/-l:libtaclust.a/')
# shellcheck disable=SC2086
$CC -std=c99 -Wall -Wextra -Werror $SANFLAGS $cflags tests/consumer/consumer.c -o "$tmp/consumer_static" $libs -lm
if readelf -d "$tmp/consumer_static" | grep -q 'NEEDED.*libtaclust'; then
    echo "consumer: the static build loads libtaclust.so"; exit 1
fi
"$tmp/consumer_static"

echo "== the public header as C++ and as C99 -pedantic"
printf '#include <taclust.h>\nint main(void) { return tac_version() == 0; }\n' > "$tmp/c99.c"
$CC -std=c99 -pedantic -Wall -Wextra -Werror -fsyntax-only $cflags "$tmp/c99.c"
$CXX -std=c++11 -Wall -Wextra -Werror -fsyntax-only $cflags tests/consumer/header.cpp

echo "== make uninstall"
make -s --no-print-directory uninstall BUILD="$BUILD" SAN="$SAN" PREFIX="$prefix" >/dev/null
left=$(find "$prefix" -type f -o -type l)
[ -z "$left" ] || { echo "consumer: make uninstall left: $left"; exit 1; }
echo "consumer test: ok"
