# Depot: `make run` starts the local stack, `make test` runs every test. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench lint clean

# Extra install steps the tests need (helm, a browser, ...) live in mk/*.mk and add to TEST_TOOLS.
TEST_TOOLS :=
-include mk/*.mk

install: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "Python 3.11+ is required"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

run: install ## SeaweedFS + Redis + API on :8080 + one worker; Ctrl+C stops all
	$(BIN)/depot dev

test: install $(TEST_TOOLS) ## every test, against real SeaweedFS and Redis started by the fixtures
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install ## ruff: lint rules and format check (settings in pyproject.toml)
	$(BIN)/ruff check service tests bench
	$(BIN)/ruff format --check service tests bench

bench: install ## performance against direct S3 (never part of `make test`)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .depot .pytest_cache
