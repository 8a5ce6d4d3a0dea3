# mlgov: `make demo` and `make test` are all a new machine needs (Python 3.11+ and make).
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install demo serve test lint pytest bench clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The demo's webhook secrets: seed_demo signs its CI deliveries with them, and the served app accepts
# deliveries signed with them (a local demo only; set real secrets in production, docs/configuration.md).
DEMO_ENV := DEBUG=true \
	MLGOV_GITHUB_WEBHOOK_SECRET=$${MLGOV_GITHUB_WEBHOOK_SECRET:-demo-github-webhook-secret} \
	MLGOV_GITLAB_WEBHOOK_TOKEN=$${MLGOV_GITLAB_WEBHOOK_TOKEN:-demo-gitlab-webhook-token} \
	MLGOV_JENKINS_WEBHOOK_SECRET=$${MLGOV_JENKINS_WEBHOOK_SECRET:-demo-jenkins-webhook-secret}

demo: install
	$(DEMO_ENV) $(BIN)/python manage.py migrate --noinput
	$(DEMO_ENV) $(BIN)/python manage.py seed_demo --url http://$(HOST):$(PORT)/
	$(DEMO_ENV) $(BIN)/python manage.py runserver $(HOST):$(PORT)

serve: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/gunicorn -c python:mlgov.gunicorn_conf mlgov.wsgi --bind $(HOST):$(PORT) --workers 2

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	DATABASE_URL= $(BIN)/python manage.py makemigrations --check --dry-run  # models against migrations; no server needed

pytest: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The full suite against DATABASE_URL (SQLite by default), then the database-portable tests
# (marked `portable`) against the other backend when it is reachable.
test: lint pytest
	@$(BIN)/python tests/run_portable.py

bench: install
	$(BIN)/python -m pytest tests/benchmarks -p no:randomly -s -o addopts="" $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache
