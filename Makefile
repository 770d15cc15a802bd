# Two commands do everything on a fresh Debian 12 machine: `make demo` and `make test`.
BUILD ?= build
JOBS  ?= $(shell nproc)
# The ASan+UBSan build with the libFuzzer targets (clang 19): `make test-sanitize`.
SAN_BUILD    ?= build-sanitize
FUZZ_SECONDS ?= 600
FUZZ_TARGETS ?= $(notdir $(wildcard fuzz/corpus/*))

.PHONY: all deps build demo test test-long bench clean deps-sanitize sanitize-build test-sanitize fuzz-long

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

bench: build
	$(BUILD)/bench/sync_bench --server-binary $(BUILD)/server/evault-server

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
SAN_ENV = UBSAN_OPTIONS=print_stacktrace=1 LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize/lsan.supp:print_suppressions=0
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
