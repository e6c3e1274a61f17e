# The two commands a fresh clone needs: `make demo` and `make test`.
# Each creates .venv when missing and installs the project into it first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

NOTEBOOKS := $(wildcard notebooks/*.py)

.PHONY: demo test lint docs notebooks bench clean FORCE

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Strict editable mode: a tree of links to the sources, which type checkers and editors
# resolve like an installed package (the default mode needs an import hook they cannot
# follow). The link tree lists files, so the stamps depend on the list of source files
# (not on their contents): adding or removing a module reinstalls, editing one does not.
EDITABLE := --config-settings editable_mode=strict
SOURCE_LIST := $(VENV)/.sources

$(SOURCE_LIST): FORCE | $(BIN)/python
	@find -L pql \( -name '*.py' -o -name '*.yaml' -o -name py.typed \) -not -path '*/__pycache__/*' \
		| sort > $@.new
	@cmp -s $@.new $@ && rm -f $@.new || mv $@.new $@

FORCE:

$(STAMP): pyproject.toml $(SOURCE_LIST) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e . $(EDITABLE)
	touch $@

$(DEV_STAMP): pyproject.toml $(SOURCE_LIST) | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]" $(EDITABLE)
	touch $(STAMP) $@

demo: $(STAMP)
	$(BIN)/pql demo

test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/zensical build --strict
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory notebooks

# The reference pages (docs/), served with live reload while you edit them.
docs: $(DEV_STAMP)
	$(BIN)/zensical serve

# The committed notebooks are jupytext .py files: pair them into build/notebooks/*.ipynb
# and execute them (nbmake fails on any cell error).
notebooks: $(DEV_STAMP)
	rm -rf build/notebooks && mkdir -p build/notebooks
	for f in $(NOTEBOOKS); do \
		$(BIN)/jupytext --quiet --to ipynb -o build/notebooks/$$(basename $$f .py).ipynb $$f \
		|| exit 1; \
	done
	$(BIN)/python -m pytest --nbmake build/notebooks

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/bench_features.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache pql-demo mlruns pql-scores
