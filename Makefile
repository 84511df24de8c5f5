# Talents — set-up, run and test. Everything the project needs is installed by these targets.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STATIC := talents/static
export TALENTS_DATABASE_URL ?= sqlite:///./talents.db

.PHONY: run install assets test lint unit bench bench-quick clean

## run: install everything, seed demo data on the embedded SQLite database, serve on http://127.0.0.1:8000
run: install
	$(BIN)/talents serve --demo

## install: the virtual environment with the project, its test and benchmark tools, and the front-end assets
install: $(VENV)/.installed assets

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test,bench]"
	touch $@

## assets: the State design system (DSFR), htmx and the offline OpenAPI viewer, from the npm registry
assets: $(STATIC)/vendor/.installed

$(STATIC)/vendor/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
	rm -rf $(STATIC)/dsfr $(STATIC)/vendor
	mkdir -p $(STATIC)/vendor/swagger-ui $(STATIC)/vendor/htmx
	cp -r node_modules/@gouvfr/dsfr/dist $(STATIC)/dsfr
	cp node_modules/swagger-ui-dist/swagger-ui-bundle.js node_modules/swagger-ui-dist/swagger-ui.css \
	   node_modules/swagger-ui-dist/swagger-ui-standalone-preset.js $(STATIC)/vendor/swagger-ui/
	cp node_modules/htmx.org/dist/htmx.min.js $(STATIC)/vendor/htmx/
	touch $@

## test: install, then the static checks and the whole test suite (PostgreSQL too when TALENTS_TEST_POSTGRES_URL is set)
test: install lint
	$(PY) -m pytest -n 2 --dist loadfile

## lint: ruff, the import contract of the pure core, types, security lint
lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy matching talents profiles needs notifications
	$(BIN)/bandit -q -ll -c pyproject.toml -r talents matching profiles needs notifications
	$(BIN)/pip-audit --progress-spinner off --skip-editable

## bench: the benchmarks (speed and quality of matching, allocation, bulk import), printed as ratios
bench: install
	$(PY) -m bench.all

clean:
	rm -rf $(VENV) node_modules $(STATIC)/dsfr $(STATIC)/vendor talents.db talents.db-wal talents.db-shm
