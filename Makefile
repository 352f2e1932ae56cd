# cathodescope: `make demo` runs the main job on built-in demo data, `make test` runs the tests.
# Both create .venv and install the package (with test extras) first when needed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test,tomo]"
	touch $(STAMP)

demo: install
	$(BIN)/cathodescope demo --out demo_output --overwrite

test: install
	$(BIN)/python -m pytest -n 2 -q --doctest-modules src/cathodescope tests

lint: install
	$(BIN)/python -m pip install --quiet "ruff>=0.6"
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: install
	$(BIN)/python -m mypy src/cathodescope

bench: install
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) demo_output .pytest_cache .ruff_cache
