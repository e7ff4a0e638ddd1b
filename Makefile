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

.PHONY: demo test lint setup build build-rust build-python build-release rust-test py-test bench fmt clean \
	test-airflow-spark test-browser compat \
	dist dist-check dist-check-sdist

demo: build
	$(PY) scripts/demo.py

test: lint dist-check rust-test py-test
# `make test` builds and checks this machine's wheel only.
test: DIST_ARCH ?= $(shell uname -m)

setup: $(VENV)/.deps-installed

$(VENV)/.deps-installed: requirements-dev.txt requirements-s3.txt scripts/setup-system.sh
	bash scripts/setup-system.sh
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	test -x $(VENV)/s3/bin/python || python3 -m venv $(VENV)/s3
	$(VENV)/s3/bin/python -m pip install --quiet -r requirements-s3.txt
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

# `@task.sparkube` and `SparkKubernetesHook.session` with real Spark drivers and executors
# (minutes on 2 cores; `make test` runs one decorated function in a real driver only).
test-airflow-spark: build
	SPARKUBE_AIRFLOW_SPARK=1 $(PY) -m pytest tests/airflow/test_decorator_spark.py \
		tests/airflow/test_connect_session.py

# The Spark UI proxy and History Server of deployment/ on kubesim, in headless Chromium (a few
# minutes; not part of `make test`). Screenshots go to artifacts/browser/.
test-browser: build
	$(PY) -m pytest -m browser tests/deployment/test_overlay_browser.py

# Release artefacts (scripts/dist.py): manylinux2014 abi3 wheels linked with zig, and the sdist.
# DIST_ARCH=aarch64 builds only that architecture (and fails if its Rust target is missing).
dist: setup
	$(PY) scripts/dist.py $(if $(DIST_ARCH),--arch $(DIST_ARCH))

# What would ship, checked (scripts/dist_check.py); the wheel is also tried under the Pythons in
# DIST_CHECK_PYTHONS (here: 3.10, the oldest the abi3 wheel claims, when pyenv has it).
DIST_CHECK_PYTHONS ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10))
dist-check: dist
	DIST_CHECK_PYTHONS="$(DIST_CHECK_PYTHONS)" $(PY) scripts/dist_check.py dist

# As dist-check, and compile the sdist with pip in a fresh virtualenv, cargo offline.
dist-check-sdist: dist
	DIST_CHECK_PYTHONS="$(DIST_CHECK_PYTHONS)" $(PY) scripts/dist_check.py dist --build-sdist

# The Airflow compatibility matrix (scripts/compat.py): one virtualenv per Airflow minor version
# under .compat/ (kept between runs), sparkube's wheel from dist/, tests/airflow in each; the
# table goes to tests/airflow/COMPAT.md. AIRFLOW_VERSIONS="2.10 3.3" runs a subset.
AIRFLOW_VERSIONS ?= 2.10 2.11 3.0 3.1 3.2 3.3
compat: build-rust
	test -n "$$(ls dist/sparkube-*$$(uname -m).whl 2>/dev/null)" || $(MAKE) dist DIST_ARCH=$$(uname -m)
	$(PY) scripts/compat.py $(AIRFLOW_VERSIONS)

fmt:
	$(CARGO) fmt --all
	ruff format python tests dags bench scripts deployment
	ruff check --fix python tests dags bench scripts deployment

bench: build-release
	KUBESIM_BIN=$(abspath target/release/kubesim) $(PY) bench/run.py $(BENCH_ARGS)

clean:
	$(CARGO) clean
	rm -rf $(VENV)
