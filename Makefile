# taclust - plain Makefile with pkg-config.
#   make               library, CLI (build/taclust), test runner (build/run_tests)
#   make test          build and run the tests
#   make SAN=1 test    the same under AddressSanitizer + UndefinedBehaviorSanitizer (in build-san/)
#   make pytest        the Python package's tests (python/tests) on build/libtaclust.so
#   make bench         build the benchmarks bench/bench_<x>.c into build/bench_<x>
#   make fuzz          build the libFuzzer targets in fuzz/ (clang; build-fuzz/)
CC      ?= gcc
PKGS    := openblas libcjson libpng libwebp zlib libcurl
# Optional FFmpeg (decodes UCF-101 clips for `taclust bench ucf101`): WITH_FFMPEG=1 requires it, WITH_FFMPEG=0
# leaves it out, default: used when pkg-config finds it. Run `make clean` after switching.
FFMPEG_PKGS := libavformat libavcodec libswscale libavutil
WITH_FFMPEG ?= $(shell pkg-config --exists $(FFMPEG_PKGS) && echo 1 || echo 0)
ifeq ($(WITH_FFMPEG),1)
PKGS    += $(FFMPEG_PKGS)
FFMPEG_DEF := -DTAC_HAVE_FFMPEG
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs $(PKGS)) -ljpeg
PKG_LIBS   += -ldnnl    # oneDNN (libdnnl-dev, no .pc file): the bf16 CLIP towers
VERSION := 0.1.0
# python branch, temporary until the build branch's libtaclust.so lands: objects are position-independent so that
# `make shared` can link build/libtaclust.so from the same objects as libtaclust.a (the Python package loads it).
EXTRA_CFLAGS ?= -fPIC -fno-semantic-interposition

ifeq ($(SAN),1)
BUILD   ?= build-san
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
BUILD   ?= build
OPT     := -O3 -g -march=x86-64-v3 -mtune=native
LDSAN   :=
endif

CFLAGS  := $(OPT) -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Wno-format-truncation -fopenmp -fno-trapping-math -Iinclude -Isrc -DTACLUST_VERSION='"$(VERSION)"' $(FFMPEG_DEF) $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -lpthread
LDFLAGS := -fopenmp $(LDSAN)

STAGES  := core imageio clip textspace cluster heads metrics pipeline app hub
LIB_SRC := $(foreach s,$(STAGES),$(wildcard src/$(s)/*.c))
CLI_SRC := $(wildcard src/cli/*.c)
TEST_SRC:= $(wildcard tests/*.c)
BENCH_SRC := $(wildcard bench/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_OBJ:= $(TEST_SRC:%.c=$(BUILD)/%.o)
DEPS    := $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(TEST_OBJ:.o=.d)

.PHONY: all test bench fuzz clean shared pytest
all: $(BUILD)/libtaclust.a $(BUILD)/taclust $(BUILD)/run_tests

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libtaclust.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

# Subcommands register themselves from constructors, so CLI objects are linked directly, not from an archive.
$(BUILD)/taclust: $(CLI_OBJ) $(BUILD)/libtaclust.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libtaclust.a $(LDLIBS)

# python branch, temporary (the build branch provides the real libtaclust.so): the library objects as a shared
# library, every symbol exported.
shared: $(BUILD)/libtaclust.so
$(BUILD)/libtaclust.so: $(LIB_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $(LIB_OBJ) $(LDLIBS)

$(BUILD)/run_tests: $(TEST_OBJ) $(BUILD)/libtaclust.a
	$(CC) $(LDFLAGS) -o $@ $(TEST_OBJ) $(BUILD)/libtaclust.a $(LDLIBS)

test: $(BUILD)/taclust $(BUILD)/run_tests
	TACLUST_BIN=$(BUILD)/taclust $(BUILD)/run_tests $(T)

# The Python package's tests (python/tests) on this build's libtaclust.so and taclust program, with Debian's
# python3 (python3-numpy, python3-pytest); T=EXPR selects tests (pytest -k).
PYTHON ?= /usr/bin/python3
pytest: $(BUILD)/libtaclust.so $(BUILD)/taclust
	TACLUST_LIBRARY=$(abspath $(BUILD)/libtaclust.so) TACLUST_BIN=$(abspath $(BUILD)/taclust) \
	  PYTHONPATH=$(abspath python) $(PYTHON) -m pytest -q -p no:cacheprovider python/tests $(if $(T),-k '$(T)')

$(BUILD)/bench_%: bench/bench_%.c $(BUILD)/libtaclust.a
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libtaclust.a $(LDLIBS)

bench: $(BENCH_SRC:bench/%.c=$(BUILD)/%) $(BUILD)/taclust

FUZZ_SRC := $(wildcard fuzz/*.c)
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address -Wno-unknown-warning-option" LDSAN="-fsanitize=address" build-fuzz/libtaclust.a
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	  echo clang $$f; clang -g -O1 -Wall -Wextra -std=gnu11 -D_GNU_SOURCE -fsanitize=fuzzer,address -Iinclude -Isrc $(PKG_CFLAGS) -fopenmp -o build-fuzz/$$n $$f build-fuzz/libtaclust.a $(LDLIBS) || exit 1; done

clean:
	rm -rf build build-san build-fuzz

-include $(DEPS)
