# Make targets for a fresh machine with Python 3.11 (see README.md):
#   make demo       sets up .venv (numpy, matplotlib, tqdm) and trains the lecture's MLP: progress bar,
#                   split losses, 20 sampled names, out/loss.png.   make demo ARGS=--quick: a short run
#                   into out/quick/.
#   make venv       only sets up .venv (tinytape and nn installed editable): .venv/bin/python my.py
#   make notebook   adds JupyterLab to .venv and opens demos/backprop_ninja.ipynb.
#   make test       sets up .venv-test (adds torch==2.13.0 as the oracle, pytest, hypothesis, nbclient)
#                   and runs the whole suite.   make test ARGS="-k matmul" passes arguments to pytest.
#   make bench      the side-by-side benchmark (tinytape vs hand-written numpy vs torch).
PYTHON ?= python3.11
VENV := .venv
TVENV := .venv-test
NOTEBOOK := demos/backprop_ninja.ipynb

# names.txt: an explicit --names PATH, else $TINYTAPE_NAMES, else a cached copy, else a download.
# Where the repository sits beside a shared/ folder holding it, use that copy.
ifeq ($(TINYTAPE_NAMES),)
ifneq ($(wildcard ../shared/data/names.txt),)
export TINYTAPE_NAMES := $(abspath ../shared/data/names.txt)
endif
endif

.PHONY: demo venv notebook test bench clean

$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q -e '.[demo]'
	touch $@

$(VENV)/.notebook-stamp: $(VENV)/.stamp
	$(VENV)/bin/pip install -q -e '.[notebook]'
	touch $@

$(TVENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(TVENV)
	$(TVENV)/bin/pip install -q -e '.[test]'
	touch $@

venv: $(VENV)/.stamp

# The messages of the command then suggest `make demo ARGS="..."`, the command that was typed.
demo: $(VENV)/.stamp
	TINYTAPE_PROG="make demo" $(VENV)/bin/python -m nn.train $(ARGS)

notebook: $(VENV)/.notebook-stamp
	$(VENV)/bin/jupyter lab $(NOTEBOOK) $(ARGS)

test: $(TVENV)/.stamp
	$(TVENV)/bin/python -m pytest -q $(ARGS)

bench: $(TVENV)/.stamp
	TINYTAPE_PROG="make bench" $(TVENV)/bin/python -m demos.bench $(ARGS)

clean:
	rm -rf $(VENV) $(TVENV) *.egg-info build dist .pytest_cache .hypothesis out
