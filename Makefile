# corral: `make up` starts the platform, `make test` runs the full test suite.
SHELL := /bin/bash
STATE_DIR ?= /var/lib/corral
PORT ?= 7777
LOG ?= $(STATE_DIR)/corral.log
PIDFILE ?= /run/corral-daemon.pid

.PHONY: up down install test lint bench

install:
	@scripts/install.sh

up: install
	@scripts/up.sh "$(STATE_DIR)" "$(PORT)" "$(LOG)" "$(PIDFILE)"

down:
	@if [[ -f $(PIDFILE) ]] && kill -0 $$(cat $(PIDFILE)) 2>/dev/null; then \
	  kill $$(cat $(PIDFILE)) && rm -f $(PIDFILE) && echo "corral stopped (workspaces keep running)"; \
	else echo "corral is not running"; fi

test:
	@scripts/install.sh test
	.venv/bin/python -m pytest -q -ra $(PYTEST_ARGS)

lint:
	@scripts/install.sh test
	.venv/bin/ruff check src tests benchmarks
	.venv/bin/mypy src

bench:
	@scripts/install.sh bench
	.venv/bin/python benchmarks/run.py
