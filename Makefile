# earful: two commands on a fresh machine, `make demo` and `make test`. Everything else hangs off these.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build on this machine kind; installed first so nothing pulls a CUDA build.
TORCH  ?= torch==2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test bench lint train train-cv eval clean

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

demo: install
	$(BIN)/earful demo

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m bench

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# Fine-tune the shipped model from ../shared/data (seeded; about 1 h on 2 CPU cores, progress with ETA).
train: install
	$(BIN)/earful train

# The 10-fold cross-validation figures of the model card (reuses train's cached first stage; about 1 h).
train-cv: install
	$(BIN)/earful train --cv

eval: install
	$(BIN)/earful eval --json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
