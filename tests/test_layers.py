"""Imports point one way (DESIGN.md "Architecture"): no module of ``twzemu`` imports a floor above its own, and only
``machine/`` touches Unicorn or ctypes."""

from __future__ import annotations

import ast
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "twzemu"

#: Bottom to top; a module may import its own floor and the ones below it.
FLOORS = (
    ("errors", "abi", "cache", "sdk", "toolchain"),
    ("objects",),
    ("elf",),
    ("security",),
    ("mmu",),
    ("machine",),
    ("loader",),
    ("linker",),
    ("monitor",),
    ("debug",),
    ("testing",),
    ("cli",),
)
FLOOR = {name: level for level, names in enumerate(FLOORS) for name in names}
MACHINE_ONLY = ("unicorn", "ctypes")


def _modules() -> dict[str, Path]:
    """Module name -> file (a package by its own name, not ``…__init__``)."""
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(module: str, path: Path) -> set[str]:
    """Every module ``module`` imports (absolute names; relative imports resolved), at any depth of its code."""
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, *(node.module.split(".") if node.module else [])])
            found.add(name)
    return found


def _floor(module: str) -> int | None:
    parts = module.split(".")
    return FLOOR.get(parts[1]) if parts[0] == "twzemu" and len(parts) > 1 else None


def test_every_module_is_on_a_floor():
    assert {module for module in _modules() if module != "twzemu" and _floor(module) is None} == set()


def test_no_module_imports_a_floor_above_its_own():
    upward = sorted(
        f"{module} imports {imported}"
        for module, path in _modules().items()
        if (floor := _floor(module)) is not None
        for imported in _imports(module, path)
        if (above := _floor(imported)) is not None and above > floor
    )
    assert upward == []


def test_only_the_machine_touches_unicorn_or_ctypes():
    touching = sorted(
        f"{module} imports {imported}"
        for module, path in _modules().items()
        if not module.startswith("twzemu.machine")
        for imported in _imports(module, path)
        if imported.split(".")[0] in MACHINE_ONLY
    )
    assert touching == []


def test_only_the_machine_reads_its_views_of_the_cpu_state():
    """The ctypes views on Unicorn's CPU state (``Machine.cpu``: ``gpr``, ``rip``, …) are the machine's: the monitor
    asks ``Machine.register``, ``set_register`` and ``rip`` (issue 9, item 2)."""
    readers = sorted(
        f"{module}:{node.lineno}"
        for module, path in _modules().items()
        if not module.startswith("twzemu.machine")
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Attribute) and node.attr == "cpu"
    )
    assert readers == []
