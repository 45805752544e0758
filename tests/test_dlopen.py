"""Loading at run time (issue 14): dlopen, dlsym, dlclose and dlerror, against glibc, and held to the compartment
that loads."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import pytest
from conftest import ROOT, build, guest, one_line

DL = ROOT / "guests" / "dl"


def run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "twzemu.cli", "run", "--timeout", "30", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=90)


def native_loader(tmp_path: Path) -> str:
    """guests/dl built by gcc against glibc, run with its libraries on LD_LIBRARY_PATH."""
    for name, extra in (("plugin", ()), ("helper", ()), ("tool", ("-L.", "-lhelper"))):
        subprocess.run(["gcc", "-shared", "-fPIC", "-w", "-o", f"lib{name}.so", str(DL / f"{name}.c"), *extra],
                       check=True, cwd=tmp_path)  # fmt: skip
    subprocess.run(["gcc", "-w", "-o", "loader", str(DL / "loader.c"), "-ldl"], check=True, cwd=tmp_path)
    env = {**os.environ, "LD_LIBRARY_PATH": str(tmp_path)}
    return subprocess.run(["./loader"], capture_output=True, text=True, cwd=tmp_path, env=env, check=True).stdout


def glibc(tmp_path: Path, source: str, libraries: Mapping[str, str] = MappingProxyType({}), *flags: str) -> str:
    """``source`` built by gcc against glibc as ``tmp_path/native`` (``flags`` added), each of ``libraries`` (name ->
    source) as ``libNAME.so`` beside it, run by its absolute path with them on LD_LIBRARY_PATH: its output."""
    for name, text in libraries.items():
        (tmp_path / f"{name}.c").write_text(text)
        subprocess.run(["gcc", "-shared", "-fPIC", "-w", "-o", f"lib{name}.so", f"{name}.c"], check=True, cwd=tmp_path)
    (tmp_path / "native.c").write_text(source)
    subprocess.run(["gcc", "-w", "-pthread", *flags, "-o", "native", "native.c", "-ldl"], check=True, cwd=tmp_path)
    env = {**os.environ, "LD_LIBRARY_PATH": str(tmp_path)}
    return subprocess.run([str(tmp_path / "native")], capture_output=True, text=True, env=env, check=True).stdout


@pytest.mark.parametrize("schedule", [(), ("--quantum", "500", "--schedule-seed", "2")])
def test_dlopen_dlsym_dlclose_as_glibc(tmp_path: Path, schedule: tuple[str, ...]) -> None:
    """guests/dl/loader.c: a library's constructor runs at dlopen, its functions and data through dlsym, a missing
    symbol and a missing library are dlerror's, a second dlopen is the same handle, the last dlclose runs its
    destructor and a later dlopen loads it anew, a library that needs another the program lacks brings it along,
    and one still open at exit has its destructor run: as glibc prints it."""
    done = run(*schedule, str(guest("dl/loader")))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == native_loader(tmp_path)


GATED = r"""
#include <twz.h>
long isolated_ping(void) { return 5; }
TWZ_GATE(isolated_ping);
"""
WITH_TLS = r"""
__thread long per_thread __attribute__((tls_model("initial-exec"))) = 3;
long tls_value(void) { return per_thread; }
"""
SERVICE = r"""
#include <twz.h>
long service_secret = 0x5ec;
long service_call(long x) { return x + 1; }
TWZ_GATE(service_call);
"""
REFUSALS = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
long service_call(long x);
static void show(const char *what, void *handle) {
    const char *error = handle ? 0 : dlerror();
    printf("%s: %s\n", what, handle ? "loaded" : strstr(error, "not supported yet") ? "refused"
           : strstr(error, "initial-exec") ? "refused (initial-exec)" : error);
}
int main(void) {
    show("gated", dlopen("libgated.so", RTLD_NOW));
    show("tls", dlopen("libwith_tls.so", RTLD_NOW));
    printf("host file: %s\n", dlopen("/usr/lib/x86_64-linux-gnu/libm.so.6", RTLD_NOW) ? "loaded" : "error");
    printf("by its path: %s\n", dlopen("./libgated.so", RTLD_NOW) ? "loaded" : "error");
    printf("bad name: %s\n", dlopen((const char *)8, RTLD_NOW) ? "loaded" : "error");
    printf("bad symbol name: %s\n", dlsym(RTLD_DEFAULT, (const char *)8) ? "found" : "error");
    printf("forged handle: %s, close %d\n", dlsym((void *)0x10, "service_call") ? "found" : "error",
           dlclose((void *)0x1234) != 0);
    long (*gate)(long) = (long (*)(long))dlsym(RTLD_DEFAULT, "service_call");
    printf("another compartment's gate: %ld, its data: %s\n", gate ? gate(41) : -1L,
           dlsym(RTLD_DEFAULT, "service_secret") ? "found" : "not found");
    printf("own: %s\n", dlsym(RTLD_DEFAULT, "main") ? "found" : "not found");
    void *self = dlopen(0, RTLD_NOW);
    printf("dlopen(NULL): %s, close %d\n", self && dlsym(self, "main") ? "own scope" : "error", dlclose(self));
    void *empty = dlopen("", RTLD_NOW);
    printf("dlopen(\"\"): %s\n", empty == self ? "own scope" : "another");
    return service_call(0) == 1 ? 0 : 1;
}
"""


