# kmon — the two commands a newcomer needs (see README.md):
#   make demo    install what is missing, build, and run kmon demo (server + agent)
#   make test    install what is missing, build (gcc and clang+ASan+UBSan), run every test
# Other targets: build, asan, fuzz, format, bench, clean.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60

.PHONY: all demo test build asan fuzz fuzz-run format bench clean deps deps-test

all: build

deps:
	./scripts/install-deps.sh build

deps-test:
	./scripts/install-deps.sh test

$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	./$(BUILD)/kmon demo

asan: deps-test
	CC=clang cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKMON_SANITIZE=ON
	cmake --build $(ASAN_BUILD) -j $(JOBS)

test: deps-test
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	$(MAKE) asan
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

fuzz: deps-test
	CC=clang cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DKMON_FUZZ=ON
	cmake --build $(FUZZ_BUILD) -j $(JOBS)

# Run every fuzz target for FUZZ_SECONDS each, growing its corpus in tests/fuzz/corpus/.
fuzz-run: fuzz
	./tests/fuzz/run-all.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

bench: build deps-test
	./bench/agent-vs-node-exporter.sh $(BUILD)/kmon
	./bench/tsdb-bench.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
