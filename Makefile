# velib-paris — every target installs what it needs on first use.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.PHONY: help install jars run live soak test test-fast bench lab repro metrics broker lint docs format lock clean

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
JARS_STAMP := jvm/lib/.resolved
PYTEST_ARGS ?=
TEST_WORKERS ?= 2  # make test: pytest-xdist workers, each with its own broker and SparkSession

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# setuptools prints an "Editable installation" notice (InformationOnly) on every editable
# install of a flat layout: nothing to act on, so it is filtered out of the install output.
QUIET_PIP := PYTHONWARNINGS="ignore:Editable installation"

# The Python side, by purpose: a target needs the package's own dependencies (core) and
# one or more extras of pyproject.toml. Each purpose installs the lines of requirements.lock
# tagged with it (pinned, hash-checked, no resolution), then the package itself (editable,
# no dependencies); a stamp per purpose says it is done. Nothing here needs Java or Maven.
$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "velib-paris needs Python 3.11+; set PYTHON=/path/to/python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

$(VENV)/.installed-%: pyproject.toml requirements.lock | $(BIN)/python
	grep -E '# for:( [a-z]+)* (core|$*)( |$$)' requirements.lock > $(VENV)/lock-$*.txt
	$(BIN)/python -m pip install -q --require-hashes --no-deps -r $(VENV)/lock-$*.txt
	$(QUIET_PIP) $(BIN)/python -m pip install -q --no-deps -e .
	@touch $@

py = $(foreach purpose,$(1),$(VENV)/.installed-$(purpose))
PY_LINT     := $(call py,lint)
PY_TEST     := $(call py,test research bench)  # the suite runs the bench at a tiny size
PY_RESEARCH := $(call py,research)

# Batch mode, no colours; Maven 3.8 still writes colour resets (ESC[0m) to both streams,
# so its output is stripped of ANSI codes (errors stay readable in plain logs).
MVN := mvn -q -B -Dstyle.color=never
NO_ANSI := sed -e $$'s/\033\[[0-9;]*m//g'

# The JVM side, only for the targets that start Kafka or Spark.
$(JARS_STAMP): jvm/kafka/pom.xml jvm/spark/pom.xml jvm/delta/pom.xml
	@command -v java >/dev/null || { echo "Java 17+ is needed (java not on PATH)"; exit 1; }
	@command -v mvn >/dev/null || { echo "Maven is needed to fetch the Kafka jars (mvn not on PATH)"; exit 1; }
	rm -rf jvm/lib/kafka jvm/lib/spark jvm/lib/delta
	@set -o pipefail; for pom in jvm/kafka/pom.xml jvm/spark/pom.xml jvm/delta/pom.xml; do \
		echo "$(MVN) -f $$pom dependency:copy-dependencies"; \
		$(MVN) -f $$pom dependency:copy-dependencies 2>&1 | $(NO_ANSI) || exit 1; \
	done
	@touch $@

install: $(call py,lint test research lab bench) $(JARS_STAMP) ## Everything: .venv with every extra (pinned, hashed) and the JVM jars from Maven Central

jars: $(JARS_STAMP) ## Fetch the Kafka broker, Spark's Kafka connector and Delta Lake jars into jvm/lib

run: $(call py,core) $(JARS_STAMP) ## The main job on the bundled real sample: broker, ingest, capture, stream
	$(BIN)/velib run

# `make live` demos live collection offline: the local feed replays LOCAL_FEED at FEED_SPEED.
# `make live LOCAL_FEED=` polls the real Vélib' GBFS feed (internet) every minute.
LOCAL_FEED ?= data/raw/opendata-history
FEED_SPEED ?= 120
LIVE_INTERVAL ?= 5
live: $(PY_RESEARCH) $(JARS_STAMP) ## Live collection until Ctrl-C: broker, ingest + archive, capture, stream (data/live)
	$(BIN)/velib run --live $(if $(LOCAL_FEED),--local-feed $(LOCAL_FEED) --feed-speed $(FEED_SPEED) --interval $(LIVE_INTERVAL))

SOAK_ARGS ?=
DAYS  ?= 0.25
SPEED ?= 120
soak: $(PY_TEST) $(JARS_STAMP) ## Soak the live chain for DAYS simulated days at SPEED x: faults, kill -9s, trends, exactness (0.25 d at 120x: ~3 min + checks)
	$(BIN)/python -m soak --days $(DAYS) --speed $(SPEED) $(SOAK_ARGS)

