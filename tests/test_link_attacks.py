"""Link-time attacks of the isolation review (issue 8, holes 2 and 3): libraries the linker must refuse before
anything runs, through the real CLI (DESIGN.md "Gate crossing": the monitor's service names are reserved; a
gate's entry must be a function in the declaring image's own executable segment).

The programs ``takeover`` and ``gates`` (``guests/attacks/``, built into ``guests/build/linkattacks/``) run with
the honest library next to them; with ``-L build/linkattacks/VARIANT`` they load a library of the same name built
from an attack (``guests/Makefile``): the run must end with status 127 and one line naming the file and the
symbol, before the program starts.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import cc, guest, one_line, twzemu

from twzemu.errors import LinkError
from twzemu.linker.link import GateBinding
from twzemu.monitor.monitor import Monitor
from twzemu.objects.store import ObjectStore

LINK_ERROR = 127
RESERVED = "names beginning __twz_monitor_ are reserved for the monitor's services"
SERVICES = ("write", "heap_grow", "exit", "nop", "compartment_info", "syscall", "object_create", "object_map",
            "object_unmap", "ptr_store", "ptr_load", "name_put", "name_get", "name_remove", "name_list")  # fmt: skip


def refused(program: str, variant: str) -> str:
    """Run ``program`` with the attack library of ``variant``: nothing runs; the one line of the report."""
    done = twzemu("run", "-L", str(guest(f"linkattacks/{variant}")), str(guest(f"linkattacks/{program}")))
    assert done.status == LINK_ERROR, done.stderr
    assert done.stdout == ""
    return one_line(done.stderr)


def library(variant: str, name: str) -> Path:
    return guest(f"linkattacks/{variant}/{name}")


# -- the honest pair runs ----------------------------------------------------------------------------------------


def test_the_honest_libraries_link_and_the_services_still_serve():
    done = twzemu("run", str(guest("linkattacks/takeover")))
    assert (done.status, done.stdout, done.stderr) == (0, "ping 7, heap ok\n", "")
    done = twzemu("run", str(guest("linkattacks/gates")))
    assert (done.status, done.stdout, done.stderr) == (0, "gates_ok 42\n", "")


def test_every_compartment_still_reaches_the_real_services():
    """Output, heap and compartment info from the program and from an isolated library: every write crosses into
    the monitor itself (its trace names the callee ``monitor``)."""
    done = twzemu("run", "--trace", str(guest("isolation/whoami")))
    assert done.status == 0, done.stderr
    assert done.stdout == "program: 1 whoami\nlibrary: 2 whoami::libwho.so\n"
    services = re.findall(r"twzemu: trace: enter T1 (\S+) -> (\S+) (__twz_monitor_\w+)\(", done.stderr)
    assert {(caller, service) for caller, _, service in services} >= {
        ("whoami", "__twz_monitor_write"),
        ("whoami", "__twz_monitor_compartment_info"),
        ("whoami::libwho.so", "__twz_monitor_compartment_info"),
    }
    assert {callee for _, callee, _ in services} == {"monitor"}


# -- hole 2: the monitor's names are reserved ----------------------------------------------------------------------


def test_a_library_declaring_a_monitor_service_as_its_gate_is_refused():
    """evil_service.c: a gate `__twz_monitor_write` replaced every compartment's output (it swallowed it)."""
    path = library("takeover_service", "libtakeover.so")
    assert refused("takeover", "takeover_service") == f"twzemu: {path}: declares gate __twz_monitor_write: {RESERVED}"


def test_a_library_exporting_a_monitor_service_as_a_plain_function_is_refused():
    """evil_export.c: not a gate, but the runtime's weak reference found it by its compartment's lookup first (the
    program's malloc got the library's buffer)."""
    path = library("takeover_export", "libtakeover.so")
    assert refused("takeover", "takeover_export") == f"twzemu: {path}: defines __twz_monitor_heap_grow: {RESERVED}"


def test_a_program_defining_reserved_names_is_refused_with_every_name(tmp_path):
    """Programs export everything (`twzemu cc` links them -rdynamic); any name with the prefix is reserved, also one
    the monitor does not offer today."""
    (tmp_path / "main.c").write_text(
        "void __twz_monitor_exit(long status) { for (;;) (void)status; }\n"
        "long __twz_monitor_future(void) { return 0; }\n"
        "int main(void) { return 0; }\n"
    )
    cc("-o", "main", "main.c", cwd=tmp_path)
    done = twzemu("run", str(tmp_path / "main"))
    assert done.status == LINK_ERROR
    expected = [f"{tmp_path / 'main'}: defines __twz_monitor_{name}: {RESERVED}" for name in ("exit", "future")]
    assert sorted(done.stderr.splitlines()) == [f"twzemu: {problem}" for problem in expected]  # one line each
    with pytest.raises(LinkError) as caught:
        Monitor(ObjectStore.in_memory()).link(str(tmp_path / "main"))
    assert sorted(caught.value.lines()) == expected


