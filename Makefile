# The two commands of README.md: `make demo` and `make test`. Each sets itself up.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: setup test lint demo clean

setup:
	@bash scripts/setup_env.sh

test: setup
	$(VENV)/bin/ruff check ladderseg_ros test bench launch setup.py
	$(VENV)/bin/ruff format --check ladderseg_ros test bench launch setup.py
	$(VENV)/bin/lint-imports --no-cache  # the layer contract in .importlinter
	$(PY) -m pytest -q test

lint: setup
	$(VENV)/bin/ruff check ladderseg_ros test bench launch setup.py
	$(VENV)/bin/ruff format --check ladderseg_ros test bench launch setup.py

demo: setup
	$(PY) -m ladderseg_ros.cli demo --force  # out/demo is the demo's own: replaced each run

clean:
	rm -rf $(VENV) build install log .pytest_cache
