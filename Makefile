# The two commands a fresh clone needs: `make demo` and `make test`.
# Each creates .venv when missing and installs the project into it first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

NOTEBOOKS := $(wildcard notebooks/*.py)

.PHONY: demo test lint notebooks bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP) $@

demo: $(STAMP)
	$(BIN)/pql demo

test: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest
	$(MAKE) --no-print-directory notebooks

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

bench: $(DEV_STAMP)
	$(BIN)/python benchmarks/bench_features.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache pql-demo mlruns
