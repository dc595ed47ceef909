# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
TRAIN_STAMP := $(VENV)/.train-installed-stamp

.PHONY: install install-train model demo test lint unit e2e bench own-model clean vscode

# llama-cpp-python builds from source (about 7 minutes on 2 cores); pip keeps the
# built wheel in its cache, so later installs take seconds.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

# The training extra (`safecoder-lsp train`): the tests need it, `make demo` does not.
$(TRAIN_STAMP): $(STAMP)
	$(BIN)/python -m pip install --disable-pip-version-check -q -e '.[dev,bench,train]'
	touch $(TRAIN_STAMP)

install-train: $(TRAIN_STAMP)

model: install
	$(BIN)/safecoder-lsp model pull

demo: model
	$(BIN)/python -m safecoder_lsp.demo

lint: install
	$(BIN)/ruff check .

test: model install-train lint vscode
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Tests that need neither the model nor a build of llama-server (markers `model` and
# `build`, set in tests/conftest.py): runs on a fresh checkout after `make install`.
unit: install-train
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not model and not build" tests/unit

e2e: model
	$(BIN)/python -m pytest -q tests/e2e

# The VS Code extension (editors/vscode): unit tests and safecoder.vsix; needs node 20+.
vscode:
	cd editors/vscode && npm ci --no-audit --no-fund && npm test && npm run package

# Results: JSON per benchmark and a summary (summary.md, also printed) in bench/out/;
# bench/RESULTS.md is the curated record, where a run's summary is pasted by hand.
bench: model
	$(BIN)/python -m bench.run_all

# Your own model end to end on a real project (bench/own_model.py): prepare, a 60-step
# LoRA run on the default model with a learning curve, export, evaluation, a completion
# through the server. About 2 hours on a 2-core CPU; resumes where it stopped.
own-model: model install-train
	$(BIN)/python -m bench.own_model

clean:
	rm -rf $(VENV) build *.egg-info
