PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Only the source folders that exist in this checkout (ruff fails on a missing path).
LINT_PATHS := $(wildcard iotfleet tests bench scripts)

.PHONY: install test lint demo bench check-wheel clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)

test: $(STAMP)
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/pytest -q -n auto --maxprocesses 4

demo: $(STAMP)
	$(BIN)/iotfleet demo

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

check-wheel: $(STAMP)
	PYTHON="$(PYTHON)" .ci/check-wheel

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .ruff_cache
