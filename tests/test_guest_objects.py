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
    owners = [name for name, id in names.items() if name.startswith("owner:objects@") and id == kept]
    assert len(owners) == 1  # the owner (the program's compartment, by its image), outside the guest's bytes
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
    (listed,) = twzemu("store", "--store", str(store), "ls").stdout.splitlines()
    size = int(listed.split()[2])  # put as 0 bytes; the service's records are data now
    assert size > 0 and listed.endswith(" passwd.db")
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


# -- an adversarial review's attacks (guests/objects/attack_*.c), kept ----------------------------------------------

ATTACKS = guest("objects")


def test_a_read_only_grant_stays_read_only_in_the_page_tables_for_a_trusting_caller(tmp_path):
    """A library reached through a NONE gate runs in page tables made for the pair; it unmapped the granted object
    from a FULL gate, put its own in the slot, then mapped its own again from the NONE gate: the pair's tables
    still held the granted object, which the monitor then made writable."""
    (tmp_path / "secret.txt").write_text("original secret contents\n")
    store = str(tmp_path / "store")
    twzemu("store", "--store", store, "put", str(tmp_path / "secret.txt"), "--name", "secret")
    attack = twzemu("run", "--store", store, "--grant", "libpair.so=secret:r", str(ATTACKS / "attack_pair"))
    assert "full_try_rw (expect -13): -13" in attack.stdout
    read = twzemu("run", "--store", store, "--grant", "attack_readsecret=secret:r", str(ATTACKS / "attack_readsecret"))
    assert read.stdout == "secret says: original secret contents\n\n"


def test_no_object_is_writable_at_one_slot_and_executable_at_another():
    """The same stale mapping gave one set of page tables an object RW- at one slot and R-X at the next: code
    written through the one ran through the other. Now the write faults (the only mapping is R-X)."""
    done = twzemu("run", str(ATTACKS / "attack_wx"))
    assert "see_wx: 0x13371337" not in done.stdout and "see_wx: 0xfffffffffffffff2" in done.stdout
    assert "twzemu: security violation: write 0x40000001000 (0x40000001000) in object 0x" in done.stderr
    assert "from attack_wx::libwx.so at see_wx+0x" in done.stderr


def test_a_name_a_guest_put_never_hides_the_administrators(tmp_path):
    store = str(tmp_path / "store")
    squat = twzemu("run", "--store", store, str(ATTACKS / "attack_squat"))
    assert squat.stdout.startswith("put obj:config -> 0")
    (tmp_path / "config.txt").write_text("admin config")
    twzemu("store", "--store", store, "put", str(tmp_path / "config.txt"), "--name", "config")
    victim = twzemu("run", "--store", store, "--grant", "attack_victim=config:r", str(ATTACKS / "attack_victim"))
    assert victim.stdout == "victim reads config: admin config\n"


def test_malformed_arguments_to_every_service_are_refused_and_the_monitor_goes_on():
    done = twzemu("run", str(ATTACKS / "attack_fuzz"))
    assert (done.status, done.stderr) == (0, "")
    answers = [line.split("->") for line in done.stdout.splitlines() if "->" in line]
    lines = {call.strip(): result.strip() for call, result in answers}
    assert lines["twz_object_create(0, (twz_objid *)0)"] == "-1 Bad address"
    assert lines["(long)twz_object_map(&a, 7)"] == "0 Invalid argument"  # W+X
    assert lines["(long)twz_object_map(&junk, 1)"] == "0 Permission denied"
    assert lines["twz_object_unmap((void *)0x80000000)"] == "-1 Invalid argument"  # the program's text
    assert lines["twz_ptr_store(pa + 0x3ffff000, pb + 0x1000)"] == "-1 Invalid argument"  # the meta page
    assert lines["twz_ptr_store(pa + 0x1000, pa)"] == "-1 Invalid argument"  # the null page: not a pointer
    assert lines['twz_name_put("owner:x:0x1", &a)'] == "-1 Invalid argument"
    assert lines["twz_name_list((char *)ro_text, 100)"] == "-1 Bad address"
    assert "mapped 254 more, then -28" in done.stdout  # ENOSPC after MAX_MAPPED objects


FOT_FLOOD = r"""
#include <errno.h>
#include <stdio.h>
#include <twz/object.h>
int main(void)
{
    twz_objid a, b;
    twz_object_create(0, &a);
    twz_object_create(0, &b);
    char *pa = twz_object_map(&a, 3), *pb = twz_object_map(&b, 3);
    ((unsigned short *)(pa + 0x3ffff000))[18] = 0xfffe; /* a FOT claiming 65534 entries */
    int stored = twz_ptr_store(pa + 0x1000, pb + 0x1000);
    printf("store: %d %d\n", stored, errno);
    *(unsigned long *)(pa + 0x1008) = 0xfffeUL << 48 | 0x1000;
    void *loaded = twz_ptr_load(pa + 0x1008);
    printf("load: %p %d\n", loaded, errno);
    return 0;
}
"""


def test_a_forged_fot_count_is_refused_without_a_scan(tmp_path):
    (tmp_path / "flood.c").write_text(FOT_FLOOD)
    cc("-g", "-o", "flood", "flood.c", cwd=tmp_path)
    done = twzemu("run", str(tmp_path / "flood"))
    assert done.stdout == "store: -1 28\nload: 0 2\n"  # ENOSPC, ENOENT


# -- a second review's attacks (guests/objects/attack2_*.c) --------------------------------------------------------


