# The README's commands. `make test` and `make demo` work on a fresh machine: they install what
# they need (Debian packages, a virtualenv with the Python tools, pyspark), then build.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

VENV      ?= .venv
PY        := $(VENV)/bin/python
CARGO     ?= cargo
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: demo test lint setup build build-rust build-python build-release rust-test py-test bench fmt clean

demo: build
	$(PY) scripts/demo.py

test: lint rust-test py-test

setup: $(VENV)/.deps-installed

$(VENV)/.deps-installed: requirements-dev.txt scripts/setup-system.sh
	bash scripts/setup-system.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

build: setup build-rust build-python

# Tests use debug builds (dependencies at opt-level 1), which share their artifacts with
# `cargo nextest`; benchmarks build with --release (kubesim, its load generator, the core).
build-rust:
	$(CARGO) build --locked -p kubesim

build-python: setup
	maturin develop --locked --quiet

build-release: setup
	$(CARGO) build --release --locked -p kubesim --bins --example load
	maturin develop --release --locked --quiet

lint: build
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	ruff check python tests dags bench scripts deployment
	ruff format --check python tests dags bench scripts deployment
	mypy
	$(PY) -m mypy.stubtest sparkube._core --allowlist python/sparkube/stubtest-allowlist.txt

rust-test: setup
	$(CARGO) nextest run --workspace --locked --no-fail-fast

py-test: build
	$(PY) -m pytest

fmt:
	$(CARGO) fmt --all
	ruff format python tests dags bench scripts deployment
	ruff check --fix python tests dags bench scripts deployment

bench: build-release
	KUBESIM_BIN=$(abspath target/release/kubesim) $(PY) bench/run.py $(BENCH_ARGS)

clean:
	$(CARGO) clean
	rm -rf $(VENV)
