"""Twizzler objects: 128-bit ids, the byte layout of an object, and the object store.

Data flow, bottom up:

* ``objid`` — ``ObjId``, the 128-bit id (parse, print, random, hi/lo halves);
* ``layout`` — the byte-exact records of an object (``MetaInfo``, ``MetaExt``, ``FotEntry``), where they live
  (``META_OFFSET``, ``fot_entry_offset``), invariant pointers (``InvPtr``) and ``Prot``;
* ``object`` — ``Object``: an id, a ``Lifetime`` and up to 1 GiB of sparse pages, with typed access to its
  meta page and FOT;
* ``objfile`` / ``atomic`` — the on-disk form of one object and crash-safe file replacement;
* ``store`` — ``ObjectStore``: objects by id plus a flat namespace, in memory or in a directory.

Nothing here imports Unicorn: this layer is pure Python and tested with Hypothesis.
"""

from twzemu.objects.layout import (
    DATA_OFFSET,
    FOT_ENTRY_SIZE,
    MAX_OBJECT_SIZE,
    META_OFFSET,
    NULL_PAGE_SIZE,
    PAGE_SIZE,
    FotEntry,
    FotFlags,
    InvPtr,
    MetaExt,
    MetaExtTag,
    MetaFlags,
    MetaInfo,
    Prot,
    fot_entry_offset,
)
from twzemu.objects.object import Lifetime, Object
from twzemu.objects.objid import ObjId
from twzemu.objects.store import ObjectStore, store_from_env

__all__ = [
    "DATA_OFFSET",
    "FOT_ENTRY_SIZE",
    "MAX_OBJECT_SIZE",
    "META_OFFSET",
    "NULL_PAGE_SIZE",
    "PAGE_SIZE",
    "FotEntry",
    "FotFlags",
    "InvPtr",
    "Lifetime",
    "MetaExt",
    "MetaExtTag",
    "MetaFlags",
    "MetaInfo",
    "ObjId",
    "Object",
    "ObjectStore",
    "Prot",
    "fot_entry_offset",
    "store_from_env",
]
