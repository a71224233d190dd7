# The two commands: `make run` starts a server, `make test` runs everything CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
PREFECT_VENV := .venv-prefect
PREFECT_VERSION := 3.9.1
# Most tests wait on real processes (servers, workers, flows), not on the CPU: several
# pytest workers finish the suite in a fraction of the time even on two cores.
TEST_WORKERS ?= 4
PYTEST := $(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile
HOST ?= 127.0.0.1
PORT ?= 4200

.PHONY: run test install install-dev install-prefect lint test-sqlite test-postgres bench clean ui-assets

$(BIN)/flowyard: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	@touch $@

install: $(BIN)/flowyard

$(VENV)/.dev-installed: pyproject.toml $(BIN)/flowyard
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install-dev: $(VENV)/.dev-installed

# The official client for the compatibility tests, in a venv of its own (made here, once,
# rather than by several pytest workers at the same time).
$(PREFECT_VENV)/.installed-$(PREFECT_VERSION):
	$(PYTHON) -m venv $(PREFECT_VENV)
	$(PREFECT_VENV)/bin/pip install --quiet prefect==$(PREFECT_VERSION)
	@touch $@

install-prefect: $(PREFECT_VENV)/.installed-$(PREFECT_VERSION)

# The UI's third-party assets (htmx): pinned npm packages, checked against their sha512,
# copied into the git-ignored src/flowyard/ui/static/vendor/.
UI_VENDOR := src/flowyard/ui/static/vendor/.fetched
$(UI_VENDOR): src/flowyard/ui/assets.py scripts/fetch_ui_assets.py
	$(BIN)/python scripts/fetch_ui_assets.py
	@touch $@

ui-assets: install $(UI_VENDOR)

run: install ui-assets
	$(BIN)/flowyard server start --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src/flowyard
	$(BIN)/lint-imports

test-sqlite: install-dev install-prefect ui-assets
	$(PYTEST)

test-postgres: install-dev install-prefect ui-assets
	FLOWYARD_TEST_DATABASE_URL=$(PG_TEST_URL) $(PYTEST)

test: lint test-sqlite test-postgres

bench: install-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .venv-prefect .pytest_cache .mypy_cache .ruff_cache
