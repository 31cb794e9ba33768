PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: all demo test lint typecheck unit tools generate bench soak clean

all: test

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/adoption-collector demo

LINTED := collector tests benchmarks deploy/prometheus deploy/grafana

lint: $(STAMP)
	$(BIN)/ruff check $(LINTED)
	$(BIN)/ruff format --check $(LINTED)

typecheck: $(STAMP)
	$(BIN)/mypy

# The end-to-end tests use real programs, Debian's packages: a Prometheus server scrapes the
# collector, headless Chromium renders the status page, and kubectl (kubernetes-client) reads
# the simulated clusters. Only what is missing is installed.
tools:
	@missing=""; \
	command -v prometheus >/dev/null && command -v promtool >/dev/null || missing="prometheus"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v kubectl >/dev/null || missing="$$missing kubernetes-client"; \
	[ -z "$$missing" ] || { \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; }

unit: $(STAMP) tools
	$(BIN)/pytest -q

test: lint typecheck unit

# Scale figures against their targets (issue 5); a smoke version at 1/100 runs in `make test`.
bench: $(STAMP)
	$(BIN)/python -m benchmarks

# 1,000 poll cycles against a churning, faulty simulated cluster; not part of `make test`.
soak: $(STAMP)
	$(BIN)/python -m benchmarks.soak

# The alert rules are rendered from the chart's PrometheusRule template, the dashboards from
# their generator; tests fail when the committed files drift from either.
generate: $(STAMP)
	$(BIN)/python deploy/prometheus/generate.py
	$(BIN)/python deploy/grafana/generate.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
