"""``twzemu store ls|put|rm``: manage a persistent object store from the shell.

Thin by design: parse, call ``ObjectStore``, print. The store directory comes from ``--store DIR`` (accepted
before or after the subcommand, as ``--debug`` is) or ``$TWZEMU_STORE``; a store command without either is a
usage error.

* ``ls`` — one line per object: ``<id> <lifetime> <data bytes> <names, comma-separated, or ->``;
* ``put FILE [--name NAME]`` — store FILE's bytes as a new persistent object, data at ``DATA_OFFSET``
  (0x1000), record its size in the ``SIZED`` meta extension, print the new id, optionally bind NAME;
* ``rm ID|NAME`` — remove the object (an id-shaped argument is an id, anything else a name) and its names.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from pathlib import Path

from twzemu.errors import ObjectError, UsageError
from twzemu.objects.layout import DATA_OFFSET, META_OFFSET, MetaExtTag
from twzemu.objects.object import Lifetime
from twzemu.objects.objid import ObjId
from twzemu.objects.store import STORE_ENV, ObjectStore, check_name

from .common import add_debug_option

# The data area ends where the FOT begins; a put file leaves room for no FOT entries but must not reach meta.
MAX_PUT_SIZE = META_OFFSET - DATA_OFFSET


def add_store_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``store`` and its subcommands on the main CLI's subparsers."""
    parser = subparsers.add_parser(
        "store",
        help="manage the persistent object store",
        description="List, add and remove the objects of an on-disk object store (the one `twzemu run --store "
        "DIR` loads libraries from by name).",
        epilog=f"The store is --store DIR, else ${STORE_ENV}; naming neither is a usage error. Exit status: 0; 2 for "
        "bad options or no store named; 127 for a missing object or file, or a damaged store.",
    )
    parser.add_argument("--store", metavar="DIR", default=None, help=f"store directory (default: ${STORE_ENV})")
    add_debug_option(parser)
    # The same options on each subcommand, so `store ls --store DIR` works too; SUPPRESS keeps an
    # earlier `store --store DIR ls` from being overwritten by the subcommand's default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--store", metavar="DIR", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    add_debug_option(common)
    commands = parser.add_subparsers(dest="store_command", metavar="COMMAND", required=True)
    commands.add_parser("ls", parents=[common], help="list objects: id, lifetime, data size, names")
    put = commands.add_parser("put", parents=[common], help="store a file as a new persistent object")
    put.add_argument("file", metavar="FILE")
    put.add_argument("--name", metavar="NAME", help="bind NAME to the new object")
    rm = commands.add_parser("rm", parents=[common], help="remove an object by id or name")
    rm.add_argument("target", metavar="ID|NAME")
    parser.set_defaults(func=run_store)


def run_store(args: argparse.Namespace) -> int:
    """Run one ``store`` subcommand; errors are raised as ``TwzEmuError``s."""
    store = _open_store(args)
    return _COMMANDS[args.store_command](store, args)


def _open_store(args: argparse.Namespace) -> ObjectStore:
    directory = getattr(args, "store", None) or os.environ.get(STORE_ENV)
    if not directory:
        raise UsageError(f"store: no store named: use --store DIR or set {STORE_ENV}")
    return ObjectStore.on_disk(directory)


def _ls(store: ObjectStore, args: argparse.Namespace) -> int:
    for id in store.iter_ids():
        obj = store.get(id)
        names = ",".join(store.names_of(id)) or "-"
        print(f"{id} {obj.lifetime} {obj.data_size} {names}")
    return 0


def _put(store: ObjectStore, args: argparse.Namespace) -> int:
    if args.name is not None:
        check_name(args.name)  # before anything is written: a bad name must not leave an orphan object
    data = _read_input(Path(args.file))
    obj = store.create(Lifetime.PERSISTENT)
    obj.write(DATA_OFFSET, data)
    obj.set_meta_ext(MetaExtTag.SIZED, len(data))
    store.put(obj)
    if args.name is not None:
        store.bind(args.name, obj.id)
    print(obj.id)
    return 0


def _rm(store: ObjectStore, args: argparse.Namespace) -> int:
    store.remove(_resolve(store, args.target))
    return 0


def _resolve(store: ObjectStore, target: str) -> ObjId:
    """An id-shaped target is an id (names never are id-shaped); anything else is looked up as a name."""
    try:
        return ObjId.parse(target)
    except ObjectError:
        return store.lookup(target)


def _read_input(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ObjectError(f"store: cannot read {path}: {error.strerror}") from error
    if len(data) > MAX_PUT_SIZE:
        raise ObjectError(f"store: {path} has {len(data)} bytes; an object holds at most {MAX_PUT_SIZE}")
    return data


_COMMANDS: dict[str, Callable[[ObjectStore, argparse.Namespace], int]] = {
    "ls": _ls,
    "put": _put,
    "rm": _rm,
}