def test_touching_a_page_after_each_of_many_maps_is_progress_not_a_stuck_fault():
    """Each map or change of rights removes the page's entry: backing it again is progress (the monitor stopped
    the whole run, status 70, on the fourth map)."""
    loop = twzemu("run", str(ATTACKS / "attack2_loop"))
    assert (loop.status, loop.stdout, loop.stderr) == (0, "read four times: 0\n", "")
    flap = twzemu("run", str(ATTACKS / "attack2_flap"))
    assert (flap.status, flap.stdout) == (0, "flap(2) = 2\nflap(4) = 4\nthe program goes on\n")


def test_an_owner_is_its_image_not_the_name_it_goes_by(tmp_path):
    """A library that calls itself by another's soname, or a program named like another's compartment, owns nothing
    of that compartment's."""
    store, host = str(tmp_path / "store"), str(ATTACKS / "attack2_host")
    run = ["run", "--store", store, "-L", str(ATTACKS)]
    assert twzemu(*run, host, "libsafe.so", "safe_make").stdout == "safe_make -> 0\n"
    assert twzemu(*run, host, "libplugin.so", "plugin_run").stdout == "plugin_run -> -13\n"
    spoof = twzemu(*run, host, "libplugin_spoof.so", "plugin_run")
    assert spoof.stdout == "plugin_run -> -13\n"  # its compartment is host::libsafe.so: its bytes are not
    named = tmp_path / "host::libsafe.so"
    named.write_bytes((ATTACKS / "attack2_host").read_bytes())
    named.chmod(0o755)
    impostor = twzemu(*run, str(named), "libplugin.so", "plugin_run")
    assert impostor.stdout == "plugin_run -> -13\n"


def test_an_object_is_never_writable_in_one_compartment_while_executable_in_another(tmp_path):
    store, wx = str(tmp_path / "store"), str(ATTACKS / "attack2_wx")
    assert twzemu("run", "--store", store, wx, "make").stdout == "make 0\n"
    done = twzemu("run", "--store", store, "--grant", "libexecer.so=obj:code:rx", wx)
    assert done.stdout.splitlines() == ["write 1: 0", "run: -16", "write 2 (no remap): 0", "run: -16"]  # EBUSY


VAULT_SAFE = r"""
#include <errno.h>
#include <string.h>
#include <twz.h>
#include <twz/object.h>
int help_value(void);
long safe_make(void)
{
    twz_objid id;
    if (twz_name_get("vault", &id) == 0)
        return 1;
    if (twz_object_create(TWZ_OBJ_PERSISTENT, &id))
        return -errno;
    char *p = twz_object_map(&id, TWZ_MAP_READ | TWZ_MAP_WRITE);
    if (!p)
        return -errno;
    strcpy(p + TWZ_OBJ_DATA, "top-secret");
    return twz_name_put("vault", &id) ? -errno : help_value();
}
TWZ_GATE(safe_make);
"""
HELP_EVIL = r"""
#include <errno.h>
#include <stdio.h>
#include <twz/object.h>
int help_value(void) { return 42; }
__attribute__((constructor)) static void steal(void)
{
    twz_objid id;
    if (twz_name_get("vault", &id) == 0)
        printf("evil: map %s\n", twz_object_map(&id, TWZ_MAP_READ | TWZ_MAP_WRITE) ? "worked" : "refused");
}
"""


def test_a_dependency_of_the_same_name_from_elsewhere_owns_nothing(tmp_path):
    """A third review's find: the owner was the compartment and its first image, so a substitute for one of its
    dependencies, found through another -L, ran in it as the owner of its objects."""
    for name, source in {"safe.c": VAULT_SAFE, "good.c": "int help_value(void) { return 42; }\n",
                         "evil.c": HELP_EVIL, "prog.c": "long safe_make(void);\nint main(void) "
                         "{ return (int)safe_make(); }\n"}.items():  # fmt: skip
        (tmp_path / name).write_text(source)
    (tmp_path / "good").mkdir()
    (tmp_path / "evil").mkdir()
    cc("-g", "-shared", "-o", "good/libhelp.so", "good.c", cwd=tmp_path)
    cc("-g", "-shared", "-o", "evil/libhelp.so", "evil.c", cwd=tmp_path)
    cc("-g", "-shared", "-o", "libsafe.so", "safe.c", "-Lgood", "-lhelp", cwd=tmp_path)
    cc("-g", "-o", "prog", "prog.c", "-L.", "-lsafe", "-Lgood", "-Wl,-rpath-link,good", cwd=tmp_path)
    run = ["run", "--store", str(tmp_path / "store"), "-L", str(tmp_path)]
    assert twzemu(*run, "-L", str(tmp_path / "good"), str(tmp_path / "prog")).status == 42
    evil = twzemu(*run, "-L", str(tmp_path / "evil"), str(tmp_path / "prog"))
    assert (evil.stdout, evil.status) == ("evil: map refused\n", 1)


MANY_NAMES = r"""
#include <stdio.h>
#include <twz/object.h>
int main(void)
{
    char name[32];
    for (int i = 0; i < 3000; i++) {
        twz_objid id;
        snprintf(name, sizeof name, "n%d", i);
        if (twz_object_create(TWZ_OBJ_VOLATILE, &id) || twz_name_put(name, &id))
            return 1;
    }
    long size = 0;
    for (int i = 0; i < 20; i++)
        size = twz_name_list(0, 0);
    printf("the list takes %ld bytes\n", size);
    return 0;
}
"""


def test_thousands_of_names_are_listed_whole(tmp_path):
    """An attempt on the naming service: many objects and names, then listing them again and again (the owners are
    read from the store's names once, not per object)."""
    (tmp_path / "many.c").write_text(MANY_NAMES)
    cc("-g", "-o", "many", "many.c", cwd=tmp_path)
    done = twzemu("run", str(tmp_path / "many"))
    assert (done.status, done.stdout) == (0, f"the list takes {sum(len(f'n{i}') + 1 for i in range(3000))} bytes\n")
