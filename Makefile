# ndshare — run `make help` for the targets.
#
# Each target makes its own virtual environment (.venv) from the pinned
# requirements and builds only what changed: the Rust extension is rebuilt
# when a Rust or Cargo file changes, never otherwise.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CARGO ?= cargo
RUST_SOURCES := $(shell find crates -name '*.rs' -o -name 'Cargo.toml' 2>/dev/null) Cargo.toml $(wildcard Cargo.lock)

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this help.
	@grep -hE '^[a-zA-Z0-9_ -]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-44s\033[0m %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

$(VENV)/.built: $(VENV)/.installed $(RUST_SOURCES) pyproject.toml
	$(VENV)/bin/maturin develop --release --quiet
	$(CARGO) build --release --quiet --bins --examples
	touch $@

.PHONY: build
build: $(VENV)/.built ## Build the Rust core, the `ndshare` command and the Python extension.

.PHONY: demo
demo: build ## Run the seed example on ndshare and a side-by-side timing.
	$(PY) examples/seed_example.py
	$(PY) examples/workflows.py
	$(PY) examples/timing.py

.PHONY: test
# The generated-input tests draw from a fixed seed here, as the hypothesis
# tests do, so that a run can be repeated exactly; another number in
# PROPTEST_RNG_SEED, or a plain `cargo test`, explores new inputs; `make fuzz` searches long.
PROPTEST_RNG_SEED ?= 20261129
export PROPTEST_RNG_SEED

test: build ## Run every test: cargo tests, fuzzing, pytest, then the core tests on four other Python/numpy pairs.
	$(CARGO) test --workspace --exclude ndshare-py --quiet
	FUZZ_SECONDS=30 fuzz/run
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory $(OTHER_PYTHON_TARGETS)

# The abi3 wheel, installed into environments of other CPython and numpy
# versions, must pass the core tests there too: the oldest supported (3.9 +
# numpy 1.24), 3.10 + the last numpy 1.x (1.26), 3.12 + the first numpy 2.x
# (2.0) and the newest (3.13 + numpy 2.4), each pinned in requirements-X.txt.
# Each is skipped, saying so, where no such interpreter is installed
# (python3.X on PATH, or under pyenv).
find_python = $(shell for p in python$(1) $${PYENV_ROOT:-$$HOME/.pyenv}/versions/$(1)*/bin/python$(1); do \
	"$$p" -c 'import venv' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)
PYTHON_OLDEST ?= $(call find_python,3.9)
PYTHON_NEWEST ?= $(call find_python,3.13)
PYTHON_PY310 ?= $(call find_python,3.10)
PYTHON_PY312 ?= $(call find_python,3.12)
OTHER_PYTHON_TARGETS := test-oldest test-py310 test-py312 test-newest
OTHER_PYTHON_TESTS := tests/test_basics.py tests/test_processes.py tests/test_named.py tests/test_sync.py tests/test_views.py
WHEEL_STAMP := target/wheels/.built

# The wheel holds the Python package too: rebuilt when either changes.
PY_SOURCES := $(shell find python -name '*.py' -o -name '*.pyi' -o -name 'py.typed' 2>/dev/null)

$(WHEEL_STAMP): $(RUST_SOURCES) $(PY_SOURCES) pyproject.toml $(VENV)/.installed
	rm -rf target/wheels && $(VENV)/bin/maturin build --release --quiet -o target/wheels
	touch $@

.PHONY: $(OTHER_PYTHON_TARGETS)
test-oldest: OTHER_PYTHON = $(PYTHON_OLDEST)
test-py310: OTHER_PYTHON = $(PYTHON_PY310)
test-py312: OTHER_PYTHON = $(PYTHON_PY312)
test-newest: OTHER_PYTHON = $(PYTHON_NEWEST)
test-oldest test-py310 test-py312 test-newest: test-%: $(WHEEL_STAMP) ## The core tests with the abi3 wheel on CPython 3.9/3.10/3.12/3.13 + numpy 1.24/1.26/2.0/2.4.
	@if [ -z "$(OTHER_PYTHON)" ]; then echo "$@: skipped, no such python installed (set PYTHON_$(shell echo $* | tr a-z A-Z)=...)"; exit 0; fi; \
	set -ex; \
	if [ ! .venv-$*/.installed -nt requirements-$*.txt ]; then \
	  rm -rf .venv-$* && "$(OTHER_PYTHON)" -m venv .venv-$* && \
	  .venv-$*/bin/pip install --quiet -r requirements-$*.txt && touch .venv-$*/.installed; \
	fi; \
	.venv-$*/bin/pip install --quiet --force-reinstall --no-deps target/wheels/ndshare-*.whl; \
	cd tests && ../.venv-$*/bin/python -m pytest -q -p no:cacheprovider $(patsubst tests/%,%,$(OTHER_PYTHON_TESTS))

.PHONY: fuzz
fuzz: ## Fuzz the segment format (nightly; installs cargo-fuzz if missing). FUZZ_SECONDS=600 for longer.
	FUZZ_INSTALL=1 FUZZ_SECONDS=$${FUZZ_SECONDS:-300} fuzz/run

$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt requirements-bench-optional.txt
	$(PY) -m pip install --quiet -r requirements-bench.txt -c constraints.txt
	$(PY) -m pip install --quiet -r requirements-bench-optional.txt -c constraints.txt \
	  || echo "note: sharedarray did not build (it needs a C compiler); the suite runs without it and says so"
	touch $@

.PHONY: bench
bench: build $(VENV)/.bench-installed ## Run the benchmark suite (BENCH_ARGS=--quick for a short run); writes docs/benchmarks.md and .png.
	$(PY) benches/run.py $(BENCH_ARGS)
	$(PY) benches/micro.py

.PHONY: bench-micro
bench-micro: build ## Small per-call costs: the subclass, attach, the descriptor hand-off (benches/micro.py).
	$(PY) benches/micro.py

.PHONY: bench-sync
bench-sync: build ## Locks and atomics against multiprocessing's (benches/bench_sync.py; BENCH_ARGS=--quick).
	$(PY) benches/bench_sync.py $(BENCH_ARGS)

.PHONY: bench-rust
bench-rust: ## Run the Rust API's criterion benchmarks (create/attach/drop, views; locks, atomics).
	$(CARGO) bench -p ndshare --bench array
	$(CARGO) bench -p ndshare --bench sync

.PHONY: lint
lint: build check-unsupported ## clippy, rustfmt --check, mypy --strict, stubtest, the unsupported backend.
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest ndshare._ndshare

.PHONY: check-unsupported
check-unsupported: ## Check that the core compiles with the backend for systems other than Linux.
	CARGO_TARGET_DIR=target/unsupported RUSTFLAGS='--cfg ndshare_unsupported -D warnings' $(CARGO) check -p ndshare --quiet

.PHONY: lock
lock: ## Re-resolve constraints.txt from requirements-dev.txt (deliberate updates only).
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -r requirements-dev.txt
	(echo "# Transitive pins for requirements-dev.txt (pip install -c constraints.txt). Regenerate with 'make lock'."; \
	  .venv-lock/bin/pip freeze | grep -vi '^ndshare') > constraints.txt
	rm -rf .venv-lock

.PHONY: clean
clean: ## Remove the build and the virtual environment.
	rm -rf target $(VENV) .venv-oldest .venv-py310 .venv-py312 .venv-newest
