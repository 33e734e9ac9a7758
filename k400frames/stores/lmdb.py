"""``store: lmdb``: every clip of a split in one LMDB environment,
``<root>/<split>.lmdb/`` (LMDB's ``data.mdb`` and ``lock.mdb``), the store
that mmaction2 reads through mmengine's ``LmdbBackend`` unmodified.

Keys are ASCII paths (``train/abseiling/x_000010_000020/frame_00001.jpg``),
values the bytes folder mode would write.  A clip is put in ONE write
transaction: a reader, a killed run or a full disk sees all of it or none.
LMDB allows one write transaction at a time per environment, so writers in
one process take :attr:`LmdbStore._write_lock`; a second process is kept out
by the run's target lock, not here.

Size: LMDB maps its file up to a *map size*; the map starts small and
doubles when a transaction finds it full (:meth:`LmdbStore.put`), so no
huge reservation is ever stated.  Without ``writemap`` LMDB only extends
the data file as it writes pages, so the file's apparent size is the pages
in use plus LMDB's free list; :meth:`LmdbStore.close` compacts (LMDB's own
compacting copy, ``mdb_env_copy2(MDB_CP_COMPACT)``) when that free list is
worth it, so a ``cp`` or ``rsync`` of a finished store carries no holes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import DiskFull, MissingExtra, StoreError, raise_if_disk_full
from ..files import fsync_path

INSTALL_HINT = "pip install 'k400frames[lmdb]' (or pip install lmdb)"

DATA_FILE = "data.mdb"
LOCK_FILE = "lock.mdb"

# The first map: small, so that a tiny store is a tiny file on every
# platform (Windows and some filesystems extend the file to the map size).
INITIAL_MAP_SIZE = 64 << 20
# Compact when the free pages are more than this share of the file (a big
# store built clip by clip reuses its free pages and rarely gets there).
COMPACT_ABOVE = 0.005


def load_lmdb() -> Any:
    """The ``lmdb`` module; :class:`MissingExtra` when it is not installed."""
    try:
        import lmdb
    except ImportError as exc:
        raise MissingExtra(
            f"store: lmdb needs the lmdb package, which is not installed ({exc}); "
            f"install with {INSTALL_HINT}, or use store: files"
        ) from None
    return lmdb


def is_store(path: Path) -> bool:
    """Whether ``path`` is an LMDB environment folder (holds a ``data.mdb``)."""
    return (Path(path) / DATA_FILE).is_file()


def encode_key(key: str) -> bytes:
    """The key as LMDB holds it: ASCII, because mmengine's ``LmdbBackend``
    encodes the path it is asked for with ``str.encode('ascii')``."""
    return key.encode("ascii")


class LmdbStore:
    """One LMDB environment folder.  Open with :meth:`open_write` (once per
    run) or :meth:`open_read`; close with :meth:`close`."""

    def __init__(self, path: Path, env: Any, *, write: bool, max_map_size: int | None = None):
        self.path = Path(path)
        self._env = env
        self._lmdb = load_lmdb()
        self.write = write
        self.max_map_size = max_map_size  # tests: a map that cannot grow stands for a full disk
        self._write_lock = threading.Lock()

    # -- opening -----------------------------------------------------------

    @classmethod
    def open_write(cls, path: Path, *, durable: bool = False, max_map_size: int | None = None) -> LmdbStore:
        """Open (or create) the store at ``path`` for writing.

        ``durable``: each commit is on disk (data and meta page) before
        it returns.  Otherwise each commit still flushes the data pages
        (``sync``) but not the meta page (``metasync=False``): a power cut
        may undo the last commits, never the store's integrity; a killed
        process loses nothing committed.  A store left half-swapped by a
        killed compaction is put back first."""
        lmdb = load_lmdb()
        path = Path(path)
        _recover_swap(path)
        try:
            size = (path / DATA_FILE).stat().st_size
        except FileNotFoundError:
            size = 0
        map_size = max(INITIAL_MAP_SIZE, 2 * size)
        if max_map_size is not None:
            map_size = min(map_size, max(max_map_size, size))
        try:
            path.mkdir(parents=True, exist_ok=True)
            env = lmdb.open(
                str(path),
                map_size=map_size,
                subdir=True,
                sync=True,
                metasync=durable,
                readahead=False,
                max_dbs=0,
            )
        except OSError as exc:
            raise_if_disk_full(exc, path)
            raise StoreError(f"cannot open the store {path} for writing ({exc.strerror or exc})") from None
        except lmdb.Error as exc:
            raise StoreError(f"cannot open the store {path} for writing: {exc}") from None
        return cls(path, env, write=True, max_map_size=max_map_size)

    @classmethod
    def open_read(cls, path: Path) -> LmdbStore:
        """Open the store at ``path`` for reading; :class:`StoreError` when
        it is missing or not an LMDB environment.  Readers see only committed
        transactions, whatever a writer is doing at the time."""
        lmdb = load_lmdb()
        path = Path(path)
        if not is_store(path):
            raise StoreError(f"no LMDB store at {path} (expected a folder holding {DATA_FILE})")
        try:
            env = lmdb.open(str(path), readonly=True, subdir=True, lock=True, readahead=False, max_dbs=0)
        except lmdb.Error as exc:
            if not isinstance(exc, lmdb.ReadonlyError) and "ermission" not in str(exc):
                raise StoreError(f"cannot read the store {path}: {exc}") from None
            # A read-only copy (a dataset share): no lock file to take, so no
            # writer can be running on it either.
            env = lmdb.open(str(path), readonly=True, subdir=True, lock=False, readahead=False, max_dbs=0)
        return cls(path, env, write=False)

    # -- writing -----------------------------------------------------------

    def put_clip(self, prefix: str, members: Sequence[tuple[str, bytes]]) -> int:
        """Put one clip in one transaction: each ``(name, data)`` under
        ``prefix + name`` (names are ``/frame_00001.jpg`` or ``.mp4``).  Keys
        already under ``prefix + "/"`` go first (a clip redone with
        ``--overwrite`` keeps no frame of the old one).  Returns the bytes
        put.  A full disk raises :class:`DiskFull` with nothing of the clip
        committed."""
        items = [(encode_key(prefix + name), data) for name, data in members]
        return self.put(items, replace_prefix=prefix + "/")

    def put(self, items: Sequence[tuple[bytes, bytes]], *, replace_prefix: str | None = None) -> int:
        """Put ``items`` in one transaction (growing the map when it is
        full), after deleting the keys under ``replace_prefix``."""
        lmdb = self._lmdb
        with self._write_lock:
            while True:
                try:
                    with self._env.begin(write=True) as txn:
                        if replace_prefix is not None:
                            _delete_prefix(txn, encode_key(replace_prefix))
                        for key, data in items:
                            txn.put(key, data)
                    return sum(len(data) for _, data in items)
                except lmdb.MapFullError:
                    self._grow()
                except lmdb.DiskError as exc:  # py-lmdb's name for ENOSPC
                    raise DiskFull(f"no space left on the target filesystem (writing {self.path}: {exc})") from None
                except OSError as exc:
                    raise_if_disk_full(exc, self.path)
                    raise

    def flush(self) -> None:
        """Have every committed transaction on disk, meta page included,
        whatever ``durable`` said at the opening."""
        with self._write_lock:
            self._env.sync(True)

    def delete_clip(self, prefix: str) -> None:
        """Remove every key of the clip ``prefix``: its frames or its video."""
        with self._write_lock, self._env.begin(write=True) as txn:
            _delete_prefix(txn, encode_key(prefix + "/"))
            txn.delete(encode_key(prefix + ".mp4"))

    def _grow(self) -> None:
        current = self._env.info()["map_size"]
        new = current * 2
        if self.max_map_size is not None and new > self.max_map_size:
            raise DiskFull(f"the store {self.path} is full: its map may not grow past {self.max_map_size} bytes")
        self._env.set_mapsize(new)

    # -- reading -----------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self, buffers: bool = False) -> Iterator[Any]:
        """A read transaction.  ``buffers``: values come as views into the
        map, valid only inside it; asking a view its length reads none of the
        value's pages (LMDB keeps each value's size beside its key)."""
        lmdb = self._lmdb
        try:
            txn = self._env.begin(write=False, buffers=buffers)
        except lmdb.MapResizedError:  # a writer grew the map since we opened
            self._env.set_mapsize(0)
            txn = self._env.begin(write=False, buffers=buffers)
        try:
            yield txn
        finally:
            txn.abort()

    def get(self, key: str) -> bytes | None:
        """The value of ``key``, None when it is not there."""
        with self._reading() as txn:
            return txn.get(encode_key(key))

    def has_prefix(self, prefix: str) -> bool:
        """Whether any key starts with ``prefix``: one cursor step, not a scan."""
        start = encode_key(prefix)
        with self._reading(buffers=True) as txn:
            cursor = txn.cursor()
            return bool(cursor.set_range(start)) and bytes(cursor.key()).startswith(start)

    def size(self, key: str) -> int | None:
        """The size of ``key``'s value, None when it is not there; the value is not read."""
        with self._reading(buffers=True) as txn:
            value = txn.get(encode_key(key))
            return None if value is None else len(value)

    def scan(self, prefix: str = "") -> Iterator[tuple[str, int]]:
        """``(key, value size)`` of every key that starts with ``prefix``, in
        key order, from one snapshot, without reading the values (a resume
        asks this of every finished clip: 300 values of ~20 KB each)."""
        start = encode_key(prefix)
        with self._reading(buffers=True) as txn:
            cursor = txn.cursor()
            if not cursor.set_range(start):
                return
            for key, value in cursor:
                name = bytes(key)
                if not name.startswith(start):
                    return
                yield name.decode("ascii"), len(value)

    def items(self, prefix: str = "") -> Iterator[tuple[str, bytes]]:
        """``(key, value)`` of every key that starts with ``prefix``, in key order, from one snapshot."""
        start = encode_key(prefix)
        with self._reading() as txn:
            cursor = txn.cursor()
            if not cursor.set_range(start):
                return
            for key, value in cursor:
                if not key.startswith(start):
                    return
                yield key.decode("ascii"), value

    def keys(self, prefix: str = "") -> Iterator[str]:
        start = encode_key(prefix)
        with self._reading() as txn:
            cursor = txn.cursor()
            if not cursor.set_range(start):
                return
            for key in cursor.iternext(keys=True, values=False):
                if not key.startswith(start):
                    return
                yield key.decode("ascii")

    def entries(self) -> int:
        """Keys in the store."""
        return self._env.stat()["entries"]

    def used_bytes(self) -> int:
        """Bytes of the pages that hold data (the rest of the file is free pages)."""
        stat, info = self._env.stat(), self._env.info()
        pages = stat["branch_pages"] + stat["leaf_pages"] + stat["overflow_pages"] + 2  # + the two meta pages
        return min(pages * stat["psize"], (info["last_pgno"] + 1) * stat["psize"])

    # -- closing -----------------------------------------------------------

    def close(self, *, compact: bool = False) -> None:
        """Close the store; with ``compact``, first rewrite it without its
        free pages when they are worth it (over :data:`COMPACT_ABOVE` of the
        file), by LMDB's own compacting copy into a folder beside it and
        two renames (a killed compaction is undone by the next open)."""
        if compact and self.write:
            try:
                size = (self.path / DATA_FILE).stat().st_size
                if size and (size - self.used_bytes()) / size > COMPACT_ABOVE:
                    self._compact()
            finally:
                self._env.close()
            if (self.path.parent / _swap_name(self.path, "new")).exists():
                _swap_in(self.path)
            return
        self._env.close()

    def _compact(self) -> None:
        new = self.path.parent / _swap_name(self.path, "new")
        shutil.rmtree(new, ignore_errors=True)
        new.mkdir()
        try:
            with self._write_lock:
                self._env.copy(str(new), compact=True)
            fsync_path(new / DATA_FILE)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise


