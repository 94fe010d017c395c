# provledger: `make demo` and `make test` set up everything on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
STAMP   = $(VENV)/.installed-$(shell cksum < pyproject.toml | cut -d' ' -f1)

.PHONY: install demo test lint typecheck unit reliability vectors bench bench-quick clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## demo: issue a ring, repair it, put it on a care plan and pay a repair with a credit, sell
## it through escrow, have a witness cosign the checkpoint, verify offline, disclose the
## inscription and notes to the new owner, monitor, publish, serve, print its card, erase
## a repair's notes; everything it made lands in demo-out/
demo: install
	rm -rf demo-out
	$(BIN)/python examples/demo.py demo-out

## test: ruff, mypy --strict and the pytest suite but its slow tests (a quick crash,
## concurrency and fuzz subset is in it)
test: lint typecheck unit

lint: install
	$(BIN)/ruff check src cli tests spec/tools examples benchmarks

typecheck: install
	$(BIN)/mypy

unit: install
	$(BIN)/pytest -q -m "not slow"

## reliability: the slow tests: 100+ SIGKILLs of a writer, heavy fuzzing
reliability: install
	$(BIN)/pytest -q -m slow -s

vectors: install
	$(BIN)/python spec/tools/gen_core_vectors.py
	$(BIN)/python spec/tools/gen_keyfile_vectors.py
	$(BIN)/python spec/tools/gen_wallet_vectors.py
	$(BIN)/python spec/tools/gen_log_vectors.py
	$(BIN)/python spec/tools/gen_escrow_vectors.py
	$(BIN)/python spec/tools/gen_aftercare_vectors.py
	$(BIN)/python spec/tools/gen_recovery_vectors.py
	$(BIN)/python spec/tools/gen_rules_vectors.py
	$(BIN)/python spec/tools/gen_bundle_vectors.py
	$(BIN)/python spec/tools/gen_disclosure_vectors.py
	$(BIN)/python spec/tools/gen_witness_vectors.py

bench-quick: install
	$(BIN)/python benchmarks/run.py --quick

bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) demo-out .mypy_cache .ruff_cache .pytest_cache .hypothesis
