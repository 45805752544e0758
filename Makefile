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
	$(BIN)/python -m twzemu.machine.fastpath
	touch $@

install: $(INSTALLED) bytecode

# An installed package carries its compiled bytecode (pip writes it when it installs a wheel; an editable install
# does not, and with PYTHONDONTWRITEBYTECODE Python never writes it): without it every `twzemu` process compiles
# twzemu's modules again, about 60 ms of its start-up. compileall redoes only what changed.
bytecode: $(INSTALLED)
	$(BIN)/python -m compileall -q twzemu

guests: $(INSTALLED) bytecode
	$(MAKE) --no-print-directory -C guests

test: guests
	@command -v gdb >/dev/null || echo "twzemu: gdb is not installed: the debugger tests skip (in CI they fail)"
	$(BIN)/pytest

DEMO_FAULTS := null_read write_text exec_data exec_stack bad_insn move_tp

demo: guests
	@echo "== RFC 0008's example: an untrusted program, an isolated password service, a malicious plugin"
	@echo "   (each library that declares gates runs in its own compartment: its own page tables, stack, heap)"
	$(BIN)/twzemu run --trace --trace-json guests/build/passwd.json --graph guests/build/passwd.dot \
	    guests/build/passwd/passwd_demo; echo "   (exit status $$?)"
	@echo "== who called whom, how often (guests/build/passwd.dot; the timeline guests/build/passwd.json opens in ui.perfetto.dev)"
	@if command -v dot >/dev/null; then dot -Tsvg guests/build/passwd.dot -o guests/build/passwd.svg && \
	    echo "   rendered guests/build/passwd.svg"; else cat guests/build/passwd.dot; fi
	@echo "== the password service's gates called from the command line (twzemu call: a real crossing each)"
	$(BIN)/twzemu call -L guests/build/passwd libpasswd.so passwd_set 1
	$(BIN)/twzemu call -L guests/build/passwd libpasswd.so passwd_check 1
	$(BIN)/twzemu call -L guests/build/passwd libpasswd.so passwd_check many; echo "   (exit status $$?)"
	@echo "== the same plugin without isolation (--no-isolate): it reads and wipes the database"
	$(BIN)/twzemu run --no-isolate libplugin.so --no-isolate libpasswd.so guests/build/passwd/passwd_demo \
	    no-jumps; echo "   (exit status $$?)"
	@echo "== the password service with its database in a persistent object of the store, granted to it alone (--grant);"
	@echo "   run twice: the second run finds the password the first set (the program itself cannot map the database)"
	@rm -rf guests/build/demo-store
	$(BIN)/twzemu store --store guests/build/demo-store put /dev/null --name passwd.db
	$(BIN)/twzemu run --store guests/build/demo-store --grant libpwdb.so=passwd.db:rw guests/build/objects/pwdb_demo
	$(BIN)/twzemu run --store guests/build/demo-store --grant libpwdb.so=passwd.db:rw guests/build/objects/pwdb_demo
	$(BIN)/twzemu store --store guests/build/demo-store ls
	@echo "== step-debugging a crossing with the system's gdb (twzemu debug; a scripted session: break in the gate,"
	@echo "   which compartment, the caller's frames across the crossing, finish back into the caller)"
	@if command -v gdb >/dev/null; then \
	    printf '%s\n' 'break passwd_check' continue 'monitor compartment' bt finish 'monitor compartment' detach | \
	    $(BIN)/twzemu debug guests/build/passwd/passwd_demo no-jumps 2>&1 | \
	    grep -v -e '^Reading symbols' -e '^warning: remote target' -e 'No debugging symbols'; \
	else echo "   gdb is not installed: skipped"; fi
	@echo "== a program and three shared libraries in one compartment, linked by twzemu's monitor"
	$(BIN)/twzemu run --verbose guests/build/demo/demo one two three; echo "   (exit status $$?)"
	@echo "== the unchanged Lua 5.4 interpreter on the guest C library (musl), and one of Lua's own test files"
	@if [ -x guests/build/lua/lua ]; then \
	    $(BIN)/twzemu run guests/build/lua/lua -e 'print(("hello from %s, %d"):format(_VERSION, 6 * 7))'; \
	    $(BIN)/twzemu run --mount guests/build/lua/src/testes guests/build/lua/lua -e '_port=true' sort.lua | tail -1; \
	    echo "== Lua beside an isolated compartment: a script calls the password service's gates, then reads its database"; \
	    $(BIN)/twzemu run -L guests/build/passwd guests/build/lua/luapasswd; echo "   (exit status $$?)"; \
	else echo "   Lua was not fetched (make guests downloads the lupa 2.8 sdist): skipped"; fi
	@echo "== guests that fault on purpose: one line each, exit status 139"
	@for g in $(DEMO_FAULTS); do $(BIN)/twzemu run guests/build/faults/$$g; echo "   (exit status $$?)"; done
	@echo "== a guest that never stops, stopped by --timeout"
	@$(BIN)/twzemu run --timeout 1 guests/build/spin; echo "   (exit status $$?)"

# The isolation properties (tests/test_adversarial.py, tests/test_properties.py) for CASES examples each, on every
# core (pytest-xdist), with random examples and Hypothesis's example database (.hypothesis/) kept across runs.
CASES ?= 10000
campaign: guests
	env -u CI HYPOTHESIS_PROFILE=dev TWZEMU_CAMPAIGN_CASES=$(CASES) PYTHONPATH=tests \
	    $(BIN)/pytest -p campaign -n auto tests/test_adversarial.py tests/test_properties.py tests/test_kit_properties.py

bench: guests
	$(BIN)/python -m benchmarks

lint: $(INSTALLED)
	$(BIN)/ruff check twzemu tests benchmarks
	$(BIN)/ruff format --check twzemu tests benchmarks

clean:
	$(MAKE) -C guests clean
	rm -rf .pytest_cache .hypothesis

.PHONY: install bytecode guests test demo campaign bench lint clean
