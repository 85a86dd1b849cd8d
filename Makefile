# Setup is idempotent: the venv is (re)built when pyproject.toml or constraints.txt changes.
# constraints.txt pins every dependency to the versions CI tested (make constraints refreshes it).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test lint demo install clean constraints

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: lint
	$(PY) -m pytest -q

# Seeded SQLite fleet (skips what is already there), then the dashboard on :8501.
demo: $(STAMP)
	$(VENV)/bin/capacity demo --db capacity.db

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-artifacts

# Re-resolve every dependency from pyproject.toml in a scratch venv and pin what it installed.
constraints:
	rm -rf .constraints-venv
	$(PYTHON) -m venv .constraints-venv
	.constraints-venv/bin/python -m pip install --quiet --upgrade pip
	.constraints-venv/bin/python -m pip install --quiet -e ".[dev]"
	{ sed -n '1,3p' constraints.txt; .constraints-venv/bin/python -m pip freeze --exclude-editable; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
	rm -rf .constraints-venv
