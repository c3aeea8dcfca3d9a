# Two commands on a fresh machine:  `make run`  and  `make test`. Each sets itself up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: `make run` installs only what the demo needs (the base dependencies); `make test`
# adds the extras (dev, peers, dist, chain) on top, so `make run` then `make test` installs the rest.
BASE_STAMP := $(VENV)/.installed-base
FULL_STAMP := $(VENV)/.installed-full

.PHONY: setup run test lint typecheck bench clean native

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(BASE_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(FULL_STAMP): pyproject.toml $(BASE_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,peers,dist,chain]'
	touch $@

# Debian packages the tests need: a real Prometheus and promtool (observability tests) and a
# headless Chromium (the report test opens the HTML in it), gcc (the native build's test compiles
# the decision path with mypyc). Only the missing ones are installed.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: system
system:
	@missing=""; \
	  { command -v promtool && command -v prometheus; } >/dev/null 2>&1 || missing="prometheus"; \
	  command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	  command -v gcc >/dev/null 2>&1 || missing="$$missing gcc"; \
	  if [ -n "$$missing" ]; then \
	    $(SUDO) apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	  fi

setup: $(FULL_STAMP) system

## The main job on its embedded default: no internet, no keys.
run: $(BASE_STAMP)
	$(BIN)/pegbot demo $(ARGS)

## The whole test suite.
test: $(FULL_STAMP) system
	$(BIN)/python -m pytest -q

## The decision path and the scorecard compiled with mypyc; a process started with
## PEGBOT_NATIVE=1 runs them.
native: $(FULL_STAMP)
	$(BIN)/pegbot native --build

lint: $(FULL_STAMP)
	$(BIN)/ruff check pegbot strategies tests benchmarks
	$(BIN)/ruff format --check pegbot strategies tests benchmarks

typecheck: $(FULL_STAMP)
	$(BIN)/mypy

bench: $(FULL_STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tests/artifacts build
