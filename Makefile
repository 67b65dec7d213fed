# prodcat: the embedded default. `make run` runs the whole pipeline on this machine, `make test`
# runs every check. Both create .venv first when it is missing or stale.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
MEMBERS := core cli data train evaluate predict monitor
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help env run test lint typecheck unit bench lock clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

env: $(STAMP) ## Create .venv with every member (editable) and the dev tools, at pinned versions

$(STAMP): pyproject.toml requirements/constraints.txt $(foreach m,$(MEMBERS),services/$(m)/pyproject.toml)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -c requirements/constraints.txt \
		$(foreach m,$(MEMBERS),-e services/$(m)) --group dev
	touch $@

run: env ## Run the pipeline (synthetic sample -> import -> preprocess -> train -> evaluate) and print a summary
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/dvc repro  # the stages call `prodcat` by name
	$(BIN)/prodcat summary

test: env lint typecheck ## Lint, type-check and run every test
	$(BIN)/pytest $(PYTEST_ARGS)

lint: env ## ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: env ## mypy --strict over every member
	$(BIN)/mypy services benchmarks tests

bench: env ## Run the benchmarks (tables on stdout, JSON under benchmarks/results/)
	$(BIN)/python benchmarks/preprocess.py

lock: ## Re-resolve the pinned versions from the pyproject files
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade "pip>=25.1"
	.lock-venv/bin/python -m pip install --quiet torch==2.13.0 $(foreach m,$(MEMBERS),./services/$(m)) --group dev
	( sed -n '1,3p' requirements/constraints.txt; .lock-venv/bin/python -m pip freeze --exclude-editable \
		| grep -v '^prodcat' | sed 's/^torch==2.13.0+cpu/torch==2.13.0/' ) > requirements/constraints.new
	mv requirements/constraints.new requirements/constraints.txt && rm -rf .lock-venv

clean: ## Remove the environment and every generated output (data, models, results, tracking store)
	rm -rf $(VENV) data/raw data/datasets data/prepared models/* results mlruns.db mlartifacts .dvc/cache .dvc/tmp
