# The two commands of the README: `make up` (install, then run the stack) and
# `make test` (install, then lint, type-check and run every test).
VENV ?= .venv
PYTHON ?= python3
STAMP := $(VENV)/.installed

# The suite runs on a clock set to TEST_HOUR in New York (tests/wall_clock.py), and the
# tests whose outcome could depend on the hour (marker time_of_day) run again at the
# other HOURS: CI gives the same answer at any hour of the day.
TEST_HOUR ?= 11:00
HOURS ?= 03:00 15:00 23:30

.PHONY: up test test-hours lint lock audit bench clean

# Installs the tested versions of every dependency from requirements-dev.lock (hashes
# checked); pyproject.toml keeps the ranges for people who install the package.
$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements-dev.lock
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $(STAMP)

# After a change of the dependencies in pyproject.toml: resolve both locks again (uv), the
# runtime one (deploy/Dockerfile) within the development one, so both pin the same versions.
lock:
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes \
		-o requirements-dev.lock
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes \
		-c requirements-dev.lock -o requirements.lock

up: $(STAMP)
	$(VENV)/bin/qrt up

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(VENV)/bin/python tests/lint/code_shape.py
	PYTHONPATH=tests/lint/no_stack $(VENV)/bin/pytest -q -p no:cacheprovider tests/unit

test: $(STAMP) lint
	bash deploy/ensure-postgres.sh
	bash deploy/ensure-chromium.sh
	$(VENV)/bin/pytest --clock-at $(TEST_HOUR)
	$(MAKE) --no-print-directory test-hours

test-hours: $(STAMP)
	@for hour in $(HOURS); do \
		echo "== the time-of-day tests at $$hour New York"; \
		$(VENV)/bin/pytest -q -m time_of_day -k "not postgres" --clock-at $$hour || exit 1; \
	done

# Before a release (not part of `make test`: it needs the advisory service on the internet).
audit:
	$(PYTHON) -m venv .venv-audit
	.venv-audit/bin/pip install --quiet pip-audit
	.venv-audit/bin/python deploy/audit.py requirements.lock .venv-audit/bin/pip-audit

bench: $(STAMP)
	$(VENV)/bin/python -m tests.benchmarks.bench_pipeline
	bash deploy/ensure-postgres.sh
	$(VENV)/bin/python -m tests.benchmarks.bench_report

clean:
	rm -rf $(VENV) .venv-audit .qrt .pytest_cache .mypy_cache .ruff_cache
