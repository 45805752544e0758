"""Objects, names and grants for guests (issue 15, ``<twz/object.h>``, ``monitor/objects.py``): objects made, mapped,
unmapped and mapped elsewhere with their invariant pointers intact; names; persistence in ``--store``; grants; RFC
0008's password service with its database in a granted persistent object, across runs; and an isolated library's
attempts on its caller's objects, refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import cc, guest, twzemu

OBJECTS = str(guest("objects") / "objects")
PWDB = str(guest("objects") / "pwdb_demo")

FIRST_RUN = """\
create: 0 0
map: two bases
store A->B: 0
store A->A: 0
store B->B: 0
fot index: 1 offset 0x1000; inner index 0
unmap: 0 0
mapped again elsewhere: yes
load A->B: hello from B
load A->A: resolves
load A->B with B unmapped: hello from B
store into B, mapped read-only: -1 Permission denied
map W+X: -1 Invalid argument
map an unknown id: -1 Permission denied
unmap what is not mapped: -1 Invalid argument
store outside an object: -1 Invalid argument
store to a non-object: -1 Invalid argument
put kept: 0
put kept again: -1 File exists
put scratch: 0
put a reserved name: -1 Invalid argument
get kept: 0, the same id
list: kept scratch
put temp: 0, remove temp: 0, get temp: -1 No such file or directory
thief maps A: Permission denied
thief forges a FOT entry to A: Permission denied
thief at the names: Permission denied
"""

SECOND_RUN = """\
get kept: 0
map kept: ok
kept says: hello from B
its pointer to itself: resolves
get scratch (a volatile object's name): -1 No such file or directory
"""


def test_objects_pointers_and_names_in_one_run_and_what_the_next_run_keeps(tmp_path):
    store = str(tmp_path / "store")
    first = twzemu("run", "--store", store, OBJECTS)
    assert (first.status, first.stderr) == (0, "")
    assert first.stdout == FIRST_RUN
    again = twzemu("run", "--store", store, OBJECTS, "again")
    assert (again.stdout, again.status, again.stderr) == (SECOND_RUN, 0, "")
    names = json.loads((tmp_path / "store" / "names.json").read_text())["names"]
    kept = names["obj:kept"]
    assert names[f"owner:objects:{kept}"] == kept  # the owner, outside every byte a guest can write
    assert "obj:scratch" not in names  # a volatile object's name went with it


def test_without_a_store_nothing_outlives_the_run():
    assert twzemu("run", OBJECTS).stdout == FIRST_RUN
    again = twzemu("run", OBJECTS, "again")
    assert again.stdout.splitlines() == ["get kept: -1 No such file or directory", "map kept: -1 Permission denied"]


def pwdb(store: Path, *grants: str):
    return twzemu("run", "--store", str(store), *(f"--grant={g}" for g in grants), PWDB)


def test_the_password_service_keeps_its_database_across_runs_and_the_program_cannot_map_it(tmp_path):
    store = tmp_path / "store"
    put = twzemu("store", "--store", str(store), "put", "/dev/null", "--name", "passwd.db")
    assert put.status == 0, put.stderr
    first = pwdb(store, "libpwdb.so=passwd.db:rw")
    assert (first.status, first.stderr) == (0, "")
    assert first.stdout.splitlines() == [
        "the password service opened its database: run 1",
        "set alice's password: 0",
        "check alice/correct horse: 1",
        "check alice/hunter2: 0",
        "the program maps the database itself: Permission denied",
    ]
    second = pwdb(store, "libpwdb.so=passwd.db:rw")
    assert second.stdout.splitlines()[:2] == [
        "the password service opened its database: run 2",
        "alice's password is still the one an earlier run set",
    ]
    assert "the program maps the database itself: Permission denied" in second.stdout
    without = pwdb(store)  # an object put with `twzemu store put` belongs to no compartment
    assert (without.status, without.stdout) == (
        1,
        "the password service has no database (twzemu run --grant libpwdb.so=passwd.db:rw)\n",
    )
    read_only = pwdb(store, "libpwdb.so=passwd.db:r")  # the service asks for rw: a grant of r does not give it
    assert read_only.status == 1
    both = pwdb(store, "libpwdb.so=passwd.db:rw", "pwdb_demo=passwd.db:r")  # a grant adds access
    assert "run 3" in both.stdout and "the program maps the database itself: mapped" in both.stdout


@pytest.mark.parametrize(
    ("grant", "message"),
    [
        ("libpwdb.so", "expected COMPARTMENT=NAME:PERMS, PERMS one of r, rw, rx"),
        ("libpwdb.so=passwd.db:rwx", "expected COMPARTMENT=NAME:PERMS, PERMS one of r, rw, rx"),
        ("libpwdb.so=passwd.db:wx", "expected COMPARTMENT=NAME:PERMS"),
        ("libnothing.so=passwd.db:r", "twzemu: --grant libnothing.so: no compartment of that name"),
        ("libpwdb.so=nothing:r", "twzemu: --grant libpwdb.so=nothing: no object named nothing in"),
    ],
)
def test_a_bad_grant_is_one_line_and_status_2(tmp_path, grant, message):
    twzemu("store", "--store", str(tmp_path), "put", "/dev/null", "--name", "passwd.db")
    done = pwdb(tmp_path, grant)
    assert done.status == 2 and done.stdout == ""
    assert message in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


NOTES = """
#include <errno.h>
#include <string.h>
#include <twz.h>
#include <twz/object.h>
long note_length(const twz_objid *note)
{
    const char *base = twz_object_map(note, TWZ_MAP_READ);
    return base ? (long)strlen(base + TWZ_OBJ_DATA) : -errno;
}
TWZ_GATE(note_length);
"""


def test_twzemu_call_resolves_an_object_argument_by_name(tmp_path):
    (tmp_path / "notes.c").write_text(NOTES)
    cc("-g", "-shared", "-o", "libnotes.so", "notes.c", cwd=tmp_path)
    (tmp_path / "note.txt").write_text("twelve bytes")
    store = str(tmp_path / "store")
    put = twzemu("store", "--store", store, "put", str(tmp_path / "note.txt"), "--name", "note")
    assert put.status == 0
    call = ["call", "--store", store, "-L", str(tmp_path)]
    granted = twzemu(*call, "--grant", "libnotes.so=note:r", "libnotes.so", "note_length", "note")
    assert (granted.status, granted.stdout, granted.stderr) == (0, "12\n", "")
    by_id = twzemu(*call, "--grant", "libnotes.so=note:r", "libnotes.so", "note_length", put.stdout.strip())
    assert by_id.stdout == "12\n"
    refused = twzemu(*call, "libnotes.so", "note_length", "note")  # no grant: EACCES, an answer, not a fault
    assert (refused.status, refused.stdout) == (0, "-13\n")
    missing = twzemu(*call, "libnotes.so", "note_length", "nothing")
    assert missing.status == 1
    assert missing.stderr.startswith("Name Error: note_length: parameter note: no object named nothing in ")