def test_what_a_library_loaded_at_run_time_may_not_be_or_reach(tmp_path: Path) -> None:
    """A library whose code reaches its TLS at a fixed offset from the thread pointer (initial-exec: its TLS is not
    at one in every thread) is refused with dlerror's reason (one that declares gates loads, as a compartment of its
    own, and its path names the same one); a path outside the library directories is refused; unreadable names
    are errors; a handle never opened is invalid; dlsym finds another compartment's gate (calling it is a crossing)
    but never its other symbols."""
    build(tmp_path, "gated", GATED, "-shared")
    build(tmp_path, "with_tls", WITH_TLS, "-shared")
    build(tmp_path, "service", SERVICE, "-shared")
    build(tmp_path, "refusals", REFUSALS, "-L.", "-lservice")
    done = run("refusals", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "gated: loaded",
        "tls: refused (initial-exec)",
        "host file: error",  # a file outside the library directories: the guest may not read it as a library
        "by its path: loaded",  # in the program's directory: found, the compartment loaded above
        "bad name: error",
        "bad symbol name: error",
        "forged handle: error, close 1",
        "another compartment's gate: 42, its data: not found",
        "own: found",
        "dlopen(NULL): own scope, close 0",
        'dlopen(""): own scope',
    ]


HANDLE_LEAK = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <twz.h>
long plugin_add(long, long);
static void *handle;
long open_plugin(void) { handle = dlopen("libplugin.so", RTLD_NOW); return (long)handle; }
TWZ_GATE(open_plugin);
long use_plugin(void) { long (*add)(long, long) = dlsym(handle, "plugin_add"); return add ? add(20, 22) : -1; }
TWZ_GATE(use_plugin);
"""
HANDLE_THIEF = r"""
#include <dlfcn.h>
#include <stdio.h>
long open_plugin(void);
long use_plugin(void);
int main(void) {
    void *handle = (void *)open_plugin();
    printf("the library's own use: %ld\n", use_plugin());
    printf("the program with the library's handle: %s\n", dlsym(handle, "plugin_add") ? "found" : "invalid");
    printf("the program's own: %s\n", dlsym(RTLD_DEFAULT, "plugin_add") ? "found" : "not found");
    return 0;
}
"""


def test_a_handle_is_only_the_compartment_that_opened_it(tmp_path: Path) -> None:
    """An isolated library dlopens a plugin into its own compartment; the program, given the handle, cannot use
    it, nor find the plugin's symbols: they are the library's compartment's."""
    for name in ("plugin",):
        build(tmp_path, name, (DL / f"{name}.c").read_text(), "-shared")
    build(tmp_path, "opener", HANDLE_LEAK, "-shared")
    build(tmp_path, "thief", HANDLE_THIEF, "-L.", "-lopener")
    done = run("thief", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "constructor: plugin ready",
        "the library's own use: 42",
        "the program with the library's handle: invalid",
        "the program's own: not found",
        "destructor after 1 calls",
    ]


SHARED_B = r"""
#include <stdio.h>
static int state, opened;
__attribute__((constructor)) static void start(void) { state = 7; printf("B constructor %d\n", ++opened); }
__attribute__((destructor)) static void end(void) { state = -1; puts("B destructor"); }
int b_get(void) { return state; }
"""
USES_B = r"""
int b_get(void);
int NAME(void) { return b_get() + OFFSET; }
"""
OPENER = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(void) {
    void *a = dlopen("liba.so", RTLD_NOW), *c = dlopen("libc2.so", RTLD_NOW);
    int (*c_get)(void) = (int (*)(void))dlsym(c, "c_get");
    dlclose(a);
    printf("c_get after closing a: %d, b_get through c: %s\n", c_get(), dlsym(c, "b_get") ? "found" : dlerror());
    dlclose(c);
    puts("closed c");
    for (int i = 0; i < 200; i++) {  /* a failed load keeps nothing */
        void *missing = dlopen("libmissing_symbol.so", RTLD_NOW);
        if (missing) return 1;
    }
    printf("missing: %s\n", dlerror() ? "refused" : "no error");
    int loaded = 0;
    for (int i = 0; i < 200; i++) {
        void *h = dlopen("libb.so", RTLD_NOW);
        if (!h) break;
        loaded++;
        dlclose(h);
    }
    printf("loaded %d times, then: %s\n", loaded, dlerror() ? "refused" : "no error");
    return 0;
}
"""


def test_what_a_closed_library_still_needs_stays_and_failures_keep_nothing(tmp_path: Path) -> None:
    """liba.so and libc2.so both need libb.so: closing liba leaves libb to libc2 (its destructor runs when libc2
    closes, not before); loads that fail (an undefined symbol) keep nothing; a library opened and closed 200 times
    is mapped again where it was, its data as loaded each time (it used to load anew each time, and the
    compartment's share of the run's slots, which are never given back, ran out after 61)."""
    build(tmp_path, "b", SHARED_B, "-shared")
    build(tmp_path, "a", USES_B.replace("NAME", "a_get").replace("OFFSET", "100"), "-shared", "-L.", "-lb")
    build(tmp_path, "c2", USES_B.replace("NAME", "c_get").replace("OFFSET", "200"), "-shared", "-L.", "-lb")
    build(tmp_path, "missing_symbol", "int nowhere(void);\nint m(void) { return nowhere(); }\n", "-shared")
    build(tmp_path, "opener", OPENER)
    done = run("opener", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "B constructor 1",
        "c_get after closing a: 207, b_get through c: found",
        "B destructor",
        "closed c",
        "missing: refused",
        *["B constructor 1", "B destructor"] * 200,
        "loaded 200 times, then: no error",
    ]


SLOW_CONSTRUCTOR = r"""
static volatile int ready;
__attribute__((constructor)) static void start(void) { for (volatile long k = 0; k < 2000000; k++) ; ready = 1; }
int s_ready(void) { return ready; }
"""
TWO_OPENERS = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
static int seen[2];
static void *opener(void *arg) {
    int (*ready)(void) = (int (*)(void))dlsym(dlopen("libslow.so", RTLD_NOW), "s_ready");
    seen[(long)arg] = ready();
    return 0;
}
int main(void) {
    pthread_t t[2];
    for (long i = 0; i < 2; i++) pthread_create(&t[i], 0, opener, (void *)i);
    for (int i = 0; i < 2; i++) pthread_join(t[i], 0);
    printf("ready %d %d\n", seen[0], seen[1]);
    return 0;
}
"""


