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
	@if [ -t 1 ]; then on='\033[36m'; off='\033[0m'; else on=; off=; fi; \
	grep -hE '^[a-zA-Z0-9_ -]+:.*?## ' $(MAKEFILE_LIST) | \
	awk -v on="$$on" -v off="$$off" 'BEGIN {FS = ":.*?## "}; {printf "  %s%-44s%s %s\n", on, $$1, off, $$2}'

# The environment grows in two steps: what building and running ndshare
# needs (numpy, maturin: all `make demo` installs), then the test and
# development set (`make test`, `make lint`, `make bench`).
$(VENV)/.base: constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet maturin numpy -c constraints.txt
	touch $@

$(VENV)/.installed: $(VENV)/.base requirements-dev.txt constraints.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $@

$(VENV)/.built: $(VENV)/.base $(RUST_SOURCES) pyproject.toml
	$(VENV)/bin/maturin develop --release --quiet
	$(CARGO) build --release --quiet --bins --examples
	touch $@

.PHONY: build
build: $(VENV)/.built ## Build the Rust core, the `ndshare` command and the Python extension.

.PHONY: demo
demo: build ## Run the tutorial example ndshare started from, the workflows, and a side-by-side timing.
	$(PY) examples/seed_example.py
	$(PY) examples/workflows.py
	$(PY) examples/timing.py

.PHONY: test
# The generated-input tests draw from a fixed seed here, as the hypothesis
# tests do, so that a run can be repeated exactly; another number in
# PROPTEST_RNG_SEED, or a plain `cargo test`, explores new inputs; `make fuzz` searches long.
PROPTEST_RNG_SEED ?= 20261129
export PROPTEST_RNG_SEED

# Every leg says in target/test-summary.txt whether it ran or why it was
# skipped; the summary closes the run, so that a skipped leg is never
# mistaken for a pass.
SUMMARY := target/test-summary.txt

test: build $(VENV)/.installed ## Run every test: lint, cargo tests, fuzzing, pytest, the installed wheel, the core tests on four other Python/numpy pairs.
	@mkdir -p target && : > $(SUMMARY)
	$(MAKE) --no-print-directory lint
	@echo "lint: ran (clippy, rustfmt, rustdoc, ruff, mypy --strict, stubtest, the unsupported backend)" >> $(SUMMARY)
	$(CARGO) test --workspace --exclude ndshare-py --quiet
	@echo "cargo test: ran" >> $(SUMMARY)
	set -o pipefail; FUZZ_SECONDS=30 fuzz/run | tee target/fuzz.log
	@if grep -q '^fuzz: not run' target/fuzz.log; then grep '^fuzz: not run' target/fuzz.log; else echo "fuzz: ran, 30 s a target"; fi >> $(SUMMARY)
	$(PY) -m pytest -q | tee target/pytest.log; exit $${PIPESTATUS[0]}
	@echo "pytest: $$(tail -n 1 target/pytest.log | tr -d '=' | sed 's/^ *//') (skipped tests and why: 'short test summary info' above)" >> $(SUMMARY)
	$(MAKE) --no-print-directory test-wheel $(OTHER_PYTHON_TARGETS)
	@echo; echo "== what ran =="; cat $(SUMMARY)

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

# The wheel: abi3 (one wheel for every CPython >= 3.9), manylinux-tagged,
# checked by maturin's auditwheel to link nothing beyond the manylinux
# policy; the sdist beside it.
$(WHEEL_STAMP): $(RUST_SOURCES) $(PY_SOURCES) pyproject.toml README.md $(VENV)/.base
	rm -rf target/wheels
	$(VENV)/bin/maturin build --release --strip --auditwheel check --quiet -o target/wheels
	$(VENV)/bin/maturin sdist -o target/wheels >/dev/null
	touch $@

.PHONY: wheel
wheel: $(WHEEL_STAMP) ## Build the wheel and the sdist into target/wheels (pip install target/wheels/ndshare-*.whl).
	@ls target/wheels/ndshare-*

.PHONY: test-wheel
test-wheel: $(WHEEL_STAMP) ## Install the wheel into a brand-new virtual environment with numpy alone and use it there.
	rm -rf .venv-wheel && $(PYTHON) -m venv .venv-wheel
	.venv-wheel/bin/pip install --quiet numpy -c constraints.txt
	.venv-wheel/bin/pip install --quiet target/wheels/ndshare-*.whl
	cd "$$(mktemp -d)" && PATH="$(CURDIR)/.venv-wheel/bin:$$PATH" python $(CURDIR)/tests/installed_wheel.py $(CURDIR)/examples/seed_example.py
	@echo "test-wheel: ran (fresh environment: numpy and the wheel alone)" >> $(SUMMARY)

