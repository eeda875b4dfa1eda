# Thin wrappers: every target only runs commands a developer could type.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 5000
BIN := $(VENV)/bin
WITH_DB := $(BIN)/python -m dciserver.devdb
export DCI_DEV ?= 1

.PHONY: run test manage lint format bench install install-test install-bench lock clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs come from the lock files: the whole tree, exact versions, each file checked by its hash.
$(VENV)/.installed: requirements.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements.lock
	touch $@

$(VENV)/.installed-test: requirements.lock requirements-test.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-test.lock
	touch $(VENV)/.installed $@

$(VENV)/.installed-bench: requirements.lock requirements-bench.lock | $(BIN)/python
	$(BIN)/pip install --quiet --require-hashes -r requirements-bench.lock
	touch $(VENV)/.installed $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-bench: $(VENV)/.installed-bench

run: install
	$(WITH_DB) sh -c '$(BIN)/python manage.py migrate --no-input && \
		$(BIN)/python manage.py demo && \
		$(BIN)/python manage.py collectstatic --no-input --verbosity 0 && \
		{ $(BIN)/python manage.py events_worker --no-reload --with-parent --verbosity 0 & } && \
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

# The lock files, compiled from the pins of the .txt files (run after changing one of them).
# Resolved against the package index alone (PIP_CONFIG_FILE=/dev/null: no local indexes or wheel
# folders a machine's pip configuration may add); pins already in a lock file are kept while the
# .txt files allow them. The test and bench locks are constrained by requirements.lock: the suite
# and the benchmark run the versions production runs.
LOCK_VENV ?= var/lock-venv
PIP_COMPILE = env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null $(LOCK_VENV)/bin/pip-compile --quiet \
	--generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links

$(LOCK_VENV)/bin/pip-compile:
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/pip install --quiet pip-tools==7.6.2

lock: | $(LOCK_VENV)/bin/pip-compile
	$(PIP_COMPILE) --output-file requirements.lock requirements.txt
	$(PIP_COMPILE) --constraint requirements.lock --output-file requirements-test.lock requirements-test.txt
	$(PIP_COMPILE) --constraint requirements.lock --output-file requirements-bench.lock requirements-bench.txt

clean:
	rm -rf $(VENV) var
