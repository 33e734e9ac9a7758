"""Where finished clips live, behind one :class:`~.base.Store` protocol: the
folder tree (``store: files``, :mod:`.folder`) or one packed store per split
(``store: lmdb``, :mod:`.lmdb`).

A new store is one module with a :class:`~.base.Store` subclass plus one
line in :data:`STORES`; the ``store`` config key's values and doc lines are
plain data in :mod:`k400frames.config` (``STORE_DOCS``), which a test holds
equal to this registry.  Nothing outside this package names a store class
or branches on a store's name.
"""

from __future__ import annotations

import functools
import importlib
from pathlib import Path

from .base import ClipKey, ClipView, Store, TreeInfo

__all__ = ["STORES", "ClipKey", "ClipView", "Store", "TreeInfo", "locate", "packed_store_named", "store_class"]

# The registry: ``store`` config value -> the module and class that keep it.
# Imported on first use, so reading a config loads no store binding.
STORES: dict[str, tuple[str, str]] = {
    "files": ("k400frames.stores.folder", "FolderStore"),
    "lmdb": ("k400frames.stores.lmdb", "LmdbStore"),
    "webdataset": ("k400frames.stores.webdataset", "WebDatasetStore"),
}


@functools.cache
def store_class(name: str) -> type[Store]:
    """The store class of the ``store`` config value ``name``."""
    module, cls = STORES[name]
    return getattr(importlib.import_module(module), cls)


def locate(path: Path) -> tuple[type[Store], Path]:
    """Which store ``path`` names, and the store's own path: a packed store
    (``train.lmdb``), a split folder whose clips a packed store keeps
    (``train`` beside ``train.lmdb``, the folder holding no clips), or else
    the folder tree itself.  No store binding is loaded to find out."""
    classes = [store_class(name) for name in STORES]
    for cls in classes:
        found = cls.locate(Path(path)) if cls.packed else None
        if found is not None:
            return cls, found
    return next(cls for cls in classes if not cls.packed), Path(path)


def packed_store_named(path: Path) -> type[Store] | None:
    """The packed store whose files ``path`` is named as (by its suffix), if any."""
    for name in STORES:
        cls = store_class(name)
        if cls.packed and Path(path).name.endswith(cls.suffix):
            return cls
    return None
