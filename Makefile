# twinwatch: the two commands a newcomer needs are `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml setup.py
	@$(PYTHON) -c "import sys; assert sys.version_info[:2] == (3, 11), \"twinwatch needs Python 3.11\""
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/twinwatch demo

test: $(STAMP)
	$(PY) -m pytest -m "not bench" -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m pytest -m bench --benchmark-enable --benchmark-json=bench/results.json tests/bench

clean:
	rm -rf $(VENV)
