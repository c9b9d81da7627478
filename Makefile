# The two commands of the README: `make up` (install, then run the stack) and
# `make test` (install, then lint, type-check and run every test).
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed

.PHONY: up test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $(STAMP)

up: $(STAMP)
	$(VENV)/bin/qrt up

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test: $(STAMP) lint
	bash deploy/ensure-postgres.sh
	bash deploy/ensure-chromium.sh
	$(VENV)/bin/pytest

bench: $(STAMP)
	$(VENV)/bin/python -m tests.benchmarks.bench_pipeline

clean:
	rm -rf $(VENV) .qrt .pytest_cache .mypy_cache .ruff_cache
