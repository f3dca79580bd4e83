# Two commands for a fresh machine with Python 3.11 (see README.md):
#   make demo   sets up .venv (numpy, matplotlib) and trains the lecture's MLP: progress bar, split
#               losses, 20 sampled names, out/loss.png.   make demo ARGS=--quick for a short run.
#   make test   sets up .venv-test (adds torch==2.13.0 as the oracle, pytest, hypothesis, nbclient)
#               and runs the whole suite.   make test ARGS="-k matmul" passes arguments to pytest.
#   make bench  the side-by-side benchmark (tinytape vs hand-written numpy vs torch).
PYTHON ?= python3.11
VENV := .venv
TVENV := .venv-test

# names.txt: an explicit --names PATH, else $TINYTAPE_NAMES, else a cached copy, else a download.
# Where the repository sits beside a shared/ folder holding it, use that copy.
ifeq ($(TINYTAPE_NAMES),)
ifneq ($(wildcard ../shared/data/names.txt),)
export TINYTAPE_NAMES := $(abspath ../shared/data/names.txt)
endif
endif

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
	$(VENV)/bin/python -m nn.train $(ARGS)

test: $(TVENV)/.stamp
	$(TVENV)/bin/python -m pytest -q $(ARGS)

bench: $(TVENV)/.stamp
	$(TVENV)/bin/python -m demos.bench $(ARGS)

clean:
	rm -rf $(VENV) $(TVENV) *.egg-info .pytest_cache .hypothesis out