def test_the_runtime_of_every_compartment_is_bound_to_the_monitors_services():
    linked = Monitor(ObjectStore.in_memory()).link(str(guest("isolation/whoami")))
    services = {gate.name: gate for gate in linked.gates if gate.name.startswith("__twz_monitor_")}
    assert sorted(services) == sorted(f"__twz_monitor_{name}" for name in SERVICES)
    assert {(gate.owner, gate.library) for gate in services.values()} == {(0, "monitor")}
    for compartment in linked.compartments:
        assert {GateBinding(compartment.id, name) for name in services} <= linked.bindings


# -- hole 3: a gate's entry is a function of the declaring library's own code -------------------------------------

BAD_GATES = {
    "gates_abs": "gate gates_abs is not defined in the file itself (section index SHN_ABS)",
    "gates_data": "gate gates_data at 0x400010b0..0x400010b8 is not inside an executable segment of the file",
    "gates_far": "gate gates_far at 0x80001000..0x80001006 is not inside an executable segment of the file",
    "gates_big": "gate gates_big at 0x1006..0x40001006 is not inside an executable segment of the file",
}


@pytest.mark.parametrize("variant", sorted(BAD_GATES))
def test_a_gate_outside_its_own_code_is_refused_naming_gate_and_file(variant):
    assert refused("gates", variant) == f"twzemu: {library(variant, 'libgates.so')}: {BAD_GATES[variant]}"


def test_every_bad_gate_of_a_library_is_reported_at_once():
    path = library("gates_all", "libgates.so")
    problems = [
        *(f"{path}: {BAD_GATES[variant]}" for variant in ("gates_abs", "gates_data", "gates_far", "gates_big")),
        f"{path}: gate gates_null at 0x800..0x806 is not inside an executable segment of the file",  # the null page
    ]
    done = twzemu("run", "-L", str(path.parent), str(guest("linkattacks/gates")))
    assert (done.status, done.stdout) == (LINK_ERROR, "")
    assert done.stderr.splitlines() == [f"twzemu: {problem}" for problem in problems]  # all of them, one line each
    with pytest.raises(LinkError) as caught:
        Monitor(ObjectStore.in_memory(), library_dirs=[path.parent]).link(str(guest("linkattacks/gates")))
    assert caught.value.lines() == problems


# -- bindings: which compartment may call which gate ---------------------------------------------------------------


def test_bindings_name_each_caller_and_the_gates_of_other_compartments_it_calls():
    linked = Monitor(ObjectStore.in_memory()).link(str(guest("probe/probe")))
    owner = {gate.name: gate.owner for gate in linked.gates}
    ids = {compartment.name: compartment.id for compartment in linked.compartments}
    program, a, b = ids["probe"], ids["probe::libprobea.so"], ids["probe::libprobeb.so"]
    assert all(owner[binding.gate] != binding.caller for binding in linked.bindings)
    assert {binding.caller for binding in linked.bindings} == {program, a, b}
    assert {
        GateBinding(program, "probe_a_read"),
        GateBinding(program, "probe_b_read"),
        GateBinding(a, "probe_b_read"),
        GateBinding(b, "probe_a_read"),
    } <= linked.bindings
    assert GateBinding(a, "probe_a_read") not in linked.bindings  # its own gate: a plain call


def test_a_runtime_next_to_the_program_is_never_loaded(tmp_path: Path):
    """Every compartment, isolated ones included, gets a copy of the runtime: one found next to the program (or in
    a -L directory, or the store) would run its author's code inside every compartment. Only the toolchain's
    runtime is loaded; here a file of the runtime's name that is another library changes nothing."""
    for name in ("whoami", "libwho.so"):
        (tmp_path / name).write_bytes(guest(f"isolation/{name}").read_bytes())
    (tmp_path / "whoami").chmod(0o755)
    (tmp_path / "libtwzrt.so").write_bytes(guest("isolation/libwho.so").read_bytes())
    for options in ((), ("-L", str(tmp_path))):
        done = twzemu("run", *options, str(tmp_path / "whoami"))
        assert (done.status, done.stderr) == (0, "")
        assert done.stdout == "program: 1 whoami\nlibrary: 2 whoami::libwho.so\n"
