# The two set-up commands: `make up` runs the local platform, `make test` runs every test.
# Both create .venv and install what they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := tests/node/node_modules/.installed

export APPWRITE_LOCAL_PORT ?= 8080
export APPWRITE_LOCAL_DATA ?= .appwrite-local

.PHONY: up test install lint fmt fuzz crash-test deploy bench-api bench-functions bench-dmd bench-rx bench-patients bench-portal bench-billing bench-tokens bench-notify bench-consult bench-suppliers bench-search clean

$(STAMP): requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $(STAMP)

$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

up: $(STAMP)
	$(PY) scripts/up.py

test: $(STAMP) $(NODE_STAMP)
	PYTHONPATH=src $(PY) -m pytest

lint: $(STAMP)
	$(PY) -m ruff check src tests scripts

fmt: $(STAMP)
	$(PY) -m ruff format src tests scripts

# Schemathesis against the server with Appwrite's 1.8 spec: >= 20,000 requests, no 5xx allowed (docs/security.md).
fuzz: $(STAMP)
	$(PY) scripts/fuzz.py --report .fuzz-report.json

# Push appwrite.json and the functions to the Appwrite named by APPWRITE_ENDPOINT / _PROJECT_ID / _API_KEY with the
# official CLI; refuses a push that would delete or recreate columns (docs/deploy.md).
deploy: $(STAMP) $(NODE_STAMP)
	$(PY) scripts/deploy.py $(DEPLOY_ARGS)

# A clinic's mixed workload with the server killed at random moments, then the invariants (docs/security.md).
crash-test: $(STAMP)
	$(PY) scripts/crash_test.py --kills $${KILLS:-5}

bench-functions: $(STAMP)
	PYTHONPATH=src $(PY) scripts/bench/functions_realtime.py

bench-dmd: $(STAMP)
	PYTHONPATH=src $(PY) scripts/bench/dmd.py

bench-rx: $(STAMP)
	PYTHONPATH=src $(PY) scripts/bench/rx.py

bench-patients: $(STAMP)
	PYTHONPATH=src $(PY) scripts/bench/patients.py

bench-portal: $(STAMP)
	PYTHONPATH=src $(PY) scripts/bench/portal.py

bench-billing: $(STAMP)
	PYTHONPATH=src $(PY) scripts/bench/billing.py

bench-tokens: $(STAMP)
	PYTHONPATH=src $(PY) scripts/bench/tokens.py

bench-notify: $(STAMP)
	PYTHONPATH=src $(PY) scripts/bench/notify.py $(BENCH_ARGS)

bench-consult: $(STAMP)
	PYTHONPATH=src $(PY) scripts/bench/consult.py $(BENCH_ARGS)

bench-suppliers: $(STAMP)
	PYTHONPATH=src $(PY) scripts/bench/suppliers.py $(BENCH_ARGS)

bench-search: $(STAMP)
	PYTHONPATH=src $(PY) scripts/bench/medicine_search.py $(BENCH_ARGS)

bench-api: $(STAMP)
	PYTHONPATH=src $(PY) scripts/bench/api.py

clean:
	rm -rf $(VENV) tests/node/node_modules .appwrite-local .bench
