# make test   set up (.venv, Dovecot) and run the whole suite, then the linters -- what CI runs
# make lint   ruff (check and format), mypy (strict, package and tests), import-linter
# make demo   set up and run `mailbot demo`
# make bench  speed and memory targets (benchmarks/bench.py), check/summary (history.py), ingest/send (throughput.py)
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
# pip runs again only when pyproject.toml changes.
INSTALLED := $(VENV)/.installed

.PHONY: help setup servers test lint demo bench

help:
	@sed -n 's/^# \(make .*\)/\1/p' Makefile

setup: $(INSTALLED)

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 (or make PYTHON=...)" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

# `make demo` shows pip's own progress (a first install takes about a minute); the other targets keep it quiet.
PIP_OUTPUT ?= --quiet
$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install $(PIP_OUTPUT) --disable-pip-version-check -e '.[dev]'
	@touch $@

# Dovecot for the IMAP tests (apt, as root); a no-op when installed.
servers:
	@bash scripts/install-test-deps.sh

# pytest exits 5 when it collects no tests: make treats that as the failure it is.
test: setup servers
	$(BIN)/pytest -p no:cacheprovider
	@$(MAKE) --no-print-directory lint

lint: setup
	$(BIN)/ruff check --quiet .
	$(BIN)/ruff format --check --quiet .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy --strict tests/

demo:
	@test $(INSTALLED) -nt pyproject.toml || echo "installing mailbot and its dependencies into $(VENV) (about a minute, once)..."
	@$(MAKE) --no-print-directory --silent setup PIP_OUTPUT=--progress-bar=on
	$(BIN)/mailbot demo

bench: setup
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/history.py
	$(BIN)/python benchmarks/latency.py
	$(BIN)/python benchmarks/throughput.py
	$(BIN)/python benchmarks/startup.py
