"""What guests are built with, shipped inside the package, and the runtime built from it on first use.

Shipped (package data, so an installed twzemu builds guests from any directory): twzemu's headers (``include/``:
``<twz.h>`` and the runtime's private ABI), the linker script of Twizzler's slot-pair layout (``twz.ld``), the
runtime's glue (``rt/``: ``crt0.S``, musl's system-call layer turned into monitor gates, signals, the runtime's
services) and the caller program of ``twzemu call`` (``call/twzcall.c``).

Built on first use (``runtime()``), into the user's cache (``$XDG_CACHE_HOME/twzemu``, as the crossing engine):

- ``musl-<digest>/``: musl 1.2.5 (``musl.py``: its wheel downloaded once into ``musl/``, patched, compiled);
- ``runtime-<digest>/``: ``crt0.o``, ``libtwzrt.so`` (musl, whole, and the glue: the one library every compartment
  needs) and the empty ``libm.a``, ``libpthread.a``, ``libdl.a`` (as with musl, everything is in the C library).

Each directory is named by a digest of what it is built from (the sources here and the flags; for the runtime
also musl's digest), so an edited header or glue file builds a new runtime and never serves a stale one; nothing
is keyed by the compiler. A build happens under a lock (``sdk.lock``: concurrent first uses build once) in a temporary
directory renamed into place when whole (a crash leaves nothing half-built), with one line on stderr.
``python -m twzemu.sdk`` builds up front (``make`` does) and prints the runtime's directory.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..cache import user_cache_dir
from ..errors import ToolchainError

DATA = Path(__file__).resolve().parent
INCLUDE = DATA / "include"
LINKER_SCRIPT = DATA / "twz.ld"
GLUE = DATA / "rt"
CALLER_SOURCE = DATA / "call" / "twzcall.c"
RUNTIME_LIBRARY = "libtwzrt.so"
EMPTY_ARCHIVES = ("libm.a", "libpthread.a", "libdl.a")
_EMPTY_ARCHIVE = b"!<arch>\n"  # an ar archive with no members

# The glue is compiled as part of musl (its internal headers: libc.h, pthread_impl.h, ksigaction.h; its flags).
GLUE_CFLAGS = (
    *("-std=gnu99", "-ffreestanding", "-nostdlib", "-nostdinc", "-D_XOPEN_SOURCE=700", "-D_GNU_SOURCE", "-fPIC"),
    *("-O2", "-g", "-fno-stack-protector", "-fcf-protection=none", "-fno-asynchronous-unwind-tables"),
    *("-Wall", "-Werror", "-Wno-unused-value"),
)
# libtwzrt.so: linked into the slot layout, binding its own functions to itself (a program cannot interpose on
# the runtime's internals), with no DT_INIT/DT_FINI (the runtime's start-up runs initialisers itself).
RUNTIME_LDFLAGS = (
    *(f"-Wl,-T,{LINKER_SCRIPT}", "-Wl,-z,norelro", "-Wl,--build-id=none", f"-Wl,-soname,{RUNTIME_LIBRARY}"),
    *("-Wl,-Bsymbolic-functions", "-Wl,-init,__twz_none", "-Wl,-fini,__twz_none"),
)


@dataclass(frozen=True, slots=True)
class Runtime:
    """A built runtime: ``libc`` is musl's directory (``include/``, ``lib/libc.a``), ``directory`` the runtime's."""

    libc: Path
    directory: Path

    @property
    def libc_include(self) -> Path:
        return self.libc / "include"


def compiler() -> str:
    """``$CC``, else gcc on PATH."""
    name = os.environ.get("CC") or "gcc"
    found = shutil.which(name)
    if not found:
        raise ToolchainError(f"{name} not found: twzemu builds guests with gcc (on PATH, or named by $CC)")
    return found


def compiler_include(cc: str) -> str:
    """gcc's own headers (``stddef.h``, intrinsics), which guests use beside musl's."""
    return run([cc, "-print-file-name=include"], "asking gcc for its headers").strip()


def run(command: list[str], what: str) -> str:
    """Run ``command``; its stdout, or ``ToolchainError`` naming ``what`` with the first line it complained."""
    import subprocess  # here: only building needs it, and every start-up would pay for importing it

    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as error:
        raise ToolchainError(f"{what}: cannot run {command[0]}: {error.strerror}") from None
    if result.returncode != 0:
        first = next((line for line in result.stderr.splitlines() if line.strip()), "no diagnostic")
        raise ToolchainError(f"{what} failed ({command[0]}, status {result.returncode}): {first}")
    return result.stdout


def cache_root() -> Path:
    root = user_cache_dir()
    if root is None:
        raise ToolchainError("no cache directory for the guest runtime: set HOME or XDG_CACHE_HOME")
    return root


def runtime() -> Runtime:
    """The runtime built from this package's sources: built first if it is not."""
    root = cache_root()
    musl_digest = _digest([DATA / "musl.py"])
    libc = root / f"musl-{musl_digest}"
    sources = [LINKER_SCRIPT, *sorted(INCLUDE.rglob("*.h")), *sorted(GLUE.iterdir())]
    directory = root / f"runtime-{_digest(sources, musl_digest, *GLUE_CFLAGS, *RUNTIME_LDFLAGS)}"
    if libc.is_dir() and directory.is_dir():
        return Runtime(libc, directory)
    from . import musl  # only to build: a run that finds the runtime built imports none of musl's build

    cc = compiler()
    if not libc.is_dir():
        _say(f"building the guest runtime (musl {musl.MUSL_VERSION} and twzemu's glue) into {root}, once")
        _built(libc, lambda out: musl.build(out, root / "musl", cc, os.cpu_count() or 1))
    else:
        _say(f"building the guest runtime's glue into {directory}")
    _built(directory, lambda out: _build_glue(out, libc, cc))
    return Runtime(libc, directory)