def merge_into(target: LmdbStore, sources: Iterable[LmdbStore], batch_bytes: int = 64 << 20) -> int:
    """Copy every key of ``sources`` into ``target`` as it is (no decoding),
    in transactions of about ``batch_bytes``; returns the keys copied."""
    copied = 0
    for source in sources:
        batch: list[tuple[bytes, bytes]] = []
        size = 0
        for key, value in source.items():
            batch.append((encode_key(key), value))
            size += len(value)
            if size >= batch_bytes:
                copied += len(batch)
                target.put(batch)
                batch, size = [], 0
        if batch:
            copied += len(batch)
            target.put(batch)
    return copied


def move_into(target: LmdbStore, paths: Sequence[Path]) -> int:
    """Move every key of the stores at ``paths`` into ``target`` (the shard
    stores of a split into its store), one store at a time: its keys copied
    as they are, ``target`` flushed to disk, and only then that store
    removed.  So a kill at any point leaves each key in one store or in
    both, never in none, and the disk holds at most one store twice.  The
    caller holds the split's lock, so no run writes to those stores.
    Returns the keys copied."""
    copied = 0
    for path in paths:
        if not is_store(path):  # what a removal killed between its unlinks left: no data to move
            shutil.rmtree(path)
            continue
        source = LmdbStore.open_read(path)
        try:
            copied += merge_into(target, [source])
        finally:
            source.close()
        target.flush()
        shutil.rmtree(path)
    return copied


