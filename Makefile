# Rostersync: `make run` starts the app on SQLite + a folder broker; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

# Local defaults; any of them can be overridden from the environment (see README). The secret
# key comes from var/local.env, which `make setup` writes once (config/local_env.py): so
# `.venv/bin/python manage.py …` works from any shell in the checkout, as the README shows.
export DJANGO_DEBUG ?= true
export PYTHONUNBUFFERED := 1

.PHONY: run test setup bench check clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit("Python 3.11 or newer is needed") if sys.version_info < (3, 11) else None'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet ".[test]"
	touch $(INSTALLED)

setup: $(INSTALLED)
	$(BIN)/python config/local_env.py
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py collectstatic --noinput --verbosity 0
	$(BIN)/python manage.py setup_demo

run: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

# Tests keep their database, broker folder and cache apart from `make run`'s.
test: export ROSTERSYNC_VAR_DIR ?= $(CURDIR)/var/test
test: $(INSTALLED)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The benchmark's extra (django-import-export, the comparison) in a stamp of its own.
BENCH_INSTALLED := $(VENV)/.installed-bench

$(BENCH_INSTALLED): $(INSTALLED) pyproject.toml
	$(BIN)/python -m pip install --quiet ".[test,bench]"
	touch $(BENCH_INSTALLED)

# The full comparison takes a while (django-import-export at 100,000 rows): see bench/run.py for
# --sizes, --engines, --skip-baseline; pass them as BENCH_ARGS="--sizes 1000,10000".
bench: $(BENCH_INSTALLED)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# Lint, formatting, the import contracts (pyproject.toml [tool.importlinter]), Django's checks.
check: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/python manage.py check
	$(BIN)/python manage.py makemigrations --check --dry-run

clean:
	rm -rf var/ $(VENV)
