# hunt: developer entry points. `make` (or `make help`) lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# Kafka broker jars (see hunt/ops/kafka/pom.xml); hunt.ops.broker reads the same variable.
KAFKA_POM := hunt/ops/kafka/pom.xml
KAFKA_LIBS := $(or $(HUNT_KAFKA_LIBS),$(CURDIR)/.cache/kafka/libs)
export HUNT_KAFKA_LIBS := $(KAFKA_LIBS)
BENCH_REPORT ?= bench/report.json

# Every pip install goes through the one constraints file (exact versions of the
# runtime, dev and bench closures; see its header), as the Dockerfile's does.
CONSTRAINTS := constraints.txt
# setuptools warns on every editable install that a ./hunt folder could shadow the
# package: here it is the package.
PIP_INSTALL := PYTHONWARNINGS='ignore:Editable installation' \
	$(BIN)/pip install -q --disable-pip-version-check -c $(CONSTRAINTS)

# Stamps make each install step a no-op until pyproject.toml, the constraints or the pom
# change. RUN_STAMP: hunt and its runtime only (`make run`); PY_STAMP: with the dev tools.
BUILD_STAMP := $(VENV)/.installed-build
RUN_STAMP := $(VENV)/.installed-run
PY_STAMP := $(VENV)/.installed
BENCH_STAMP := $(VENV)/.installed-bench
KAFKA_STAMP := $(KAFKA_LIBS)/.complete
# kustomize, checkov and hadolint for k8s-check (hunt/ops/tools.py installs them under .cache/).
TOOLS_STAMP := .cache/tools.stamp

.PHONY: help install lint test k8s-check run bench chaos soak clean

help: ## list the targets
	@grep -E '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) \
		| awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}'

install: $(PY_STAMP) $(KAFKA_STAMP) $(TOOLS_STAMP) ## everything: .venv with hunt and its dev tools, the Kafka jars, the k8s tools

# A new venv gets the pinned pip and setuptools first. Python 3.11.7's own pip (23.2)
# took twice the CPU to resolve the pins (runtime install 35 s -> 18 s at load 4-5,
# after a 3 s upgrade); with the build backend in the venv, hunt's editable build skips
# making an isolated build env of its own (~5 s).
# A venv made before the pins (or before they changed) gets them too: the editable
# build runs without isolation, so it needs the pinned setuptools in the venv.
$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(BUILD_STAMP): $(CONSTRAINTS) | $(BIN)/python
	$(PIP_INSTALL) pip setuptools
	@touch $@

# The dev install holds the runtime one, so it also marks that as done.
$(PY_STAMP): pyproject.toml $(CONSTRAINTS) $(BUILD_STAMP)
	$(PIP_INSTALL) --no-build-isolation -e '.[dev]'
	@touch $@ $(RUN_STAMP)

$(RUN_STAMP): pyproject.toml $(CONSTRAINTS) $(BUILD_STAMP)
	$(PIP_INSTALL) --no-build-isolation -e .
	@touch $@

# Fetch into a scratch dir and rename, so an interrupted download never looks complete.
$(KAFKA_STAMP): $(KAFKA_POM)
	@command -v mvn >/dev/null || { echo "mvn not found: install Maven (and Java 17+) to run the local Kafka broker" >&2; exit 1; }
	@rm -rf '$(KAFKA_LIBS).tmp' && mkdir -p '$(dir $(KAFKA_LIBS))'
	mvn -q -B -f $(KAFKA_POM) dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory='$(KAFKA_LIBS).tmp'
	@touch '$(KAFKA_LIBS).tmp/.complete' && rm -rf '$(KAFKA_LIBS)' && mv '$(KAFKA_LIBS).tmp' '$(KAFKA_LIBS)'

$(TOOLS_STAMP): hunt/ops/tools.py $(PY_STAMP)
	$(BIN)/python -m hunt.ops.tools
	@mkdir -p $(dir $@) && touch $@

lint: $(PY_STAMP) ## ruff check, ruff format --check, mypy hunt
	$(BIN)/ruff check hunt tests
	$(BIN)/ruff format --check hunt tests
	$(BIN)/mypy hunt

test: install ## lint, then every test (the session fixture starts Kafka), then k8s-check
	$(MAKE) lint
	$(BIN)/python -m hunt.ops.chromium
	$(BIN)/pytest -q tests
	$(MAKE) k8s-check

k8s-check: $(PY_STAMP) $(TOOLS_STAMP) ## render, schema-check and lint the k8s/ manifests, the Dockerfile and the dashboard
	$(BIN)/python -m hunt.ops.k8s_check

# Only what running needs (no lint, type-check or k8s tools); the Python packages and
# the Kafka jars download side by side.
run: ## install the runtime only, start broker, worker and simulator; Ctrl-C stops all three
	@$(MAKE) --no-print-directory -j2 $(RUN_STAMP) $(KAFKA_STAMP)
	$(BIN)/python -m hunt.ops.run

$(BENCH_STAMP): pyproject.toml $(CONSTRAINTS) $(PY_STAMP)
	$(PIP_INSTALL) --no-build-isolation -e '.[bench]'
	@touch $@

bench: install $(BENCH_STAMP) ## run the benchmark; JSON report to BENCH_REPORT (BENCH_SCALE passes through)
	@mkdir -p '$(dir $(BENCH_REPORT))'
	$(if $(BENCH_SCALE),BENCH_SCALE='$(BENCH_SCALE)' )$(BIN)/hunt bench --report '$(BENCH_REPORT)'

CHAOS_REPORT ?= chaos-report.json
DURATION ?= 600
SOAK_REPORT ?= soak-report.json

chaos: install ## the full fault-injection matrix (tests/chaos, CHAOS_FULL=1); table to CHAOS_REPORT
	CHAOS_FULL=1 CHAOS_REPORT='$(CHAOS_REPORT)' $(BIN)/pytest -q -o timeout=1200 tests/chaos

soak: install ## live traffic with a SIGKILL every 3 min for DURATION s; RSS/fds/RocksDB to SOAK_REPORT
	$(BIN)/python -m hunt.ops.soak --duration '$(DURATION)' --report '$(SOAK_REPORT)'

clean: ## remove .venv, caches, the Kafka jars and local state
	rm -rf $(VENV) .cache .pytest_cache .mypy_cache .ruff_cache build *.egg-info .hunt-data
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
