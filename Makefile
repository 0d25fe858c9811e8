# telemq developer entry points. `make test` and `make demo` install missing
# Debian packages first (scripts/install-deps), so both work on a fresh
# Debian 12 machine.
BUILD_DIR ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
ifeq ($(CI),true)
CMAKE_FLAGS += -DTELEMQ_WERROR=ON
endif
SEEDS ?= 20000
# replica_sim seeds are heavier (three real Replicas): ~150-300 seeds/s.
REPLICA_SEEDS ?= 20000
CTEST_ARGS ?=

.PHONY: all deps configure build test coverage bench compare format lint demo sim clean openapi image chaos chaos-selftest

all: build

deps:
	@scripts/install-deps

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja $(CMAKE_FLAGS)

configure: $(BUILD_DIR)/build.ninja

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

test: deps
	@$(MAKE) --no-print-directory build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS) $(CTEST_ARGS)

coverage: deps
	cmake -S . -B build-coverage -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTELEMQ_COVERAGE=ON -DTELEMQ_BUILD_BENCH=OFF
	cmake --build build-coverage -j $(JOBS)
	cd build-coverage && ctest --output-on-failure -j $(JOBS) -E fuzz_short
	mkdir -p build/coverage
	gcovr -r . build-coverage --exclude 'tests/' --exclude '.*_test\.cc' --exclude 'build-coverage/' \
	  --exclude-unreachable-branches --exclude-throw-branches \
	  --html-details build/coverage/index.html --print-summary
	@echo "HTML report: build/coverage/index.html"

bench: deps
	@$(MAKE) --no-print-directory build
	scripts/run-benchmarks $(BUILD_DIR)

# telemq side by side with NATS JetStream and Redis Streams on this machine
# (scripts/compare, docs/benchmarks.md): `make compare REPS=3`; QUICK=1 for
# a short run. Writes $(BUILD_DIR)/compare/table.md and results.json;
# UPDATE_DOCS=docs/benchmarks.md also replaces the table there.
REPS ?= 3
QUICK ?= 0
UPDATE_DOCS ?=
compare: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target telemq-broker telemq telemq-bench nats-load redis-load compare-table
	REPS=$(REPS) QUICK=$(QUICK) UPDATE_DOCS=$(UPDATE_DOCS) COMPARE_COMMAND="make compare REPS=$(REPS)$(if $(filter 1,$(QUICK)), QUICK=1)" \
	  scripts/compare $(BUILD_DIR)

sim: deps
	@$(MAKE) --no-print-directory build
	$(BUILD_DIR)/tests/sim/raft_sim --seeds $(SEEDS)
	$(BUILD_DIR)/tests/sim/replica_sim --seeds $(REPLICA_SEEDS) --first-seed 100000
	$(BUILD_DIR)/tests/sim/replica_sim --seeds $$(( $(REPLICA_SEEDS) / 10 )) --first-seed 200000 --steps 10000

format:
	git ls-files '*.h' '*.cc' | xargs clang-format -i

lint: configure
	git ls-files '*.h' '*.cc' | xargs clang-format --dry-run --Werror
	git ls-files 'broker/*.cc' 'client/*.cc' 'common/*.cc' | grep -v _test.cc | \
	  xargs -r clang-tidy -p $(BUILD_DIR) --quiet

demo: deps
	@$(MAKE) --no-print-directory build
	scripts/demo

# docs/openapi.json is generated from the gateway's route table
# (gateway/api.cc); gateway_test fails while the committed copy differs.
openapi: configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target telemq-gateway
	$(BUILD_DIR)/gateway/telemq-gateway --print-openapi > docs/openapi.json.tmp
	mv docs/openapi.json.tmp docs/openapi.json
	@echo "wrote docs/openapi.json"

# The chaos suite (docs/chaos.md): a seeded nemesis against three brokers
# under acks=all load, then a checker. `make chaos DURATION=600 SEED=42`;
# SCHEDULE=FILE replays a run's schedule; CHAOS_ARGS passes more flags.
DURATION ?= 600
SEED ?=
SCHEDULE ?=
CHAOS_ARGS ?=
chaos: deps configure
	cmake --build $(BUILD_DIR) -j $(JOBS) --target telemq-chaos
	$(BUILD_DIR)/tests/chaos/telemq-chaos --duration $(DURATION) --out $(BUILD_DIR)/chaos \
	  $(if $(SEED),--seed $(SEED)) $(if $(SCHEDULE),--schedule $(SCHEDULE)) $(CHAOS_ARGS)

# Proves the checker catches a loss: a Debug build whose broker can
# acknowledge acks=all before commit (TELEMQ_CHAOS_BUGS; never in Release).
chaos-selftest: deps
	cmake -S . -B build-chaos-selftest -G Ninja -DCMAKE_BUILD_TYPE=Debug -DTELEMQ_CHAOS_BUGS=ON \
	  -DTELEMQ_BUILD_BENCH=OFF $(CMAKE_FLAGS)
	cmake --build build-chaos-selftest -j $(JOBS) --target telemq-chaos
	cd build-chaos-selftest && ctest --output-on-failure -R chaos_selftest

# The container image (Dockerfile) with podman; as root.
image: deps
	scripts/build-image

clean:
	rm -rf $(BUILD_DIR) build-coverage build-fuzz build-chaos-selftest
