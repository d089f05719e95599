# taclust - plain Makefile with pkg-config.
#   make               libraries (build/libtaclust.a, build/libtaclust.so*), CLI (build/taclust), tests (build/run_tests)
#   make ARCH=native   the same for this CPU only (-march=native); default: baseline x86-64, the AVX2 kernels chosen
#                      at run time from cpuid (src/core/tac_cpu.c)
#   make test          build and run the tests
#   make SAN=1 test    the same under AddressSanitizer + UndefinedBehaviorSanitizer (in build-san/)
#   make install PREFIX=/usr/local [DESTDIR=...]   headers, both libraries, lib/pkgconfig/taclust.pc, bin/taclust
#   make uninstall PREFIX=...                      removes exactly what install put there
#   make shared        only the shared library (build/libtaclust.so*)
#   make pytest        the Python package's tests (python/tests) on build/libtaclust.so
#   make bench         build the benchmarks bench/bench_<x>.c into build/bench_<x>
#   make fuzz          build the libFuzzer targets in fuzz/ (clang; build-fuzz/)
CC      ?= gcc
PKGS    := openblas libcjson libpng libwebp zlib libcurl
# Optional FFmpeg (decodes UCF-101 clips for `taclust bench ucf101`): WITH_FFMPEG=1 requires it, WITH_FFMPEG=0
# leaves it out, default: used when pkg-config finds it. Run `make clean` after switching.
FFMPEG_PKGS := libavformat libavcodec libswscale libavutil
WITH_FFMPEG ?= $(shell pkg-config --exists $(FFMPEG_PKGS) && echo 1 || echo 0)
# FFmpeg serves the program only (src/app/tac_video.c): libtaclust does not link it.
ifeq ($(WITH_FFMPEG),1)
FFMPEG_DEF  := -DTAC_HAVE_FFMPEG
FFMPEG_LIBS := $(shell pkg-config --libs $(FFMPEG_PKGS))
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) $(FFMPEG_PKGS))
else
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS))
endif
# Optional Open MPI (`mpirun -np N taclust fit|embed-images|embed-text|bench`): WITH_MPI=1 requires it, WITH_MPI=0
# leaves it out, default: used when pkg-config finds ompi-c (Debian libopenmpi-dev). It serves the program only
# (src/mpi/tac_mpi.c, the transport of taclust/dist.h's communicator): libtaclust does not link MPI.
WITH_MPI ?= $(shell pkg-config --exists ompi-c && echo 1 || echo 0)
ifeq ($(WITH_MPI),1)
MPI_CFLAGS := -DTAC_HAVE_MPI $(shell pkg-config --cflags ompi-c)
MPI_LIBS   := $(shell pkg-config --libs ompi-c)
endif
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -ljpeg
PKG_LIBS   += -ldnnl    # oneDNN (libdnnl-dev, no .pc file): the bf16 CLIP towers
# The version has one source: TAC_VERSION_STRING in include/taclust/version.h (TACLUST_VERSION in C is the same).
VERSION := $(shell sed -n 's/^\#define TAC_VERSION_STRING "\(.*\)"/\1/p' include/taclust/version.h)
SOMAJOR := $(firstword $(subst ., ,$(VERSION)))
SONAME  := libtaclust.so.$(SOMAJOR)
# Target CPU: baseline x86-64 by default (the binary runs on any x86-64; kernels pick AVX2 at run time),
# ARCH=native for this machine only, or any -march value (ARCH=x86-64-v3 ...).
ARCH    ?= x86-64
ifeq ($(ARCH),native)
ARCHFLAGS := -march=native -mtune=native
else
ARCHFLAGS := -march=$(ARCH) -mtune=generic
endif

ifeq ($(SAN),1)
BUILD   ?= build-san
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
BUILD   ?= build
OPT     := -O3 -g $(ARCHFLAGS)
LDSAN   :=
endif

