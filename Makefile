# Everything runs from a project-local virtual environment, created on first use, so the two
# README commands work on a fresh machine that has nothing but Python and pip.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml local-airbyte/pyproject.toml | cksum | cut -d' ' -f1)
# Every tree ruff checks.
SOURCES := dagster_airbyte_assets local-airbyte/local_airbyte tests bench examples definitions.py
PYTEST_ARGS ?=
DEMO_PORT ?= 8000
DEMO_STATE_DIR ?= .local-airbyte
# setuptools prints an "Editable installation" notice (a BuildBackendWarning) for each editable
# install of a flat layout: it only says that a folder named like the package in the current
# directory would shadow it. Silenced by its message, for our installs alone.
PIP_INSTALL := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet

.PHONY: demo test lint typecheck fmt venv serve clean bench screenshots

$(STAMP): pyproject.toml local-airbyte/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(PIP_INSTALL) -e ./local-airbyte -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

## demo: start the local Airbyte with the sample workspace, sync it and build the dbt models
demo: $(STAMP)
	$(BIN)/python examples/demo.py

## ui: the local Airbyte and the Dagster UI (dg dev) on http://127.0.0.1:3000
.PHONY: ui
ui: $(STAMP)
	$(BIN)/python examples/ui.py

## test: lint, type-check and run the test suite
test: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)

typecheck: $(STAMP)
	$(BIN)/mypy

fmt: $(STAMP)
	$(BIN)/ruff format $(SOURCES)
	$(BIN)/ruff check --fix $(SOURCES)

## serve: run the local Airbyte in the foreground on $(DEMO_PORT) (the demo's links open here)
serve: $(STAMP)
	$(BIN)/local-airbyte serve --port $(DEMO_PORT) --state-dir $(DEMO_STATE_DIR) --seed sample

## screenshots: the README's pictures (docs/*.png) taken from the real UI by headless Chromium
screenshots: $(STAMP)
	$(BIN)/python examples/screenshots.py

## bench: ours vs its floors and dagster-airbyte 0.29.27 (~30 min); writes bench/results.json and the README block
bench: $(STAMP)
	$(PIP_INSTALL) -e '.[bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .local-airbyte .pytest_cache .mypy_cache .ruff_cache
