"""Snapshots (issue 15): ``Session.snapshot`` / ``Session.restore`` put a machine back as it was - registers,
RAM (copy-on-write), the monitor's records - so a property test boots once and runs many cases."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cc

from twzemu.machine.snapshot import map_image
from twzemu.mmu.physmem import FrameAllocator, PhysicalMemory

LEDGER = """
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <twz.h>
static long total;
static char *kept[64];
static int count;
long add(long by) { total += by; return total; }
TWZ_GATE(add);
long hoard(long bytes)
{
    char *p = malloc(bytes);
    memset(p, 7, bytes);
    if (count < 64)
        kept[count++] = p;
    total += p[bytes - 1];
    return total;
}
TWZ_GATE(hoard);
long note(long value)
{
    FILE *f = fopen("/ledger", "a");
    if (!f)
        return -1;
    fprintf(f, "%ld\\n", value);
    fclose(f);
    return 0;
}
TWZ_GATE(note);
long lines(void)
{
    FILE *f = fopen("/ledger", "r");
    if (!f)
        return -1;
    long n = 0;
    for (int c; (c = fgetc(f)) != EOF;)
        n += c == '\\n';
    fclose(f);
    return n;
}
TWZ_GATE(lines);
long say(long value) { printf("said %ld\\n", value); return value; }
TWZ_GATE(say);
static void *work(void *by) { total += (long)by; return 0; }
long spawn(long by)
{
    pthread_t t;
    if (pthread_create(&t, 0, work, (void *)by))
        return -1;
    pthread_join(t, 0);
    return total;
}
TWZ_GATE(spawn);
long forever(void) { for (;;) total++; }
TWZ_GATE(forever);
long crash(long address) { return *(volatile long *)address; }
TWZ_GATE(crash);
"""


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("snapshot")
    (directory / "ledger.c").write_text(LEDGER)
    cc("-g", "-shared", "-o", "libledger.so", "ledger.c", cwd=directory)
    return directory


def test_ram_maps_back_to_its_image():
    with PhysicalMemory(1 << 24) as mem:
        frames = FrameAllocator(mem, 1 << 20)
        kept, fresh = frames.alloc(), frames.alloc()
        mem.write(kept, b"before")
        image = mem.image(frames.high_water)
        map_image(mem, image)
        mem.write(kept, b"after!")
        mem.write(fresh, b"new")
        mem.write((1 << 24) - 4096, b"far above what was used")
        assert mem.read(kept, 6) == b"after!"
        for _ in range(2):  # an image is mapped back as often as wanted
            map_image(mem, image)
            assert (mem.read(kept, 6), mem.read(fresh, 3), mem.read((1 << 24) - 4096, 3)) == (b"before", bytes(3),
                                                                                              bytes(3))  # fmt: skip
            mem.write(kept, b"again")


def test_a_restore_puts_back_the_state_the_output_and_the_crossings(ledger):
    from twzemu import Session

    with Session(library_dirs=[str(ledger)]) as session:
        lib = session.load("libledger.so")
        assert lib.call("add", 5) == 5
        snap = session.snapshot()
        crossings, output = session.crossings(), session.output.getvalue()
        assert [lib.call("add", 10), lib.call("say", 3)] == [15, 3]
        assert session.output.getvalue().endswith(b"said 3\n")
        session.restore(snap)
        assert (session.crossings(), session.output.getvalue()) == (crossings, output)
        assert lib.call("add", 1) == 6  # not 16: the library's total is what it was
        total = session.address_of("libledger.so", "total")
        session.write(total, (1000).to_bytes(8, "little"), "twzcall::libledger.so")
        session.restore(snap)
        assert session.read(total, 8, "twzcall::libledger.so") == (5).to_bytes(8, "little")


def test_what_a_case_allocated_or_wrote_to_a_file_is_gone_after_a_restore(ledger):
    from twzemu import Session

    with Session(library_dirs=[str(ledger)], trace=False) as session:
        lib = session.load("libledger.so")
        snap = session.snapshot()
        machine = session.boot().machine
        assert machine.frames is not None
        taken = machine.frames.high_water
        for _ in range(3):
            assert lib.call("hoard", 300_000) == 7  # fresh pages, faulted in
            assert machine.frames.high_water > taken
            assert lib.call("note", 1) == 0 and lib.call("lines") == 1
            session.restore(snap)
            assert machine.frames.high_water == taken
            assert lib.call("lines") == -1  # the file the case made is gone
            session.restore(snap)


def test_a_case_that_faults_is_restored_like_any_other(ledger):
    from twzemu import GateSecurityError, Session

    with Session(library_dirs=[str(ledger)], trace=False) as session:
        lib = session.load("libledger.so")
        snap = session.snapshot()
        for _ in range(3):
            with pytest.raises(GateSecurityError, match="fault: read 0x10"):
                lib.call("crash", 0x10)
            session.restore(snap)
            assert lib.call("add", 2) == 2
            session.restore(snap)


def test_cases_from_a_snapshot_give_what_a_fresh_machine_gives(ledger):
    from twzemu import Session

    steps = [("add", 3), ("hoard", 5000), ("spawn", 4), ("add", -1), ("note", 4), ("lines",), ("hoard", 70000),
             ("spawn", 1), ("add", 0)]  # fmt: skip
    with Session(library_dirs=[str(ledger)], trace=False) as fresh:
        lib = fresh.load("libledger.so")
        expected = [lib.call(name, *args) for name, *args in steps]
    with Session(library_dirs=[str(ledger)], trace=False) as session:
        lib = session.load("libledger.so")
        snap = session.snapshot()
        for _ in range(3):
            assert [lib.call(name, *args) for name, *args in steps] == expected
            session.restore(snap)


def test_a_snapshot_belongs_to_its_machine(ledger, library_with_greet):
    from twzemu import CallError, Session

    with Session(library_dirs=[str(ledger), str(library_with_greet)], trace=False) as session:
        session.load("libledger.so").call("add", 1)
        snap = session.snapshot()
        session.load("libgreet.so")  # a new machine
        with pytest.raises(CallError, match="the snapshot is of another machine"):
            session.restore(snap)


@pytest.fixture(scope="module")
def library_with_greet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("greet")
    (directory / "greet.c").write_text("#include <twz.h>\nlong hi(long x) { return x; }\nTWZ_GATE(hi);\n")
    cc("-g", "-shared", "-o", "libgreet.so", "greet.c", cwd=directory)
    return directory


def test_code_a_case_wrote_and_ran_is_not_run_after_a_restore():
    """A case rewrote code in the library's own object and ran it: after the restore the bytes were back, and the
    code translated from the case's bytes ran still (a restore retranslated only when frames changed)."""
    from conftest import guest

    from twzemu import Session

    with Session(library_dirs=[str(guest("objects"))], trace=False) as session:
        jit = session.load("libjit.so")
        assert [jit.call("setup"), jit.call("emit", 1), jit.call("run")] == [0, 0, 1]
        snap = session.snapshot()
        assert [jit.call("emit", 2), jit.call("run")] == [0, 2]
        session.restore(snap)
        assert (jit.call("peek"), jit.call("run")) == (1, 1)


def test_a_snapshot_needs_the_store_in_memory(ledger, tmp_path):
    from twzemu import CallError, Session
    from twzemu.objects.store import ObjectStore

    with Session(library_dirs=[str(ledger)], store=ObjectStore.on_disk(tmp_path / "store")) as session:
        session.load("libledger.so").call("add", 1)
        with pytest.raises(CallError, match="a snapshot needs the session's store in memory"):
            session.snapshot()


def test_a_call_that_never_returns_times_out_and_a_restore_goes_on(ledger):
    from twzemu import GateSecurityError, Session

    with Session(library_dirs=[str(ledger)], trace=False, timeout=0.5) as session:
        lib = session.load("libledger.so")
        snap = session.snapshot()
        with pytest.raises(GateSecurityError, match=r"Failed to call forever in libledger\.so: .*timeout"):
            lib.call("forever")
        session.restore(snap)
        assert lib.call("add", 3) == 3
