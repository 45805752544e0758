"""The guest C library (issue 12): ordinary C against musl under twzemu, checked against what the C standard and
POSIX say (guests/clib/clib.c), and a compartment's libc held to its compartment's context."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, guest

CLIB = guest("clib/clib")
ASSERT_LINE = next(
    n
    for n, line in enumerate((ROOT / "guests/clib/clib.c").read_text().splitlines(), 1)
    if "assert(1 + 1 == 3)" in line
)
LIBRARY_DATA = "0x1c0001000"  # libatexit_lib.so's data slot (slot 7): the program's compartment does not map it


def clib(*args: str, stdin: str = "", env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``twzemu run ARGS``; with ``env``, in that environment (the guest's is twzemu's), plus where the built runtime
    is (the tests' cache: conftest.py)."""
    command = [sys.executable, "-m", "twzemu.cli", "run", *args]
    if env is not None:
        env = {**env, "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]}
    return subprocess.run(command, input=stdin, capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)


def built(tmp_path: Path, name: str, source: str, *flags: str) -> Path:
    """``source`` built with ``twzemu cc`` into ``tmp_path / name``."""
    (tmp_path / f"{name}.c").write_text(source)
    output = tmp_path / name
    command = [sys.executable, "-m", "twzemu.cli", "cc", "-o", str(output), str(tmp_path / f"{name}.c"), *flags]
    subprocess.run(command, check=True)
    return output


def native(tmp_path: Path, name: str) -> Path:
    """guests/clib/NAME.c built with gcc for the host (against glibc): what the guest's output is compared with."""
    output = tmp_path / f"{name}-native"
    subprocess.run(["gcc", "-w", "-o", str(output), str(ROOT / f"guests/clib/{name}.c")], check=True)
    return output


@pytest.mark.parametrize(
    ("check", "stdout"),
    [
        (
            "stdlib",
            "strtol -31 511\nstrtod 0.0025000000000000001 -inf\natoi 42 atol -9000000000\n"
            "qsort 1 3 5 7 9 bsearch 3\ngetenv set-here null\nrand repeats 1\n",
        ),
        ("string", "hello, world 12 1 world world\nctype 1 0 1 Q q\n"),
        ("math", "math 1.414214 0.841471 2.718282 1024.0 3\n"),
        ("jump", "longjmp 42\n"),
        ("unknown", "syscall 999: -1 Function not implemented\nagain: -1\n"),
    ],
)
def test_ordinary_c_gets_what_the_standard_says(check: str, stdout: str) -> None:
    done = clib(str(CLIB), check, env={"CLIB_VAR": "set-here", "PATH": "/usr/bin:/bin"})
    assert (done.returncode, done.stdout, done.stderr) == (0, stdout, "")


def test_errno_and_strerror() -> None:
    done = clib(str(CLIB), "errno")
    assert done.returncode == 0
    assert done.stdout.startswith("errno ERANGE 1\nfopen null errno ")


LOCALE = """
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
int main(void) {
    const char *ctype = getenv("LC_CTYPE");
    printf("LC_CTYPE %s, setlocale %s\\n", ctype ? ctype : "unset", setlocale(LC_ALL, ""));
    return 0;
}
"""


def test_the_guest_gets_the_hosts_locale_not_pythons_coercion(tmp_path) -> None:
    """With the host's locale C, Python sets LC_CTYPE=C.UTF-8 in its own environment (PEP 538); the guest's
    environment is the host's, as a program started by the shell would get it."""
    program = built(tmp_path, "l", LOCALE)
    done = clib(str(program), env={"PATH": "/usr/bin:/bin", "LANG": "C"})
    assert (done.returncode, done.stdout) == (0, "LC_CTYPE unset, setlocale C\n")
    chosen = clib(str(program), env={"PATH": "/usr/bin:/bin", "LC_CTYPE": "C.UTF-8"})
    assert chosen.stdout == "LC_CTYPE C.UTF-8, setlocale C.UTF-8;C;C;C;C;C\n"  # the user's own choice stays


RAISED = """#include <fenv.h>
#include <stdio.h>
#include <unistd.h>
int main(void)
{
    feclearexcept(FE_ALL_EXCEPT);
    feraiseexcept(FE_INEXACT | FE_OVERFLOW);
    write(1, "a system call between\\n", 22);
    printf("raised before it: inexact %d overflow %d divbyzero %d\\n", fetestexcept(FE_INEXACT) != 0,
           fetestexcept(FE_OVERFLOW) != 0, fetestexcept(FE_DIVBYZERO) != 0);
    return 0;
}
"""


def test_exception_flags_a_program_raised_survive_its_system_calls(tmp_path) -> None:
    """C11 7.6: a function call does not clear the floating-point exception flags; a write is a crossing into the
    monitor, which gives the caller back its own MXCSR."""
    program = built(tmp_path, "f", RAISED, "-lm")
    done = clib(str(program))
    assert done.stdout.splitlines()[-1] == "raised before it: inexact 1 overflow 1 divbyzero 0"


def test_time_comes_from_the_hosts_clocks() -> None:
    import time

    before = int(time.time())
    done = clib(str(CLIB), "time")
    after = int(time.time())
    match = re.fullmatch(r"time (\d+) (\d+) 1 1\n", done.stdout)
    assert match and before <= int(match[1]) <= after and before <= int(match[2]) <= after, done.stdout


@pytest.mark.parametrize(
    ("how", "status", "stderr"),
    [
        ("term", 143, ""),  # SIGTERM's default action: 128 + 15
        ("abort", 134, ""),  # SIGABRT
        ("assert", 134, f"Assertion failed: 1 + 1 == 3 (clib/clib.c: check_signal: {ASSERT_LINE})\n"),
    ],
)
def test_a_signal_whose_default_ends_the_program_ends_it_with_128_plus_its_number(how, status, stderr) -> None:
    done = clib(str(CLIB), how)
    assert (done.returncode, done.stdout, done.stderr) == (status, "handler got 10\nignored\n", stderr)


def test_atexit_handlers_and_buffers_of_an_isolated_library_run_at_the_programs_end() -> None:
    done = clib(str(CLIB), "atexit")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == "library registered: 7\nprogram atexit\nlibrary buffered linelibrary atexit 7\n"


def test_stdin_comes_from_the_hosts_stdin() -> None:
    done = clib(str(CLIB), "stdin", stdin="one\ntwo\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "read [one]\nread [two]\n2 lines, eof 1\n", "to stderr\n")


def test_verbose_names_an_unknown_system_call_once() -> None:
    done = clib("--verbose", str(CLIB), "unknown")
    assert done.stderr.count("twzemu: clib: system call 999 is not implemented (ENOSYS)\n") == 1, done.stderr


def test_a_buffer_the_compartment_may_not_write_is_efault_not_written() -> None:
    """read() into the compartment's own code, read() into another compartment's data, clock_gettime() into
    code: the monitor serves each only as the caller's page tables allow."""
    done = clib(str(CLIB), "efault", stdin="12345678", env={"CLIB_OTHER": LIBRARY_DATA, "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "read into code: -1 Bad address\nread into another compartment: -1 Bad address\n"
        "clock_gettime into code: -1 Bad address\n"
    )


FILES_RUN = "read: first line\nread: second line\nread: appended\nat 6: l\nsize 32\ncwd /\n"


def test_a_file_written_is_read_back_within_the_run() -> None:
    done = clib(str(CLIB), "files", "out.txt")
    assert (done.returncode, done.stdout, done.stderr) == (0, FILES_RUN, "")


def test_files_persist_across_runs_with_a_store(tmp_path) -> None:
    store = str(tmp_path / "store")
    first = clib("--store", store, str(CLIB), "files", "out.txt")
    second = clib("--store", store, str(CLIB), "files", "out.txt")
    assert (first.returncode, first.stdout) == (0, FILES_RUN)
    assert (second.returncode, second.stdout) == (0, "before: first line\n" + FILES_RUN)
    without = clib(str(CLIB), "cat", "out.txt")  # no store: a fresh namespace
    assert without.stdout == "fopen r out.txt: No such file or directory\n"


def test_a_file_belongs_to_the_compartment_that_created_it() -> None:
    done = clib(str(CLIB), "owner")
    assert done.stdout == "library opens the program's file: Permission denied\nprogram opens it: opened\n"


def test_a_mount_is_readable_relative_to_its_directory_and_read_only_without_rw(tmp_path) -> None:
    (tmp_path / "in.txt").write_text("host bytes\n")
    read = clib("--mount", str(tmp_path), str(CLIB), "cat", "in.txt")
    assert read.stdout == "in.txt: 11 bytes: host bytes\n"
    refused = clib("--mount", str(tmp_path), str(CLIB), "create", "new.txt")
    assert refused.stdout == "fopen w new.txt: Read-only file system\n" and not (tmp_path / "new.txt").exists()
    escape = clib("--mount", str(tmp_path), str(CLIB), "cat", "../" + tmp_path.name + "/../etc/passwd")
    assert "No such file or directory" in escape.stdout  # outside the mount: the object namespace, empty


def test_a_writable_mount_gets_the_file_on_close_and_a_mount_can_be_one_compartments(tmp_path) -> None:
    written = clib("--mount", f"{tmp_path}:rw", str(CLIB), "create", "new.txt")
    assert written.stdout == "fclose 0\n"
    assert (tmp_path / "new.txt").read_text() == "written by the guest\n"
    assert [p.name for p in tmp_path.iterdir()] == ["new.txt"]  # no temporary file left behind
    other = clib("--mount", f"{tmp_path}:rw:someone-else", str(CLIB), "cat", "new.txt")
    assert other.stdout == "fopen r new.txt: Permission denied\n"
    mine = clib("--mount", f"{tmp_path}:clib", str(CLIB), "cat", "new.txt")
    assert mine.stdout == "new.txt: 21 bytes: written by the guest\n"


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ("/no/such/dir", "twzemu run: --mount /no/such/dir: /no/such/dir is not a directory"),
        ("{tmp}::x", "twzemu run: --mount {tmp}::x: takes DIR[:rw][:COMPARTMENT]"),
    ],
)
def test_a_bad_mount_is_a_usage_error(tmp_path, mount: str, message: str) -> None:
    done = clib("--mount", mount.format(tmp=tmp_path), str(CLIB), "cat", "x")
    assert (done.returncode, done.stderr) == (2, message.format(tmp=tmp_path) + "\n")


RENAMED = "rename 0\nold name: No such file or directory\nrenamed.txt: 6 bytes: moved\n"


def test_rename_in_the_object_namespace_and_in_a_writable_mount(tmp_path) -> None:
    assert clib(str(CLIB), "rename", "a.txt").stdout == RENAMED
    mounted = clib("--mount", f"{tmp_path}:rw", str(CLIB), "rename", "a.txt")
    assert mounted.stdout == RENAMED
    assert [p.name for p in tmp_path.iterdir()] == ["renamed.txt"]


def test_descriptors_are_a_processs_dup_dup2_fcntl_and_replaced_standard_streams(tmp_path) -> None:
    """guests/clib/fds.c, output as glibc gives it: two descriptors of one open file share its offset, stdout
    redirected with dup2 and restored, stderr replaced by freopen, sleeps that sleep, umask and times."""
    done = subprocess.run(
        [sys.executable, "-m", "twzemu.cli", "run", "--mount", f"{tmp_path}:rw", str(guest("clib/fds"))],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "dup gives a new number: 1",
        "shared offset: hello world",
        "still open through the copy: 12",
        "F_GETFL rdwr: 1",
        "F_DUPFD 10: 1",
        "bad fd: -1",
        "redirected: this line goes to out.txt",
        "freopen: to re.txt",
        "usleep: 0",
        "nanosleep: 0",
        "slept at least 0.15 s: 1",
        "umask: 22 22",  # gcc evaluates the arguments right to left
        "times: 1",
        "clock starts near 0: 1",
    ]
    assert done.stderr == ""  # stderr was closed by freopen's stream
    assert (tmp_path / "out.txt").read_text() == "this line goes to out.txt\n"


def test_directories_behave_as_glibcs_in_the_object_namespace_and_under_a_mount(tmp_path) -> None:
    """guests/clib/dirs.c (mkdir, readdir, rmdir, chdir, a file created in a missing directory or under a file,
    opening a directory, truncate, tmpnam, limits) prints what the same source built with gcc prints natively."""
    reference = native(tmp_path, "dirs")
    (tmp_path / "native").mkdir()
    (tmp_path / "mount").mkdir()
    expected = subprocess.run([str(reference)], capture_output=True, text=True, cwd=tmp_path / "native", check=True)
    in_objects = clib(str(guest("clib/dirs")))
    mounted = clib("--mount", f"{tmp_path / 'mount'}:rw", str(guest("clib/dirs")))
    assert "tmpnam: a name" in expected.stdout and "d: ../ ./ a.txt sub/ (again 4)" in expected.stdout
    assert (in_objects.returncode, in_objects.stdout, in_objects.stderr) == (0, expected.stdout, "")
    assert (mounted.returncode, mounted.stdout, mounted.stderr) == (0, expected.stdout, "")
    assert list((tmp_path / "mount").iterdir()) == []  # the program removed what it made


def test_signal_masks_pending_signals_and_the_timer_behave_as_glibcs(tmp_path) -> None:
    """guests/clib/signals.c: a blocked signal pends (once per way it was sent, as Linux keeps them) until
    unblocked, a handler runs with its signal and sa_mask blocked, sigsuspend, ignored signals, alarm and pause,
    a sleep cut short by the timer, an interval timer; the last alarm's default action ends the program (142)."""
    reference = native(tmp_path, "signals")
    expected = subprocess.run([str(reference)], capture_output=True, text=True, timeout=60)
    assert expected.returncode == -signal.SIGALRM and "sleep cut short: 1, alarms 2" in expected.stdout
    done = clib(str(guest("clib/signals")))
    assert (done.returncode, done.stdout, done.stderr) == (128 + signal.SIGALRM, expected.stdout, "")


@pytest.mark.parametrize(
    ("name", "sign"),
    [("modes", "f: file 0755 inode 1\naccess X_OK 0755: 0\nf: file 0755 inode 1\n"),
     ("times", "futimens: 0\nmtime 1234567890.000000005\n")],
)  # fmt: skip
def test_modes_times_and_the_at_calls_behave_as_glibcs(tmp_path, name: str, sign: str) -> None:
    """guests/clib/modes.c: creation modes under the umask, chmod/fchmod, access(X_OK), mkstemp's 0600, a
    rewritten file keeping its mode, openat/fstatat/mkdirat/unlinkat from a directory descriptor, fchdir;
    guests/clib/times.c: modification times (utime, futimens, utimensat, a write); in the object namespace and
    under a writable mount, as natively."""
    reference = native(tmp_path, name)
    for place in ("native", "mount"):
        (tmp_path / place).mkdir()
    expected = subprocess.run([str(reference)], capture_output=True, text=True, cwd=tmp_path / "native", check=True)
    assert sign in expected.stdout
    for options in ((), ("--mount", f"{tmp_path / 'mount'}:rw")):
        done = clib(*options, str(guest(f"clib/{name}")))
        assert (done.returncode, done.stdout, done.stderr) == (0, expected.stdout, ""), options


def test_pipes_behave_as_glibcs(tmp_path) -> None:
    """guests/clib/pipes.c: bytes in order through dup'd ends, end of file once the writers closed, O_NONBLOCK,
    a pipe's capacity, fdopen, EPIPE, and SIGPIPE's default ending the program (141)."""
    reference = native(tmp_path, "pipes")
    expected = subprocess.run([str(reference)], capture_output=True, text=True, timeout=60)
    assert expected.returncode == -signal.SIGPIPE and "holds 65536 bytes" in expected.stdout
    done = clib(str(guest("clib/pipes")))
    assert (done.returncode, done.stdout, done.stderr) == (128 + signal.SIGPIPE, expected.stdout, "")


def test_poll_and_select_behave_as_glibcs(tmp_path) -> None:
    """guests/clib/polls.c: a pipe's ends ready or not, end of file as POLLHUP, a bad descriptor (POLLNVAL,
    select's EBADF), a timeout that waits, and stdin with a line waiting."""
    reference = native(tmp_path, "polls")
    expected = subprocess.run([str(reference)], input="hello\n", capture_output=True, text=True, timeout=60, check=True)
    assert "stdin: 1 readable 1\nread: hello\n" in expected.stdout
    done = clib(str(guest("clib/polls")), stdin="hello\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, expected.stdout, "")


WAIT_FOR_EVER = """
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int ends[2];
    static char block[70000];
    pipe(ends);
    puts("waiting");
    if (strcmp(argv[1], "read") == 0)
        read(ends[0], block, 1);
    else if (strcmp(argv[1], "poll") == 0)
        poll(&(struct pollfd){ends[0], POLLIN, 0}, 1, -1);
    else
        write(ends[1], block, sizeof block);
    puts("never");
    return 0;
}
"""


@pytest.mark.parametrize(
    ("how", "what"),
    [("read", "reads the empty pipe 3 of wait, which only it could fill"),
     ("write", "writes to the full pipe 4 of wait, which only it reads"),
     ("poll", "waits for descriptors of wait that nothing else can make ready")],
)  # fmt: skip
def test_a_wait_on_a_pipe_no_one_else_holds_is_a_deadlock(tmp_path, how: str, what: str) -> None:
    """One thread reading its own empty pipe (or writing more than its own pipe holds) would wait for ever."""
    program = built(tmp_path, "wait", WAIT_FOR_EVER)
    done = clib(str(program), how)
    assert (done.returncode, done.stdout, done.stderr) == (134, "waiting\n", f"twzemu: deadlock: T1 {what}\n")


MAP_FILES = """#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <stdlib.h>
#include <unistd.h>
int main(void) {
    FILE *f = fopen("/tmp/m.txt", "w"); for (int i = 0; i < 2000; i++) fprintf(f, "%04d\\n", i); fclose(f);
    int fd = open("/tmp/m.txt", O_RDWR);
    char *p = mmap(0, 10000, PROT_READ, MAP_PRIVATE, fd, 4096);
    printf("mmap at 4096: %.4s, past end zero %d\\n", p, p[10000 - 4096 + 10] == 0);
    void *shared = mmap(0, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    printf("shared writable: %s\\n", shared == MAP_FAILED ? "refused" : "mapped");
    munmap(p, 10000);
    char buf[5] = {0};
    printf("pread %zd %.4s, offset still %ld\\n", pread(fd, buf, 4, 50), buf, (long)lseek(fd, 0, SEEK_CUR));
    pwrite(fd, "ABCD", 4, 0);
    pread(fd, buf, 4, 0);
    printf("pwrite then pread: %.4s\\n", buf);
    setenv("TZ", "Europe/Berlin", 1); tzset();
    time_t t = 0; struct tm *tm = localtime(&t);
    printf("Berlin at the epoch: %02d:%02d %s\\n", tm->tm_hour, tm->tm_min, tm->tm_zone);
    return 0;
}
"""


def test_a_file_maps_as_a_private_copy_and_pread_pwrite_leave_the_offset(tmp_path) -> None:
    """mmap of a file (musl maps time zone files so: TZ names work with the zoneinfo directory mounted), pread
    and pwrite. A shared writable mapping is refused (ENODEV): its writes could never reach the file."""
    program = built(tmp_path, "m", MAP_FILES)
    zoneinfo = Path("/usr/share/zoneinfo")
    mounts = ["--mount", str(zoneinfo)] if (zoneinfo / "Europe/Berlin").exists() else []
    done = clib(*mounts, str(program))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[:6] == [
        "mmap at 4096: 819",
        ", past end zero 1",
        "shared writable: refused",
        "pread 4 0010, offset still 0",
        "pwrite then pread: ABCD",
        "Berlin at the epoch: 01:00 CET" if mounts else "Berlin at the epoch: 00:00 UTC",
    ]


def test_a_sleep_ends_at_the_runs_timeout_or_ctrl_c(tmp_path) -> None:
    source = tmp_path / "sleeper.c"
    source.write_text('#include <stdio.h>\n#include <unistd.h>\nint main(void) { puts("asleep"); sleep(30); }\n')
    subprocess.run([sys.executable, "-m", "twzemu.cli", "cc", "-o", str(tmp_path / "sleeper"), str(source)], check=True)
    run = [sys.executable, "-m", "twzemu.cli", "run"]
    sleeper = str(tmp_path / "sleeper")
    done = subprocess.run([*run, "--timeout", "1", sleeper], capture_output=True, text=True, timeout=20)
    assert done.returncode == 124, done.stderr
    sleeping = subprocess.Popen([*run, sleeper], stdout=subprocess.PIPE, text=True)
    assert sleeping.stdout is not None and sleeping.stdout.readline() == "asleep\n"
    sleeping.send_signal(signal.SIGINT)
    assert sleeping.wait(timeout=10) == 130


STAT_DIRECTORIES = """#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(void)
{
    struct stat st;
    const char *paths[] = {".", "sub", "f.txt", "missing", "sub/"};
    FILE *f = fopen("f.txt", "w");
    fputs("x", f);
    fclose(f);
    for (int i = 0; i < 5; i++) {
        int r = stat(paths[i], &st);
        printf("%s: stat %d dir %d reg %d access %d\\n", paths[i], r, r == 0 && S_ISDIR(st.st_mode),
               r == 0 && S_ISREG(st.st_mode), access(paths[i], F_OK));
    }
    return 0;
}
"""


def test_stat_and_access_see_directories(tmp_path) -> None:
    """Under a mount, host directories; in the object namespace, its own (here only its root). Output as glibc
    gives it for the mount."""
    (tmp_path / "sub").mkdir()
    program = built(tmp_path, "d", STAT_DIRECTORIES)
    mounted = clib("--mount", f"{tmp_path}:rw", str(program))
    expected = ["stat 0 dir 1 reg 0 access 0", "stat 0 dir 1 reg 0 access 0", "stat 0 dir 0 reg 1 access 0",
                "stat -1 dir 0 reg 0 access -1", "stat 0 dir 1 reg 0 access 0"]  # fmt: skip
    names = [".", "sub", "f.txt", "missing", "sub/"]
    assert mounted.stdout.splitlines() == [f"{name}: {line}" for name, line in zip(names, expected, strict=True)]
    namespace = clib(str(program))  # no sub/ there
    assert namespace.stdout.splitlines()[1] == "sub: stat -1 dir 0 reg 0 access -1"
    assert namespace.stdout.splitlines()[0] == "." + ": " + expected[0]
