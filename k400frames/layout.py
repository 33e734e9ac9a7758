"""Every name a run, a tool or a user finds on disk around one split, in one place.

A target is a split folder ``<root>/<split>`` (``frames/train``).  Beside it,
in ``<root>``, live the files that belong to that split::

    <root>/<split>/<class>/<clip>/frame_00001.jpg    a clip (output: frames)
    <root>/<split>/<class>/<clip>.mp4                a clip (output: video)
    <root>/<split><suffix>                           every clip in one packed store (a store's suffix)
    <root>/<split>.shard-K-of-N<suffix>              one shard's packed store, until `merge`
    <root>/<split>.journal[.shard-K-of-N].jsonl      records of clips about to be published (folders)
    <root>/<split>.manifest[.shard-K-of-N].jsonl     finished clips, one JSON line each
    <root>/<split>.failures[.shard-K-of-N].jsonl     failed clips of the latest run
    <root>/<split>.card.json, <root>/<split>.card.md the dataset card (whole split, all shards)
    <root>/.<split>[.shard-K-of-N].lock              who is extracting into the split
    <root>/.<split>.tmp/<all | shard-K-of-N>/        work in progress; never trusted
    <root>/<split>.<format>.txt, <root>/<format>/<split>.csv   training lists
    <root>/labels.txt, <root>/lists.md               label names; config keys to paste
    <root>/<annotations CSV name>                    the run's copy of its Kinetics CSV

:func:`walk_split` is the one reader of a split folder's contents, with one
rule for what is a clip, what is hidden and what is stray.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from pathlib import Path

Shard = tuple[int, int]

LABELS_FILE = "labels.txt"
SNIPPET_FILE = "lists.md"
RECORDS = ("manifest", "failures")  # the run records a shard leaves (the journal goes when a run ends)
# A whole frames root packed into one file (`k400frames pack`): a SquashFS
# image whose root holds the split folders.
SQUASHFS_SUFFIX = ".sqfs"


_SHARD_TAG = re.compile(r"shard-(\d+)-of-(\d+)")


def shard_tag(shard: Shard | None) -> str:
    """``(3, 8)`` -> ``shard-3-of-8``; the unsharded run is ``""``."""
    return f"shard-{shard[0]}-of-{shard[1]}" if shard else ""


def _dotted_tag(shard: Shard | None) -> str:
    """The tag as it stands in a file name: ``.shard-3-of-8``, or ``""``."""
    return f".{shard_tag(shard)}" if shard else ""


def parse_shard_tag(tag: str) -> Shard | None:
    """``shard-3-of-8`` -> ``(3, 8)``; None for anything else (also a tag
    that :func:`shard_tag` would not write, such as ``shard-03-of-8``)."""
    match = _SHARD_TAG.fullmatch(tag)
    shard = (int(match[1]), int(match[2])) if match else None
    return shard if shard and shard_tag(shard) == tag else None


def split_of_store(store_path: Path, suffix: str) -> Path:
    """The split folder a packed store stands for: ``train<suffix>`` or
    ``train.shard-1-of-4<suffix>`` -> ``train``."""
    name = store_path.name.removesuffix(suffix)
    split, dot, tag = name.rpartition(".")
    return store_path.with_name(split if dot and parse_shard_tag(tag) else name)


def packing_partial(dest: Path, tag: str = "partial") -> Path:
    """The hidden temp name beside ``dest`` that pack/unpack build into (or
    move an old ``dest`` to, ``tag="trash"``) before one rename."""
    return dest.with_name(f".{dest.name}.{os.getpid()}.{tag}")


def dead_packing_leftovers(dest: Path) -> list[Path]:
    """The :func:`packing_partial` names beside ``dest`` that a pack or
    unpack killed mid-way left behind: those whose process is gone (one
    still running, or a PID taken since by another process, is kept)."""
    leftovers = []
    for path in dest.parent.glob(f".{glob_escape(dest.name)}.*.*"):
        pid, _, tag = path.name[len(dest.name) + 2 :].partition(".")
        if tag in ("partial", "trash") and pid.isdigit() and not _running(int(pid)):
            leftovers.append(path)
    return sorted(leftovers)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


@dataclasses.dataclass(frozen=True)
class Layout:
    """The names around the split folder ``target`` for one run (``shard``)."""

    target: Path
    shard: Shard | None = None

    @property
    def root(self) -> Path:
        """The folder that holds the split folders (and the lists)."""
        return self.target.parent

    @property
    def split(self) -> str:
        return self.target.name

    # -- clips -------------------------------------------------------------

    def clip_path(self, out_class: str, stem: str, suffix: str = "") -> Path:
        """``<split>/<class>/<clip><suffix>``, refusing any name that would
        leave the split folder (names come from listings and CSVs: never
        trust them to hold no ``/`` or ``..``)."""
        name = stem + suffix
        if (
            stem in ("", ".", "..")
            or out_class in ("", ".", "..")
            or any(sep in part for part in (out_class, name) for sep in ("/", os.sep, "\0"))
        ):
            raise ValueError(f"not a clip name inside {self.target}: {out_class!r}/{name!r}")
        return self.target / out_class / name

    # -- packed stores -------------------------------------------------------

    def store(self, suffix: str, shard: Shard | None | bool = False) -> Path:
        """The packed store (a store's ``suffix``) of this run (``shard``
        False: this layout's shard), of one shard, or (``None``) of the whole
        split: ``<root>/<split><suffix>`` or ``<root>/<split>.shard-K-of-N<suffix>``."""
        which = self.shard if shard is False else shard
        return self.root / f"{self.split}{_dotted_tag(which)}{suffix}"  # type: ignore[arg-type]

    def shard_stores(self, suffix: str) -> list[Path]:
        """The packed stores of the split's shards that exist, sorted."""
        return sorted(self.root.glob(f"{glob_escape(self.split)}.shard-*-of-*{glob_escape(suffix)}"))

    # -- records, locks, temp area ----------------------------------------

    def record(self, name: str) -> Path:
        """This run's record file ``name`` (``manifest``, ``failures``, ``journal``)."""
        return self.root / f"{self.split}.{name}{_dotted_tag(self.shard)}.jsonl"

    def all_records(self, name: str) -> list[Path]:
        """Every shard's (and the unsharded run's) record file ``name``, sorted."""
        unsharded = Layout(self.target).record(name)
        shards = self.root.glob(f"{glob_escape(self.split)}.{name}.shard-*-of-*.jsonl")
        return sorted({*shards, *([unsharded] if os.path.lexists(unsharded) else [])})  # a link too: refused

    @property
    def card_json(self) -> Path:
        """The dataset card of the whole split (every shard together)."""
        return self.root / f"{self.split}.card.json"

    @property
    def card_md(self) -> Path:
        """The dataset card's short Markdown twin, for people."""
        return self.root / f"{self.split}.card.md"

    def shard_counts(self) -> set[int]:
        """The N of every ``shard-K-of-N`` record file of the split."""
        counts = set()
        for record in RECORDS:
            for path in self.root.glob(f"{glob_escape(self.split)}.{record}.shard-*-of-*.jsonl"):
                shard = parse_shard_tag(path.name[len(self.split) + len(record) + 2 : -len(".jsonl")])
                if shard is not None:
                    counts.add(shard[1])
        return counts

    def shard_has_records(self, shard: Shard) -> bool:
        """Whether shard ``K/N`` has run (left a manifest or a failures file)."""
        ran = Layout(self.target, shard)
        return any(ran.record(record).exists() for record in RECORDS)

    def lock(self, shard: Shard | None = None) -> Path:
        """The lock file of the whole split, or of one shard of it."""
        return self.root / f".{self.split}{_dotted_tag(shard)}.lock"

    def shard_of_lock(self, name: str) -> Shard | None:
        """The shard whose lock file is called ``name`` in the root, or None."""
        prefix, suffix = f".{self.split}.", ".lock"
        if not (name.startswith(prefix) and name.endswith(suffix)):
            return None
        return parse_shard_tag(name[len(prefix) : -len(suffix)])

    @property
    def tmp_area(self) -> Path:
        """Temp dirs live beside the split folder (same filesystem, so a
        publish is one rename), one area per shard, so a job array's shards
        never clean up each other's work."""
        return self.root / f".{self.split}.tmp" / (shard_tag(self.shard) or "all")

    @property
    def write_probe_prefix(self) -> str:
        return f".{self.split}.write-test-"

    @property
    def sample_prefix(self) -> str:
        """The dry run's sample folder beside the split (removed again)."""
        return f".{self.split}.dry-run-"

    # -- lists and CSVs ----------------------------------------------------

    def list_file(self, fmt: str, csv_folder: bool) -> Path:
        """``<root>/<split>.<fmt>.txt``, or ``<root>/<fmt>/<split>.csv`` for the
        frameworks that read a folder of ``<split>.csv`` files."""
        if csv_folder:
            return self.root / fmt / f"{self.split}.csv"
        return self.root / f"{self.split}.{fmt}.txt"

    @property
    def labels(self) -> Path:
        return self.root / LABELS_FILE

    @property
    def snippet(self) -> Path:
        return self.root / SNIPPET_FILE

    def csv_copy(self, annotations: Path) -> Path:
        """Where a run copies its annotations CSV: beside the split folders,
        under its own name (Tiny-K400's ``tiny_train.csv``)."""
        return self.root / annotations.name


# ----------------------------------------------------------------------------
# the one walker of a split folder
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Entry:
    """One entry of a split folder: a class folder's child, or a stray at the top."""

    class_name: str  # "" for an entry at the top of the split folder
    name: str
    path: str
    is_dir: bool  # follows symlinks
    is_file: bool

    @property
    def rel(self) -> str:
        return f"{self.class_name}/{self.name}" if self.class_name else self.name


def hidden(name: str) -> bool:
    """Dotfiles are never clips or classes: temp areas, locks, ``.DS_Store``,
    AppleDouble ``._x`` twins, editor droppings."""
    return name.startswith(".")


def _sorted(folder: str) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        return sorted((e for e in entries if not hidden(e.name)), key=lambda e: e.name)


def walk_split(split: Path) -> Iterator[Entry]:
    """Every visible entry of ``split`` in sorted order: for each class folder,
    its children (then an entry for the class folder itself with
    ``name == ""`` so a caller can tell an empty class); files at the top
    come as entries with ``class_name == ""``.  Hidden names are skipped at
    every level."""
    for top in _sorted(str(split)):
        if not top.is_dir():
            yield Entry("", top.name, top.path, False, top.is_file())
            continue
        for child in _sorted(top.path):
            yield Entry(top.name, child.name, child.path, child.is_dir(), child.is_file())
        yield Entry(top.name, "", top.path, True, False)
