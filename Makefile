# Two commands do everything on a fresh Debian 12 machine: `make demo` and `make test`.
BUILD ?= build
JOBS  ?= $(shell nproc)

.PHONY: all deps build demo test bench clean

all: build

deps:
	@deploy/install-deps.sh

$(BUILD)/CMakeCache.txt: | deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	client/demo/demo.sh $(BUILD)/client/evault $(BUILD)/server/evault-server

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	$(BUILD)/bench/sync_bench --server-binary $(BUILD)/server/evault-server

clean:
	rm -rf $(BUILD)
