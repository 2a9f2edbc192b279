# annbench: `make run` sets up and runs the default benchmark; `make test` sets up and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
ANNBENCH := $(BIN)/annbench

.PHONY: install run test lint format bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: install
	$(ANNBENCH) run
	$(ANNBENCH) plot

test: install
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check annbench algorithms tests benchmarks
	$(BIN)/ruff format --check annbench algorithms tests benchmarks

format: install
	$(BIN)/ruff format annbench algorithms tests benchmarks
	$(BIN)/ruff check --fix annbench algorithms tests benchmarks

bench: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
