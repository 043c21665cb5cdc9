# BPO Ledger: `make run` serves the demo, `make test` runs every test, `make bench` the benchmarks.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench lint migrate deps dev-deps clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.deps: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-deps: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(VENV)/.deps $@

deps: $(VENV)/.deps
dev-deps: $(VENV)/.dev-deps

migrate: deps
	$(BIN)/python manage.py migrate --noinput

# The embedded default: SQLite and Celery's filesystem broker under var/, a worker and beat
# beside the web server (config/launcher.py). Ctrl-C stops all of it within seconds.
run: migrate
	$(BIN)/python manage.py seed_demo
	@echo "Serving on http://$(HOST):$(PORT)/ (Ctrl-C stops the web server, worker and beat)"
	@$(BIN)/python config/launcher.py --host $(HOST) --port $(PORT)

test: dev-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: dev-deps
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: dev-deps
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var .pytest_cache
