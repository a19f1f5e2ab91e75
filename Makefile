# The two commands: `make demo` and `make test`. Every target sets up .venv itself.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
KERNEL := ai-calculator-analytics
HOST ?= 127.0.0.1
PORT ?= 5000
LAB_PORT ?= 8888

.PHONY: install demo test lint lab serve report bench migrate maintain clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,ga4]'
	$(PY) -m ipykernel install --sys-prefix --name $(KERNEL) --display-name "AI Calculator Analytics (.venv)" >/dev/null
	touch $(STAMP)

install: $(STAMP)

## demo: embedded SQLite database + demo data + every notebook as an HTML report under reports/demo/
demo: $(STAMP)
	$(PY) -m analytics.cli demo

## test: the whole suite (ruff and notebook hygiene included); PostgreSQL too when TEST_DATABASE_URL is set
test: $(STAMP)
	$(PY) -m pytest -q

lint: $(STAMP)
	$(VENV)/bin/ruff check .

migrate: $(STAMP)
	$(PY) -m analytics.cli db upgrade

maintain: $(STAMP)
	$(PY) -m analytics.cli db maintain

## lab: JupyterLab on notebooks/ with the project's kernel, on the same database as `make demo`
lab: $(STAMP)
	$(PY) -m analytics.cli db upgrade
	cd notebooks && ../$(VENV)/bin/jupyter lab --notebook-dir=. --ServerApp.ip=$(HOST) --ServerApp.port=$(LAB_PORT) \
		--MappingKernelManager.default_kernel_name=$(KERNEL) $(if $(filter 0,$(shell id -u)),--allow-root) --no-browser

## serve: the ingest sidecar under gunicorn on $(HOST):$(PORT)
serve: $(STAMP)
	$(PY) -m analytics.cli db upgrade
	$(VENV)/bin/gunicorn -c ingest_service/gunicorn_conf.py --bind $(HOST):$(PORT) ingest_service.app:app

## report: the weekly report job once, for the last complete week, on the configured database
report: $(STAMP)
	$(PY) -m scheduled run weekly

## bench: every benchmark in bench/ (numbers go into docs/performance.md)
bench: $(STAMP)
	$(PY) -m bench

clean:
	rm -rf reports/demo build *.egg-info
