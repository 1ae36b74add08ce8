# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
STAMP := $(VENV)/.installed
export FLASK_APP := wsgi:app

.PHONY: run test lint spec venv clean

venv: $(STAMP)

# Recreated whenever a requirements file changes.
$(STAMP): requirements.txt requirements-dev.txt constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip==26.3"
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -c constraints.txt
	touch $(STAMP)

## Migrate var/limbtrack.db, load the demo study, print a login and a code, serve with docs.
run: $(STAMP)
	$(BIN)/flask db upgrade
	$(BIN)/flask demo seed
	@echo "API docs: http://127.0.0.1:$(PORT)/api/docs   spec: http://127.0.0.1:$(PORT)/api/openapi.json"
	@echo "Nurse portal: http://127.0.0.1:$(PORT)/portal/ (sign in with the demo staff login above)"
	$(BIN)/flask run --host 127.0.0.1 --port $(PORT)

## The whole suite (SQLite by default; LIMBTRACK_TEST_DATABASE_URL=postgresql://... for PostgreSQL).
## pytest's exit 5 ("no tests collected") is a failure here: a suite that ran nothing proved nothing.
test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

## Static checks: ruff (lint and format), mypy --strict on backend/, and the layers of
## backend/ (import-linter, contract in .importlinter).
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## Regenerate the committed OpenAPI spec from the app.
spec: $(STAMP)
	$(BIN)/flask openapi write --format=yaml api_spec/openapi.yaml

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
