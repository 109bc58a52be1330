# stratify: developer entry points. `make demo` runs the real Airflow DAG once
# on a synthetic place, with Airflow's state kept inside the project.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

DEMO_CONFIG ?= examples/place.yaml
DEMO_PEOPLE ?= 20000
DEMO_AS_OF ?= $(shell date -d yesterday +%F 2>/dev/null || date -v-1d +%F)
DEMO_OUT := data/demo/out
DEMO_USERS := data/demo/app_users.txt

# Self-contained Airflow (same settings as stratify.airflow.env.airflow_env).
# `make airflow AIRFLOW_HOME_DIR=... AIRFLOW_PORT=...` runs another one beside it.
AIRFLOW_HOME_DIR ?= $(CURDIR)/airflow_home
AIRFLOW_PORT ?= 8080
AIRFLOW_ENV := \
	AIRFLOW_HOME=$(AIRFLOW_HOME_DIR) \
	AIRFLOW__CORE__DAGS_FOLDER=$(CURDIR)/dags \
	AIRFLOW__CORE__LOAD_EXAMPLES=False \
	AIRFLOW__CORE__EXECUTOR=LocalExecutor \
	AIRFLOW__CORE__PARALLELISM=2 \
	AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:///$(AIRFLOW_HOME_DIR)/airflow.db \
	AIRFLOW__DATABASE__LOAD_DEFAULT_CONNECTIONS=False \
	STRATIFY_CONFIG=$(abspath $(DEMO_CONFIG))
AIRFLOW := $(AIRFLOW_ENV) $(BIN)/airflow
# What `airflow standalone` needs on top: its parts (scheduler, DAG processor,
# API server, triggerer) are started by the name `airflow`, so the venv goes
# first on PATH; the API server (one worker on a small machine) and the URL
# the tasks report to on AIRFLOW_PORT, with time for a busy small machine to answer them.
AIRFLOW_UI_ENV := \
	PATH="$(abspath $(BIN)):$$PATH" \
	AIRFLOW__API__PORT=$(AIRFLOW_PORT) \
	AIRFLOW__API__WORKERS=1 \
	AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT=30 \
	AIRFLOW__API__BASE_URL=http://localhost:$(AIRFLOW_PORT) \
	AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://localhost:$(AIRFLOW_PORT)/execution/

.PHONY: venv demo airflow test lint bench clean constraints

venv: $(VENV)/.installed

# A stamp file, so a second `make` does not reinstall; changes to pyproject.toml
# or constraints.txt do. constraints.txt pins the whole environment (see its header).
$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $@

# Regenerate constraints.txt from the working venv (after a deliberate upgrade and a green `make test`).
constraints: venv
	{ sed -n '/^#/p' constraints.txt; $(BIN)/python -m pip list --format=freeze --exclude-editable | grep -v -i -E '^(stratify|pip|setuptools)=='; } >constraints.txt.new
	mv constraints.txt.new constraints.txt

demo: venv
	mkdir -p $(AIRFLOW_HOME_DIR)
	$(AIRFLOW) db migrate >$(AIRFLOW_HOME_DIR)/db-migrate.log
	$(AIRFLOW) pools set stratify_warehouse 1 "stratify DuckDB warehouse: one writer at a time" >/dev/null
	$(BIN)/stratify synth --config $(DEMO_CONFIG) --people $(DEMO_PEOPLE) --as-of $(DEMO_AS_OF)
	$(AIRFLOW) dags test nightly_stratification $(DEMO_AS_OF) \
		--conf '{"config": "$(CURDIR)/$(DEMO_CONFIG)", "as_of": "$(DEMO_AS_OF)"}' \
		>$(AIRFLOW_HOME_DIR)/dags-test.log 2>&1 \
		|| { tail -n 60 $(AIRFLOW_HOME_DIR)/dags-test.log; echo "DAG run failed; full log: $(AIRFLOW_HOME_DIR)/dags-test.log"; exit 1; }
	@grep -E "DagRun Finished" $(AIRFLOW_HOME_DIR)/dags-test.log | sed -E 's/.*(state=[a-z_]+).*/DAG run finished: \1/' || true
	@$(BIN)/stratify users demo --config $(DEMO_CONFIG) --to $(DEMO_USERS)
	@echo
	@echo "Lists:      $(CURDIR)/$(DEMO_OUT)/latest/lists/"
	@ls $(DEMO_OUT)/latest/lists/ 2>/dev/null | sed 's/^/              /' || true
	@echo "Teams:      $(CURDIR)/$(DEMO_OUT)/latest/teams/<team>/ (report.html, <team>.xlsx)"
	@echo "Overview:   $(CURDIR)/$(DEMO_OUT)/latest/overview.html"
	@echo "Manifest:   $(CURDIR)/$(DEMO_OUT)/latest/manifest.json"
	@echo "Validation: $(CURDIR)/$(DEMO_OUT)/latest/validation.html"
	@echo "Data Docs:  $(CURDIR)/$(DEMO_OUT)/latest/validation/data_docs/index.html"
	@echo "Airflow:    AIRFLOW_HOME=$(AIRFLOW_HOME_DIR) (log: $(AIRFLOW_HOME_DIR)/dags-test.log)"
	@echo "Web app:    $(BIN)/stratify serve --config $(DEMO_CONFIG), then http://127.0.0.1:8000/login"
	@echo "            (sign in as one of the demo accounts above: a lead per team, an IG auditor, a place lead)"

# The Airflow UI, scheduler and workers for the place (DEMO_CONFIG), kept in
# AIRFLOW_HOME_DIR: http://localhost:$(AIRFLOW_PORT), user admin, password in
# $(AIRFLOW_HOME_DIR)/simple_auth_manager_passwords.json.generated. Ctrl-C stops it all.
airflow: venv
	mkdir -p $(AIRFLOW_HOME_DIR)
	$(AIRFLOW) db migrate >$(AIRFLOW_HOME_DIR)/db-migrate.log
	$(AIRFLOW) pools set stratify_warehouse 1 "stratify DuckDB warehouse: one writer at a time" >/dev/null
	@echo "Airflow for $(abspath $(DEMO_CONFIG)) on http://localhost:$(AIRFLOW_PORT) (AIRFLOW_HOME=$(AIRFLOW_HOME_DIR)); Ctrl-C stops it"
	$(AIRFLOW_UI_ENV) $(AIRFLOW) standalone

# Two workers (pytest-xdist), whole groups of tests each (see tests/conftest.py):
# about half the time on two cores. Plain `pytest` still runs everything in one process.
# Lint, types and import contracts first (seconds), then the tests.
test: venv lint
	$(BIN)/pytest -q -n 2 --dist loadgroup

# ruff (with Airflow's AIR rules) and mypy, configured in pyproject.toml; the
# import-linter contracts in .importlinter when that file is there.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	test ! -f .importlinter || $(BIN)/lint-imports

# `make bench PEOPLE=330000`: figures per stage to stdout and bench/results/<PEOPLE>.json
PEOPLE ?= 20000
bench: venv
	$(BIN)/stratify bench --people $(PEOPLE)

clean:
	rm -rf data/ airflow_home/
