# twzemu: `make demo` and `make test` set everything up on a fresh machine (Python 3.11, gcc, make).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.DEFAULT_GOAL := demo

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(INSTALLED)

guests: $(INSTALLED)
	$(MAKE) --no-print-directory -C guests

test: guests
	$(BIN)/pytest

demo: guests
	@$(BIN)/python -m demo

bench: guests
	$(BIN)/python -m benchmarks

lint: $(INSTALLED)
	$(BIN)/ruff check twzemu tests benchmarks demo.py
	$(BIN)/ruff format --check twzemu tests benchmarks demo.py

clean:
	$(MAKE) -C guests clean
	rm -rf .pytest_cache .hypothesis

.PHONY: install guests test demo bench lint clean
