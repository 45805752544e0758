"""``twzemu.abi`` says what the guest headers say: every value compiled from the headers by gcc and compared."""

from __future__ import annotations

import re
import subprocess

from twzemu import abi, sdk
from twzemu.abi import Hypercall, IsolationLevel, RuntimeCall
from twzemu.elf.gates import read_gate_records
from twzemu.elf.image import ElfImage
from twzemu.monitor.layout import GATE_BUFFER, THREAD_INFO

INCLUDE = sdk.INCLUDE
HEADERS = ("twz.h", "twz_startup.h", "twz_hypercall.h")

#: C expression (over the headers) -> the value abi.py holds for it.
MIRROR: dict[str, int] = {
    "TWZ_EPERM": abi.TWZ_EPERM,
    "TWZ_EFAULT": abi.TWZ_EFAULT,
    **{f"TWZ_ISOLATE_{level.name}": level for level in IsolationLevel},
    "TWZ_GATE_BUFFER_SIZE": abi.GATE_BUFFER_SIZE,
    "sizeof(struct twz_gate_record)": abi.GATE_RECORD.size,
    "sizeof(((struct twz_gate_record *)0)->name)": abi.GATE_NAME_SIZE,
    "offsetof(struct twz_gate_record, level)": abi.GATE_NAME_SIZE,
    "sizeof(((struct twz_gate_record *)0)->level)": abi.GATE_RECORD.size - abi.GATE_NAME_SIZE,
    "_Alignof(struct twz_gate_record)": abi.GATE_RECORD_ALIGN,
    "sizeof(long)": abi.WORD,
    "TWZ_TCB_SIZE": abi.TCB_SIZE,
    "TWZ_GATE_BUFFER": GATE_BUFFER,
    "TWZ_THREAD_INFO": THREAD_INFO,
    "sizeof(struct twz_thread_info)": abi.WORD * len(abi.THREAD_INFO_FIELDS),
    **{
        f"offsetof(struct twz_thread_info, {field})": abi.WORD * index
        for index, field in enumerate(abi.THREAD_INFO_FIELDS)
    },
    "offsetof(struct twz_thread_info, caller_compartment)": abi.THREAD_INFO_CALLER_OFFSET,
    "sizeof(struct twz_tls_modules)": abi.WORD * abi.TLS_TABLE_WORDS,
    "sizeof(struct twz_tls_module)": abi.WORD * abi.TLS_MODULE_WORDS,
    "sizeof(struct twz_tls_loaded)": abi.WORD * (abi.TLS_LOADED_WORDS + abi.TLS_MODULE_WORDS * abi.TLS_LOADED_MAX),
    "TWZ_TLS_LOADED_MAX": abi.TLS_LOADED_MAX,
    "TWZ_DLSYM_TLS": abi.DLSYM_TLS,
    **{f"TWZ_HC_{hypercall.name}": hypercall for hypercall in Hypercall},
    **{f"TWZ_SYS_{call.name}": call for call in RuntimeCall},
}


def _compiled(tmp_path, source: str, *flags: str) -> str:
    """Build ``source`` with the host's gcc against the guest headers (after the host's own: the guest tree has
    its own ``<stdio.h>``) and run it."""
    (tmp_path / "probe.c").write_text(source)
    binary = tmp_path / "probe"
    subprocess.run(
        [
            "gcc",
            "-std=c11",
            "-Wall",
            "-Werror",
            "-idirafter",
            str(INCLUDE),
            *flags,
            "-o",
            str(binary),
            str(tmp_path / "probe.c"),
        ],
        check=True,
    )
    return subprocess.run([str(binary)], check=True, capture_output=True, text=True).stdout


def test_every_value_matches_the_headers(tmp_path):
    lines = [f'    printf("%s\\t%lld\\n", "{expression}", (long long)({expression}));' for expression in MIRROR]
    includes = "".join(f"#include <{header}>\n" for header in HEADERS)
    source = f"#include <stddef.h>\n#include <stdio.h>\n{includes}\nint main(void)\n{{\n" + "\n".join(lines) + "\n}\n"
    compiled = dict(line.split("\t") for line in _compiled(tmp_path, source).splitlines())
    assert {expression: int(value) for expression, value in compiled.items()} == {
        expression: int(value) for expression, value in MIRROR.items()
    }


def test_every_number_the_headers_define_is_mirrored():
    """A constant added to a header without its mirror in abi.py fails here."""
    text = "".join((INCLUDE / header).read_text() for header in HEADERS)
    defined = set(re.findall(r"^#define (TWZ_\w+) \(?-?\d+L?\)?$", text, re.MULTILINE))
    defined |= set(re.findall(r"^\s+(TWZ_HC_\w+) = \d+,", text, re.MULTILINE))
    assert defined and defined <= set(MIRROR), defined - set(MIRROR)


def test_a_gate_record_reads_back_as_declared(tmp_path):
    """TWZ_GATE_LEVEL's record, in a library built by gcc, is what elf.gates reads (section, size, level)."""
    source = "#include <twz.h>\nlong probe(long a) { return a; }\nTWZ_GATE_LEVEL(probe, TWZ_ISOLATE_CALLER);\n"
    (tmp_path / "gate.c").write_text(source)
    library = tmp_path / "libgate.so"
    subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-nostdlib",
            "-idirafter",
            str(INCLUDE),
            "-o",
            str(library),
            str(tmp_path / "gate.c"),
        ],
        check=True,
    )
    records = read_gate_records(ElfImage.open(library))
    assert [(record.name, record.level) for record in records] == [("probe", IsolationLevel.CALLER)]
