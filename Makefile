PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo needs only what the collector runs with; `make test` adds the development tools.
RUNTIME := $(VENV)/.runtime-installed

.PHONY: all demo test lint typecheck unit tools backstage generate bench bench-large soak clean lock image image-tools test-image

all: test

# Every dependency comes from the hashed lock (make lock); the package itself is editable.
$(STAMP): pyproject.toml requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# Only what the collector runs with, from the same hashed lock as the image.
$(RUNTIME): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(RUNTIME)

# The locks, from pyproject.toml's ranges: requirements-dev.lock for the venv (and CI),
# requirements.lock, the same versions without the dev tools, for the image. Both hold
# setuptools, which builds the package without an index. Existing pins are kept;
# `make lock UPGRADE=1` moves every pin to the newest release the ranges allow.
LOCK := $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--native-tls $(if $(UPGRADE),--upgrade)
lock: $(STAMP)
	echo 'setuptools>=77' | $(LOCK) --extra dev pyproject.toml - -o requirements-dev.lock
	echo 'setuptools>=77' | $(LOCK) -c requirements-dev.lock pyproject.toml - -o requirements.lock

demo: $(RUNTIME)
	$(BIN)/adoption-collector demo

LINTED := collector tests benchmarks deploy/prometheus deploy/grafana

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy

# The end-to-end tests use real programs, Debian's packages: a Prometheus server scrapes the
# collector, headless Chromium renders the status page, Node runs a real Backstage backend,
# and kubectl (kubernetes-client) reads the simulated clusters. Only what is missing is
# installed.
tools:
	@missing=""; \
	command -v prometheus >/dev/null && command -v promtool >/dev/null || missing="prometheus"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	command -v g++ >/dev/null && command -v make >/dev/null || missing="$$missing g++ make"; \
	command -v kubectl >/dev/null || missing="$$missing kubernetes-client"; \
	[ -z "$$missing" ] || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }

# Backstage's packages for its end-to-end test, as the lock pins them: `npm ci` (minutes: it
# compiles better-sqlite3) runs again only when the lock changes, its hash naming the stamp.
BACKSTAGE := tests/backstage
BACKSTAGE_STAMP := $(BACKSTAGE)/node_modules/.ci-$(shell sha256sum $(BACKSTAGE)/package-lock.json | cut -c1-16)

backstage: $(BACKSTAGE_STAMP)

$(BACKSTAGE_STAMP): | tools
	cd $(BACKSTAGE) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

unit: $(STAMP) tools backstage
	$(BIN)/pytest -q

test: lint typecheck unit

# The container image (deploy/Dockerfile). ENGINE=docker works the same; BASE_IMAGE is any
# Debian-like image with python3 >= 3.11.
ENGINE ?= podman
VERSION := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
IMAGE ?= adoption-collector:$(VERSION)
BASE_IMAGE ?= python:3.12-slim
REVISION ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# More flags for the engine's build, e.g. --pull=never, or a proxy's CA for the build's pip:
# -v /etc/ssl/certs:/etc/ssl/certs:ro (podman).
BUILD_FLAGS ?=
# podman 4's builder reuses a cached LABEL or ENV step whatever value its build argument has
# now, so a commit that changes nothing in the build context kept the last commit's revision:
# with podman the revision is also set on the final image itself, past any cache.
REVISION_FLAGS = $(if $(filter podman,$(notdir $(ENGINE))),--env ADOPTION_COLLECTOR_REVISION=$(REVISION) \
	--label org.opencontainers.image.revision=$(REVISION))
image:
	$(ENGINE) build -f deploy/Dockerfile --build-arg BASE_IMAGE=$(BASE_IMAGE) \
		--build-arg VERSION=$(VERSION) --build-arg REVISION=$(REVISION) $(REVISION_FLAGS) \
		$(BUILD_FLAGS) -t $(IMAGE) .

# The image test builds the image on a Debian base made here (no registry needed) and runs it
# with podman as the chart does; podman and mmdebstrap are Debian's packages.
image-tools:
	@command -v podman >/dev/null && command -v mmdebstrap >/dev/null && command -v runc >/dev/null || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
			podman buildah runc mmdebstrap uidmap fuse-overlayfs >/dev/null; }

test-image: $(STAMP) tools image-tools
	$(BIN)/pytest -q -m image tests/image

# Scale figures against their targets; a smoke version at 1/100 runs in `make test`.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The scale curve up to 200,000 workloads: minutes to build that cluster, so not in `make bench`.
bench-large: $(STAMP)
	$(BIN)/python -m benchmarks --only scale_curve --large

# 1,000 poll cycles against a churning, faulty simulated cluster; not part of `make test`.
soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak

# The alert rules are rendered from the chart's PrometheusRule template, the dashboards from
# their generator; tests fail when the committed files drift from either.
generate: $(STAMP)
	$(BIN)/python deploy/prometheus/generate.py
	$(BIN)/python deploy/grafana/generate.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache $(BACKSTAGE)/node_modules
