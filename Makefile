# The two set-up commands of the README: `make up` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# make test: the checks two at a time (much of their time is waiting: PostgreSQL, Chromium,
# subprocesses), `online` first among them, the longest (a kind cluster of its own; the images it
# untags are tagged back before it ends, and the other checks use none); then `ci` alone, which runs
# its own lanes and measures load and latency.
TOX_CHECKS ?= online,lint,actionlint,unit,site,browser,variants
TOX_CLUSTER ?= ci
# The prerequisites by capability (kubedefis/localcluster/doctor.py: standard library only, so it runs with the
# system Python before the venv exists). NEEDS: what they are for, `up` or `test` (also Graphviz and
# PostgreSQL); `make up` and `make test` set it, anything else asks for both.
DOCTOR = PYTHONDONTWRITEBYTECODE=1 $(PYTHON) -m kubedefis.localcluster.doctor
NEEDS ?= test

.PHONY: up test down deps doctor venv cluster lint clean-cache

## up: check the prerequisites (kubedefis doctor), create the local kind cluster if needed, deploy the stack, print its URL
up: NEEDS = up
up: deps doctor venv
	$(BIN)/kubedefis up

## test: lint, unit and site tests, then the conformance suite and its broken variants on the real cluster
test: NEEDS = test
test: venv
	$(BIN)/kubedefis cluster up >/dev/null
	$(BIN)/tox run-parallel --parallel 2 --parallel-no-spinner -e $(TOX_CHECKS)
	$(BIN)/tox -e $(TOX_CLUSTER)

## down: delete the local cluster
down: venv
	$(BIN)/kubedefis cluster down

## cluster: build (offline, cached) and start the cluster only
cluster: venv
	$(BIN)/kubedefis cluster up

lint: venv
	$(BIN)/tox -e lint

## deps: what the host lacks, by capability (a Docker engine only if none answers; debootstrap and gcc only
## for the offline build; Graphviz, PostgreSQL for the tests). apt only on Debian-family hosts, as root;
## elsewhere `make doctor` says how to get it.
deps:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  $(DOCTOR) --for $(NEEDS); echo "kubedefis needs Python >= 3.11: make $(MAKECMDGOALS) PYTHON=python3.12 (or another)"; exit 1; }
	@packages="$$($(DOCTOR) --for $(NEEDS) --apt-packages)" || exit 1; \
	if [ -n "$$packages" ]; then \
	  echo " • Installing host packages: $$packages"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$packages >/dev/null; \
	fi

## doctor: check the prerequisites and say how to get what is missing (exit 1 if something required is)
doctor:
	@$(DOCTOR) --for $(NEEDS)

venv: deps $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,load,browser]'
	touch $@

## clean-cache: forget every built artefact (the next `make up` is a cold build)
clean-cache:
	rm -rf $${KUBEDEFIS_CACHE:-$$HOME/.cache/kubedefis}