test: $(PY_TEST) $(JARS_STAMP) ## The whole test suite (unit, property, integration on a real broker and Spark)
	$(BIN)/pytest -rs --durations=25 -n $(TEST_WORKERS) --dist load --maxschedchunk 1 $(PYTEST_ARGS)

test-fast: $(PY_TEST) ## Unit and property tests only (no Java needed)
	$(BIN)/pytest -rs -m "not integration and not spark and not slow" -n $(TEST_WORKERS) $(PYTEST_ARGS)

bench: $(PY_TEST) $(JARS_STAMP) ## Throughput and memory ratios; writes reports/bench/latest.json
	$(BIN)/python -m bench

# DVC stage commands call `python`: the venv must come first on PATH.
DVC := PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc

# Jupyter refuses to start as root without --allow-root (containers often run as root);
# the token stays on either way.
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root,)

lab: $(PY_RESEARCH) $(call py,lab) ## JupyterLab on the project's environment (notebooks open as notebooks)
	$(BIN)/python -m ipykernel install --sys-prefix --name velib --display-name "Python (velib)" >/dev/null
	@test -z "$(LAB_ROOT)" || echo "lab: running as root, so JupyterLab gets --allow-root (the token is kept)"
	PATH="$(abspath $(BIN)):$$PATH" JUPYTERLAB_SETTINGS_DIR=.jupyter/lab/user-settings \
		$(BIN)/jupyter lab --notebook-dir=. $(LAB_ROOT)

# dvc repro ends every run that ran a stage with "Use `dvc push` to send your updates to
# remote storage." whatever the configuration (DVC 3.x, dvc/commands/repro.py: no config
# option or flag but --quiet, which hides the stage lines too, silences it). Without a
# default remote (none is configured here; docs/research.md says how to add one) there is
# nothing to push to, so that one line is dropped; the exit status is dvc's (pipefail).
repro: $(PY_RESEARCH) $(JARS_STAMP) ## dvc repro: every recording of params.yaml, from data/raw to figures and metrics
	@set -o pipefail; if $(DVC) remote default >/dev/null 2>&1; then $(DVC) repro; \
	else PYTHONUNBUFFERED=1 $(DVC) repro | sed -u '/^Use `dvc push` to send your updates/d'; fi

# `dvc metrics show` is one row with a column per key of every file (1,000+ columns):
# analysis/show_metrics.py prints each file's keys one per line, within 120 columns.
metrics: $(PY_RESEARCH) ## Every metric, one key per line (fits 120 columns), and dvc plots show (dvc_plots/)
	@set -o pipefail; $(DVC) metrics show --json | $(BIN)/python -m analysis.show_metrics
	$(DVC) plots show

broker: $(call py,core) $(JARS_STAMP) ## A local Kafka broker in the foreground (Ctrl-C stops it)
	$(BIN)/velib broker

lint: $(PY_LINT) $(PY_RESEARCH) ## ruff (with the complexity rules), format check, mypy, dvc.lock not stale, the docs' numbers their metrics, docs/figures the reproduced ones (no Java needed)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/python tools/dvc_fresh.py
	$(BIN)/python tools/docs_numbers.py --check
	$(BIN)/python tools/docs_figures.py --check

# After make repro: every number the README and docs/ quote, rewritten from reports/metrics/.
docs: $(PY_LINT) ## Render the README's and docs/' quoted numbers from reports/metrics and copy the reproduced figures (after make repro)
	$(BIN)/python tools/docs_numbers.py
	$(BIN)/python tools/docs_figures.py

format: $(PY_LINT) ## ruff format and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# LOCK_ARGS="-c requirements.lock.old" keeps the versions of an older lock (pip constraints).
LOCK_VENV := /tmp/velib-lock
LOCK_ARGS ?=
lock: ## Re-resolve requirements.lock from pyproject.toml: pins, hashes, purposes (maintainers)
	rm -rf $(LOCK_VENV) && $(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install -q --upgrade pip
	$(QUIET_PIP) $(LOCK_VENV)/bin/pip install -q $(LOCK_ARGS) -e '.[dev]'
	$(LOCK_VENV)/bin/python tools/lock.py requirements.lock

clean: ## Remove produced data, models, caches and the venv (raw data and tracked files are kept)
	rm -rf $(VENV) jvm/lib data/interim data/processed data/run reports/bench/*.log \
		build reports/figures reports/compare dvc_plots .pytest_cache .mypy_cache .ruff_cache
	rm -rf models data/forecast  # the forecast stage's outputs: nothing in them is tracked
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
