# Two commands do everything on a fresh Debian 12 machine: `make demo` and `make test`.
BUILD ?= build
JOBS  ?= $(shell nproc)
# The ASan+UBSan build with the libFuzzer targets (clang 19): `make test-sanitize`.
SAN_BUILD    ?= build-sanitize
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= $(notdir $(wildcard fuzz/corpus/*))

.PHONY: all deps build demo test test-long package deps-bench bench clean deps-sanitize sanitize-build test-sanitize fuzz-long

all: build

deps:
	@deploy/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	client/demo/demo.sh $(BUILD)/client/evault $(BUILD)/server/evault-server

# The long variants of the reliability suites (label "long") run on demand only.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -LE long

test-long: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -L long

# The Debian packages evault and evault-server, in $(BUILD) (deploy/README.md).
package: build
	cmake --build $(BUILD) --target package

# The benchmark suite of issue #7 (bench/bench_suite.sh): every figure beside its limit or
# peer (age, gpg, restic, installed here only) in the same run, one table on stdout.
# About 5 minutes (4 min 10 s in the last run); `make bench BENCH_ARGS=--quick` under one. See bench/README.md.
BENCH_ARGS ?=
deps-bench:
	@deploy/install-deps.sh bench

bench: deps-bench $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS) --target evault evault-server sync_bench bench_tool
	bench/bench_suite.sh --build $(BUILD) $(BENCH_ARGS)

# The whole suite (but the long variants) under AddressSanitizer and UBSan, including a
# short run of every fuzz target over its seed corpus (label "fuzz").
deps-sanitize:
	@deploy/install-deps.sh sanitize

$(SAN_BUILD)/CMakeCache.txt: | deps-sanitize
	CC=clang-19 CXX=clang++-19 cmake -S . -B $(SAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DEVAULT_SANITIZE=ON -DEVAULT_FUZZ=ON -DEVAULT_BUILD_BENCH=OFF

sanitize-build: deps-sanitize $(SAN_BUILD)/CMakeCache.txt
	cmake --build $(SAN_BUILD) -j $(JOBS)

# UBSan aborts on any finding (-fno-sanitize-recover); the stack says where. LeakSanitizer
# runs too, with suppressions for third-party leaks only (tests/sanitize/lsan.supp).
# The symbolizer is named: found on PATH alone, Debian's llvm-14 one was refused by clang
# 19's runtime ("invalid path to external symbolizer"), which printed that warning into
# error output the tests check and left frames unnamed for the suppressions.
SAN_SYMBOLIZER := $(firstword $(wildcard /usr/lib/llvm-19/bin/llvm-symbolizer) $(shell command -v llvm-symbolizer 2>/dev/null))
SAN_ENV = $(if $(SAN_SYMBOLIZER),ASAN_SYMBOLIZER_PATH=$(SAN_SYMBOLIZER)) UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize/lsan.supp:print_suppressions=0
test-sanitize: sanitize-build
	cd $(SAN_BUILD) && $(SAN_ENV) ctest --output-on-failure -j $(JOBS) -LE long

# Each fuzz target for FUZZ_SECONDS (one after another), its corpus kept between runs in
# $(SAN_BUILD)/fuzz/long/<target>; findings land in .../artifacts. E.g.
#   make fuzz-long FUZZ_SECONDS=3600 FUZZ_TARGETS="bundle membership_ops"
fuzz-long: sanitize-build
	@for t in $(FUZZ_TARGETS); do \
	  echo "== fuzz $$t for $(FUZZ_SECONDS)s"; \
	  $(SAN_ENV) fuzz/run_fuzz.sh $(SAN_BUILD)/fuzz/fuzz_$$t fuzz/corpus/$$t \
	    $(SAN_BUILD)/fuzz/long/$$t $(FUZZ_SECONDS) --keep || exit 1; \
	done

clean:
	rm -rf $(BUILD)
