# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test check lint messages clean bench

$(BIN)/.runtime: requirements.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt
	@touch $@

$(BIN)/.test: requirements-test.txt requirements.txt $(BIN)/.runtime
	$(BIN)/pip install --disable-pip-version-check -q -r requirements-test.txt
	@touch $@

## run: install, migrate, load the demo campaign, start the site and the delivery worker (PORT=8000)
run: $(BIN)/.runtime
	$(BIN)/python manage.py serve

## test: the whole suite on SQLite, then on PostgreSQL when it is reachable, browser tests included
test: $(BIN)/.test
	./scripts/test

## check: lint, the layers, and every test not marked slow, on SQLite (a few minutes: while you work)
check: lint
	env -u DATABASE_URL $(BIN)/python -m pytest -m "not slow"

## lint: ruff on the code, and the layers' contract (import-linter)
lint: $(BIN)/.test
	$(BIN)/ruff check courrier tests bench
	$(BIN)/ruff format --check courrier tests bench
	$(BIN)/lint-imports --no-cache

## bench: signing and delivery throughput against bare references (SQLite, and PostgreSQL if reachable)
bench: $(BIN)/.test
	$(BIN)/python -m bench

## messages: extract and compile the translation catalogues
messages: $(BIN)/.runtime
	$(BIN)/python manage.py makemessages --all --no-obsolete --no-location --ignore=.venv --ignore=var --ignore=tests
	$(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) var/test* .pytest_cache
