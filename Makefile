PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The demo needs only what the collector runs with; `make test` adds the development tools.
RUNTIME := $(VENV)/.runtime-installed

.PHONY: all demo test lint typecheck unit tools backstage generate bench bench-large soak clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(RUNTIME): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $(RUNTIME)

demo: $(RUNTIME)
	$(BIN)/adoption-collector demo

LINTED := collector tests benchmarks deploy/prometheus deploy/grafana

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy

# The end-to-end tests use real programs, Debian's packages: a Prometheus server scrapes the
# collector, headless Chromium renders the status page, and Node runs a real Backstage
# backend. Only what is missing is installed.
tools:
	@missing=""; \
	command -v prometheus >/dev/null && command -v promtool >/dev/null || missing="prometheus"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v node >/dev/null && command -v npm >/dev/null || missing="$$missing nodejs npm"; \
	command -v g++ >/dev/null && command -v make >/dev/null || missing="$$missing g++ make"; \
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
