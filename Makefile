# Two commands on a fresh machine:  `make run`  and  `make test`. Each sets itself up.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint typecheck bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,peers,dist,chain]'
	touch $(STAMP)

# Debian packages the tests need: a real Prometheus and promtool (observability tests).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: system
system:
	@command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 || \
	  ( $(SUDO) apt-get update -q && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends prometheus )

setup: $(STAMP) system

## The main job on its embedded default: no internet, no keys.
run: $(STAMP)
	$(BIN)/pegbot demo $(ARGS)

## The whole test suite.
test: $(STAMP) system
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check pegbot strategies tests benchmarks
	$(BIN)/ruff format --check pegbot strategies tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
