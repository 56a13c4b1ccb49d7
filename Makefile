# One entry point for every check. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
BIN := $(abspath $(VENV))/bin
# checkov in a venv of its own: its boto3 pin conflicts with SAM CLI's.
CHECKOV_VENV ?= .venv-checkov
CHECKOV := $(abspath $(CHECKOV_VENV))/bin/checkov
# The template as SAM transforms it (what CloudFormation deploys), for cfn-lint and checkov.
TRANSFORMED := .aws-sam/transformed-template.json
# The project runs on Python 3.13, the Lambda runtime in template.yaml: taken from pyenv
# (where this image keeps it, inactive; its shim on PATH does not run) or from PATH.
ifndef PYTHON313
PYTHON313 := $(shell for p in "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/3.13*/bin/python3.13 "$$(command -v python3.13)"; do "$$p" -c '' 2>/dev/null && { echo "$$p"; break; }; done)
endif

# One pytest worker more than CPUs: the local-cloud tests wait on subprocesses, and the
# extra worker fills those waits (2 CPUs: 3 workers took 0.91x the wall time of 2,
# alternated runs; 4 took more CPU than they saved).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))

# SAM CLI needs a region (never credentials) to validate and build; no telemetry.
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
# sam build looks for python3.13 on PATH: the venv's.
export PATH := $(BIN):$(PATH)

.PHONY: help install run test workloads test-speed-switch test-faults test-concurrency test-load test-scale test-fuzz conformance lint transformed checkov-install checkov check build clean system-deps graph report-example perf bench bench-compare

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

install: $(VENV)/.installed  ## Create .venv (Python 3.13) with the project and its dev tools

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found (looked in pyenv versions and on PATH)" >&2; exit 1; }
	"$(PYTHON313)" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

run: install  ## The whole pipeline offline on the sample requests (runledger local run)
	$(BIN)/runledger local run

# --max-worker-restart=0: a worker that dies (a crash in the interpreter) fails the run at
# once; a replacement worker left the loadfile schedule waiting for ever.
test: install system-deps  ## Run the test suite (unit, template, state machine, local cloud, graph and report)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --max-worker-restart=0

conformance: install  ## Every case of the project's conformance tier (tests/local/conformance; make test runs the fast ones)
	$(BIN)/pytest -p no:xdist -m 'not aws' tests/local/conformance

# Two interpreters at once (speed on, speed off): its own target, to keep make test short.
test-speed-switch: install system-deps  ## The same runs with every speed mechanism on and off: identical items and histories
	$(BIN)/pytest -p no:xdist -m differential tests/local/test_speed_switch.py

# One local cloud for every cell: its own target (about a minute), to keep make test short.
test-faults: install system-deps  ## Every Task state x every fault class, from the ASL; figures to bench/results/faults.jsonl
	RUNLEDGER_FAULT_RESULTS=bench/results/faults.jsonl $(BIN)/pytest -p no:xdist -m faults tests/faults

test-concurrency: install  ## Re-runs, deletes, other sort keys and duplicate deliveries mid-run, at several delays; figures to bench/results/concurrency.jsonl
	RUNLEDGER_CONCURRENCY_RESULTS=bench/results/concurrency.jsonl $(BIN)/pytest -p no:xdist -m concurrency tests/concurrency

# Minutes on 2 cores: its own target, not part of make check.
test-load: install  ## 1,000 requests of 3 variants through the whole local pipeline, within a bound it prints; figures to bench/results/load.jsonl
	RUNLEDGER_LOAD_RESULTS=bench/results/load.jsonl $(BIN)/pytest -p no:xdist -m load tests/load

# One run of 1,000 jobs, the most a request may hold: minutes on 2 cores, its own target.
test-scale: install  ## One run of 1,000 jobs through the whole local pipeline (its Distributed Map); figures to bench/results/scale.jsonl
	RUNLEDGER_SCALE_RESULTS=bench/results/scale.jsonl $(BIN)/pytest -p no:xdist -m scale tests/scale

test-fuzz: install system-deps  ## Hostile request items (Hypothesis), to the table and through runledger local run; figures to bench/results/fuzz.jsonl
	RUNLEDGER_FUZZ_RESULTS=bench/results/fuzz.jsonl $(BIN)/pytest -p no:xdist -m fuzz tests/fuzz

lint: install transformed  ## ruff, mypy, cfn-lint (+ serverless rules) on the template and its SAM transform, sam validate --lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/cfn-lint template.yaml $(TRANSFORMED)
	$(BIN)/cfn-lint -a cfn_lint_serverless.rules -- template.yaml $(TRANSFORMED)
	$(BIN)/sam validate --lint

# cfn-lint checks the state machine's inline policies only once SAM has turned them into an
# IAM role (a GetAtt the schema lacks, E1019, passes the source template's lint).
transformed: install  ## Write the SAM-transformed template to .aws-sam/transformed-template.json
	@mkdir -p $(dir $(TRANSFORMED))
	$(BIN)/python -c 'import json, sys; from runledger_cli.sam_template import load_cfn; json.dump(load_cfn(), sys.stdout, indent=1, default=str)' > $(TRANSFORMED).tmp
	mv $(TRANSFORMED).tmp $(TRANSFORMED)

checkov-install: $(CHECKOV_VENV)/.installed  ## Create .venv-checkov with the pinned checkov

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	@test -n "$(PYTHON313)" || { echo "Python 3.13 not found (looked in pyenv versions and on PATH)" >&2; exit 1; }
	"$(PYTHON313)" -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install --quiet -r requirements-checkov.txt
	@touch $@

# Inline skips live in each resource's Metadata (checkov: skip: [{id, comment}]); SAM
# keeps Metadata, so they hold for the transformed template too.
checkov: checkov-install transformed  ## checkov on the template and its SAM transform (no download)
	$(CHECKOV) --skip-download --quiet --compact --framework cloudformation \
	  -f template.yaml -f $(TRANSFORMED)

check: lint checkov test test-speed-switch test-faults test-concurrency test-scale test-fuzz conformance  ## Everything CI checks: lint, checkov, test and the speed-switch, fault, concurrency, scale, fuzz and conformance tiers

build: install workloads  ## sam build (functions and the shared layer, arm64)
	$(BIN)/sam build

workloads: install  ## Write runledger/workloads.json from template.yaml's workload declarations
	$(BIN)/python -m runledger_cli.workloads

# One process, no xdist: the budgets compare timings taken side by side.
perf: install  ## Performance budgets (pytest -m perf): each handler's cold import <= 1.3x bare Powertools
	$(BIN)/pytest -m perf -p no:xdist tests/perf

bench: perf  ## make perf, then 100 runs of 3 variants through the local cloud, 3 times (medians; minutes)
	$(BIN)/python bench/bench_local_runs.py --runs 100 --repeat 3

bench-compare: install  ## The bench for REV=<commit> and the working tree, in turn (3 rounds)
	@test -n "$(REV)" || { echo "usage: make bench-compare REV=<commit>" >&2; exit 2; }
	$(BIN)/python bench/alternate.py "$(REV)" --rounds 3 --runs 100

clean:  ## Remove build output and caches (keeps .venv)
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache

# Debian packages for `runledger graph`/`report` and their tests: Graphviz's `dot`, and
# Chromium for the browser test (fonts: DejaVu for the graph, Liberation for the page).
SYSTEM_DEPS := graphviz chromium fonts-dejavu-core fonts-liberation
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

system-deps:  ## apt-get install Graphviz and Chromium (only those missing)
	@missing=$$(for p in $(SYSTEM_DEPS); do dpkg-query -W -f='$${db:Status-Status}' $$p 2>/dev/null | grep -qx installed || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  $(SUDO) apt-get -o DPkg::Lock::Timeout=600 update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $$missing; \
	else echo "system packages present:" $(SYSTEM_DEPS); fi

graph: install  ## Redraw docs/run_workflow.svg (the workflow graph in the README)
	$(BIN)/runledger graph -o docs/run_workflow.svg

report-example: install  ## Redo docs/report.png: a local run of 3 variants, one failed
	$(BIN)/python docs/report_example.py
