# The two commands of the README: `make run` and `make test`. Both create .venv if it is missing and
# install the project into it; the install is skipped when setup.py has not changed since.
SHELL       := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# pip prints one warning per package for this machine's file:// indexes that lack it; hide only those.
QUIET  := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: run test test-fast bench clean

$(STAMP): setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "Installing hetsim into $(VENV) (first run only; torch is the pinned CPU build)"
	$(BIN)/pip install --quiet torch==2.13.0 2>&1 | $(QUIET)
	$(BIN)/pip install --quiet -e ".[test]" 2>&1 | $(QUIET)
	$(BIN)/python -c "import torch, transformers, simpy, simulator, hw_models, workloads"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/hetsim run

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
