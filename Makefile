# billing_pipelines: `make demo` (set up + run the main job on the embedded default),
# `make dev` (the Dagster UI on the same data), `make test` (the whole suite), `make bench`.

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed

export PATH := $(BIN):$(PATH)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export DO_NOT_TRACK := 1
export DAGSTER_DISABLE_TELEMETRY := 1
export RUNTIME__DLTHUB_TELEMETRY := false
export DBT_SEND_ANONYMOUS_USAGE_STATS := false

.PHONY: install demo dev api test lint bench manifest clean

install: $(STAMP) $(DAGSTER_HOME)/dagster.yaml manifest

# Set-up lines are not echoed, so `make demo` shows the demo's own progress (errors still show).
$(STAMP): pyproject.toml
	@echo "Installing billing_pipelines and its dependencies into $(VENV) …"
	@$(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/python -m pip install --quiet --upgrade pip uv
	@$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python -e '.[dev]'
	@touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	@mkdir -p $(DAGSTER_HOME)
	@cp dagster.yaml $@

# dbt's manifest, which Dagster builds the dbt assets from (dagster-dbt does not parse outside `dagster dev`).
manifest: $(STAMP)
	@cd dbt_project && $(BIN)/dbt parse --quiet --project-dir . --profiles-dir .

demo: install
	@$(BIN)/python -m billing_pipelines.sandbox.demo

# The UI, with the sandbox's stand-ins (Snowflake, BigQuery, Stripe, HubSpot, Google Sheets)
# serving beside it, stopped with it. Their secrets are exported first where the shell has none,
# so the stand-ins and the runs the UI launches agree on them.
dev: install
	eval "$$($(BIN)/python -m billing_pipelines.sandbox.standins --exports)"; \
	$(BIN)/python -m billing_pipelines.sandbox.standins & standins=$$!; \
	trap 'kill $$standins 2>/dev/null' EXIT INT TERM; \
	$(BIN)/dagster dev -w workspace.yaml

# The push API on $BILLING_API_HOST:$BILLING_API_PORT (127.0.0.1:8000); keys: `billing-api keys create …`.
api: install
	$(BIN)/billing-api serve

# Two workers, a test file each at a time: much of the suite waits on servers, dbt and browsers.
test: install lint
	$(BIN)/python -m pytest -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check billing_pipelines billing_pipelines_tests bench
	$(BIN)/ruff format --check --quiet billing_pipelines billing_pipelines_tests bench

# The demo-sized end-to-end load, then the scale run (migration and 2-day sync at 1M and 10M events).
bench: install
	$(BIN)/python -m bench.end_to_end
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.history
	$(BIN)/python -m bench.hubspot_sync
	$(BIN)/python -m bench.ingest_api

clean:
	rm -rf $(VENV) .venvs .dagster_home data dbt_project/target dbt_project/logs
