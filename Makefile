# crm-research: the two set-up commands are `make demo` and `make test` (see README).
# Both build a private virtual environment in .venv from the pinned locks, so a reviewer's
# rerun uses the same versions. Override PYTHON to pick another interpreter (>= 3.11).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test bench bench-reference lock lint clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# runtime environment: pinned dependencies + the package itself (editable, for analysts)
$(VENV)/.runtime: $(BIN)/python requirements.lock pyproject.toml
	$(BIN)/pip install -q -r requirements.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# test environment: runtime + dev tools + the spark extra (pyspark for the parity test)
$(VENV)/.dev: $(BIN)/python requirements-dev.lock pyproject.toml
	$(BIN)/pip install -q -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $(VENV)/.runtime $@

## demo: generate the demo company on first use and run the five notebooks into reports/
demo: $(VENV)/.runtime
	$(BIN)/crm-research run

## test: the whole test suite (unit, planted-effect recovery, CDNOW validation, notebooks), on two
## pytest-xdist workers (a file's tests stay on one worker; the whole-notebook runs belong to the
## controlling process: tests/background.py). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: $(VENV)/.dev
	$(BIN)/python -m pytest -n $(TEST_WORKERS)

# reference environment of the side-by-side benchmark: the tools analysts use today (lifetimes,
# pymc-marketing, ChannelAttribution, retentioneering) beside crm-research from the lock, in a
# venv of their own -- never in the project's dependencies
REF_VENV ?= .bench-venv
REF_BIN  := $(REF_VENV)/bin

$(REF_VENV)/.ready: requirements.lock benchmarks/reference-requirements.txt pyproject.toml
	$(PYTHON) -m venv $(REF_VENV)
	$(REF_BIN)/python -m pip install -q --upgrade pip
	$(REF_BIN)/pip install -q -r requirements.lock
	$(REF_BIN)/pip install -q -c requirements.lock -r benchmarks/reference-requirements.txt
	$(REF_BIN)/pip install -q --no-deps -e .
	touch $@

## bench: the benchmarks in benchmarks/ (on demand, never part of the tests), then bench-reference
bench: $(VENV)/.dev
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_churn.py
	$(MAKE) bench-reference

## bench-reference: ours against lifetimes, pymc-marketing, ChannelAttribution and retentioneering
bench-reference: $(REF_VENV)/.ready
	RETENTIONEERING_NO_TRACK=1 $(REF_BIN)/python benchmarks/side_by_side.py

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests benchmarks

## lock: re-resolve the pinned locks from pyproject.toml in throw-away environments
lock:
	rm -rf .lock-rt .lock-dev
	$(PYTHON) -m venv .lock-rt && .lock-rt/bin/pip install -q --upgrade pip && .lock-rt/bin/pip install -q .
	.lock-rt/bin/pip freeze --exclude crm-research > requirements.lock
	$(PYTHON) -m venv .lock-dev && .lock-dev/bin/pip install -q --upgrade pip && .lock-dev/bin/pip install -q ".[dev,spark]"
	.lock-dev/bin/pip freeze --exclude crm-research > requirements-dev.lock
	rm -rf .lock-rt .lock-dev build src/*.egg-info

clean-venv:
	rm -rf $(VENV)
