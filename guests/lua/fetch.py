#!/usr/bin/env python3
"""Fetches Lua 5.4 (its sources and its own test files, ``testes/``) from the ``lupa==2.8`` sdist on PyPI, which
ships them under ``third-party/lua54``: downloaded once into the user's cache, extracted into ``--out``. Nothing of
Lua is committed. Usage: ``python3 fetch.py --out DIR``."""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tarfile
import urllib.parse
import urllib.request
from pathlib import Path

NAME = "lupa"
SDIST = "lupa==2.8"
ARCHIVE = "lupa-2.8.tar.gz"
INSIDE = "lupa-2.8/third-party/lua54/"


def download(cache: Path) -> Path:
    """The sdist from the package index's simple page, checked against the sha256 the page gives. (Not ``pip
    download``: it would build the sdist's build dependencies, Cython, from source to read its metadata.)"""
    archive = cache / ARCHIVE
    if archive.exists():
        return archive
    cache.mkdir(parents=True, exist_ok=True)
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    print(f"lua: downloading {ARCHIVE} ({SDIST}: Lua 5.4 and its tests) from {index} into {cache}", flush=True)
    with urllib.request.urlopen(f"{index}/{NAME}/", timeout=60) as page:
        links = re.findall(r'href="([^"]*/' + re.escape(ARCHIVE) + r'#sha256=([0-9a-f]{64}))"', page.read().decode())
    if not links:
        sys.exit(f"lua: {index}/{NAME}/ lists no {ARCHIVE}")
    url, digest = links[0]
    with urllib.request.urlopen(urllib.parse.urljoin(f"{index}/{NAME}/", url), timeout=300) as response:
        data = response.read()
    if hashlib.sha256(data).hexdigest() != digest:
        sys.exit(f"lua: {ARCHIVE} does not match the sha256 the index gives")
    partial = archive.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(archive)
    return archive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", required=True, type=Path)
    default_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "twzemu" / "lupa"
    parser.add_argument("--cache", type=Path, default=default_cache)
    args = parser.parse_args()
    archive = download(args.cache)
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
