"""The Store protocol: where finished clips live, whatever holds them.

A store keeps the clips of one split.  It puts a finished clip whole or not
at all, with the clip's record (decoded and padded counts, digest) reaching
disk with it; says whether a clip is there (resume); reads a clip back as a
:class:`ClipView` (verify, lists, preview, card, pack); lists its entries
(one scanner of a split for every tool); merges shard stores; measures what
a clip costs on disk (dry run); checks names before any work; and gives the
loader snippet for its lists.

Stores never know the output kind: a clip is a :class:`ClipKey` and its
members, ``(name, bytes)``.  A folder clip (``output: frames``) has one
member per frame file; a file clip (``output: video``) has exactly one,
the file itself, named by the clip's own name.  Output kinds never know the
store: they make members, and read clips back through views.

A new store is one module with a subclass of :class:`Store` (of
:class:`PackedStore` for one named ``<split><suffix>`` beside the split
folder) plus one line in :data:`k400frames.stores.STORES`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..layout import Entry, Layout, split_of_store, walk_split
from ..words import plural

if TYPE_CHECKING:  # only for annotations
    from ..config import Config

Members = Sequence[tuple[str, bytes]]
Journal = Callable[[dict[str, Any]], None]


@dataclasses.dataclass(frozen=True)
class ClipKey:
    """One clip of a split: its class folder and its name as a folder tree
    has it (``<clip>`` for a folder of members, ``<clip>.mp4`` for a file)."""

    class_name: str
    name: str
    folder: bool

    @property
    def rel(self) -> str:
        return f"{self.class_name}/{self.name}"


@dataclasses.dataclass(frozen=True)
class TreeInfo:
    """What ``pack`` knows of a tree beyond its files, for a store whose
    samples carry more than bytes (:attr:`Store.carries_labels`): the class
    map of every split (``labels.txt`` of the root, else the sorted classes
    of all splits) and each clip's manifest row (``<split>/<class>/<clip>``
    -> row), with the order and shard size of a store that cuts shards."""

    classes: list[str] = dataclasses.field(default_factory=list)
    rows: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    seed: int = 0
    shard_size: int = 10**9


class ClipView:
    """A finished clip read back from its store: its member names and sizes,
    and their bytes on demand."""

    key: ClipKey

    def sizes(self) -> dict[str, int]:
        """Member name -> bytes (a folder clip: its file names; a file clip:
        its one name); empty when the clip is not there."""
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        """The bytes of the member ``name``."""
        raise NotImplementedError

    def path(self, name: str) -> Path | None:
        """The file that holds the member ``name``, where the store keeps files."""
        return None

    def items(self) -> Iterator[tuple[str, bytes]]:
        """Every member as ``(name, bytes)``, in name order."""
        for name in sorted(self.sizes()):
            yield name, self.read(name)

    @contextlib.contextmanager
    def files(self, names: Sequence[str]) -> Iterator[list[Path]]:
        """Files that hold the members ``names``, for ffmpeg, which reads
        files: a store without files writes them to a temp folder outside
        the store for the length of the block."""
        paths = [path for path in map(self.path, names) if path is not None]
        if len(paths) == len(names):
            yield paths
            return
        with tempfile.TemporaryDirectory(prefix="k400frames-clip-") as work:
            paths = []
            for name in names:
                path = Path(work) / name
                path.write_bytes(self.read(name))
                paths.append(path)
            yield paths


class Store:
    """Where the finished clips of one split live.  Open one with
    :meth:`open_run` (a run writes) or :meth:`open_split` (a tool reads);
    close it with :meth:`close`."""

    name: ClassVar[str]  # the ``store`` config value
    packed: ClassVar[bool]  # a few files for the whole split, not files per clip
    fixed_files: ClassVar[int] = 0  # files the store itself takes, whatever its clips
    list_formats: ClassVar[tuple[str, ...] | None] = None  # formats whose loaders read it; None: every one
    suffix: ClassVar[str] = ""  # a packed store's name ends in it (``train.lmdb``)
    carries_labels: ClassVar[bool] = False  # its samples hold their class index: pack gives it the class map

    layout: Layout
    path: Path  # what a user names to mean this split's store

    # -- finding and opening ---------------------------------------------------

    @classmethod
    def check_installed(cls) -> None:
        """Raise :class:`~k400frames.errors.MissingExtra` when the store's
        library is not installed."""

    @classmethod
    def check_config(cls, cfg: Config) -> None:
        """Raise :class:`~k400frames.errors.ConfigError` for settings the
        store cannot hold (checked before any work)."""

    @classmethod
    def run_settings(cls, cfg: Config) -> dict[str, Any]:
        """Keyword arguments a run adds to :meth:`open_run` for this store
        (a store whose samples carry their label gets the class map)."""
        return {}

    @classmethod
    def bad_names(cls, names: Iterable[str]) -> list[str]:
        """Of ``names`` (the split's own name, ``<class>/<clip>``), those the
        store cannot hold; checked before any work."""
        return []

    @classmethod
    def bad_names_error(cls, names: list[str], target: Path) -> str:
        """The one line that refuses :meth:`bad_names`."""
        return f"store: {cls.name} cannot hold these names in {target}: {', '.join(names[:5])}"

    @classmethod
    def locate(cls, path: Path) -> Path | None:
        """The store that ``path`` means, when it is one of this kind (the
        store itself, or a split folder whose clips are kept in it)."""
        raise NotImplementedError

    @classmethod
    def split_of(cls, path: Path) -> Path:
        """The split folder that the store at ``path`` stands for."""
        return path

    @classmethod
    def run_path(cls, layout: Layout) -> Path:
        """Where the run of ``layout`` (a split, maybe one shard) writes."""
        raise NotImplementedError

    @classmethod
    def disk_bytes(cls, path: Path) -> int:
        """Apparent bytes of the packed store at ``path`` (what a copy copies)."""
        return 0

    @classmethod
    def shard_paths(cls, layout: Layout) -> list[Path]:
        """Stores of the split's shards that a merge has not yet moved in."""
        return []

    @classmethod
    def open_run(
        cls, layout: Layout, *, durable: bool = False, pad: str = "copy", journal: Journal | None = None
    ) -> Store:
        """Open the store of ``layout``'s run for writing, seeing (for
        resume) every clip the split holds: for a shard also the split's
        merged store, for the whole split also the shard stores, which it
        first moves in (:attr:`merged` says how many).  ``journal`` takes a
        clip's record before a store without transactions publishes it."""
        raise NotImplementedError

    @classmethod
    def open_resume(cls, layout: Layout) -> Store:
        """Open every store a run of ``layout`` would resume from, for
        reading (preflight and the dry run, which write nothing)."""
        raise NotImplementedError

    @classmethod
    def open_split(cls, path: Path) -> Store:
        """Open the store that :meth:`locate` found, for reading."""
        raise NotImplementedError

    merged: int = 0  # shard stores moved into this one when it was opened
    unmerged: list[Path] = []  # noqa: RUF012 - read only: shard stores a reader found not yet merged
    merged_keys: int = 0  # their keys

    # -- writing ---------------------------------------------------------------

    def put(self, key: ClipKey, members: Members, record: dict[str, Any], work: Path) -> int:
        """Put one finished clip, whole or not at all, with its ``record``
        (which reaches disk with it); ``work``: a folder of this clip's own on
        the target's filesystem.  Replaces a clip of that key (``--overwrite``).
        Returns the bytes the clip holds.  A full disk raises
        :class:`~k400frames.errors.DiskFull` with nothing of the clip kept."""
        raise NotImplementedError

    def close(self, *, compact: bool = False) -> None:
        """Close the store; ``compact`` after a run that ended by itself."""

    # -- reading ---------------------------------------------------------------

    def pending(self) -> str:
        """Why the split is not whole here yet: shard stores not merged
        (a merge not run, or stopped midway); ``""`` when it is whole."""
        if not self.unmerged:
            return ""
        names = ", ".join(path.name for path in self.unmerged)
        return (
            f"{plural(len(self.unmerged), 'shard store')} of the split {'is' if len(self.unmerged) == 1 else 'are'} "
            f"not merged into {self.path} ({names}): run k400frames merge (or extract the whole split, "
            f"which merges first)"
        )

    def where(self, key: ClipKey) -> str:
        """Where the clip ``key`` lives, for messages."""
        return f"{self.path}:{key.rel}"

    def has(self, key: ClipKey) -> bool:
        """Whether any member of the clip is there (one look, no value read)."""
        raise NotImplementedError

    def view(self, key: ClipKey) -> ClipView:
        """The clip ``key`` read back (empty :meth:`ClipView.sizes` when absent)."""
        raise NotImplementedError

    def record(self, key: ClipKey) -> dict[str, Any] | None:
        """The record put with the clip, None when there is none (a clip
        written by a release that kept no records with its clips)."""
        return None

    def entries(self) -> Iterator[Entry]:
        """Every visible entry of the split in sorted order, as
        :func:`~k400frames.layout.walk_split` gives a folder's: each class's
        clips, then the class itself (``name == ""``), and strays at the top
        (``class_name == ""``)."""
        raise NotImplementedError

    # -- whole trees (pack, unpack) ---------------------------------------------

    @classmethod
    def read_files(cls, path: Path) -> Iterator[tuple[str, bytes]]:
        """Every file that a folder tree of the packed store at ``path``
        holds, as ``(<split>/<class>/<clip>/<file>, bytes)``, in name order."""
        raise NotImplementedError

    @classmethod
    def write_files(
        cls,
        files: Iterable[tuple[str, bytes]],
        path: Path,
        digests: dict[str, str] | None = None,
        *,
        tree: TreeInfo | None = None,
    ) -> tuple[int, int]:
        """Make a new packed store at ``path`` holding ``files`` (as
        :meth:`read_files` gives them) and the clips' ``digests``
        (``<split>/<class>/<clip>`` -> digest); ``tree``: class maps and
        manifest rows, for a store that bakes them in; (files, bytes)."""
        raise NotImplementedError

    @classmethod
    def read_digests(cls, path: Path) -> dict[str, str]:
        """``<split>/<class>/<clip>`` -> the digest each clip of the packed
        store at ``path`` was made with (empty: a store that carries none)."""
        return {}

    # -- planning ----------------------------------------------------------------

    @classmethod
    def value_slack(cls, members: float) -> float:
        """Bytes a packed store adds to a clip of ``members`` values beyond their own."""
        return 0.0

    def clip_inodes(self, key: ClipKey) -> int:
        """Inodes the clip ``key`` takes (a packed store: none of its own)."""
        return 0

    def measured(self, bytes_each: list[int]) -> list[int]:
        """The disk bytes of sample clips put in this store, from their values' bytes."""
        return bytes_each

    @classmethod
    def plan_files(
        cls, cfg: Config, layout: Layout, new_bytes: tuple[float, float]
    ) -> tuple[dict[str, Any], str, tuple[float, float]] | None:
        """The dry run's view of the store after a run that adds ``new_bytes``
        (low, high) of clips to ``layout``'s: facts for its JSON, one line
        for people, and the bytes the run needs beyond its clips' own at its
        peak (low, high); None when the store has nothing to add."""
        return None

    classes: list[str] | None = None  # the class map fixed in the store (its samples carry labels), if any

    def problems(self) -> Iterator[tuple[str, str, str]]:
        """``(where, kind, detail)`` of what is wrong with the store itself
        beyond its clips (``verify``): a shard that does not match its index."""
        return iter(())

    def card_facts(self) -> tuple[dict[str, Any], str]:
        """What the dataset card says of the store's own files: facts for
        its JSON and one line for ``card.md`` (``({}, "")``: nothing)."""
        return {}, ""

    def list_lines(self) -> list[str] | None:
        """The lines of a list that names the store's files instead of its
        clips (a shard list), paths relative to the root; None: lists are of clips."""
        return None

    def loader_snippet(self, kind: str, tmpl: str, classes: int, list_file: Path) -> str | None:
        """How the frameworks read this store (a Markdown section for
        ``lists.md``), None when they read it as a folder tree."""
        return None


class PackedStore(Store):
    """A store of a few files for the whole split, named ``<split><suffix>``
    beside the split folder (``<split>.shard-K-of-N<suffix>`` for a shard's
    run): where it is, which split it stands for, its shard stores."""

    packed = True

    @classmethod
    def is_store(cls, path: Path) -> bool:
        """Whether ``path`` holds a store of this kind."""
        raise NotImplementedError

    @classmethod
    def locate(cls, path: Path) -> Path | None:
        """``path`` itself when it is a store of this kind, else the split's
        store (or its shard stores) beside the split folder ``path`` when that
        folder holds no clips of its own (a tree of clips is what the user
        means then)."""
        path = Path(path)
        if cls.is_store(path):
            return path
        layout = Layout(path)
        store = layout.store(cls.suffix, None)
        if not cls.is_store(store) and not any(map(cls.is_store, layout.shard_stores(cls.suffix))):
            return None
        folder_has_clips = path.is_dir() and any(e.class_name and e.name for e in walk_split(path))
        return None if folder_has_clips else store

    @classmethod
    def split_of(cls, path: Path) -> Path:
        return split_of_store(path, cls.suffix)

    @classmethod
    def run_path(cls, layout: Layout) -> Path:
        return layout.store(cls.suffix)

    @classmethod
    def shard_paths(cls, layout: Layout) -> list[Path]:
        return layout.shard_stores(cls.suffix)


def fsname(name: str) -> str:
    """``name`` as one safe path part (never ``/``, ``..`` or empty)."""
    if name in ("", ".", "..") or "/" in name or os.sep in name or "\0" in name:
        raise ValueError(f"not a member name: {name!r}")
    return name
