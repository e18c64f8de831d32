# Two commands on a fresh machine: `make demo` and `make test`. Each bootstraps .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP_BASE := $(VENV)/.stamp-base
STAMP_DEV  := $(VENV)/.stamp-dev
QUICK  ?=

.PHONY: demo test lint typecheck pytest bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Reinstall when pyproject.toml changes (a stale venv).
$(STAMP_BASE): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@ $(STAMP_BASE)

demo: $(STAMP_BASE)
	$(VENV)/bin/hosepipe demo

lint: $(STAMP_DEV)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(STAMP_DEV)
	$(VENV)/bin/mypy src/hosepipe
	$(VENV)/bin/mypy tests/typing

pytest: $(STAMP_DEV)
	$(PY) -m pytest

test: lint typecheck pytest

bench: $(STAMP_DEV)
	$(PY) -m benchmarks $(if $(QUICK),--quick,)

clean:
	rm -rf $(VENV) build dist src/*.egg-info .mypy_cache .pytest_cache .ruff_cache
