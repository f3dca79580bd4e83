# Two commands for a fresh machine with Python 3.11:
#   make demo   sets up .venv and runs the main demo
#   make test   sets up .venv-test (with torch as the oracle) and runs the whole suite
PYTHON ?= python3.11
VENV := .venv
TVENV := .venv-test

.PHONY: demo test bench clean

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[plot]'
	touch $@

$(TVENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(TVENV)
	$(TVENV)/bin/pip install -q -e '.[test]'
	touch $@

demo: $(VENV)/.stamp
	$(VENV)/bin/python -m demos.quickstart $(ARGS)

test: $(TVENV)/.stamp
	$(TVENV)/bin/python -m pytest -q $(ARGS)

clean:
	rm -rf $(VENV) $(TVENV) *.egg-info .pytest_cache
