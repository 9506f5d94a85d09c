# Serverless Full-Stack, hands-on — two commands: `make lab` and `make test`.
# Each sets up .venv (and Graphviz) on first use; see tools/setup.sh.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.stacklab-setup

.PHONY: lab test e2e test-latest timings setup diagrams student-labs handout clean

lab: $(STAMP)
	@bash tools/lab.sh

test: $(STAMP)
	@bash tools/test.sh

# Real-browser tests only: every lesson run with "Run All" in JupyterLab (headless Chromium).
e2e: $(STAMP)
	@bash tools/setup-browser.sh
	@$(PY) -m pytest tests/e2e -v

# The whole suite against the newest releases of every dependency, in a separate venv (.venv-latest),
# to catch drift before a learner does. Needs network access to the package index.
test-latest:
	@bash tools/test-latest.sh

timings: $(STAMP)
	@$(PY) -m stacklab timings

diagrams: $(STAMP)
	@$(PY) -m stacklab diagrams

student-labs: $(STAMP)
	@$(PY) -m stacklab student-labs

# A copy of the course for learners, without the lab solutions: make handout DEST=/tmp/course
handout: $(STAMP)
	@$(PY) -m stacklab handout "$(or $(DEST),$(error give a destination: make handout DEST=/path/to/new/dir))"

setup: $(STAMP)

$(STAMP): pyproject.toml tools/setup.sh
	@bash tools/setup.sh

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info
