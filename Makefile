# Thin wrappers: every target only runs commands a developer could type.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 5000
BIN := $(VENV)/bin
WITH_DB := $(BIN)/python -m dciserver.devdb
export DCI_DEV ?= 1

.PHONY: run test lint format bench install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-test: requirements.txt requirements-test.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-test.txt
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

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

lint: install-test
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

clean:
	rm -rf $(VENV) var
