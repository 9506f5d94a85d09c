# Serverless Full-Stack, hands-on — two commands: `make lab` and `make test`.
# Each sets up .venv (and Graphviz) on first use; see tools/setup.sh.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.stacklab-setup

.PHONY: lab test timings setup diagrams student-labs clean

lab: $(STAMP)
	@bash tools/lab.sh

test: $(STAMP)
	@bash tools/test.sh

timings: $(STAMP)
	@$(PY) -m stacklab timings

diagrams: $(STAMP)
	@$(PY) -m stacklab diagrams

student-labs: $(STAMP)
	@$(PY) -m stacklab student-labs

setup: $(STAMP)

$(STAMP): pyproject.toml tools/setup.sh
	@bash tools/setup.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
