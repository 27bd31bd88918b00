# keyplane's two set-up commands: `make demo` and `make test`.
# Each creates the virtualenv on first use and reuses it afterwards.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.keyplane-installed

.PHONY: demo test lint typecheck checkov-venv clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# The whole pipeline on the example estate, against the local sandbox (nothing leaves
# this machine): validate, synth, the PR gate, a sandbox "deploy", post-apply checks,
# restore drills and the evidence report (scripts/demo.sh).
demo: $(STAMP)
	KEYPLANE=$(BIN)/keyplane scripts/demo.sh

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check keyplane tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy --strict keyplane/model keyplane/policy keyplane/findings.py keyplane/desired \
		keyplane/postapply keyplane/reporters keyplane/schema

# checkov (a general IaC scanner) in its own virtualenv, for the scanner comparison and
# the benchmarks; it is never a dependency of keyplane.
checkov-venv: .venv-checkov/bin/checkov
.venv-checkov/bin/checkov:
	$(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet 'checkov==3.3.30'

clean:
	rm -rf $(VENV) cdktf.out .pytest_cache .mypy_cache .ruff_cache
