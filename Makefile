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
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

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
test: build ## Run every test: cargo tests, pytest, then the core tests on the oldest Python/numpy.
	$(CARGO) test --workspace --exclude ndshare-py --quiet
	FUZZ_SECONDS=30 fuzz/run
	$(PY) -m pytest -q
	$(MAKE) --no-print-directory test-oldest

# The abi3 wheel, installed into an environment of the oldest supported
# CPython and numpy, must pass the core tests too. Skipped, saying so, where
# no such interpreter is installed.
PYTHON_OLDEST ?= $(shell for p in python3.9 $${PYENV_ROOT:-$$HOME/.pyenv}/versions/3.9*/bin/python3.9; do \
	"$$p" -c 'import venv' >/dev/null 2>&1 && { command -v "$$p"; break; }; done)
OLDEST_TESTS := tests/test_basics.py tests/test_processes.py tests/test_named.py tests/test_sync.py

.venv-oldest/.installed: requirements-oldest.txt
	$(PYTHON_OLDEST) -m venv .venv-oldest
	.venv-oldest/bin/pip install --quiet -r requirements-oldest.txt
	touch $@

.PHONY: test-oldest
test-oldest: build ## The core tests on CPython 3.9 + numpy 1.24 with the abi3 wheel.
ifeq ($(PYTHON_OLDEST),)
	@echo "test-oldest: skipped, no python3.9 on PATH (set PYTHON_OLDEST=...)"
else
	$(MAKE) --no-print-directory .venv-oldest/.installed
	rm -rf target/wheels && $(VENV)/bin/maturin build --release --quiet -o target/wheels
	.venv-oldest/bin/pip install --quiet --force-reinstall --no-deps target/wheels/ndshare-*.whl
	cd tests && ../.venv-oldest/bin/python -m pytest -q -p no:cacheprovider $(patsubst tests/%,%,$(OLDEST_TESTS))
endif

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

.PHONY: bench-sync
bench-sync: build ## Locks and atomics against multiprocessing's (benches/bench_sync.py; BENCH_ARGS=--quick).
	$(PY) benches/bench_sync.py $(BENCH_ARGS)

.PHONY: bench-rust
bench-rust: ## Run the Rust API's criterion benchmarks (create/attach/drop, views; locks, atomics).
	$(CARGO) bench -p ndshare --bench array
	$(CARGO) bench -p ndshare --bench sync

.PHONY: lint
lint: build ## clippy, rustfmt --check, mypy --strict, stubtest.
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest ndshare._ndshare

.PHONY: lock
lock: ## Re-resolve constraints.txt from requirements-dev.txt (deliberate updates only).
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -r requirements-dev.txt
	(echo "# Transitive pins for requirements-dev.txt (pip install -c constraints.txt). Regenerate with 'make lock'."; \
	  .venv-lock/bin/pip freeze | grep -vi '^ndshare') > constraints.txt
	rm -rf .venv-lock

.PHONY: clean
clean: ## Remove the build and the virtual environment.
	rm -rf target $(VENV) .venv-oldest