def store_bytes(path: Path) -> int:
    """Apparent bytes of the store's files (what ``cp`` or ``rsync`` copies)."""
    try:
        return sum(entry.stat().st_size for entry in os.scandir(path) if entry.is_file())
    except FileNotFoundError:
        return 0


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------


def _delete_prefix(txn: Any, start: bytes) -> None:
    cursor = txn.cursor()
    if not cursor.set_range(start):
        return
    while cursor.key().startswith(start):
        if not cursor.delete():  # moves to the next key; False at the end
            return


def _swap_name(path: Path, what: str) -> str:
    return f".{path.name}.{what}"


def _swap_in(path: Path) -> None:
    """Replace the store at ``path`` by its compacted copy: store -> .old,
    .new -> store, drop .old.  Each step can be redone by :func:`_recover_swap`."""
    new = path.parent / _swap_name(path, "new")
    old = path.parent / _swap_name(path, "old")
    shutil.rmtree(old, ignore_errors=True)
    os.rename(path, old)
    os.rename(new, path)
    shutil.rmtree(old, ignore_errors=True)


def _recover_swap(path: Path) -> None:
    """Finish or undo a compaction a killed run left: the compacted copy is
    only renamed once whole, so with the store itself gone it is the store."""
    new = path.parent / _swap_name(path, "new")
    old = path.parent / _swap_name(path, "old")
    if not path.exists():
        if new.exists() and old.exists():
            os.rename(new, path)
        elif old.exists():
            os.rename(old, path)
    shutil.rmtree(new, ignore_errors=True)
    shutil.rmtree(old, ignore_errors=True)