.PHONY: $(OTHER_PYTHON_TARGETS)
test-oldest: OTHER_PYTHON = $(PYTHON_OLDEST)
test-py310: OTHER_PYTHON = $(PYTHON_PY310)
test-py312: OTHER_PYTHON = $(PYTHON_PY312)
test-newest: OTHER_PYTHON = $(PYTHON_NEWEST)
test-oldest test-py310 test-py312 test-newest: test-%: ## The core tests with the abi3 wheel on CPython 3.9/3.10/3.12/3.13 + numpy 1.24/1.26/2.0/2.4.
	@if [ -z "$(OTHER_PYTHON)" ]; then \
	  echo "$@: skipped, no such python installed (set PYTHON_$(shell echo $* | tr a-z A-Z)=...)" | tee -a $(SUMMARY); exit 0; fi; \
	$(MAKE) --no-print-directory $(WHEEL_STAMP); \
	set -ex; \
	if [ ! .venv-$*/.installed -nt requirements-$*.txt ]; then \
	  rm -rf .venv-$* && "$(OTHER_PYTHON)" -m venv .venv-$* && \
	  .venv-$*/bin/pip install --quiet -r requirements-$*.txt && touch .venv-$*/.installed; \
	fi; \
	.venv-$*/bin/pip install --quiet --force-reinstall --no-deps target/wheels/ndshare-*.whl; \
	cd tests && ../.venv-$*/bin/python -m pytest -q -p no:cacheprovider $(patsubst tests/%,%,$(OTHER_PYTHON_TESTS)) | tee ../target/pytest-$*.log; \
	rc=$${PIPESTATUS[0]}; [ $$rc = 0 ] || exit $$rc; \
	echo "$@: ran on $$(../.venv-$*/bin/python -c 'import sys, numpy; print(f"CPython {sys.version.split()[0]} + numpy {numpy.__version__}")'): $$(tail -n 1 ../target/pytest-$*.log | tr -d '=' | sed 's/^ *//')" >> ../$(SUMMARY)

.PHONY: fuzz
fuzz: ## Fuzz the segment format (nightly; installs cargo-fuzz if missing). FUZZ_SECONDS=600 for longer.
	FUZZ_INSTALL=1 FUZZ_SECONDS=$${FUZZ_SECONDS:-300} fuzz/run

$(VENV)/.bench-installed: $(VENV)/.installed requirements-bench.txt requirements-bench-optional.txt
	$(PY) -m pip install --quiet -r requirements-bench.txt -c constraints.txt
	grep -v '^#' requirements-bench-optional.txt | while read -r reqs; do \
	  [ -z "$$reqs" ] || $(PY) -m pip install --quiet $$reqs -c constraints.txt \
	  || echo "note: $${reqs%% *} did not install; the suite runs without it and says so"; done
	touch $@

.PHONY: bench
bench: build $(VENV)/.bench-installed ## Run the benchmark suite (BENCH_ARGS=--quick for a short run); writes docs/benchmarks.md and .png.
	$(PY) benches/run.py $(BENCH_ARGS)
	$(PY) benches/stream.py $(BENCH_ARGS)
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
# The Python that ruff checks and formats.
PY_DIRS := python tests benches examples

.PHONY: format
format: $(VENV)/.installed ## Format the Rust (rustfmt) and the Python (ruff format, ruff check --fix).
	$(CARGO) fmt --all
	$(VENV)/bin/ruff format $(PY_DIRS)
	$(VENV)/bin/ruff check --fix $(PY_DIRS)

lint: build $(VENV)/.installed check-unsupported ## clippy, rustfmt --check, rustdoc, ruff, mypy --strict, stubtest, the unsupported backend.
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check
	RUSTDOCFLAGS='-D warnings' $(CARGO) doc -p ndshare --no-deps --quiet
	$(VENV)/bin/ruff check $(PY_DIRS)
	$(VENV)/bin/ruff format --check $(PY_DIRS)
	$(VENV)/bin/mypy
	$(PY) -m mypy.stubtest ndshare._ndshare

.PHONY: check-unsupported
# Its own target directory: another cfg would otherwise rebuild the normal build.
UNSUPPORTED := CARGO_TARGET_DIR=target/unsupported RUSTFLAGS='--cfg ndshare_unsupported -D warnings'
check-unsupported: ## Check that the core builds with the backend for systems other than Linux, and that every operation there is refused.
	$(UNSUPPORTED) $(CARGO) check -p ndshare --quiet
	$(UNSUPPORTED) $(CARGO) test -p ndshare --test unsupported --quiet

.PHONY: lock
lock: ## Re-resolve constraints.txt from requirements-dev.txt (deliberate updates only).
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet -r requirements-dev.txt
	(echo "# Transitive pins for requirements-dev.txt (pip install -c constraints.txt). Regenerate with 'make lock'."; \
	  .venv-lock/bin/pip freeze | grep -vi '^ndshare') > constraints.txt
	rm -rf .venv-lock

.PHONY: clean
clean: ## Remove the build and the virtual environment.
	rm -rf target $(VENV) .venv-oldest .venv-py310 .venv-py312 .venv-newest .venv-wheel
