"""``store: webdataset``: the clips of a split as WebDataset tar shards,
``<root>/<split>.wds/<split>-000000.tar`` ..., which the ``webdataset``
loader streams from local files or ``https://`` without an index or FUSE.

One sample per clip, its members named ``<class>/<clip>.<member>``: the
loader takes a sample's key up to the first dot of a member's basename
(``<class>/<clip>``) and lowercases the rest, its suffix.  So a clip name
holding a dot, or a frame-name template with capitals, is refused before
any work (:meth:`WebDatasetStore.bad_names`, :meth:`~WebDatasetStore.check_config`).
A sample holds the clip's members (``frame_00001.jpg`` ... or ``mp4``),
``cls`` (its class index, line ``cls`` of the split's ``labels.txt``) and
``json`` (class, label, youtube_id, start, end, counts, fps, source relative
to the config's ``source``, and the record a resume reads back).

The store folder::

    <split>.wds/labels.txt                     the class map, fixed before the first clip
    <split>.wds/index.json                     each shard: bytes, sha256, clips, classes, its samples' offsets
    <split>.wds/<split>-000000.tar ...         the shards
    <split>.wds/staging/<class>/<clip>.tar     clips put since the last compaction, one tar fragment each

Determinism: every tar header is fixed (mode 0644, owner 0, no owner names,
mtime 0, PAX for long or non-ASCII names), the ``json`` member is written
with sorted keys, and shards are cut from the samples in an order that
depends only on ``seed`` and the clips' names (a keyed hash of each name,
so never class order, and whatever the workers did first).  The same config
and sources give byte-identical shards.

Crash safety: :meth:`~WebDatasetStore.put` writes a clip's fragment under a
hidden temp name and renames it, so a staged fragment is always whole; only
:meth:`~WebDatasetStore.close` with ``compact`` (a run that ended by itself)
cuts shards.  It writes each changed shard under a hidden name of the next
*generation*, then the index naming that generation (the commit, one
rename), then renames the shards in and drops the staged fragments.  An
open finishes a committed generation and deletes an uncommitted one, so a
``kill -9`` anywhere and a plain rerun end with the shards (and sha256s) of
an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, DiskFull, PackError, StoreError, raise_if_disk_full
from ..ffmpeg.mp4 import mp4_video_track
from ..files import fsync_path, replaced_atomically
from ..layout import Entry, Layout
from ..sources.kinetics import label_key, read_kinetics_csv
from ..sources.tree import output_class_name
from ..words import some
from .base import ClipKey, ClipView, Journal, Members, PackedStore, TreeInfo
from .tar import BLOCK, END_OF_ARCHIVE, _padding, split_member, tar_member, walk_tar

if TYPE_CHECKING:  # only for annotations
    from ..config import Config

SUFFIX = ".wds"
INDEX_FILE = "index.json"
LABELS_FILE = "labels.txt"
STAGING = "staging"
FRAGMENT = ".tar"
INDEX_VERSION = 1
COPY_CHUNK = 1 << 20
# Members of a sample that are not the clip's own (which the card digests).
META_SUFFIXES = ("cls", "json")
# A Kinetics clip name: <youtube_id>_<start:06d>_<end:06d>.
KINETICS_NAME = re.compile(r"(.+)_(\d{6})_(\d{6})")
# webdataset skips members whose name matches this (its skip_meta).
LOADER_SKIPS = re.compile(r"__[^/]*__($|/)")


# ----------------------------------------------------------------------------
# samples
# ----------------------------------------------------------------------------


def sample_key(key: ClipKey) -> str:
    """The sample key of a clip, ``<class>/<clip>`` (no ``.mp4``)."""
    return f"{key.class_name}/{key.name.partition('.')[0]}"


@dataclasses.dataclass(frozen=True)
class Sample:
    """One clip's bytes: ``size`` bytes of tar members at ``offset`` in ``file``
    (a shard, or a staged fragment at offset 0)."""

    rel: str  # <class>/<ClipKey.name>: <class>/<clip> or <class>/<clip>.mp4
    file: Path
    offset: int
    size: int

    @property
    def class_name(self) -> str:
        return self.rel.partition("/")[0]

    @property
    def name(self) -> str:
        return self.rel.partition("/")[2]

    @property
    def folder(self) -> bool:
        return "." not in self.name  # a clip name holds no dot; a file clip's ends in .mp4

    def read(self) -> bytes:
        with open(self.file, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read(self.size)
        if len(data) != self.size:
            raise StoreError(f"{self.file}: cut short inside the sample {self.rel}")
        return data

    def members(self) -> dict[str, tuple[int, int]]:
        """suffix -> (offset in the file, size), from the tar headers."""
        found: dict[str, tuple[int, int]] = {}
        key = self.rel.partition(".")[0]
        with open(self.file, "rb") as handle:
            for name, data, size in walk_tar(handle, self.offset, self.offset + self.size, self.file):
                split = split_member(name)
                if split is None or split[0] != key:
                    raise StoreError(f"{self.file}: the member {name!r} is not of the sample {key}")
                found[split[1]] = (data, size)
        return found


class WebDatasetView(ClipView):
    def __init__(self, key: ClipKey, sample: Sample | None):
        self.key, self.sample = key, sample
        self._members: dict[str, tuple[int, int]] | None = None

    def _own(self) -> dict[str, tuple[int, int]]:
        """The clip's members by the name a folder tree gives them."""
        if self._members is None:
            try:
                members = self.sample.members() if self.sample is not None else {}
            except (OSError, StoreError):  # a damaged shard: the clip reads as missing; verify names the shard
                members = {}
            if self.key.folder:
                self._members = {s: v for s, v in members.items() if s not in META_SUFFIXES}
            else:
                ext = self.key.name.partition(".")[2].lower()
                self._members = {self.key.name: members[ext]} if ext in members else {}
        return self._members

    def sizes(self) -> dict[str, int]:
        return {name: size for name, (_, size) in self._own().items()}

    def read(self, name: str) -> bytes:
        if self.sample is None or name not in self._own():
            raise FileNotFoundError(f"no member {name} in the sample {self.key.rel}")
        offset, size = self._own()[name]
        with open(self.sample.file, "rb") as handle:
            handle.seek(offset)
            return handle.read(size)

    def items(self) -> Iterator[tuple[str, bytes]]:
        if self.sample is None:
            return
        own = self._own()
        with open(self.sample.file, "rb") as handle:
            for name in sorted(own):
                offset, size = own[name]
                handle.seek(offset)
                yield name, handle.read(size)

    def meta(self) -> dict[str, Any] | None:
        """The sample's ``json`` member."""
        if self.sample is None:
            return None
        members = self.sample.members()
        if "json" not in members:
            return None
        offset, size = members["json"]
        with open(self.sample.file, "rb") as handle:
            handle.seek(offset)
            try:
                meta = json.loads(handle.read(size))
            except ValueError:
                return None
        return meta if isinstance(meta, dict) else None


