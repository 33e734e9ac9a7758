"""``store: lmdb``: every clip of a split in one LMDB environment,
``<root>/<split>.lmdb/`` (LMDB's ``data.mdb`` and ``lock.mdb``), the store
that mmaction2 reads through mmengine's ``LmdbBackend`` unmodified.

Keys are ASCII paths (``train/abseiling/x_000010_000020/frame_00001.jpg``),
values the bytes folder mode would write.  A clip is put in ONE write
transaction: a reader, a killed run or a full disk sees all of it or none.
LMDB allows one write transaction at a time per environment, so writers in
one process take :attr:`LmdbEnv._write_lock`; a second process is kept out
by the run's target lock, not here.

Size: LMDB maps its file up to a *map size*; the map starts small and
doubles when a transaction finds it full (:meth:`LmdbEnv.put`), so no
huge reservation is ever stated.  Without ``writemap`` LMDB only extends
the data file as it writes pages, so the file's apparent size is the pages
in use plus LMDB's free list; :meth:`LmdbEnv.close` compacts (LMDB's own
compacting copy, ``mdb_env_copy2(MDB_CP_COMPACT)``) when that free list is
worth it, so a ``cp`` or ``rsync`` of a finished store carries no holes.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import DiskFull, MissingExtra, PackError, StoreError, raise_if_disk_full
from ..files import fsync_path
from ..layout import Entry, Layout, parse_shard_tag, split_of_store
from ..words import plural, some
from .base import ClipKey, ClipView, Members, PackedStore, TreeInfo

log = logging.getLogger(__name__)

INSTALL_HINT = "pip install 'k400frames[lmdb]' (or pip install lmdb)"

DATA_FILE = "data.mdb"
LOCK_FILE = "lock.mdb"

# The first map: small, so that a tiny store is a tiny file on every
# platform (Windows and some filesystems extend the file to the map size).
INITIAL_MAP_SIZE = 64 << 20
# How long a map resize waits for this process's open read transactions.
_RESIZE_WAIT_S = 60.0
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


class LmdbEnv:
    """One LMDB environment folder (the bytes under :class:`LmdbStore`).  Open with :meth:`open_write` (once per
    run) or :meth:`open_read`; close with :meth:`close`."""

    def __init__(self, path: Path, env: Any, *, write: bool, max_map_size: int | None = None):
        self.path = Path(path)
        self._env = env
        self._lmdb = load_lmdb()
        self.write = write
        self.max_map_size = max_map_size  # tests: a map that cannot grow stands for a full disk
        self._write_lock = threading.Lock()
        # set_mapsize must not run while any transaction of this process is
        # open (it invalidates them): read transactions are counted, and a
        # resize waits until none is open.
        self._gate = threading.Condition()
        self._readers = 0

    # -- opening -----------------------------------------------------------

    @classmethod
    def open_write(cls, path: Path, *, durable: bool = False, max_map_size: int | None = None) -> LmdbEnv:
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
    def open_read(cls, path: Path) -> LmdbEnv:
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
                except lmdb.Error as exc:
                    # A commit that fails (EIO where the disk filled mid-write) loses that
                    # transaction only; every later one would fail too, so the run stops.
                    if _nearly_full(self.path):
                        raise DiskFull(f"no space left on the target filesystem (writing {self.path}: {exc})") from None
                    raise StoreError(f"cannot write the store {self.path}: {exc}") from None

    def flush(self) -> None:
        """Have every committed transaction on disk, meta page included,
        whatever ``durable`` said at the opening."""
        with self._write_lock:
            self._env.sync(True)

    def _grow(self) -> None:
        current = self._env.info()["map_size"]
        new = current * 2
        if self.max_map_size is not None and new > self.max_map_size:
            raise DiskFull(f"the store {self.path} is full: its map may not grow past {self.max_map_size} bytes")
        with self._gate:
            self._resize(new)

    def _resize(self, size: int) -> None:
        """``set_mapsize`` once no read transaction is open (the caller holds the gate)."""
        if not self._gate.wait_for(lambda: self._readers == 0, timeout=_RESIZE_WAIT_S):
            raise StoreError(f"cannot resize the map of {self.path}: a reader kept its transaction open")
        self._env.set_mapsize(size)

    # -- reading -----------------------------------------------------------

    @contextlib.contextmanager
    def _reading(self, buffers: bool = False) -> Iterator[Any]:
        """A read transaction.  ``buffers``: values come as views into the
        map, valid only inside it; asking a view its length reads none of the
        value's pages (LMDB keeps each value's size beside its key)."""
        lmdb = self._lmdb
        with self._gate:
            try:
                txn = self._env.begin(write=False, buffers=buffers)
            except lmdb.MapResizedError:  # a writer grew the map since we opened: take its size
                self._resize(0)
                txn = self._env.begin(write=False, buffers=buffers)
            self._readers += 1
        try:
            yield txn
        finally:
            txn.abort()
            with self._gate:
                self._readers -= 1
                self._gate.notify_all()

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
        """LMDB's compacting copy beside the store.  Compaction only gives
        back free pages: when the copy cannot be made (a full disk), the
        store stays as it is, whole, and the next close tries again."""
        new = self.path.parent / _swap_name(self.path, "new")
        shutil.rmtree(new, ignore_errors=True)
        try:
            new.mkdir()
            with self._write_lock:
                self._env.copy(str(new), compact=True)
            fsync_path(new / DATA_FILE)
        except (OSError, self._lmdb.Error) as exc:
            shutil.rmtree(new, ignore_errors=True)
            log.warning("the store %s was not compacted (%s); it is whole, and a later run compacts it", self.path, exc)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise


def merge_into(target: LmdbEnv, sources: Iterable[LmdbEnv], batch_bytes: int = 64 << 20) -> int:
    """Copy every key of ``sources`` into ``target`` as it is (no decoding),
    in transactions of about ``batch_bytes`` that end only between clips, so
    a reader, or a merge killed midway, never sees part of a clip; returns
    the keys copied."""
    copied = 0
    for source in sources:
        batch: list[tuple[bytes, bytes]] = []
        size = 0
        clip = None
        for key, value in source.items():
            this = _clip_of(key)
            if size >= batch_bytes and this != clip:
                copied += len(batch)
                target.put(batch)
                batch, size = [], 0
            clip = this
            batch.append((encode_key(key), value))
            size += len(value)
        if batch:
            copied += len(batch)
            target.put(batch)
    return copied


def _clip_of(key: str) -> str:
    """The clip a key belongs to: ``<split>/<class>/<clip>`` of a frame key,
    the key itself for a file clip or a record."""
    parts = key.split("/", 3)
    return "/".join(parts[:3]) if len(parts) == 4 and not key.startswith(RECORD_PREFIX) else key


def move_into(target: LmdbEnv, paths: Sequence[Path]) -> int:
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
        source = LmdbEnv.open_read(path)
        try:
            copied += merge_into(target, [source])
        finally:
            source.close()
        target.flush()
        shutil.rmtree(path)
    return copied


def _unique(keys: Iterator[str]) -> Iterator[str]:
    last = None
    for key in keys:
        if key != last:
            yield key
        last = key


def _nearly_full(path: Path) -> bool:
    """Whether the filesystem of ``path`` has less room than one more transaction needs."""
    try:
        return shutil.disk_usage(path).free < TXN_BYTES
    except OSError:
        return False


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


# ----------------------------------------------------------------------------
# the Store protocol over LMDB environments
# ----------------------------------------------------------------------------

SUFFIX = ".lmdb"
# Each clip's record (counts, digest) is a key of its own beside its members,
# put in the same transaction; outside every split's keys, so no loader or
# list ever meets it, and a merge or a pack of the keys carries it along.
RECORD_PREFIX = ".record/"
PAGE = 4096  # LMDB's page: the OS page size
TXN_BYTES = 64 << 20  # a transaction holds its pages in memory until it commits: bound it


class LmdbView(ClipView):
    def __init__(self, key: ClipKey, env: LmdbEnv | None, prefix: str):
        self.key, self._env, self._prefix = key, env, prefix

    def _key(self, name: str) -> str:
        return f"{self._prefix}/{name}" if self.key.folder else self._prefix

    def sizes(self) -> dict[str, int]:
        if self._env is None:
            return {}
        if not self.key.folder:
            size = self._env.size(self._prefix)
            return {} if size is None else {self.key.name: size}
        start = self._prefix + "/"
        return {key[len(start) :]: size for key, size in self._env.scan(start)}

    def read(self, name: str) -> bytes:
        data = self._env.get(self._key(name)) if self._env is not None else None
        if data is None:
            raise FileNotFoundError(f"no key {self._key(name)} in the store")
        return data

    def items(self) -> Iterator[tuple[str, bytes]]:
        if self._env is None:
            return
        if not self.key.folder:
            data = self._env.get(self._prefix)
            if data is not None:
                yield self.key.name, data
            return
        start = self._prefix + "/"
        for key, data in self._env.items(start):
            yield key[len(start) :], data


class LmdbStore(PackedStore):
    """``store: lmdb``: every clip of a split in one LMDB environment,
    ``<root>/<split>.lmdb`` (``<split>.shard-K-of-N.lmdb`` for a shard's run
    until the split's run or ``merge`` moves it in)."""

    name = "lmdb"
    suffix = SUFFIX
    fixed_files = 3  # the store's folder, data.mdb and lock.mdb
    list_formats = ("mmaction2",)  # mmaction2 reads it through mmengine's LmdbBackend

    @classmethod
    def is_store(cls, path: Path) -> bool:
        return is_store(path)

    def __init__(self, layout: Layout, envs: list[LmdbEnv], *, writes: bool, merged: int = 0, keys: int = 0):
        self.layout, self.envs, self.writes, self.merged = layout, envs, writes, merged
        self.merged_keys = keys  # keys moved in from shard stores when opened
        self.path = envs[0].path if envs else layout.store(SUFFIX)

    # -- finding and opening -----------------------------------------------------

    @classmethod
    def check_installed(cls) -> None:
        load_lmdb()

    @classmethod
    def bad_names(cls, names: Iterable[str]) -> list[str]:
        return [name for name in names if not name.isascii()]

    @classmethod
    def bad_names_error(cls, names: list[str], target: Path) -> str:
        shown = some(names)
        many = len(names) != 1
        return (
            f"store: lmdb keys must be ASCII (mmaction2 reads LMDB keys as ASCII), and {len(names)} "
            f"name{'s' if many else ''} in {target} {'are' if many else 'is'} not: {shown}; rename those clips "
            f"or class folders, or use store: files"
        )

    @classmethod
    def disk_bytes(cls, path: Path) -> int:
        return store_bytes(path)

    @classmethod
    def _resume_paths(cls, layout: Layout) -> list[Path]:
        others = [layout.store(SUFFIX, None)] if layout.shard is not None else layout.shard_stores(SUFFIX)
        return list(dict.fromkeys([layout.store(SUFFIX), *others]))

    @classmethod
    def open_run(cls, layout, *, durable=False, pad="copy", journal=None) -> LmdbStore:
        mine, *others = cls._resume_paths(layout)
        envs = [LmdbEnv.open_write(mine, durable=durable)]
        try:
            if layout.shard is None:
                if others:  # a copy of every shard's bytes: minutes for a big split, so say it first
                    size = sum(store_bytes(path) for path in others)
                    log.info("merging %s (%.1f GB) into %s first", plural(len(others), "shard store"), size / 1e9, mine)
                keys = move_into(envs[0], others)
                return cls(layout, envs, writes=True, merged=len(others), keys=keys)
            envs.extend(LmdbEnv.open_read(path) for path in others if is_store(path))
        except BaseException:
            for env in envs:
                env.close()
            raise
        return cls(layout, envs, writes=True)

    @classmethod
    def open_resume(cls, layout: Layout) -> LmdbStore:
        envs = [LmdbEnv.open_read(path) for path in cls._resume_paths(layout) if is_store(path)]
        return cls(layout, envs, writes=False)

    @classmethod
    def open_split(cls, path: Path) -> LmdbStore:
        """The split's store and the shard stores not yet merged into it
        (:attr:`unmerged`): a reader sees every clip the split holds.  A
        shard's own store, named as such, is read alone."""
        path = Path(path)
        layout = Layout(cls.split_of(path))
        shard = path.name.removesuffix(SUFFIX).rpartition(".")[2]
        unmerged = [] if parse_shard_tag(shard) else [p for p in layout.shard_stores(SUFFIX) if is_store(p)]
        envs: list[LmdbEnv] = []
        try:
            envs.extend(LmdbEnv.open_read(p) for p in ([path] if is_store(path) else []) + unmerged)
        except BaseException:
            for env in envs:
                env.close()
            raise
        store = cls(layout, envs, writes=False)
        store.path, store.unmerged = path, unmerged
        return store

    # -- writing -------------------------------------------------------------------

    def _prefix(self, key: ClipKey) -> str:
        self.layout.clip_path(key.class_name, key.name)  # refuses a name that would leave the split
        return f"{self.layout.split}/{key.class_name}/{key.name}"

    def put(self, key: ClipKey, members: Members, record: dict[str, Any], work: Path) -> int:
        prefix = self._prefix(key)
        if key.folder:
            items = [(encode_key(f"{prefix}/{name}"), data) for name, data in members]
        else:
            ((_, data),) = members
            items = [(encode_key(prefix), data)]
        items.append((encode_key(RECORD_PREFIX + prefix), json.dumps(record, sort_keys=True).encode()))
        self.envs[0].put(items, replace_prefix=prefix + "/" if key.folder else None)
        return sum(len(data) for _, data in members)

    def close(self, *, compact: bool = False) -> None:
        """Close the stores; the one a run wrote is compacted with
        ``compact``, or removed when it holds nothing (a shard rerun after
        ``merge`` that found every clip done leaves no empty store to merge)."""
        envs, self.envs = self.envs, []
        try:
            for env in envs[1:] if self.writes else envs:
                env.close()
        finally:
            if self.writes and envs:
                empty = envs[0].entries() == 0
                envs[0].close(compact=compact and not empty)
                if empty:
                    shutil.rmtree(envs[0].path, ignore_errors=True)

    # -- reading -------------------------------------------------------------------

    def _env_of(self, key: ClipKey) -> LmdbEnv | None:
        prefix = self._prefix(key)
        for env in self.envs:
            if env.has_prefix(prefix + "/") if key.folder else env.size(prefix) is not None:
                return env
        return None

    def has(self, key: ClipKey) -> bool:
        return self._env_of(key) is not None

    def view(self, key: ClipKey) -> LmdbView:
        return LmdbView(key, self._env_of(key), self._prefix(key))

    def record(self, key: ClipKey) -> dict[str, Any] | None:
        prefix = self._prefix(key)
        for env in self.envs:
            data = env.get(RECORD_PREFIX + prefix)
            if data is not None:
                try:
                    record = json.loads(data)
                except ValueError:
                    return None
                return record if isinstance(record, dict) else None
        return None

    def entries(self) -> Iterator[Entry]:
        """The split's clips from its keys (a frame key ``<split>/<class>/<clip>/<frame>``
        makes the folder entry ``<clip>``, a file key ``<split>/<class>/<name>`` the
        file entry ``<name>``); keys of no clip of the split are strays."""
        start = self.layout.split + "/"
        strays: list[str] = []
        current: str | None = None
        seen: set[str] = set()
        # Every store of the split read as one, in key order (a key in two of
        # them, from a merge stopped midway, is one key).
        for key in _unique(heapq.merge(*(env.keys("") for env in self.envs))):
            if key.startswith(RECORD_PREFIX):
                continue
            parts = key[len(start) :].split("/", 2) if key.startswith(start) else []
            if len(parts) < 2 or not all(parts[:2]):
                strays.append(key)
                continue
            class_name, name = parts[0], parts[1]
            if class_name != current:
                if current is not None:
                    yield Entry(current, "", f"{start}{current}", True, False)
                current, seen = class_name, set()
            if name in seen:
                continue
            seen.add(name)
            folder = len(parts) == 3
            yield Entry(class_name, name, f"{start}{class_name}/{name}", folder, not folder)
        if current is not None:
            yield Entry(current, "", f"{start}{current}", True, False)
        for key in strays:
            yield Entry("", key, key, False, True)

    # -- whole trees (pack, unpack) ------------------------------------------------

    @classmethod
    def read_files(cls, path: Path) -> Iterator[tuple[str, bytes]]:
        env = LmdbEnv.open_read(path)
        try:
            try:
                for key, value in env.items():
                    if not key.startswith(RECORD_PREFIX):
                        yield key, bytes(value)
            except UnicodeDecodeError:
                raise PackError(f"refused store {path}: a key is not ASCII, so no loader could ask for it") from None
        finally:
            env.close()

    @classmethod
    def read_digests(cls, path: Path) -> dict[str, str]:
        env = LmdbEnv.open_read(path)
        try:
            digests = {}
            for key, value in env.items(RECORD_PREFIX):
                try:
                    digest = json.loads(value).get("digest")
                except (ValueError, AttributeError):
                    continue
                if isinstance(digest, str) and digest:
                    digests[key[len(RECORD_PREFIX) :]] = digest
            return digests
        finally:
            env.close()

    @classmethod
    def write_files(
        cls,
        files: Iterable[tuple[str, bytes]],
        path: Path,
        digests: dict[str, str] | None = None,
        *,
        tree: TreeInfo | None = None,
    ) -> tuple[int, int]:
        """In transactions of about 64 MiB (one holds its pages in memory
        until it commits), then compacted; each digest as a clip's record."""
        env = LmdbEnv.open_write(path)
        count = total = size = seen = 0
        batch: list[tuple[bytes, bytes]] = [
            (encode_key(RECORD_PREFIX + clip), json.dumps({"digest": digest}).encode())
            for clip, digest in sorted((digests or {}).items())
            if clip.isascii()
        ]
        records = len(batch)
        try:
            for name, data in files:
                if not name.isascii():
                    raise PackError(
                        f"{name!r} is not ASCII, and mmaction2 encodes LMDB keys as ASCII: "
                        "rename it (class_names: underscore) or pack to .sqfs"
                    )
                batch.append((name.encode("ascii"), data))
                count += 1
                size += len(data)
                total += len(data)
                if size >= TXN_BYTES:
                    env.put(batch)
                    batch, size = [], 0
            env.put(batch)
            seen = env.entries() - records
        finally:
            env.close(compact=True)
        if seen != count:  # LMDB keeps one value per key: two members of one name
            raise PackError(f"{count - seen} files share a name with another in the source; nothing packed")
        return count, total

    # -- planning ------------------------------------------------------------------

    @classmethod
    def value_slack(cls, members: float) -> float:
        # Each value over ~2 KB ends on a part-used 4 KB page: half a page on average.
        return members * PAGE / 2

    def measured(self, bytes_each: list[int]) -> list[int]:
        # A value takes whole pages: scale the values' bytes to the pages they took,
        # less the store's fixed pages (two meta pages and the root), which a few samples would inflate.
        pages = max(self.envs[0].used_bytes() - 3 * PAGE, PAGE)
        scale = pages / max(sum(bytes_each), 1)
        return [int(b * scale) for b in bytes_each]

    def loader_snippet(self, kind: str, tmpl: str, classes: int, list_file: Path) -> str | None:
        """mmaction2 reading the store: the decode step's file client is
        mmengine's ``LmdbBackend``, whose key is the path the dataset builds,
        so the prefix is empty and the list paths are the keys.  Each split
        has a store of its own: the note names every one beside this."""
        store = self.path
        splits = sorted(p for p in self.layout.root.glob(f"*{SUFFIX}") if is_store(p) and ".shard-" not in p.name)
        note = (
            "Each split reads its own store; set `db_path` in that split's pipeline: "
            + ", ".join(f"`{split_of_store(p, SUFFIX).name}`: `{p}`" for p in splits)
            + ".\n"
            if len(splits) > 1
            else ""
        )
        return self._snippet(kind, store, tmpl, classes, list_file) + note

    def _snippet(self, kind: str, store: Path, tmpl: str, classes: int, list_file: Path) -> str:
        if kind == "frames":
            return (
                f"mmaction2 1.x `RawframeDataset` reading the LMDB store `{store}` through mmengine's "
                f"`LmdbBackend`; a line is `path total_frames label`, and the key of a frame is "
                f"`path/{tmpl.format(1)}`.\n\n```python\n"
                f"train_pipeline = [\n"
                f"    dict(type='SampleFrames', clip_len=8, frame_interval=8, num_clips=1),\n"
                f"    dict(type='RawFrameDecode', io_backend='lmdb', db_path='{store}'),\n"
                f"    # ... resize, crop, FormatShape, PackActionInputs as usual\n]\n"
                f"dataset = dict(type='RawframeDataset', ann_file='{list_file}',\n"
                f"               data_prefix=dict(img=''),\n"
                f"               filename_tmpl='{tmpl}', start_index=1,\n"
                f"               pipeline=train_pipeline)\n"
                f"model = dict(cls_head=dict(num_classes={classes}))\n```\n\n"
                f"`data_prefix=dict(img='')`: the list paths are the store's keys as they stand. "
                f"Keys are ASCII, as mmengine encodes them.\n"
            )
        return (
            f"mmaction2 1.x `VideoDataset` reading the LMDB store `{store}` through mmengine's `LmdbBackend`; "
            f"a line is `path label`, and the path is the key of the video's bytes.\n\n```python\n"
            f"train_pipeline = [\n"
            f"    dict(type='DecordInit', io_backend='lmdb', db_path='{store}'),\n"
            f"    dict(type='SampleFrames', clip_len=8, frame_interval=8, num_clips=1),\n"
            f"    dict(type='DecordDecode'),\n"
            f"    # ... resize, crop, FormatShape, PackActionInputs as usual\n]\n"
            f"dataset = dict(type='VideoDataset', ann_file='{list_file}',\n"
            f"               data_prefix=dict(video=''), pipeline=train_pipeline)\n"
            f"model = dict(cls_head=dict(num_classes={classes}))\n```\n"
        )