@pytest.mark.parametrize("quantum", ["500", "2000"])
def test_a_second_dlopen_waits_for_the_first_ones_constructors(tmp_path: Path, quantum: str) -> None:
    """Two threads open a library whose constructor takes a while: the second dlopen returns only once the first
    opener's constructors ran (it returned at once, and the library was used half-initialised)."""
    build(tmp_path, "slow", SLOW_CONSTRUCTOR, "-shared")
    build(tmp_path, "openers", TWO_OPENERS)
    done = run("--quantum", quantum, "openers", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ready 1 1\n", "")


RAW_FORGER = r"""
#include <dlfcn.h>
#include <stdio.h>
long open_plugin(void);
long use_plugin(void);
typedef long service(long, long, long, long, long, long);
int main(void) {
    long handle = open_plugin();  /* the library's handle: the program only learns its number */
    service *monitor = (service *)dlsym(RTLD_DEFAULT, "__twz_monitor_syscall");
    unsigned long table[17] = {0};
    long closed = monitor(0x7d02, handle, (long)table, 16, 1, 0);  /* a forced close "at exit" */
    long ready = monitor(0x7d03, handle, 0, 0, 0, 0);
    long found = monitor(0x7d01, handle, (long)"plugin_add", 0, 0, 0);
    printf("forged close %ld (finalisers handed over: %lu), ready %ld, symbol %s\n", closed, table[0], ready,
           found > 0 ? "found" : "refused");
    printf("the library's own use: %ld\n", use_plugin());
    return 0;
}
"""


def test_the_monitors_loading_calls_made_by_hand_with_another_compartments_handle(tmp_path: Path) -> None:
    """The program calls the monitor's service itself (its address through dlsym) with the number of a handle an
    isolated library opened: a forced close at exit, the "initialisers ran" call and a symbol lookup. Nothing is
    closed or handed over; the library's plugin works on, and its destructor runs once, at exit."""
    build(tmp_path, "plugin", (DL / "plugin.c").read_text(), "-shared")
    build(tmp_path, "opener", HANDLE_LEAK, "-shared")
    build(tmp_path, "forger", RAW_FORGER, "-L.", "-lopener")
    done = run("forger", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "constructor: plugin ready",
        "forged close -22 (finalisers handed over: 0), ready 0, symbol refused",
        "the library's own use: 42",
        "destructor after 1 calls",
    ]


def test_thread_locals_of_a_library_loaded_at_run_time_as_glibc(tmp_path: Path) -> None:
    """guests/dl/threads.c opens libcounters.so (initialised, zeroed and static thread-locals, a constructor): a
    thread that existed before the dlopen, one created after it and the loading thread each have their own copy,
    and dlsym of a thread-local gives the caller's; as glibc prints it, under the default and a seeded schedule."""
    expected = glibc(tmp_path, (DL / "threads.c").read_text(), {"counters": (DL / "counters.c").read_text()})
    for schedule in ((), ("--quantum", "300", "--schedule-seed", "5")):
        done = run(*schedule, str(guest("dl/threads")))
        assert (done.returncode, done.stderr, done.stdout) == (0, "", expected)


MANY_TLS = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
typedef long service(long, long, long, long, long, long);
int main(void) {
    void *all = dlopen("libtls_all.so", RTLD_NOW);
    printf("seventeen at once: %s\n", all ? "loaded" : strstr(dlerror(), "TLS modules") ? "no room" : dlerror());
    service *monitor = (service *)dlsym(RTLD_DEFAULT, "__twz_monitor_syscall");
    unsigned long table[17];
    long unwritable = monitor(0x7d00, (long)"libtls_1.so", (long)table, 16, (long)main, 16);
    long too_many = monitor(0x7d00, (long)"libtls_1.so", (long)table, 16, (long)table, 65);
    void *one = dlopen("libtls_1.so", RTLD_NOW);
    long *mine = one ? dlsym(one, "per_thread_1") : 0;
    printf("one: %s, its thread-local %ld\n", one ? "loaded" : dlerror(), mine ? *mine : -1L);
    long index_bad = monitor(0x7d01, (long)one, (long)"per_thread_1", (long)main, 0, 0);
    printf("modules into code %ld, capacity 65 %ld, dlsym index into code %ld\n", unwritable, too_many, index_bad);
    return 0;
}
"""


def test_a_dlopen_names_its_tls_modules_within_bounds(tmp_path: Path) -> None:
    """A library needing seventeen libraries with TLS is more than one dlopen reports (the runtime's table holds
    sixteen): refused, nothing loaded. The monitor's loading calls made by hand with a module table or a dlsym
    index in the caller's code, or a capacity beyond the compartment's modules, are EFAULT, and nothing is loaded
    by them: a later dlopen of the library works and its thread-local reads its initial value."""
    names = []
    for n in range(1, 18):
        build(tmp_path, f"tls_{n}", f"__thread long per_thread_{n} = {n};\n", "-shared")
        names.append(f"-ltls_{n}")
    build(tmp_path, "tls_all", "long tls_all(void) { return 0; }\n", "-shared", "-L.", "-Wl,--no-as-needed", *names)
    build(tmp_path, "many", MANY_TLS)
    done = run("many", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "seventeen at once: no room",
        "one: loaded, its thread-local 1",
        "modules into code -14, capacity 65 -14, dlsym index into code -14",
    ]


TLS_USER = r"""
#include <dlfcn.h>
#include <twz.h>
static int (*bump)(void);
long use_counters(void) {
    if (!bump) {
        void *counters = dlopen("libcounters.so", RTLD_NOW);
        bump = counters ? (int (*)(void))dlsym(counters, "counter_bump") : 0;
    }
    return bump ? bump() : -1;
}
TWZ_GATE(use_counters);
"""
TLS_CALLERS = r"""
#include <pthread.h>
#include <stdio.h>
long use_counters(void);
static void *twice(void *name) {
    long first = use_counters();
    printf("%s: %ld %ld\n", (const char *)name, first, use_counters());
    return 0;
}
int main(void) {
    twice("T1");
    for (int i = 2; i <= 3; i++) {
        pthread_t t;
        pthread_create(&t, 0, twice, i == 2 ? "T2" : "T3");
        pthread_join(t, 0);
    }
    return 0;
}
"""


def test_threads_that_began_elsewhere_get_their_own_thread_locals_of_a_library_loaded_later(tmp_path: Path) -> None:
    """An isolated library dlopens libcounters.so (TLS) on its first call; threads the program created later cross
    into it and each gets its own copy of the thread-locals on its first access there (the constructor's write is
    the first thread's)."""
    build(tmp_path, "counters", (DL / "counters.c").read_text(), "-shared")
    build(tmp_path, "tlsuser", TLS_USER, "-shared")
    build(tmp_path, "callers", TLS_CALLERS, "-L.", "-ltlsuser")
    done = run("callers", cwd=tmp_path)
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "T1: 16 17\nT2: 6 7\nT3: 6 7\n")


@pytest.mark.parametrize("schedule", [(), ("--quantum", "400", "--schedule-seed", "9")])
def test_a_library_with_gates_loaded_at_run_time_is_a_compartment_of_its_own(schedule: tuple[str, ...]) -> None:
    """guests/dl/isolated.c opens libvault.so, which declares gates: a compartment made at run time. dlsym finds its
    gates and not its other functions; its constructor runs before its first call and its destructor at exit;
    threads created after it call its gates at once; a second dlopen is the same handle."""
    done = run(*schedule, str(guest("dl/isolated")))
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "gates found, non-gate not found",
        "vault: constructor",
        "deposit 5ec2e8",
        "three threads deposited 3000",
        "opened again: the same handle 1",
        "vault: destructor after 3001 deposits",
    ]


