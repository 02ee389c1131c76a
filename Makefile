# Portcullis: `make run` to try it, `make test` to check it. `make help` lists the rest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
PIP := $(BIN)/pip -q --disable-pip-version-check
export PATH := $(abspath $(BIN)):$(PATH)
# pytest keeps its assertion-rewritten modules (and Python its bytecode) only where bytecode
# may be written: with PYTHONDONTWRITEBYTECODE set, every pytest process, xdist worker and
# worker subprocess compiles ~600 modules again. __pycache__ is ignored by git.
unexport PYTHONDONTWRITEBYTECODE

.DEFAULT_GOAL := help
.PHONY: help run test test-fast lint typecheck checks security pytest bench system-deps clean migrate demo messages

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.runtime: requirements.txt | $(BIN)/activate
	$(PIP) install -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt | $(BIN)/activate
	$(PIP) install -r requirements-dev.txt
	@touch $(VENV)/.runtime $@

migrate: $(VENV)/.runtime ## Apply database migrations
	$(PY) manage.py migrate --noinput

demo: migrate ## Load the demo people, catalog and packages (idempotent)
	$(PY) manage.py load_demo

run: demo ## Start web + worker + beat on http://127.0.0.1:8000 (SQLite; Redis if it answers)
	$(PY) bin/run

# The end-user side ships in German and French (locale/); translators edit the .po files.
MESSAGES_IGNORE := --ignore=.venv --ignore=tests --ignore=var --ignore=bench --ignore=deploy
messages: $(VENV)/.runtime ## Update locale/*/django.po from the code (makemessages) and compile them
	$(PY) manage.py makemessages -l de -l fr $(MESSAGES_IGNORE) --no-obsolete --no-location
	$(PY) manage.py compilemessages --ignore=.venv

system-deps: ## Install slapd, ldap-utils, chromium and gettext with apt (only as root, only if missing)
	@bash bin/system-deps

lint: $(VENV)/.dev ## ruff check and ruff format --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.dev ## mypy
	$(BIN)/mypy

# `check --deploy --fail-level WARNING` with production settings is a test of its own
# (tests/hardening/test_production_settings.py), so it runs once, in both test tiers.
checks: $(VENV)/.dev ## makemigrations --check
	$(PY) manage.py makemigrations --check --dry-run

# Our code only: not .venv, tests or migrations. Medium findings were reviewed (fixed or
# annotated `# nosec` with the reason); high ones fail the build.
BANDIT_TARGETS := portal governance myaccess bench manage.py bin/run bin/audit-dependencies
security: $(VENV)/.dev ## bandit (fails on high severity) and pip-audit (fails on known vulnerabilities)
	$(BIN)/bandit -q -r $(BANDIT_TARGETS) -x governance/migrations --severity-level high
	$(PY) bin/audit-dependencies

# xdist processes; each has its own test database, queues, ports and servers.
PYTEST_WORKERS ?= 2
# What needs a real browser, directory, SCIM server, worker, live server or PostgreSQL, and the fuzzers.
FAST_DESELECT := not browser and not ldap and not worker and not scim and not live and not postgres and not fuzz

pytest: $(VENV)/.dev ## The whole pytest suite (browser, LDAP and worker tests included)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# Its tables are built from the models, not by the migrations (`makemigrations --check` holds
# them equal; tests/conftest.py writes the one row a migration writes): 5 s less per process.
test-fast: $(VENV)/.dev ## While working: rules, services, views, API on in-memory SQLite, no real components
	DATABASE_URL=sqlite://:memory: $(BIN)/pytest -n $(PYTEST_WORKERS) -m "$(FAST_DESELECT)" --no-migrations $(PYTEST_ARGS)

# The static checks run beside pytest (their output is shown whole when each one ends).
test: $(VENV)/.dev system-deps ## Everything CI runs
	@$(MAKE) --no-print-directory -j5 --output-sync=target lint typecheck checks security pytest

bench: $(VENV)/.dev ## Benchmarks of DESIGN §8 (table printed, bench/results.json); BENCH_ARGS="--scale small"
	$(PY) bench/run.py $(BENCH_ARGS)

clean: ## Remove the virtualenv and local state under var/
	rm -rf $(VENV) var/*.sqlite3* var/broker var/celerybeat-schedule* var/static
