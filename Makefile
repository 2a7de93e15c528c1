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
	$(CARGO) build --release --quiet --bins
	touch $@

.PHONY: build
build: $(VENV)/.built ## Build the Rust core, the `ndshare` command and the Python extension.

.PHONY: demo
demo: build ## Run the seed example on ndshare and a side-by-side timing.
	$(PY) examples/seed_example.py
	$(PY) examples/workflows.py
	$(PY) examples/timing.py

.PHONY: test
test: build ## Run every test: cargo tests, then pytest.
	$(CARGO) test --workspace --exclude ndshare-py --quiet
	$(PY) -m pytest -q

.PHONY: bench
bench: build ## Run the benchmark suite; writes docs/benchmarks.md.
	$(PY) benches/run.py

.PHONY: lint
lint: build ## clippy, rustfmt --check, mypy --strict.
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check
	$(VENV)/bin/mypy

.PHONY: lock
lock: ## Re-resolve constraints.txt from requirements-dev.txt (deliberate updates only).
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -r requirements-dev.txt
	(echo "# Transitive pins for requirements-dev.txt (pip install -c constraints.txt). Regenerate with 'make lock'."; \
	  .venv-lock/bin/pip freeze | grep -vi '^ndshare') > constraints.txt
	rm -rf .venv-lock

.PHONY: clean
clean: ## Remove the build and the virtual environment.
	rm -rf target $(VENV)
