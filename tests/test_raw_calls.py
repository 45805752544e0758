"""Raw system calls with hostile arguments (random numbers, pointers into the guest's own buffer, paths) against
the system-call service: whatever the arguments, an errno or a result, never an internal error of the monitor. The
service's own reviews found several crashes this way (a name too long for Path.is_dir, a name that is not UTF-8)."""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from conftest import ROOT

# The guest: each input line is a call number, five argument kinds (b: an address in its buffer at the offset
# given, p: its buffer holding a path, else the number itself) and five values.
RAW_CALLS = """#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static char buffer[65536];
int main(void)
{
    strcpy(buffer, "/tmp/fz");
    long n, v[5];
    char kinds[6];
    while (scanf("%ld %5s %ld %ld %ld %ld %ld", &n, kinds, &v[0], &v[1], &v[2], &v[3], &v[4]) == 7) {
        long a[5];
        for (int i = 0; i < 5; i++) /* b: an address in buffer (offset v), p: a path in buffer, else the number */
            a[i] = kinds[i] == 'b' ? (long)(buffer + (v[i] & 0xffff)) : kinds[i] == 'p' ? (long)buffer : v[i];
        long r = syscall(n, a[0], a[1], a[2], a[3], a[4]);
        printf("%ld -> %ld\\n", n, r);
        fflush(stdout);
    }
    return 0;
}
"""
# Every call the service serves but those that wait as long as asked (nanosleep, clock_nanosleep, poll, select and
# their variants: a huge time waits until the run's timeout) and read (fd 0 would eat the script).
CALLS = [1, 2, 3, 4, 5, 6, 8, 16, 17, 18, 21, 22, 32, 33, 72, 74, 75, 76, 77, 79, 80, 81, 82, 83, 84, 87, 89, 90, 91,
         95, 96, 97, 98, 100, 201, 217, 228, 229, 257, 258, 262, 263, 264, 267, 268, 269, 280, 292, 293, 302, 316,
         318]  # fmt: skip
NUMBERS = [0, 1, 2, 3, 4, 5, -1, -100, 255, 256, 1 << 31, -(1 << 31), (1 << 63) - 1, -(1 << 63), 0x1000, 1 << 30,
           4096, 65536, 1 << 40, 0o777, 0o200000, 0o102, 0x200, 0x1000]  # fmt: skip
# How a run may end: its script ran out (0), a wait no one can end (134: a pipe only it could fill), a write to a
# pipe no one reads (141).
ENDINGS = {0, 134, 141}


@pytest.fixture(scope="module")
def raw_calls(tmp_path_factory: pytest.TempPathFactory):
    directory = tmp_path_factory.mktemp("rawcalls")
    (directory / "raw.c").write_text(RAW_CALLS)
    command = [sys.executable, "-m", "twzemu.cli", "cc", "-o", str(directory / "raw"), str(directory / "raw.c")]
    subprocess.run(command, check=True)
    return directory / "raw"


def _script(seed: int, count: int = 250) -> str:
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        kinds = "".join(rng.choice("bpnnn") for _ in range(5))
        values = [rng.choice(NUMBERS) if kind == "n" else rng.randrange(0x10000) for kind in kinds]
        lines.append(" ".join(map(str, [rng.choice(CALLS), kinds, *values])))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(6))
def test_hostile_system_call_arguments_get_errno_values_not_an_internal_error(raw_calls, seed: int) -> None:
    command = [sys.executable, "-m", "twzemu.cli", "run", "--timeout", "60", str(raw_calls)]
    done = subprocess.run(command, input=_script(seed).encode(), capture_output=True, cwd=ROOT, timeout=120)
    stderr = done.stderr.decode(errors="replace")  # the guest writes whatever its buffer holds, to 1 and 2 too
    assert "internal error" not in stderr and "Traceback" not in stderr, stderr[-2000:]
    assert done.returncode in ENDINGS, (done.returncode, stderr[-2000:])
