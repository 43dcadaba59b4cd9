# `make run` and `make test` do all set-up themselves on a fresh machine.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint bench sim sync clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt
	$(BIN)/pip install -q --disable-pip-version-check --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/streamlit run app.py

# everything, browser tests included, on every core (pytest-xdist: addopts in pyproject.toml)
test: lint
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python -m bench

sim: $(STAMP)
	$(BIN)/optera sim --port 8787

sync: $(STAMP)
	$(BIN)/optera sync

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
