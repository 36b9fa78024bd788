# The two set-up commands of the README: `make up` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST_PACKAGES := docker.io debootstrap postgresql graphviz gcc libc6-dev
TOX_ENVS ?= lint,unit,site,ci

.PHONY: up test down deps venv cluster lint clean-cache

## up: create the local kind cluster if needed, deploy the stack, print its URL
up: venv
	$(BIN)/kubedefis up

## test: lint, unit and site tests, then the conformance suite and its broken variants on the real cluster
test: venv
	$(BIN)/kubedefis cluster up >/dev/null
	$(BIN)/tox -e $(TOX_ENVS)

## down: delete the local cluster
down: venv
	$(BIN)/kubedefis cluster down

## cluster: build (offline, cached) and start the cluster only
cluster: venv
	$(BIN)/kubedefis cluster up

lint: venv
	$(BIN)/tox -e lint

## deps: host packages (Docker engine, debootstrap, PostgreSQL for the site's tests, Graphviz)
deps:
	@missing=""; for p in $(HOST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "missing host packages:$$missing (run as root or install them)"; exit 1; fi; \
	  echo " • Installing host packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: deps $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,load]'
	touch $@

## clean-cache: forget every built artefact (the next `make up` is a cold build)
clean-cache:
	rm -rf $${KUBEDEFIS_CACHE:-$$HOME/.cache/kubedefis}