# -fPIC -fvisibility=hidden: the same objects make the static archive and the shared library, which exports only
# what carries TAC_API (include/taclust/version.h).
CFLAGS  := $(OPT) -std=gnu11 -D_GNU_SOURCE -fPIC -fvisibility=hidden -Wall -Wextra -fopenmp -fno-trapping-math -Iinclude -Isrc -DTACLUST_VERSION='"$(VERSION)"' $(FFMPEG_DEF) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -lpthread
LDFLAGS := -fopenmp $(LDSAN)

# The library is the stages; src/app (jobs, dataset readers, caches, outputs, the console) and src/cli form the
# taclust program (tests link the app objects too).
STAGES  := core imageio clip textspace cluster heads metrics pipeline hub
LIB_SRC := $(foreach s,$(STAGES),$(wildcard src/$(s)/*.c))
APP_SRC := $(wildcard src/app/*.c)
CLI_SRC := $(wildcard src/cli/*.c) $(wildcard src/mpi/*.c)
TEST_SRC:= $(wildcard tests/*.c)
BENCH_SRC := $(wildcard bench/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
APP_OBJ := $(APP_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ:= $(TEST_SRC:%.c=$(BUILD)/%.o)
DEPS    := $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

SO_REAL := libtaclust.so.$(VERSION)
SHARED  := $(BUILD)/$(SO_REAL) $(BUILD)/$(SONAME) $(BUILD)/libtaclust.so

.PHONY: all test bench fuzz clean install uninstall pytest shared
all: $(BUILD)/libtaclust.a $(SHARED) $(BUILD)/taclust $(BUILD)/run_tests $(BUILD)/taclust.pc

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# the MPI transport is the only file that sees mpi.h; WITH_MPI is part of its object's name so switching rebuilds it
$(BUILD)/src/mpi/%.o: src/mpi/%.c $(BUILD)/.mpi-$(WITH_MPI)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(MPI_CFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/.mpi-$(WITH_MPI):
	@mkdir -p $(BUILD)
	@rm -f $(BUILD)/.mpi-*
	@touch $@

$(BUILD)/libtaclust.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# The shared library: the archive's objects; its soname carries the major version (libtaclust.so.0), the file the
# full one, with the two usual links. --no-undefined: every symbol it needs comes from a library it names.
$(BUILD)/$(SO_REAL): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined $(LDFLAGS) -o $@ $^ $(LDLIBS)
$(BUILD)/$(SONAME) $(BUILD)/libtaclust.so: $(BUILD)/$(SO_REAL)
	ln -sf $(SO_REAL) $@
shared: $(SHARED)

# Subcommands register themselves from constructors, so CLI objects are linked directly, not from an archive.
$(BUILD)/taclust: $(CLI_OBJ) $(APP_OBJ) $(BUILD)/libtaclust.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(APP_OBJ) $(BUILD)/libtaclust.a $(LDLIBS) $(FFMPEG_LIBS) $(MPI_LIBS)

$(BUILD)/run_tests: $(TEST_OBJ) $(APP_OBJ) $(BUILD)/libtaclust.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(APP_OBJ) $(BUILD)/libtaclust.a $(LDLIBS) $(FFMPEG_LIBS)

# TACLUST_SO: the shared library (tests/test_build.c checks its exported symbols); TACLUST_BUILD, TACLUST_SAN: which
# build the consumer test (tests/consumer/run.sh) installs and how it compiles against it.
test: $(BUILD)/taclust $(BUILD)/run_tests $(SHARED) $(BUILD)/taclust.pc
	TACLUST_MPI=$(WITH_MPI) TACLUST_BIN=$(BUILD)/taclust TACLUST_SO=$(BUILD)/$(SO_REAL) TACLUST_BUILD=$(BUILD) TACLUST_SAN=$(SAN) \
	    $(BUILD)/run_tests $(T)

# ---- install -------------------------------------------------------------------------------------------------
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PCDIR      ?= $(LIBDIR)/pkgconfig
HEADERS    := $(wildcard include/taclust/*.h)
# What a program linking libtaclust.a needs besides it (pkg-config --static): the libraries libtaclust itself links,
# resolved here: OpenBLAS, cJSON, libpng, libwebp, zlib, libcurl, libjpeg, oneDNN, GNU
# OpenMP (-fopenmp), libm, pthreads. Written as Libs.private, not Requires.private: `pkg-config --static` would then
# add those packages' own private libraries (libcurl's nghttp2, rtmp, ssh2, psl, gssapi, ldap, zstd...), which
# Debian does not ship in linkable form, so the static line would not link. No public header includes a
# dependency's header, so no dependency's Cflags are needed. Shared linking needs none of it.
PC_LIBS     := $(PKG_LIBS) -fopenmp -lm -lpthread

$(BUILD)/taclust.pc: taclust.pc.in include/taclust/version.h Makefile
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(VERSION)|g' -e 's|@LIBS_PRIVATE@|$(PC_LIBS)|g' \
	    $< > $@

# The .pc file holds PREFIX: rebuilt on every install so it names the PREFIX given there.
install: all
	@rm -f $(BUILD)/taclust.pc
	$(MAKE) --no-print-directory $(BUILD)/taclust.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PCDIR) $(DESTDIR)$(INCLUDEDIR)/taclust
	install -m 644 include/taclust.h $(DESTDIR)$(INCLUDEDIR)/taclust.h
	install -m 644 $(HEADERS) $(DESTDIR)$(INCLUDEDIR)/taclust/
	install -m 644 $(BUILD)/libtaclust.a $(DESTDIR)$(LIBDIR)/libtaclust.a
	install -m 755 $(BUILD)/$(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SO_REAL)
	ln -sf $(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libtaclust.so
	install -m 644 $(BUILD)/taclust.pc $(DESTDIR)$(PCDIR)/taclust.pc
	install -m 755 $(BUILD)/taclust $(DESTDIR)$(BINDIR)/taclust

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/taclust $(DESTDIR)$(PCDIR)/taclust.pc $(DESTDIR)$(LIBDIR)/libtaclust.a \
	    $(DESTDIR)$(LIBDIR)/$(SO_REAL) $(DESTDIR)$(LIBDIR)/$(SONAME) $(DESTDIR)$(LIBDIR)/libtaclust.so \
	    $(DESTDIR)$(INCLUDEDIR)/taclust.h $(addprefix $(DESTDIR)$(INCLUDEDIR)/taclust/,$(notdir $(HEADERS)))
	rmdir $(DESTDIR)$(INCLUDEDIR)/taclust 2>/dev/null || true

# The Python package's tests (python/tests) on this build's libtaclust.so and taclust program, with Debian's
# python3 (python3-numpy, python3-pytest); T=EXPR selects tests (pytest -k).
PYTHON ?= /usr/bin/python3
pytest: $(BUILD)/libtaclust.so $(BUILD)/taclust
	TACLUST_LIBRARY=$(abspath $(BUILD)/libtaclust.so) TACLUST_BIN=$(abspath $(BUILD)/taclust) \
	  PYTHONPATH=$(abspath python) $(PYTHON) -m pytest -q -p no:cacheprovider python/tests $(if $(T),-k '$(T)')

$(BUILD)/bench_%: bench/bench_%.c $(BUILD)/libtaclust.a $(BUILD)/src/app/tac_xalloc.o
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/src/app/tac_xalloc.o $(BUILD)/libtaclust.a $(LDLIBS)

bench: $(BENCH_SRC:bench/%.c=$(BUILD)/%) $(BUILD)/taclust

FUZZ_SRC := $(wildcard fuzz/*.c)
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address -Wno-unknown-warning-option" LDSAN="-fsanitize=address" build-fuzz/libtaclust.a
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  echo clang $$f; clang -g -O1 -Wall -Wextra -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address -Iinclude -Isrc $(PKG_CFLAGS) -fopenmp -o build-fuzz/$$n $$f build-fuzz/libtaclust.a $(LDLIBS) || exit 1; done

clean:
	rm -rf build build-san build-fuzz

-include $(DEPS)
