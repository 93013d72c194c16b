# Control Tower — everything a fresh machine needs, from Python 3.12 up.
#   make demo   set up on first use, then run the demo (embedded PostgreSQL + Redis by default)
#   make test   set up on first use, then run the whole test suite
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.12 2>/dev/null || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
TEST_WORKERS ?= 2
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: setup demo test lint format browser clean-var bench-ingest bench-e2e bench-inventory wrk

$(STAMP): pyproject.toml tools/vendor_static.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) tools/vendor_static.py
	@rm -f $(VENV)/.installed-* && touch $@

setup: $(STAMP)

# Debian's Chromium for the browser tests (Playwright never downloads its own browser).
browser:
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q chromium >/dev/null || \
	    { apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	  else sudo apt-get install -y -q chromium >/dev/null; fi; }

demo: setup
	$(PY) -m controltower.demo.run

test: setup browser
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(VENV)/bin/lint-imports
	$(PY) manage.py makemigrations --check --dry-run
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

lint: setup
	$(PY) -m ruff check . && $(PY) -m ruff format --check .

format: setup
	$(PY) -m ruff check --fix . && $(PY) -m ruff format .

clean-var:
	rm -rf var

# Webhook ingest benchmark (bench/ingest.py, docs/benchmarks.md); options via BENCH_ARGS.
bench-ingest: setup wrk
	$(PY) -m bench.ingest $(BENCH_ARGS)

# End-to-end benchmark, webhooks at fixed rates to the ERP (bench/e2e.py, docs/benchmarks.md).
bench-e2e: setup
	$(PY) -m bench.e2e $(BENCH_ARGS)

# Inventory benchmark: ATS recompute at scale, the availability API, a flash sale
# (bench/inventory.py, docs/benchmarks.md); options via BENCH_ARGS.
bench-inventory: setup wrk
	$(PY) -m bench.inventory $(BENCH_ARGS)

# wrk, the benchmarks' load generator, from Debian (as root, like `browser`).
wrk:
	@command -v wrk >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get install -y -q wrk >/dev/null || \
	    { apt-get update -q >/dev/null && apt-get install -y -q wrk >/dev/null; }; \
	  else sudo apt-get install -y -q wrk >/dev/null; fi; }
