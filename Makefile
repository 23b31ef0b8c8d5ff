# lwsmail: `make run` starts the demo, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
RUN_DIR := .run
PORT ?= 8000

# The demo needs no external service: SQLite, Celery's filesystem broker and a Redis of its
# own on a socket in $(RUN_DIR) (demo_run starts it): nothing outside $(RUN_DIR) is touched.
RUN_PATH = $(abspath $(RUN_DIR))
DEMO_ENV = DJANGO_DEBUG=1 \
	DATABASE_URL=sqlite:///$(RUN_PATH)/demo.sqlite3 \
	REDIS_URL=unix://$(RUN_PATH)/redis.sock \
	CELERY_BROKER_URL=filesystem:// \
	CELERY_FILESYSTEM_DIR=$(RUN_PATH)/broker \
	EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend \
	SITE_URL=http://127.0.0.1:$(DEMO_PORT)
# make demo-spam while make run PORT=8001 runs: the links in its e-mails name 8001.
DEMO_PORT = $(or $(shell cat $(RUN_PATH)/port 2>/dev/null),$(PORT))
run demo: DEMO_PORT = $(PORT)

# Tests run against the real PostgreSQL and Redis of this machine (or those named).
TEST_ENV := DJANGO_SECRET_KEY=tests-only-7c1e0b5d2f9a4e8c6b3d1f0a9e8d7c6b5a4f3e2d1c0b9a8 \
	DJANGO_DEBUG=0 SECURE_SSL_REDIRECT=0 SESSION_COOKIE_SECURE=0 CSRF_COOKIE_SECURE=0 \
	DATABASE_URL=$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/lwsmail} \
	REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/15}


.PHONY: install port-free run demo demo-spam test lint format static bench bench-engine bench-ingest bench-tracking bench-policyd bench-retention bench-ack bench-dashboard bench-drain bench-auth bench-authpolicy bench-mxagent clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/activate
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# Translation catalogues are compiled in the build, never committed.
MO_FILES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))
locale/%/LC_MESSAGES/django.mo: locale/%/LC_MESSAGES/django.po
	msgfmt --check -o $@ $<

install: $(VENV)/.installed $(MO_FILES)

# A fresh demo database (with its Redis state, which stops with it).
demo: install
	rm -rf $(RUN_DIR) && mkdir -p $(RUN_DIR)/broker/out $(RUN_DIR)/broker/processed
	$(DEMO_ENV) $(PY) manage.py demo_run --port $(PORT) --no-serve

# Said plainly before anything starts (runserver would die among the worker's logs).
port-free:
	@$(PYTHON) -c "import socket, sys; busy = socket.socket().connect_ex(('127.0.0.1', $(PORT))) == 0; \
		sys.exit('make run: port $(PORT) is already in use; stop what listens there, or run make run PORT=8001' if busy else 0)"

# One process starts Redis, the worker with beat and the web server, and stops them all
# on Ctrl+C or SIGTERM within 10 s (lwsmail/management/commands/demo_run.py).
run: port-free install
	rm -rf $(RUN_DIR) && mkdir -p $(RUN_DIR)/broker/out $(RUN_DIR)/broker/processed
	@$(DEMO_ENV) $(PY) manage.py demo_run --port $(PORT)

# Spam through the real pipeline of the running demo: make demo-spam ADDRESS=... N=20
demo-spam: install
	$(DEMO_ENV) $(PY) manage.py demo_spam $(ADDRESS) $(or $(N),1)

test: install
	$(TEST_ENV) $(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: bench-engine bench-ingest bench-tracking bench-policyd bench-retention bench-ack bench-dashboard bench-drain bench-auth bench-authpolicy bench-mxagent

# The benches run the production settings, whose static files storage needs the manifest
# that `collectstatic` writes (on a fresh clone nothing else has run it).
static: install
	$(TEST_ENV) $(PY) manage.py collectstatic --noinput --verbosity 0

bench-policyd: static
	$(TEST_ENV) $(PY) bench/policyd.py $(BENCH_ARGS)

bench-tracking: static
	$(TEST_ENV) $(PY) bench/tracking.py $(BENCH_ARGS)

bench-dashboard: static
	$(TEST_ENV) $(PY) bench/dashboard.py $(BENCH_ARGS)

bench-drain: static
	$(TEST_ENV) $(PY) bench/drain.py $(BENCH_ARGS)

bench-ingest: static
	$(TEST_ENV) $(PY) bench/ingest.py $(BENCH_ARGS)

bench-ack: static
	$(TEST_ENV) $(PY) bench/ack.py $(BENCH_ARGS)

bench-retention: static
	$(TEST_ENV) $(PY) bench/retention.py $(BENCH_ARGS)

# IMAP logins through a real Dovecot (Debian's dovecot-core, dovecot-pgsql, dovecot-imapd).
bench-auth: static
	$(TEST_ENV) $(PY) bench/auth.py $(BENCH_ARGS)

# Dovecot's auth policy endpoint at 1,000 logins a second.
bench-authpolicy: static
	$(TEST_ENV) $(PY) bench/authpolicy.py $(BENCH_ARGS)

# The mail-host agent: 10^5 log lines parsed and shipped to a running panel.
bench-mxagent: static
	$(TEST_ENV) $(PY) bench/mxagent.py $(BENCH_ARGS)

bench-engine: static
	$(TEST_ENV) $(PY) bench/engine.py $(BENCH_ARGS)

clean:
	rm -rf $(RUN_DIR) staticfiles .pytest_cache
