#!/usr/bin/env python3
"""Fetches Lua 5.4 (its sources and its own test files, ``testes/``) from the ``lupa==2.8`` sdist on PyPI, which
ships them under ``third-party/lua54``: downloaded once into the user's cache, extracted into ``--out``. Nothing of
Lua is committed. Usage: ``python3 fetch.py --out DIR``."""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

SDIST = "lupa==2.8"
ARCHIVE = "lupa-2.8.tar.gz"
INSIDE = "lupa-2.8/third-party/lua54/"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, type=Path)
    default_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "twzemu" / "lupa"
    parser.add_argument("--cache", type=Path, default=default_cache)
    args = parser.parse_args()
    archive = args.cache / ARCHIVE
    if not archive.exists():
        args.cache.mkdir(parents=True, exist_ok=True)
        print(f"lua: downloading the {SDIST} sdist (Lua 5.4 and its tests) into {args.cache}", flush=True)
        command = [sys.executable, "-m", "pip", "download", "--quiet", SDIST, "--no-deps", "--no-binary", ":all:"]
        subprocess.run([*command, "-d", str(args.cache)], check=True)
    shutil.rmtree(args.out, ignore_errors=True)
    with tarfile.open(archive) as sdist:
        for member in sdist.getmembers():
            if member.isfile() and member.name.startswith(INSIDE):
                target = args.out / member.name[len(INSIDE) :]
                target.parent.mkdir(parents=True, exist_ok=True)
                source = sdist.extractfile(member)
                assert source is not None
                target.write_bytes(source.read())
    print(f"lua: {args.out}", flush=True)


if __name__ == "__main__":
    main()
