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

DEMO_FAULTS := null_read write_text exec_data exec_stack bad_insn move_tp

demo: guests
	@echo "== a gcc-built guest at CPL3 with paging: its text and data are objects in a slot pair"
	$(BIN)/twzemu run --verbose guests/build/hello
	@echo "== guests that fault on purpose: one line each, exit status 139, the monitor carries on"
	@for g in $(DEMO_FAULTS); do $(BIN)/twzemu run guests/build/faults/$$g; echo "   (exit status $$?)"; done
	@echo "== a guest that never stops, stopped by --timeout"
	@$(BIN)/twzemu run --timeout 1 guests/build/spin; echo "   (exit status $$?)"

bench: guests
	$(BIN)/python -m benchmarks

lint: $(INSTALLED)
	$(BIN)/ruff check twzemu tests benchmarks
	$(BIN)/ruff format --check twzemu tests benchmarks

clean:
	$(MAKE) -C guests clean
	rm -rf .pytest_cache .hypothesis

.PHONY: install guests test demo bench lint clean
