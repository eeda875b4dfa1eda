# Thin wrappers: every target only runs commands a developer could type.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 5000
BIN := $(VENV)/bin
WITH_DB := $(BIN)/python -m dciserver.devdb
export DCI_DEV ?= 1

.PHONY: run test manage lint format bench install install-test install-bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $(VENV)/.installed $@

$(VENV)/.installed-bench: requirements.txt requirements-bench.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-bench.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-bench: $(VENV)/.installed-bench

run: install
	$(WITH_DB) sh -c '$(BIN)/python manage.py migrate --no-input && \
		$(BIN)/python manage.py demo && \
		$(BIN)/python manage.py collectstatic --no-input --verbosity 0 && \
		exec $(BIN)/gunicorn dciserver.wsgi --config dciserver/gunicorn.conf.py --bind 127.0.0.1:$(PORT)'

test: install-test
	$(WITH_DB) sh -c '$(BIN)/python manage.py check && \
		$(BIN)/python manage.py makemigrations --check --dry-run && \
		$(BIN)/ruff check . && $(BIN)/ruff format --check . && \
		$(BIN)/pytest $(PYTEST_ARGS)'

# ARGS: a management command and its arguments, e.g. make manage ARGS="demo --jobs 200" (ARGS=help lists them).
manage: install
	$(WITH_DB) manage $(ARGS)

# BENCH_ARGS: e.g. --scale 0.01 --duration 5 --only list-team (see python -m bench.run --help).
bench: install-bench
	$(WITH_DB) $(BIN)/python -m bench.run $(BENCH_ARGS)

lint: install-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) var
