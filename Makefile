# Two commands do all set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
SMKI_HOME ?= ./smki-data
HOST ?= 127.0.0.1
PORT ?= 8080

.PHONY: run test install system-deps lint typecheck contracts unit clean bench

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

system-deps:
	bash scripts/install-system-deps.sh

run: install
	bash scripts/run.sh "$(SMKI_HOME)" "$(HOST)" "$(PORT)"

lint: install
	$(BIN)/ruff check src tests bench

typecheck: install
	$(BIN)/mypy --strict src

# The package table of docs/architecture.md as import contracts (pyproject.toml [tool.importlinter]).
contracts: install
	$(BIN)/lint-imports --no-cache

unit: install system-deps
	$(BIN)/python -m pytest -q -n 2 --dist loadfile
	SMKI_SIMPLE_PATH=1 $(BIN)/python -m pytest -q -n 2 --dist loadfile tests/test_issuance_paths.py \
		tests/test_crash.py tests/test_duplicate_key_race.py tests/test_ra.py tests/test_batch.py

test: lint typecheck contracts unit

bench: install
	@echo "See docs/benchmarks.md for the benchmark commands."

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