# ----------------------------------------------------------------------------
# one store folder: its index, its shards, its staged fragments
# ----------------------------------------------------------------------------


def is_store(path: Path) -> bool:
    """A split's store folder: named ``*.wds``, holding its ``labels.txt``
    (and never a store of its own: that is a packed root, :func:`split_stores`)."""
    path = Path(path)
    if not (path.name.endswith(SUFFIX) and path.is_dir() and (path / LABELS_FILE).is_file()):
        return False
    return (path / INDEX_FILE).is_file() or (path / STAGING).is_dir() or not _child_stores(path)


def _child_stores(path: Path) -> list[Path]:
    try:
        with os.scandir(path) as entries:
            found = [Path(e.path) for e in entries if e.name.endswith(SUFFIX) and e.is_dir()]
    except OSError:
        return []
    return sorted(p for p in found if is_store(p))


def split_stores(path: Path) -> list[Path]:
    """The split stores ``path`` names: itself (``train.wds``), or each
    ``<split>.wds`` of a packed root (``pack ROOT --to frames.wds`` makes
    ``frames.wds/train.wds``, ``frames.wds/val.wds``)."""
    path = Path(path)
    if is_store(path):
        return [path]
    return _child_stores(path) if path.name.endswith(SUFFIX) and path.is_dir() else []


def _gen_name(name: str, generation: int) -> str:
    return f".{name}.g{generation}"


_GEN = re.compile(r"\.(.+)\.g(\d+)")


