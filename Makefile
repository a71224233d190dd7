# The two commands: `make run` starts a server, `make test` runs everything CI runs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PG_TEST_URL ?= postgresql+asyncpg://postgres@127.0.0.1:5432/postgres
HOST ?= 127.0.0.1
PORT ?= 4200

.PHONY: run test install install-dev lint test-sqlite test-postgres bench clean

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

run: install
	$(BIN)/flowyard server start --host $(HOST) --port $(PORT)

lint: install-dev
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy src/flowyard

test-sqlite: install-dev
	$(BIN)/pytest -q -p no:cacheprovider

test-postgres: install-dev
	FLOWYARD_TEST_DATABASE_URL=$(PG_TEST_URL) $(BIN)/pytest -q -p no:cacheprovider

test: lint test-sqlite test-postgres

bench: install-dev
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) .venv-prefect .pytest_cache .mypy_cache .ruff_cache
