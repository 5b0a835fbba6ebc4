# earful: two commands on a fresh machine, `make demo` and `make test`. Everything else hangs off these.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The CPU build on this machine kind; installed first so nothing pulls a CUDA build.
TORCH  ?= torch==2.13.0
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install system demo test bench lint train train-cv eval clean

install: system $(STAMP)

# The report's PDF needs Pango (WeasyPrint) and its test turns pages into PNGs with pdftoppm. Debian-family
# machines get them from apt when run as root; elsewhere the missing ones are named, with the package to install.
system:
	@missing=""; \
	command -v pdftoppm >/dev/null 2>&1 || missing="$$missing poppler-utils"; \
	ldconfig -p 2>/dev/null | grep -q libpango-1.0 || missing="$$missing libpango-1.0-0"; \
	ldconfig -p 2>/dev/null | grep -q libharfbuzz-subset || missing="$$missing libharfbuzz-subset0"; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			apt-get install -y -q $$missing >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q $$missing >/dev/null; }; \
		else \
			echo "earful's report needs:$$missing (install them with your package manager)"; \
		fi; \
	fi

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