class Series:
    """The shards and staged fragments of one store folder (a split's, or
    one shard task's)."""

    def __init__(self, path: Path, *, write: bool):
        self.path = Path(path)
        self.write = write
        if write:
            self.recover()
        self.index = self._load_index()
        self.sharded: dict[str, Sample] = {}
        for shard in self.index["shards"]:
            file = self.shard_file(shard["name"])
            for rel, offset, size in shard["samples"]:
                self.sharded[rel] = Sample(rel, file, offset, size)
        self.staged: dict[str, Sample] = self._scan_staging()

    # -- files -----------------------------------------------------------------

    @property
    def staging(self) -> Path:
        return self.path / STAGING

    def fragment(self, rel: str) -> Path:
        class_name, _, name = rel.partition("/")
        return self.staging / class_name / (name + FRAGMENT)

    def shard_file(self, name: str) -> Path:
        """The file holding the shard ``name``: its committed generation's
        hidden twin while an interrupted compaction has not renamed it in."""
        pending = self.path / _gen_name(name, self.index_generation)
        return pending if pending.exists() else self.path / name

    @property
    def index_generation(self) -> int:
        return getattr(self, "index", {}).get("generation", 0)

    def classes(self) -> list[str] | None:
        try:
            text = (self.path / LABELS_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return [line for line in text.splitlines() if line]

    def _load_index(self) -> dict[str, Any]:
        try:
            index = json.loads((self.path / INDEX_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {"version": INDEX_VERSION, "generation": 0, "shards": []}
        except ValueError as exc:
            raise StoreError(f"{self.path / INDEX_FILE} is damaged ({exc}); restore it or extract again") from None
        if not isinstance(index, dict) or index.get("version") != INDEX_VERSION:
            raise StoreError(f"{self.path / INDEX_FILE}: not an index this release reads")
        return index

    def _scan_staging(self) -> dict[str, Sample]:
        staged: dict[str, Sample] = {}
        try:
            classes = sorted(os.scandir(self.staging), key=lambda e: e.name)
        except FileNotFoundError:
            return staged
        for top in classes:
            if not top.is_dir() or top.name.startswith("."):
                continue
            with os.scandir(top.path) as entries:
                for entry in entries:
                    if entry.name.startswith(".") or not entry.name.endswith(FRAGMENT):
                        continue
                    rel = f"{top.name}/{entry.name[: -len(FRAGMENT)]}"
                    staged[rel] = Sample(rel, Path(entry.path), 0, entry.stat().st_size)
        return staged

    def samples(self) -> dict[str, Sample]:
        """Every clip of the folder: a staged fragment wins over a sharded
        sample of the same clip (an ``--overwrite`` since the compaction)."""
        return {**self.sharded, **self.staged}

    def get(self, rel: str) -> Sample | None:
        return self.staged.get(rel) or self.sharded.get(rel)

    # -- recovery --------------------------------------------------------------

    def recover(self) -> None:
        """Finish a compaction that committed its index, undo one that did
        not, drop half-written fragments: what a killed run leaves."""
        if not self.path.is_dir():
            return
        index = self._load_index()
        generation = index.get("generation", 0)
        named = {shard["name"] for shard in index["shards"]}
        for entry in os.scandir(self.path):
            match = _GEN.fullmatch(entry.name)
            if match and int(match[2]) == generation and match[1] in named:
                os.replace(entry.path, self.path / match[1])
            elif match:
                os.unlink(entry.path)
            elif entry.name.startswith(f".{INDEX_FILE}") or entry.name.startswith(".index."):
                os.unlink(entry.path)  # an index never committed
            elif _is_shard_name(entry.name) and entry.name not in named:
                os.unlink(entry.path)  # a shard of a larger generation before
        if self.staging.is_dir():
            for folder, _, files in os.walk(self.staging):
                for name in files:
                    if name.startswith("."):
                        os.unlink(os.path.join(folder, name))
        # Fragments a committed compaction put in its shards but did not yet remove.
        self.index = index
        sharded = {
            rel: (shard["name"], offset, size) for shard in index["shards"] for rel, offset, size in shard["samples"]
        }
        for rel, sample in self._scan_staging().items():
            found = sharded.get(rel)
            if found is None or found[2] != sample.size:
                continue
            if Sample(rel, self.path / found[0], found[1], found[2]).read() == sample.read():
                sample.file.unlink()
        _remove_empty_staging(self.staging)


def _is_shard_name(name: str) -> bool:
    return re.fullmatch(r".+-\d{6}\.tar", name) is not None


def _remove_empty_staging(staging: Path) -> None:
    if not staging.is_dir():
        return
    for entry in os.scandir(staging):
        if entry.is_dir():
            with contextlib.suppress(OSError):
                os.rmdir(entry.path)
    with contextlib.suppress(OSError):
        os.rmdir(staging)


def _order_key(seed: int, rel: str) -> bytes:
    """Where a clip goes in the shards: a keyed hash of its name, so the
    order is random, fixed by ``seed``, and the same whichever clips finish
    first or are added later."""
    return hashlib.sha256(f"{seed}\0{rel}".encode("utf-8", "surrogateescape")).digest()


# ----------------------------------------------------------------------------
# the class map
# ----------------------------------------------------------------------------


def planned_classes(cfg: Config) -> list[str]:
    """The class map of a split, fixed before its first clip: the labels of
    the ``annotations`` CSV (after ``class_names``), else the source's class
    folders, sorted as ``lists`` numbers them, so a class with no clips
    still keeps its index and never shifts another's."""
    if cfg.annotations is not None:
        names = {
            output_class_name(row.label, cfg.class_names) for row in read_kinetics_csv(cfg.annotations) if row.label
        }
    else:
        try:
            with os.scandir(cfg.source) as entries:
                names = {
                    output_class_name(e.name, cfg.class_names)
                    for e in entries
                    if not e.name.startswith(".") and e.is_dir()
                }
        except OSError:
            names = set()
    by_key = {label_key(name): name for name in names}
    return [by_key[key] for key in sorted(by_key)]


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a run tells the store beyond its layout."""

    classes: tuple[str, ...] | None = None
    seed: int = 0
    shard_size: int = 10**9
    source: Path | None = None  # ``source`` of the json member is relative to it
    fps: float | None = None


# ----------------------------------------------------------------------------
# the Store protocol
# ----------------------------------------------------------------------------


class WebDatasetStore(PackedStore):
    """``store: webdataset``: every clip of a split as WebDataset tar shards in
    ``<root>/<split>.wds`` (``<split>.shard-K-of-N.wds`` for a shard task's)."""

    @classmethod
    def shard_paths(cls, layout: Layout) -> list[Path]:
        return [p for p in layout.shard_stores(SUFFIX) if is_store(p)]

    name = "webdataset"
    suffix = SUFFIX
    fixed_files = 3  # the folder, labels.txt and index.json; its shards are counted as bytes
    list_formats = ("webdataset",)
    carries_labels = True

    @classmethod
    def is_store(cls, path: Path) -> bool:
        return is_store(path)

    def __init__(
        self,
        layout: Layout,
        series: list[Series],
        *,
        writes: bool,
        settings: Settings | None = None,
        durable: bool = False,
        merged: int = 0,
        keys: int = 0,
    ):
        self.layout, self.series, self.writes = layout, series, writes
        self.settings = settings or Settings()
        self.durable, self.merged, self.merged_keys = durable, merged, keys
        self.path = series[0].path if series else layout.store(SUFFIX)
        classes = self.settings.classes
        if classes is None:
            classes = next((tuple(c) for s in series if (c := s.classes()) is not None), None)
        self.classes: list[str] | None = list(classes) if classes is not None else None
        self._label = {label_key(name): i for i, name in enumerate(self.classes or ())}

    # -- settings and names -------------------------------------------------------

    @classmethod
    def run_settings(cls, cfg: Config) -> dict[str, Any]:
        return {
            "settings": Settings(
                classes=tuple(planned_classes(cfg)),
                seed=cfg.seed,
                shard_size=cfg.shard_size,
                source=cfg.source,
                fps=cfg.fps,
            )
        }

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        first = cfg.frame_name.format(1)
        if first != first.lower():
            raise ConfigError(
                f"frame_name: store: webdataset keeps a frame as the member <clip>.{first}, and the webdataset "
                f"loader lowercases member suffixes, so a loader would look for {first.lower()!r}; "
                f"use a lowercase template such as 'frame_{{:05d}}.jpg' (or store: files)"
            )

    @classmethod
    def bad_names(cls, names: Iterable[str]) -> list[str]:
        bad = []
        for name in names:
            class_name, slash, clip = name.partition("/")
            if not slash:  # the split itself: it names the shards of a brace pattern
                if any(c in name for c in "{},"):
                    bad.append(name)
            elif "." in clip or LOADER_SKIPS.match(name):
                bad.append(name)
        return bad

    @classmethod
    def bad_names_error(cls, names: list[str], target: Path) -> str:
        shown = some(names)
        return (
            f"store: webdataset names a sample by <class>/<clip> up to the first dot of the clip's name, "
            f"so clip names with a dot (and a split name with braces or commas, or a class named __x__, which the "
            f"loader skips) cannot be held; {len(names)} in {target}: {shown}; rename those videos (the part "
            f"before the extension must hold no dot), or use store: files or lmdb"
        )

    # -- finding and opening ------------------------------------------------------

    @classmethod
    def disk_bytes(cls, path: Path) -> int:
        total = 0
        for folder, _, files in os.walk(path):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.stat(os.path.join(folder, name)).st_size
        return total

    @classmethod
    def open_run(
        cls,
        layout: Layout,
        *,
        durable: bool = False,
        pad: str = "copy",
        journal: Journal | None = None,
        settings: Settings | None = None,
    ) -> WebDatasetStore:
        mine = layout.store(SUFFIX)
        try:
            mine.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise_if_disk_full(exc, mine)
            raise StoreError(f"cannot make the store {mine} ({exc.strerror or exc})") from None
        series = Series(mine, write=True)
        settings = settings or Settings()
        _fix_classes(series, settings.classes)
        if layout.shard is not None:
            whole = layout.store(SUFFIX, None)
            others = [Series(whole, write=False)] if is_store(whole) else []
            return cls(layout, [series, *others], writes=True, settings=settings, durable=durable)
        shard_stores = cls.shard_paths(layout)
        keys = 0
        for path in shard_stores:
            keys += _move_in(series, Series(path, write=True), durable)
        if shard_stores:
            series = Series(mine, write=True)
        return cls(
            layout, [series], writes=True, settings=settings, durable=durable, merged=len(shard_stores), keys=keys
        )

    @classmethod
    def open_resume(cls, layout: Layout) -> WebDatasetStore:
        paths = [layout.store(SUFFIX)]
        paths += [layout.store(SUFFIX, None)] if layout.shard is not None else cls.shard_paths(layout)
        series = [Series(p, write=False) for p in dict.fromkeys(paths) if is_store(p)]
        return cls(layout, series, writes=False)

    @classmethod
    def open_split(cls, path: Path) -> WebDatasetStore:
        """The split's store and, unless ``path`` names one shard task's, the
        shard tasks' stores beside it: what ``lists`` and ``verify`` see."""
        path = Path(path)
        split = cls.split_of(path)
        layout = Layout(split)
        paths = [path] if path != layout.store(SUFFIX) else [path, *cls.shard_paths(layout)]
        series = [Series(p, write=False) for p in paths if is_store(p)]
        if not series:
            raise StoreError(f"no webdataset store at {path} (expected a folder holding {LABELS_FILE})")
        return cls(layout, series, writes=False)

    # -- writing ------------------------------------------------------------------

    def _rel(self, key: ClipKey) -> str:
        self.layout.clip_path(key.class_name, key.name)  # refuses a name that would leave the split
        return key.rel

    def _meta(self, key: ClipKey, record: dict[str, Any], label: int | None) -> bytes:
        stem = key.name.partition(".")[0]
        kinetics = KINETICS_NAME.fullmatch(stem)
        source = record.get("source")
        fps = self.settings.fps
        if fps is None and source:
            with contextlib.suppress(Exception):  # a non-MP4 or a damaged index: the rate stays unknown
                header = mp4_video_track(Path(source))
                fps = header.fps if header is not None else None
        if source and self.settings.source is not None:
            with contextlib.suppress(ValueError):
                source = Path(source).relative_to(self.settings.source).as_posix()
        meta = {
            "class": key.class_name,
            "label": label,
            "youtube_id": kinetics[1] if kinetics else None,
            "start": int(kinetics[2]) if kinetics else None,
            "end": int(kinetics[3]) if kinetics else None,
            "fps": fps,
            **{k: v for k, v in record.items() if k != "source"},
            "source": source,
        }
        return json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    def put(self, key: ClipKey, members: Members, record: dict[str, Any], work: Path) -> int:
        rel = self._rel(key)
        label = self._label.get(label_key(key.class_name)) if self.classes is not None else None
        if self.classes is not None and label is None:
            raise StoreError(
                f"class {key.class_name!r} is not in the class map {self.path / LABELS_FILE}, fixed before the "
                f"first clip; a webdataset sample's label cannot change once written"
            )
        skey = sample_key(key)
        if key.folder:
            items = [(f"{skey}.{name}", data) for name, data in members]
        else:
            ((_, data),) = members
            items = [(f"{skey}.{key.name.partition('.')[2]}", data)]
        items.append((f"{skey}.cls", str(label if label is not None else -1).encode()))
        items.append((f"{skey}.json", self._meta(key, record, label)))
        final = self.series[0].fragment(rel)
        partial = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            with open(partial, "wb") as handle:
                for name, data in items:
                    handle.write(tar_member(name, len(data)))
                    handle.write(data)
                    handle.write(_padding(len(data)))
                if self.durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(partial, final)
            if self.durable:
                fsync_path(final.parent)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise_if_disk_full(exc, final)
            raise
        self.series[0].staged[rel] = Sample(rel, final, 0, final.stat().st_size)
        return sum(len(data) for _, data in members)

    def close(self, *, compact: bool = False) -> None:
        """Cut the shards (``compact``, after a run that ended by itself),
        or leave the staged clips for the next run; a store a run left
        empty is removed."""
        if not self.writes or not self.series:
            return
        series = self.series[0]
        if compact and series.staged:
            self._compact(series)
        if not series.samples():
            shutil.rmtree(series.path, ignore_errors=True)

    def _compact(self, series: Series) -> None:
        samples = sorted(series.samples().values(), key=lambda s: _order_key(self.settings.seed, s.rel))
        limit = self.settings.shard_size
        groups: list[list[Sample]] = []
        size = 0
        for sample in samples:
            if groups and groups[-1] and size + sample.size + len(END_OF_ARCHIVE) > limit:
                groups.append([])
                size = 0
            if not groups:
                groups.append([])
            groups[-1].append(sample)
            size += sample.size
        generation = series.index.get("generation", 0) + 1
        split = self.layout.split
        old = {shard["name"]: shard for shard in series.index["shards"]}
        shards = []
        written: list[tuple[Path, str]] = []
        try:
            for number, group in enumerate(groups):
                name = f"{split}-{number:06d}.tar"
                entry = _unchanged(old.get(name), group, series.path / name)
                if entry is None:
                    temp = series.path / _gen_name(name, generation)
                    entry = _write_shard(temp, name, group)
                    written.append((temp, name))
                shards.append(entry)
            index = {
                "version": INDEX_VERSION,
                "generation": generation,
                "seed": self.settings.seed,
                "shard_size": limit,
                "shards": shards,
            }
            with replaced_atomically(series.path / INDEX_FILE) as partial:
                partial.write_text(json.dumps(index, sort_keys=True, separators=(",", ":")), encoding="utf-8")
                fsync_path(partial)
        except OSError as exc:
            for temp, _ in written:
                with contextlib.suppress(OSError):
                    temp.unlink()
            raise_if_disk_full(exc, series.path)
            raise
        # Committed: what follows, an open after a kill finishes (Series.recover).
        fsync_path(series.path)
        for temp, name in written:
            os.replace(temp, series.path / name)
        kept = {shard["name"] for shard in shards}
        for found in os.scandir(series.path):
            if _is_shard_name(found.name) and found.name not in kept:
                os.unlink(found.path)
        for sample in series.staged.values():
            sample.file.unlink()
        _remove_empty_staging(series.staging)
        self.series[0] = Series(series.path, write=False)

    # -- reading ------------------------------------------------------------------

    def _find(self, key: ClipKey) -> Sample | None:
        rel = self._rel(key)
        for series in self.series:
            sample = series.get(rel)
            if sample is not None:
                return sample
        return None

    def has(self, key: ClipKey) -> bool:
        return self._find(key) is not None

    def where(self, key: ClipKey) -> str:
        sample = self._find(key)
        return f"{sample.file if sample else self.path}:{key.rel}"

    def view(self, key: ClipKey) -> WebDatasetView:
        return WebDatasetView(key, self._find(key))

    def record(self, key: ClipKey) -> dict[str, Any] | None:
        meta = self.view(key).meta()
        if meta is None:
            return None
        record: dict[str, Any] = {
            k: meta[k] for k in ("decoded", "padded", "cut", "config", "digest", "damaged") if k in meta
        }
        record["rel"] = f"{key.class_name}/{key.name.partition('.')[0]}"
        return record

    def samples(self) -> dict[str, Sample]:
        """Every clip the store sees (its own over its shards')."""
        found: dict[str, Sample] = {}
        for series in reversed(self.series):
            found.update(series.samples())
        return found

    def entries(self) -> Iterator[Entry]:
        start = self.layout.split + "/"
        current: str | None = None
        for rel in sorted(self.samples(), key=lambda r: r.partition("/")[::2]):
            class_name, _, name = rel.partition("/")
            if class_name != current:
                if current is not None:
                    yield Entry(current, "", f"{start}{current}", True, False)
                current = class_name
            folder = "." not in name
            yield Entry(class_name, name, f"{start}{rel}", folder, not folder)
        if current is not None:
            yield Entry(current, "", f"{start}{current}", True, False)

    # -- what verify and lists ask of it ----------------------------------------------

    def problems(self) -> Iterator[tuple[str, str, str]]:
        """Every shard checked against its index: present, of its bytes and sha256."""
        for series in self.series:
            for shard in series.index["shards"]:
                file = series.shard_file(shard["name"])
                rel = f"{series.path.name}/{shard['name']}"
                try:
                    size, digest = _file_digest(file)
                except FileNotFoundError:
                    yield rel, "missing-shard", f"the index lists {shard['name']}, which is not there"
                    continue
                if size != shard["bytes"] or digest != shard["sha256"]:
                    yield (
                        rel,
                        "bad-shard",
                        f"{size} bytes, sha256 {digest[:16]}..., but the index says "
                        f"{shard['bytes']} bytes, sha256 {shard['sha256'][:16]}...",
                    )
            if series.staged:
                yield (
                    series.path.name,
                    "unsharded",
                    f"{len(series.staged)} clips are staged, not yet in shards (a run that did not end by itself); "
                    f"run extract again to cut the shards",
                )

    def shard_files(self) -> list[Path]:
        """Every shard file, in series then shard order; :class:`StoreError`
        while clips wait in staging (a loader would not see them)."""
        staged = sum(len(series.staged) for series in self.series)
        if staged:
            raise StoreError(
                f"{staged} clips of {self.path} are not yet in shards (the run that put them did not end by itself); "
                f"run extract again (it skips finished clips and cuts the shards), then list again"
            )
        return [series.path / shard["name"] for series in self.series for shard in series.index["shards"]]

    def list_lines(self) -> list[str]:
        root = self.layout.root
        return [path.relative_to(root).as_posix() for path in self.shard_files()]

    def shard_stats(self) -> list[dict[str, Any]]:
        return [
            {k: shard[k] for k in ("name", "bytes", "sha256", "clips", "classes")} | {"store": series.path.name}
            for series in self.series
            for shard in series.index["shards"]
        ]

    def card_facts(self) -> tuple[dict[str, Any], str]:
        """Shards, their bytes, and how many classes the least mixed shard
        holds (the seeded order's point: a shard of one class would defeat a
        streaming loader's shuffle buffer)."""
        stats = self.shard_stats()
        if not stats:
            return {}, ""
        fewest = min(s["classes"] for s in stats)
        total = sum(s["bytes"] for s in stats)
        facts = {
            "shards": len(stats),
            "shard_bytes": total,
            "shard_size": max((series.index.get("shard_size", 0) for series in self.series), default=0),
            "classes_in_least_mixed_shard": fewest,
            "classes_in_most_mixed_shard": max(s["classes"] for s in stats),
            "clips_in_smallest_shard": min(s["clips"] for s in stats),
        }
        line = (
            f"- shards: {len(stats)} ({total / 1e6:.1f} MB) in {self.path.name}, in a seeded order; the least "
            f"class-mixed shard holds {fewest} {'class' if fewest == 1 else 'classes'}"
        )
        return facts, line

    def loader_snippet(self, kind: str, tmpl: str, classes: int, list_file: Path) -> str | None:
        patterns = self.url_patterns()
        stats = self.shard_stats()
        fewest = min((s["classes"] for s in stats), default=0)
        local = " + ".join(f"'{p}'" for p in patterns) or "''"
        remote = patterns[0].replace(str(self.layout.root), "https://HOST/PATH") if patterns else ""
        member = f"'{tmpl.format(1)}'" if kind == "frames" else "'mp4'"
        return (
            f"The `webdataset` loader reading the shards of `{self.path}` ({len(stats)} shards, in a seeded "
            f"order; the least class-mixed shard holds {fewest} {'class' if fewest == 1 else 'classes'}). "
            f"`{list_file}` lists every shard file, relative to "
            f"`{self.layout.root}`; as brace patterns (local, and the same files served over HTTP):\n\n"
            f"```python\nurls = {local}\n"
            f"# served over HTTP: '{remote}'\n```\n\n"
            f"A sample is `__key__` `<class>/<clip>`, `cls` (label index, line i of labels.txt), `json` "
            f"(counts, fps, source) and the clip's members (first: {member}). To read sampled frames and decode "
            f"only those:\n\n```python\n"
            f"import webdataset as wds\n"
            f"from k400frames.tools.wds_reader import clip_dataset\n\n"
            f"dataset = clip_dataset(urls, num_frames=8, sampling='segments', frame_name='{tmpl}',\n"
            f"                       shuffle=1000, split_by_node=True)\n"
            f"# a torch IterableDataset (pip install 'k400frames[webdataset]' torch):\n"
            f"# torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=8)\n```\n\n"
            f"num_classes: {classes}. Plain webdataset works too: "
            f"`wds.WebDataset(urls).to_tuple('__key__', 'cls', 'json')`; its `.decode()` would decode every "
            f"frame of a sample, the reader above only the sampled ones.\n"
        )

    def url_patterns(self) -> list[str]:
        """One brace pattern per store folder (``.../train-{000000..000012}.tar``)."""
        patterns = []
        for series in self.series:
            names = [shard["name"] for shard in series.index["shards"]]
            if not names:
                continue
            split = self.layout.split
            last = len(names) - 1
            pattern = f"{split}-{{000000..{last:06d}}}.tar" if last else names[0]
            patterns.append(str(series.path / pattern))
        return patterns

    # -- whole trees (pack, unpack) ------------------------------------------------

    @classmethod
    def read_files(cls, path: Path) -> Iterator[tuple[str, bytes]]:
        """Every clip file of the split store ``path``, or of each split store
        of the packed root ``path``, as a folder tree names it."""
        stores = split_stores(path)
        if not stores:
            raise PackError(f"no webdataset store at {path} (a <split>.wds folder, or a folder of them)")
        for store_path in stores:
            yield from cls._split_files(store_path)

    @classmethod
    def _split_files(cls, path: Path) -> Iterator[tuple[str, bytes]]:
        store = cls.open_split(path)
        split = store.layout.split
        files: list[tuple[str, str, str]] = []
        for rel in sorted(store.samples()):
            class_name, _, name = rel.partition("/")
            view = store.view(ClipKey(class_name, name, "." not in name))
            if view.key.folder:
                files.extend((f"{split}/{rel}/{member}", rel, member) for member in view.sizes())
            else:
                files.append((f"{split}/{rel}", rel, name))
        for name, rel, member in sorted(files):
            class_name, _, clip = rel.partition("/")
            yield name, store.view(ClipKey(class_name, clip, "." not in clip)).read(member)

    @classmethod
    def read_digests(cls, path: Path) -> dict[str, str]:
        """Each sample's digest, from its ``json`` member."""
        digests: dict[str, str] = {}
        for store_path in split_stores(path):
            store = cls.open_split(store_path)
            for rel in sorted(store.samples()):
                class_name, _, name = rel.partition("/")
                record = store.record(ClipKey(class_name, name, "." not in name)) or {}
                if isinstance(record.get("digest"), str) and record["digest"]:
                    digests[f"{store.layout.split}/{record['rel']}"] = record["digest"]
        return digests

    @classmethod
    def write_files(
        cls,
        files: Iterable[tuple[str, bytes]],
        path: Path,
        digests: dict[str, str] | None = None,
        *,
        tree: TreeInfo | None = None,
    ) -> tuple[int, int]:
        """A packed root at ``path``: one store ``<split>.wds`` per split of
        ``files``, each cut into shards as a run cuts them (seeded order,
        fixed headers, an index with every shard's sha256), its samples
        labelled by ``tree``'s class map and carrying the clips' manifest
        rows and ``digests``.  ``files`` come in name order, so one clip's
        files come together: each clip is staged when its last file is read,
        holding one clip in memory at a time."""
        tree = tree or TreeInfo()
        digests = digests or {}
        path.mkdir(parents=True, exist_ok=True)
        stores: dict[str, WebDatasetStore] = {}
        done: set[tuple[str, str, str]] = set()
        clip: tuple[str, str, str] | None = None
        folder = True
        members: list[tuple[str, bytes]] = []
        count = total = 0

        def flush() -> None:
            if clip is None:
                return
            split, class_name, name = clip
            store = stores.get(split)
            if store is None:
                store = stores[split] = cls._pack_store(path, split, tree)
            key = ClipKey(class_name, name, folder)
            rel = f"{split}/{class_name}/{name.partition('.')[0]}"
            if label_key(class_name) not in store._label:
                raise PackError(
                    f"the class {class_name} of {rel} is not in the class map ({len(tree.classes)} classes: the "
                    f"source's labels.txt, else its class folders); a sample's label cannot be left out: add the "
                    f"class to labels.txt (or remove that labels.txt)"
                )
            row = tree.rows.get(rel, {})
            record: dict[str, Any] = {k: row[k] for k in ("decoded", "padded", "cut", "config", "damaged") if k in row}
            if rel in digests:
                record["digest"] = digests[rel]
            try:
                store.put(key, members, record, path)
            except StoreError as exc:
                raise PackError(str(exc)) from None

        try:
            for name, data in files:
                split, class_name, clip_name, member = _tree_name(name)
                current = (split, class_name, clip_name)
                if current != clip:
                    flush()
                    if clip is not None:
                        done.add(clip)
                    if current in done:
                        raise PackError(f"{split}/{class_name}/{clip_name}: its files do not come together")
                    clip, members, folder = current, [], member != clip_name
                if any(m == member for m, _ in members):
                    raise PackError(f"{name!r} comes twice in the source")
                members.append((member, data))
                count += 1
                total += len(data)
            flush()
            for store in stores.values():
                store.close(compact=True)
        except BaseException:
            for store in stores.values():
                with contextlib.suppress(Exception):
                    store.close()
            raise
        return count, total

    @classmethod
    def _pack_store(cls, root: Path, split: str, tree: TreeInfo) -> WebDatasetStore:
        if cls.bad_names([split]):
            raise PackError(cls.bad_names_error([split], root))
        settings = Settings(classes=tuple(tree.classes), seed=tree.seed, shard_size=tree.shard_size)
        return cls.open_run(Layout(root / split), settings=settings)

    # -- planning ------------------------------------------------------------------

    @classmethod
    def value_slack(cls, members: float) -> float:
        # Each member has a 512-byte header and pads its data to 512 bytes (half a block on average).
        return members * (BLOCK + BLOCK / 2)

    @classmethod
    def plan_files(
        cls, cfg: Config, layout: Layout, new_bytes: tuple[float, float]
    ) -> tuple[dict[str, Any], str, tuple[float, float]] | None:
        """Shards of ``shard_size`` for every sample the series will hold
        (those there now, a whole split's shard stores moved in, and the new
        ones); the cut writes every changed shard beside the staged clips
        and the old shards before it renames them in, and the seeded order
        changes nearly every shard, so the run needs the shards' bytes once
        more at its end."""
        paths = [cls.run_path(layout)] + (cls.shard_paths(layout) if layout.shard is None else [])
        there = sum(cls.disk_bytes(p) for p in paths if p.exists())
        low, high = there + new_bytes[0], there + new_bytes[1]
        size = cfg.shard_size
        shards = (max(1, -(-int(low) // size)) if low else 0, max(1, -(-int(high) // size)) if high else 0)
        facts = {
            "shard_size": size,
            "shards_low": shards[0],
            "shards_high": shards[1],
            "shard_bytes_low": int(low),
            "shard_bytes_high": int(high),
        }
        count = f"{shards[0]}" if shards[0] == shards[1] else f"{shards[0]} to {shards[1]}"
        line = (
            f"shards: about {count} of at most {_decimal(size)} in {cls.run_path(layout)} "
            f"({_decimal(low)}{'' if _decimal(low) == _decimal(high) else f' to {_decimal(high)}'} in all); "
            f"the run cuts them at its end, writing them beside the staged clips, which the needs below count"
        )
        return facts, line, (low, high)

    def measured(self, bytes_each: list[int]) -> list[int]:
        # The staged fragments are exactly what the shards will hold for these clips.
        sizes: list[int] = sorted(s.size for s in self.series[0].staged.values()) if self.series else []
        values = sum(bytes_each)
        if len(sizes) == len(bytes_each) and values > 0:
            scale = sum(sizes) / values
            return [int(b * scale) for b in bytes_each]
        return bytes_each


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------


def _decimal(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{int(n)} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


def _tree_name(name: str) -> tuple[str, str, str, str]:
    """``<split>/<class>/<clip>/<file>`` -> (split, class, clip, file), and
    ``<split>/<class>/<clip>.<ext>`` -> (split, class, ``<clip>.<ext>``,
    ``<clip>.<ext>``), refusing what a sample could not give back as it was:
    a clip name with a dot, a member name with capitals (the loader
    lowercases a member's suffix) or named like the sample's own ``cls`` or
    ``json``."""
    parts = name.split("/")
    if len(parts) == 4:
        split, class_name, clip, member = parts
        stem = clip
    elif len(parts) == 3:
        split, class_name, clip = parts
        member = clip
        stem, dot, ext = clip.partition(".")
        if not dot or "." in ext:
            raise PackError(
                f"{name!r}: store: webdataset holds a video clip as <clip>.<ext>, one dot; rename it, or pack to "
                f".lmdb or .sqfs"
            )
    else:
        raise PackError(f"{name!r} is not <split>/<class>/<clip>/<file> nor <split>/<class>/<clip>.<ext>")
    if WebDatasetStore.bad_names([f"{class_name}/{stem}"]):
        raise PackError(WebDatasetStore.bad_names_error([f"{split}/{class_name}/{stem}"], Path(split)))
    suffix = member.partition(".")[2] if len(parts) == 3 else member
    if suffix != suffix.lower() or suffix in META_SUFFIXES:
        raise PackError(
            f"{name!r}: a webdataset sample names this file <clip>.{suffix}, which the webdataset loader "
            f"{'lowercases' if suffix != suffix.lower() else 'takes for the label or metadata'}, so it would "
            f"not come back as it is; rename it, or pack to .lmdb or .sqfs"
        )
    return split, class_name, clip, member


def _fix_classes(series: Series, classes: Sequence[str] | None) -> None:
    """Record the class map beside the split before the first clip, or check
    that the run's agrees with the one its clips were written with."""
    if classes is None:
        return
    recorded = series.classes()
    if recorded is None:
        with replaced_atomically(series.path / LABELS_FILE) as partial:
            partial.write_text("".join(f"{name}\n" for name in classes), encoding="utf-8")
        return
    if [label_key(c) for c in recorded] != [label_key(c) for c in classes]:
        added = sorted(set(map(label_key, classes)) - set(map(label_key, recorded)))
        gone = sorted(set(map(label_key, recorded)) - set(map(label_key, classes)))
        raise StoreError(
            f"the class map of {series.path} ({series.path / LABELS_FILE}, {len(recorded)} classes) was fixed when "
            f"its first clip was written, and this run's differs (added: {', '.join(added[:3]) or 'none'}; "
            f"gone: {', '.join(gone[:3]) or 'none'}); the labels baked into its samples would be wrong: restore "
            f"the source's classes (or annotations CSV), or remove {series.path} and extract again"
        )


def _file_digest(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(COPY_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _unchanged(entry: dict[str, Any] | None, group: list[Sample], path: Path) -> dict[str, Any] | None:
    """The old index entry of a shard whose samples are those of ``group``,
    at the same places in the file at ``path`` (then it stays as it is)."""
    if entry is None:
        return None
    offset = 0
    if len(entry["samples"]) != len(group):
        return None
    for (rel, at, size), sample in zip(entry["samples"], group, strict=True):
        if rel != sample.rel or at != offset or size != sample.size or sample.file != path or sample.offset != at:
            return None
        offset += size
    return entry


def _write_shard(temp: Path, name: str, group: list[Sample]) -> dict[str, Any]:
    digest = hashlib.sha256()
    samples = []
    offset = 0
    with open(temp, "wb") as out:
        for sample in group:
            with open(sample.file, "rb") as handle:
                handle.seek(sample.offset)
                left = sample.size
                while left:
                    chunk = handle.read(min(COPY_CHUNK, left))
                    if not chunk:
                        raise StoreError(f"{sample.file}: cut short inside the sample {sample.rel}")
                    out.write(chunk)
                    digest.update(chunk)
                    left -= len(chunk)
            samples.append([sample.rel, offset, sample.size])
            offset += sample.size
        out.write(END_OF_ARCHIVE)
        digest.update(END_OF_ARCHIVE)
        out.flush()
        os.fsync(out.fileno())
    return {
        "name": name,
        "bytes": offset + len(END_OF_ARCHIVE),
        "sha256": digest.hexdigest(),
        "clips": len(group),
        "classes": len({s.class_name for s in group}),
        "samples": samples,
    }


def _move_in(target: Series, source: Series, durable: bool) -> int:
    """Stage every sample of the shard task's store ``source`` in ``target``
    (a sample's bytes are a whole fragment), then remove ``source``: a kill
    midway leaves ``source`` whole, and the next open moves it again."""
    if source.classes() != target.classes() and target.classes() is not None:
        raise StoreError(
            f"{source.path} was written with another class map than {target.path}; its labels would be wrong "
            f"in the merged shards: extract that shard again"
        )
    if target.classes() is None and source.classes() is not None:
        _fix_classes(target, source.classes())
    moved = 0
    for rel, sample in sorted(source.samples().items()):
        final = target.fragment(rel)
        partial = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            partial.write_bytes(sample.read())
            if durable:
                fsync_path(partial)
            os.replace(partial, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                partial.unlink()
            raise_if_disk_full(exc, final)
            raise
        moved += 1
    if durable:
        fsync_path(target.staging)
    shutil.rmtree(source.path)
    return moved


__all__ = ["DiskFull", "Settings", "WebDatasetStore", "planned_classes", "walk_tar"]
