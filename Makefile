# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
MANAGE := $(PY) manage.py

.PHONY: run test serve bench lint venv setup system-packages

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $@

venv: $(VENV)/.installed

# A development .env with a generated SECRET_KEY, made once.
.env:
	@echo "DEBUG=1" > .env
	@echo "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" >> .env
	@echo "Wrote .env (DEBUG=1 and a generated SECRET_KEY)"

# What `run` and `serve` both need: the cluster, the schema, static files,
# demo data and an admin user.
setup: venv .env
	@scripts/ensure-system-packages.sh postgres
	$(MANAGE) pgcluster up
	$(MANAGE) migrate --noinput
	$(MANAGE) createcachetable
	$(MANAGE) collectstatic --noinput -v 0
	$(MANAGE) populate --if-empty
	$(MANAGE) ensure_admin

# Each refuses at once, touching nothing, while this checkout already
# serves or the address is taken (scripts/run-dev.sh --check).
# runserver, with the replica lag sampler (`dbops sample`) and the job
# worker (`db_worker`, big imports) beside it.
run:
	@scripts/run-dev.sh --check runserver 127.0.0.1:8000
	@$(MAKE) --no-print-directory setup
	PY=$(PY) scripts/run-dev.sh runserver 127.0.0.1:8000

# The same console under gunicorn (gunicorn.conf.py: BIND, WEB_CONCURRENCY),
# with the same two processes beside it.
serve:
	@scripts/run-dev.sh --check gunicorn
	@$(MAKE) --no-print-directory setup
	PY=$(PY) scripts/run-dev.sh gunicorn

# A million books on a cluster of its own (var/pgcluster-bench, ports
# 55452/55453); results in docs/benchmarks.md. See `python -m bench --help`.
bench: venv
	@scripts/ensure-system-packages.sh postgres
	$(PY) -m bench

# The whole suite against the servers directly, then the whole suite again
# through a transaction-pooling PgBouncer in front of every server
# (CONSOLE_TEST_POOLER=1, see tests/settings.py), as deployments run it.
test: venv
	@scripts/ensure-system-packages.sh postgres chromium pgbouncer faketime
	$(PY) -m pytest
	CONSOLE_TEST_POOLER=1 $(PY) -m pytest

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DEBUG=1 $(VENV)/bin/mypy  # the django-stubs plugin loads the settings
