# Hearth: `make run` serves the app with demo data; `make test` runs every check.
# Both install what they need into .venv first, from the pinned lock file.

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test bench lint format install browser node nginx lock clean

install: $(INSTALLED)

$(INSTALLED): requirements.lock
	@python=$$(scripts/find-python) || exit 1; \
	if [ ! -x $(PY) ]; then echo "Creating $(VENV) with $$python"; "$$python" -m venv $(VENV) || exit 1; fi
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@touch $@

# The development server: SQLite and the in-memory channel layer, whatever the
# environment says, so it needs nothing but Python. See README for PostgreSQL/Redis.
run: install
	@unset DATABASE_URL REDIS_URL; \
	$(PY) manage.py migrate --verbosity 0 && \
	$(PY) manage.py seed_demo && \
	echo && echo "Hearth is running at http://$(HOST):$(PORT)/  (Ctrl+C to stop)" && echo && \
	exec $(VENV)/bin/daphne -b $(HOST) -p $(PORT) config.asgi:application

# Lint, then every test: Python (PostgreSQL + Redis started for the session unless
# DATABASE_URL / REDIS_URL are set), the browser client's unit tests (node --test,
# run from pytest) and the Playwright browser tests (Debian's chromium).
test: install browser node nginx lint
	$(PY) -m pytest

# The live room under load against its floors, in one run (under 10 minutes here):
# writes docs/performance.md, docs/performance.json and the latency plot. It starts its
# own redis-server, PostgreSQL and nginx on loopback. `python -m bench --help` for more.
bench: install nginx
	$(PY) -m bench $(BENCH_ARGS)

# Ruff, then mypy with the Django plugin (configured in pyproject.toml; cache in .mypy_cache).
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

format: install
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Playwright's own browser download cannot work everywhere; we drive Debian's chromium.
browser:
	@if [ ! -x /usr/bin/chromium ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium for the browser tests…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null || exit 1; \
	  else \
	    echo "The browser tests need chromium at /usr/bin/chromium. Run: sudo apt-get install chromium"; exit 1; \
	  fi; \
	fi

node:
	@if ! command -v node >/dev/null; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Node.js for the client unit tests…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs >/dev/null || exit 1; \
	  else \
	    echo "The client unit tests need Node.js 20+. Run: sudo apt-get install nodejs"; exit 1; \
	  fi; \
	fi

# The benchmark (and its tiny run in the tests) puts Hearth behind the shipped nginx config.
nginx:
	@if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing nginx for the benchmark…"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null || exit 1; \
	  else \
	    echo "The benchmark needs nginx. Run: sudo apt-get install nginx-light"; exit 1; \
	  fi; \
	fi

# Re-pin dependencies after editing pyproject.toml.
lock: install
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --python-version 3.12 --no-header --annotation-style line -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.12 --no-header --annotation-style line -o requirements-prod.lock

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache .ruff_cache .mypy_cache