@pytest.mark.parametrize(
    ("attack", "line", "status"),
    [
        ("read", "twzemu: security violation: read libvault.so:data+0x1000 (0x1c0001000) in isolated::libvault.so "
                 "from isolated at main+", 139),
        ("call", "twzemu: security violation: execute vault_leak+0x0 (0x180001030) in isolated::libvault.so from "
                 "isolated at vault_leak+0x0", 139),
        ("peek", "twzemu: security violation: read isolated:stack+", 0),
    ],
)  # fmt: skip
def test_a_compartment_made_at_run_time_is_held_to_its_gates(attack: str, line: str, status: int) -> None:
    """The program reads libvault's data by address, or calls a function of it that is not a gate: a violation
    naming both compartments ends it. libvault reads the caller's stack through a pointer it was handed: the
    violation fails that call alone (TWZ_EFAULT) and the program goes on, as with a library linked at start."""
    done = run(str(guest("dl/isolated")), attack)
    assert done.returncode == status
    assert one_line(done.stderr).startswith(line)
    if attack == "peek":
        assert "peek -14\n" in done.stdout and "in isolated from isolated::libvault.so at vault_peek+0x0" in line + (
            done.stderr
        )


ABSOLUTE = '__asm__(".globl magic\\n.type magic,@object\\nmagic = 0x1234\\n");\n'
MAGIC_SEEN = "extern char magic[];\nvoid *magic_seen(void) { return magic; }\n"
ABSOLUTE_USER = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(void) {
    void *library = dlopen("libseen.so", RTLD_NOW);
    void *(*seen)(void) = (void *(*)(void))dlsym(library, "magic_seen");
    printf("dlsym %p, relocated %p\n", dlsym(library, "magic"), seen());
    return 0;
}
"""


def test_an_absolute_symbol_is_its_value_wherever_its_library_lies(tmp_path: Path) -> None:
    """A symbol of SHN_ABS is not relocated with its library: dlsym gives its value, and so does a relocation
    against it in another library, as glibc (since 2.28) gives them."""
    build(tmp_path, "absolute", ABSOLUTE, "-shared")
    build(tmp_path, "seen", MAGIC_SEEN, "-shared", "-L.", "-labsolute")
    build(tmp_path, "absolute_user", ABSOLUTE_USER)
    done = run("absolute_user", cwd=tmp_path)
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "dlsym 0x1234, relocated 0x1234\n")


OUTER = r"""
#include <dlfcn.h>
#include <twz.h>
long outer_base(void) { return 1000; }
TWZ_GATE(outer_base);
long outer_open(void) {
    void *inner = dlopen("libinner.so", RTLD_NOW);
    long (*value)(void) = inner ? (long (*)(void))dlsym(inner, "inner_value") : 0;
    return value ? value() : -1;
}
TWZ_GATE(outer_open);
"""
INNER = r"""
#include <twz.h>
long outer_base(void);
long inner_value(void) { return outer_base() + 7; }
TWZ_GATE(inner_value);
"""


def test_a_compartment_dlopens_a_compartment_that_calls_back_through_its_gates(tmp_path: Path) -> None:
    """libouter (a compartment loaded with the program) dlopens libinner, which declares gates and needs libouter:
    libinner is a compartment of its own, and its reference to libouter is bound to libouter's gate, not a second
    copy of libouter. Each call crosses three compartments and back."""
    build(tmp_path, "outer", OUTER, "-shared")
    build(tmp_path, "inner", INNER, "-shared", "-L.", "-louter")
    build(tmp_path, "nest", 'long outer_open(void);\n#include <stdio.h>\n'
          'int main(void) { long a = outer_open(); printf("%ld %ld\\n", a, outer_open()); return 0; }\n',
          "-L.", "-louter")  # fmt: skip
    done = run("--trace", "nest", cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "1007 1007\n")
    assert "enter T1 nest::libinner.so -> nest::libouter.so outer_base(" in done.stderr


SLOW = r"""
#include <sched.h>
#include <stdio.h>
#include <twz.h>
static volatile long ready;
__attribute__((constructor)) static void begin(void) {
    for (int i = 0; i < 50; i++) sched_yield();
    ready = 1;
}
long slow_get(long a) { return ready ? 0x600d + a : 0xbad; }
TWZ_GATE(slow_get);
"""
WAITERS = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#define INC2 "inc %%eax; inc %%eax;"
#define INC10 INC2 INC2 INC2 INC2 INC2
#define INC100 INC10 INC10 INC10 INC10 INC10 INC10 INC10 INC10 INC10 INC10
static long (*volatile get)(long);
static volatile int counting;
static void *counter(void *arg) {  /* two-byte instructions: one run twice or skipped shows in the count */
    unsigned long total = 0;
    counting = 1;
    for (int k = 0; k < 2000; k++) {
        unsigned n = 0;
        __asm__ volatile(INC100 INC100 INC100 INC100 INC100 : "+a"(n));
        total += n;
    }
    printf("counted %lu\n", total);
    return arg;
}
static void *initialiser(void *arg) { printf("T2 %#lx\n", get(2)); return arg; }
int main(void) {
    void *slow = dlopen("libslow.so", RTLD_NOW);
    get = (long (*)(long))dlsym(slow, "slow_get");
    pthread_t t2, t3;
    pthread_create(&t3, 0, counter, 0);
    while (!counting) sched_yield();
    pthread_create(&t2, 0, initialiser, 0);
    for (int i = 0; i < 3; i++) sched_yield();
    long mine = get(1);
    pthread_join(t2, 0);
    pthread_join(t3, 0);
    printf("T1 %#lx\n", mine);
    return 0;
}
"""


