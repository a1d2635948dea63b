# Set-up and everyday commands. Each target installs what it needs into .venv first.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install services run test test-all bench lint clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,zigzag,onnx,ray,nni]'
	touch $@

install: $(BIN)/.installed

run: install  ## the main job on the embedded default
	$(BIN)/search run --fps 30

services:  ## PostgreSQL and Chromium for the service tests (installed when root)
	-.ci/postgres
	-.ci/browser

test: install services  ## the CI suite (no slow, no gpu tests)
	$(BIN)/python -m pytest

test-all: install
	$(BIN)/python -m pytest -m ""

bench: install
	$(BIN)/search bench cost-model

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
