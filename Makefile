# kmon — the two commands a newcomer needs (see README.md):
#   make demo    install what is missing, build, and run kmon demo (server + agent)
#                (flags through ARGS: make demo ARGS='--listen 127.0.0.1:5001')
#   make test    install what is missing, build (gcc Release, gcc Debug, clang+ASan+UBSan)
#                and run every test in the Release and the sanitizer builds
#   make image   an OCI image of the optimised build (build/kmon-image.tar, an oci-archive;
#                scripts/image.sh, docs/image.md), made without a container daemon
# Other targets: build, asan, fuzz, format, bench, clean.
#
# build/ is the optimised build users get (make build, make demo) and the one make test
# tests; build-debug/ is built by make test only so that a warning at -O0 fails too.
JOBS ?= $(shell nproc)
BUILD ?= build
DEBUG_BUILD ?= build-debug
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
ARGS ?=
export JOBS

.PHONY: all demo test build image build-debug asan fuzz fuzz-run format bench clean \
	deps deps-test deps-image

all: build

deps:
	@./scripts/install-deps.sh build

deps-test:
	@./scripts/install-deps.sh test

deps-image:
	@./scripts/install-deps.sh image

build: deps
	@./scripts/build.sh $(BUILD) Release

# Only the binary: a newcomer waits for nothing else.
demo: deps
	@./scripts/build.sh $(BUILD) Release --target kmon
	@exec ./$(BUILD)/kmon demo $(ARGS)

# The optimised binary (only it: the image needs nothing else of the build) in an image.
image: deps-image
	@./scripts/build.sh $(BUILD) Release --target kmon
	@./scripts/image.sh $(BUILD)/kmon $(BUILD)/kmon-image.tar

build-debug: deps-test
	@CC=gcc ./scripts/build.sh $(DEBUG_BUILD) Debug

asan: deps-test
	@CC=clang ./scripts/build.sh $(ASAN_BUILD) Debug -DKMON_SANITIZE=ON

test: deps-test
	@./scripts/build.sh $(BUILD) Release
	@CC=gcc ./scripts/build.sh $(DEBUG_BUILD) Debug
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)
	@CC=clang ./scripts/build.sh $(ASAN_BUILD) Debug -DKMON_SANITIZE=ON
	cd $(ASAN_BUILD) && ctest --output-on-failure -j $(JOBS)

fuzz: deps-test
	@CC=clang ./scripts/build.sh $(FUZZ_BUILD) Debug -DKMON_FUZZ=ON

# Run every fuzz target for FUZZ_SECONDS each, growing its corpus in tests/fuzz/corpus/.
fuzz-run: fuzz
	./tests/fuzz/run-all.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

bench: build deps-test
	./bench/agent-vs-node-exporter.sh $(BUILD)/kmon
	./bench/tsdb-bench.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(DEBUG_BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
