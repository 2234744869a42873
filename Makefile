# The README's two commands: `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint bench clean browser-deps

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/python -m genrelab.warmup
	touch $(STAMP)

# Debian's chromium + chromedriver for the report's browser test (root on CI; skipped otherwise).
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = "0" ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
	      || echo "warning: could not install chromium; the browser test will skip"; \
	  else echo "warning: not root, chromium not installed; the browser test will skip"; fi; \
	fi

demo: install
	$(BIN)/genrelab demo --out runs/demo

test: install browser-deps
	$(BIN)/python -m pytest -n 2 tests

# ruff (lint + format check) and mypy on src/ (config in pyproject.toml)
lint: install
	$(BIN)/ruff check src
	$(BIN)/ruff format --check src
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/extract.py
	$(BIN)/python bench/invert.py
	$(BIN)/python bench/classify_csv.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/first_run.py
	$(BIN)/python bench/extract_command.py

clean:
	rm -rf $(VENV) runs .pytest_cache
