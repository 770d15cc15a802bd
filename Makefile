# Two commands do everything on a fresh Debian 12 machine: `make demo` and `make test`.
BUILD ?= build
JOBS  ?= $(shell nproc)

.PHONY: all deps build demo test test-long bench clean

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

clean:
	rm -rf $(BUILD)
