# Zhengtong: `make demo` sets everything up and serves the demo city; `make test` runs the checks and tests.
# Needs Python 3.11+, Node 20 and make. Everything else is installed into .venv and node_modules.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PY_STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
VENDOR := build/static/vendor/htmx.min.js
CATALOG := zhengtong/locale/zh_Hans/LC_MESSAGES/django.mo
POSTGRES_TEST_URL ?= postgres://postgres@127.0.0.1:5432/zhengtong

.PHONY: demo test assets lint test-sqlite test-postgres clean

$(PY_STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(VENDOR): $(NODE_STAMP) scripts/build-assets.mjs
	npm run --silent build

$(CATALOG): $(PY_STAMP) zhengtong/locale/zh_Hans/LC_MESSAGES/django.po
	$(PY) -m zhengtong buildmessages

assets: $(PY_STAMP) $(VENDOR) $(CATALOG)

demo: assets
	$(PY) -m zhengtong demo

lint: $(PY_STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy zhengtong

test-sqlite: assets
	env -u DATABASE_URL $(PY) -m pytest -n 2

# PostgreSQL runs when a server answers at POSTGRES_TEST_URL; under CI=true it must.
test-postgres: assets
	@if $(PY) scripts/postgres_ready.py "$(POSTGRES_TEST_URL)"; then \
		DATABASE_URL="$(POSTGRES_TEST_URL)" $(PY) -m pytest -n 2; \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL is not reachable at $(POSTGRES_TEST_URL), and CI needs it." >&2; exit 1; \
	else \
		echo "SKIPPED: the PostgreSQL run (no server at $(POSTGRES_TEST_URL))."; \
	fi

test: lint test-sqlite test-postgres

clean:
	rm -rf $(VENV) node_modules build var zhengtong.egg-info