@pytest.mark.parametrize("seed", ["1", "3", "6"])
def test_a_thread_waiting_for_a_new_compartments_constructors_resumes_at_its_gate(tmp_path: Path, seed: str) -> None:
    """T2 runs libslow's constructor (it yields) on its first call; T1 calls meanwhile and waits; T3 counts with
    two-byte instructions. The wait began in the gate entry's fault, not a system call: T1 enters the gate once the
    constructor is done, and no thread resumes two bytes off (T1 was refused at its gate's entry + 2, T3 faulted)."""
    build(tmp_path, "slow", SLOW, "-shared")
    build(tmp_path, "waiters", WAITERS)
    done = run("--quantum", "300", "--schedule-seed", seed, "waiters", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert sorted(done.stdout.splitlines()) == ["T1 0x600e", "T2 0x600f", "counted 1000000"]


DESCRIPTORS = r"""
#include <errno.h>
#include <pthread.h>
#include <twz.h>
static void *inner(void *a) { return (void *)((long)a + 1); }
long tcb_spawn(long who) {
    pthread_t t;
    void *r = 0;
    return pthread_create(&t, 0, inner, (void *)who) ? -1 : (pthread_join(t, &r), (long)r);
}
TWZ_GATE(tcb_spawn);
static pthread_mutex_t m;
long tcb_mutex(long who) {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
    pthread_mutex_init(&m, &a);
    int first = pthread_mutex_lock(&m), again = pthread_mutex_lock(&m);
    pthread_mutex_unlock(&m);
    return first == 0 && again == EDEADLK;
}
TWZ_GATE(tcb_mutex);
"""
SECOND_FIRST = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
static long (*spawn)(long), (*mutex)(long);
static void *second(void *a) { printf("T2: mutex %ld\n", mutex(2)); return a; }
int main(void) {
    void *h = dlopen("libdescriptors.so", RTLD_NOW);
    spawn = (long (*)(long))dlsym(h, "tcb_spawn");
    mutex = (long (*)(long))dlsym(h, "tcb_mutex");
    pthread_t t;
    pthread_create(&t, 0, second, 0);
    pthread_join(t, 0);
    printf("T1: mutex %ld, spawn %ld\n", mutex(1), spawn(1));
    return 0;
}
"""


def test_the_first_thread_is_the_c_librarys_own_in_a_compartment_another_thread_began(tmp_path: Path) -> None:
    """A compartment dlopen made is entered first by T2 (its constructors run on T2), then by T1: the C library
    there knows T1 as a thread of its own (an error-checking mutex says EDEADLK, pthread_create works), as it does
    T2 (T1 had been given a part there up front, which the C library never saw)."""
    build(tmp_path, "descriptors", DESCRIPTORS, "-shared")
    build(tmp_path, "second_first", SECOND_FIRST)
    done = run("second_first", cwd=tmp_path)
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "T2: mutex 1\nT1: mutex 1, spawn 2\n")


SAFE = r"""
#include <twz.h>
long evil_read(long *p);
static long safe_secret = 0x5afe;
long safe_call(long a) { return evil_read(&safe_secret); }
TWZ_GATE(safe_call);
"""
EVIL = r"""
#include <twz.h>
long evil_read(long *p) { return *p; }
TWZ_GATE_LEVEL(evil_read, TWZ_ISOLATE_NONE);
"""
SAFE_USER = r"""
#include <dlfcn.h>
#include <stdio.h>
long evil_read(long *p);
int main(void) {
    long mine = 0x111;
    printf("libevil reads the program's: %#lx\n", evil_read(&mine));
    void *h = dlopen("libsafe.so", RTLD_NOW);
    long (*call)(long) = (long (*)(long))dlsym(h, "safe_call");
    printf("libevil reads libsafe's: %#lx\n", call(0));
    return 0;
}
"""


def test_caller_isolation_names_a_compartment_dlopen_will_make(tmp_path: Path) -> None:
    """--caller-isolation libsafe.so=full names a library with gates that only a dlopen loads: accepted, and applied
    when the compartment is made (libevil's level-none gate may not read libsafe's data: the call fails alone); a
    name no library has is still a usage error."""
    build(tmp_path, "evil", EVIL, "-shared")
    build(tmp_path, "safe", SAFE, "-shared", "-L.", "-levil")
    build(tmp_path, "safe_user", SAFE_USER, "-L.", "-levil")
    trusting = run("safe_user", cwd=tmp_path)
    assert (trusting.returncode, trusting.stdout) == (
        0,
        "libevil reads the program's: 0x111\nlibevil reads libsafe's: 0x5afe\n",
    )
    guarded = run("--caller-isolation", "libsafe.so=full", "safe_user", cwd=tmp_path)
    assert (guarded.returncode, guarded.stdout.splitlines()[-1]) == (0, "libevil reads libsafe's: 0xfffffffffffffff2")
    assert one_line(guarded.stderr).startswith("twzemu: security violation: read safe_secret+0x0")
    typo = run("--caller-isolation", "libsaef.so=full", "safe_user", cwd=tmp_path)
    assert typo.returncode == 2 and "--caller-isolation libsaef.so: no compartment of that name" in typo.stderr


CHAIN = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <twz.h>
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
long CAT(r, N)(long depth) {
    char name[32], gate[16];
    snprintf(name, sizeof name, "libr%d.so", N + 1);
    snprintf(gate, sizeof gate, "r%d", N + 1);
    void *next = dlopen(name, RTLD_NOW);
    long (*call)(long) = next ? (long (*)(long))dlsym(next, gate) : 0;
    return call ? call(depth + 1) : depth;
}
TWZ_GATE(CAT(r, N));
"""
CHAIN_USER = r"""
#include <dlfcn.h>
#include <stdio.h>
long service_call(long);
int main(void) {
    void *first = dlopen("libr0.so", RTLD_NOW);
    long (*r0)(long) = (long (*)(long))dlsym(first, "r0");
    long chained = r0(1);
    void *plugin = dlopen("libplugin.so", RTLD_NOW);
    printf("chained %ld; the program's next dlopen: %s\n", chained, plugin ? "ok" : "no room");
    printf("another compartment's share: %ld\n", service_call(1));
    return 0;
}
"""
SERVICE_LOADS = r"""
#include <dlfcn.h>
#include <twz.h>
long service_call(long x) { return dlopen("libplugin.so", RTLD_NOW) ? x : -1; }
TWZ_GATE(service_call);
"""


def test_compartments_dlopen_made_load_out_of_their_openers_share(tmp_path: Path) -> None:
    """Each compartment of a chain dlopens the next (a hostile library could go on): they all load out of the share
    of the compartment that opened the first, so the chain stops at 32 compartments (64 images) and takes nothing
    of another compartment's share (it took every slot of the run but one)."""
    for n in range(34):
        build(tmp_path, f"r{n}", CHAIN, "-shared", f"-DN={n}")
    build(tmp_path, "plugin", (DL / "plugin.c").read_text(), "-shared")
    build(tmp_path, "service", SERVICE_LOADS, "-shared")
    build(tmp_path, "chain_user", CHAIN_USER, "-L.", "-lservice")
    done = run("chain_user", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:3] == [
        "chained 32; the program's next dlopen: no room",
        "constructor: plugin ready",
        "another compartment's share: 1",
    ]


TLS_LIBRARY = "__thread long tv = 7;\n__thread char tz[64];\nlong get_tv(void) { return tv + tz[3]; }\n"
TLS_POLLER = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
static void *poll_tv(void *a) {
    long *p;
    while (!(p = dlsym(RTLD_DEFAULT, "tv")))
        ;
    return (void *)*p;
}
int main(int argc, char **argv) {
    pthread_t t;
    void *r;
    pthread_create(&t, 0, poll_tv, 0);
    void *h = dlopen(argc > 1 ? argv[1] : "libtlslib.so", RTLD_NOW | RTLD_GLOBAL);
    if (!h) {
        printf("dlopen: %s\n", dlerror());
        return 1;
    }
    pthread_join(t, &r);
    printf("loaded, poller read %ld\n", (long)r);
    return 0;
}
"""


@pytest.mark.parametrize("seed", ["2", "6", "11"])
def test_dlsym_waits_until_a_library_another_thread_loads_is_ready(tmp_path: Path, seed: str) -> None:
    """One thread polls dlsym(RTLD_DEFAULT, "tv") while another dlopens the library that defines it: dlsym waits
    until the loader's runtime has its TLS module (and its constructors ran), so the poller reads its own copy, 7
    (it was handed the symbol first, and its C library stopped on a module it did not know)."""
    build(tmp_path, "tlslib", TLS_LIBRARY, "-shared")
    build(tmp_path, "poller", TLS_POLLER)
    done = run("--quantum", "50", "--schedule-seed", seed, "poller", cwd=tmp_path)
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "loaded, poller read 7\n")


def test_a_tls_image_outside_the_library_is_refused(tmp_path: Path) -> None:
    """A library whose PT_TLS segment claims an image at 0xfffffffffffff000 (the C library copies a module loaded
    later from there) is refused with one dlerror line naming it, not an internal error."""
    library = build(tmp_path, "tlslib", TLS_LIBRARY, "-shared")
    build(tmp_path, "poller", TLS_POLLER)
    data = bytearray(library.read_bytes())
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for at in range(phoff, phoff + phnum * phentsize, phentsize):
        if struct.unpack_from("<I", data, at)[0] == 7:  # PT_TLS: its p_vaddr
            struct.pack_into("<Q", data, at + 16, 0xFFFFFFFFFFFFF000)
    (tmp_path / "libhostile.so").write_bytes(bytes(data))
    done = run("poller", "libhostile.so", cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert (
        done.stdout.startswith("dlopen: ") and "its TLS image (0xfffffffffffff000, 8 bytes) is not in a " in done.stdout
    )


DLERRORS = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(void) {
    printf("%s\n", dlopen("libnothing.so", RTLD_NOW) ? "loaded" : dlerror());
    void *plugin = dlopen("libplugin.so", RTLD_NOW);
    printf("%s\n", dlsym(plugin, "plugin_nothing") ? "found" : dlerror());
    printf("%s\n", dlsym(RTLD_DEFAULT, "nothing_anywhere") ? "found" : dlerror());
    printf("%s\n", dlerror() ? "again" : "cleared");
    return 0;
}
"""


def test_dlerror_says_what_glibc_says(tmp_path: Path) -> None:
    """A library not found, a symbol a handle's library lacks, a symbol no library has: dlerror's words are
    glibc's (the file searched for, the library's path as found, the program's path)."""
    build(tmp_path, "plugin", (DL / "plugin.c").read_text(), "-shared")
    build(tmp_path, "dlerrors", DLERRORS)
    done = run(str(tmp_path / "dlerrors"), cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    expected = glibc(tmp_path, DLERRORS, {"plugin": (DL / "plugin.c").read_text()})
    assert done.stdout == expected.replace(str(tmp_path / "native"), str(tmp_path / "dlerrors"))


DLADDR = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
static void show(const char *what, const void *address) {
    Dl_info info;
    if (!dladdr(address, &info)) {
        printf("%s: none\n", what);
        return;
    }
    printf("%s: %s, %s at +%ld, base %s\n", what, info.dli_fname, info.dli_sname ? info.dli_sname : "(no symbol)",
           info.dli_sname ? (long)((char *)address - (char *)info.dli_saddr) : -1L,
           (char *)address > (char *)info.dli_fbase ? "below" : "above");
}
int main(void) {
    void *plugin = dlopen("libplugin.so", RTLD_NOW);
    char *add = dlsym(plugin, "plugin_add");
    show("plugin_add", add);
    show("inside plugin_add", add + 3);
    show("plugin_calls", dlsym(plugin, "plugin_calls"));
    int local;
    show("the stack", &local);
    Dl_info info;
    printf("main: %d\n", dladdr((void *)main, &info));
    return 0;
}
"""


def test_dladdr_names_the_library_and_symbol_as_glibc(tmp_path: Path) -> None:
    """dladdr of a plugin's function, of an address inside it, of its data and of the stack: the library's path as
    found, the exported symbol holding the address and the offset into it, as glibc names them."""
    build(tmp_path, "plugin", (DL / "plugin.c").read_text(), "-shared")
    build(tmp_path, "dladdr", DLADDR)
    done = run(str(tmp_path / "dladdr"), cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == glibc(tmp_path, DLADDR, {"plugin": (DL / "plugin.c").read_text()})


DLADDR_FORGER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
typedef long service(long, long, long, long, long, long);
long service_call(long);
int main(void) {
    service *monitor = (service *)dlsym(RTLD_DEFAULT, "__twz_monitor_syscall");
    char small[8], room[256];
    printf("into code %ld, too small %ld, too large %ld\n", monitor(0x7d04, (long)main, (long)main, 256, 0, 0),
           monitor(0x7d04, (long)main, (long)small, sizeof small, 0, 0),
           monitor(0x7d04, (long)main, (long)room, 1L << 40, 0, 0));
    Dl_info info;
    printf("another compartment's gate %d, its data %d, the monitor's %d\n", dladdr((void *)service_call, &info),
           monitor(0x7d04, (long)service_call + (1L << 30), (long)room, sizeof room, 0, 0),
           dladdr((void *)monitor, &info));
    return 0;
}
"""


def test_dladdr_answers_only_into_the_callers_memory_about_its_own_libraries(tmp_path: Path) -> None:
    """The monitor's dladdr service called by hand: an answer into the caller's code, a buffer too small or a
    capacity too large are EFAULT; an address of another compartment (its gate, its data) or of the monitor is in
    no library of the caller's."""
    build(tmp_path, "service", SERVICE, "-shared")
    build(tmp_path, "forger", DLADDR_FORGER, "-L.", "-lservice")
    done = run("forger", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.splitlines() == [
        "into code -14, too small -14, too large -14",
        "another compartment's gate 0, its data 0, the monitor's 0",
    ]


SCOPES = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(void) {
    void *plugin = dlopen("libplugin.so", RTLD_NOW);
    printf("RTLD_DEFAULT finds a local library's symbol: %s\n", dlsym(RTLD_DEFAULT, "plugin_add") ? "yes" : "no");
    void *user = dlopen("libscope_user.so", RTLD_NOW);
    printf("a later library binds to it: %s\n", user ? "yes" : dlerror() ? "no" : "no, no error");
    printf("RTLD_NOLOAD of it: %s, of another: %s\n", dlopen("libplugin.so", RTLD_NOW | RTLD_NOLOAD) == plugin
           ? "its handle" : "other", dlopen("libscope_user.so", RTLD_LAZY | RTLD_NOLOAD) ? "a handle" : "null");
    printf("dlerror after RTLD_NOLOAD: %s\n", dlerror() ? "an error" : "none");
    void *global = dlopen("libplugin.so", RTLD_NOW | RTLD_GLOBAL);
    printf("RTLD_GLOBAL: the same handle %d, RTLD_DEFAULT finds it: %s\n", global == plugin,
           dlsym(RTLD_DEFAULT, "plugin_add") ? "yes" : "no");
    user = dlopen("libscope_user.so", RTLD_NOW);
    long (*add)(void) = user ? (long (*)(void))dlsym(user, "scope_user_add") : 0;
    printf("now a later library binds to it: %ld\n", add ? add() : -1L);
    return 0;
}
"""
SCOPE_USER = "long plugin_add(long, long);\nlong scope_user_add(void) { return plugin_add(40, 2); }\n"


def test_rtld_local_global_and_noload_as_glibc(tmp_path: Path) -> None:
    """A library dlopen'd without RTLD_GLOBAL (RTLD_LOCAL, the default) is not in the global scope: RTLD_DEFAULT
    does not find its symbols and a library loaded later cannot bind to them; RTLD_NOLOAD gives the handle of a
    library loaded already and NULL (no error) for one that is not; RTLD_GLOBAL makes it global: as glibc."""
    build(tmp_path, "plugin", (DL / "plugin.c").read_text(), "-shared")
    build(tmp_path, "scope_user", SCOPE_USER, "-shared")
    build(tmp_path, "scopes", SCOPES)
    done = run(str(tmp_path / "scopes"), cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, "")
    expected = glibc(tmp_path, SCOPES, {"plugin": (DL / "plugin.c").read_text(), "scope_user": SCOPE_USER})
    assert done.stdout == expected
    assert "now a later library binds to it: 42" in expected and "binds to it: no\n" in expected


INTERPOSER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
size_t strlen(const char *s) {
    static size_t (*real)(const char *);
    if (!real)
        real = (size_t (*)(const char *))dlsym(RTLD_NEXT, "strlen");
    return real(s) + 1000;
}
int main(void) {
    printf("%zu\n", strlen("hello"));
    return 0;
}
"""


def test_rtld_next_finds_the_definition_after_the_callers_library(tmp_path: Path) -> None:
    """A program interposes strlen and finds the C library's with dlsym(RTLD_NEXT): the definition after its own,
    as glibc finds it (it found the program's own, which called itself until its stack ran out)."""
    build(tmp_path, "interposer", INTERPOSER, "-O0", "-fno-builtin")
    done = run(str(tmp_path / "interposer"))
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "1005\n")
    assert glibc(tmp_path, INTERPOSER, {}, "-O0", "-fno-builtin") == done.stdout