def share_built(root: Path, built_in: Path | None = None) -> None:
    """Make what is built in ``built_in`` (default: the user's cache) usable from the cache directory ``root``
    (``.../twzemu``), by symbolic links: for tests and benchmarks that start with an empty cache, whose runs must
    not build the runtime again."""
    built_in = built_in or cache_root()
    root.mkdir(parents=True, exist_ok=True)
    if built_in.is_dir():
        for built in built_in.iterdir():
            if built.name == "musl" or built.name.startswith(("musl-", "runtime-")):
                (root / built.name).symlink_to(built)


def _build_glue(out: Path, libc: Path, cc: str) -> None:
    tree, generated = libc / "src", libc / "obj"
    includes = [INCLUDE, tree / "arch/x86_64", tree / "arch/generic", generated / "src/internal"]
    includes += [tree / "src/include", tree / "src/internal", generated / "include", tree / "include"]
    flags = [*GLUE_CFLAGS, *(f"-I{path}" for path in includes), "-isystem", compiler_include(cc)]
    run([cc, *flags, "-c", "-o", str(out / "crt0.o"), str(GLUE / "crt0.S")], "compiling crt0.S")
    glue = [str(path) for path in sorted(GLUE.glob("*.c"))]
    archive = ["-Wl,--whole-archive", str(libc / "lib/libc.a"), "-Wl,--no-whole-archive", "-lgcc"]
    link = [cc, *flags, "-shared", *RUNTIME_LDFLAGS, "-o", str(out / RUNTIME_LIBRARY), *glue, *archive]
    run(link, f"building {RUNTIME_LIBRARY}")
    for name in EMPTY_ARCHIVES:
        (out / name).write_bytes(_EMPTY_ARCHIVE)


def _digest(paths: list[Path], *extra: str) -> str:
    digest = hashlib.blake2b(digest_size=8)
    for part in extra:
        digest.update(part.encode() + b"\0")
    for path in paths:
        content = path.read_bytes()
        digest.update(f"{path.name}\0{len(content)}\0".encode() + content)
    return digest.hexdigest()


def _built(target: Path, build: Callable[[Path], object]) -> None:
    """``target`` made by ``build`` into a temporary sibling renamed into place, unless another process did."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / "sdk.lock"):
        if target.is_dir():
            return
        temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
        try:
            build(temporary)
            temporary.rename(target)
        finally:
            shutil.rmtree(temporary, ignore_errors=True)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _say(message: str) -> None:
    print(f"twzemu: {message}", file=sys.stderr, flush=True)
