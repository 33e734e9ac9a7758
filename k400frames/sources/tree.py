"""Walk ``<source>/<class>/<clip>.<ext>`` and map each clip to its output folder.

The walk is lazy (one class folder listed at a time) and sorted, so the clip
order does not depend on the filesystem and memory stays flat on a 650k-clip
tree.  Clutter (AppleDouble ``._x.mp4``, ``.DS_Store``, dotfiles, READMEs,
other extensions) is skipped, and counted by kind for the run's summary, so a
user sees what was left out (``.ts`` files of a camera, say); symlinked clips
and class folders are followed, and one that cannot be (a symlink loop) is
skipped with its reason, never stopping the walk.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import logging
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path

from .kinetics import label_key

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Clip:
    """One source video and where its frames go (relative to the split folder)."""

    source: Path
    class_name: str  # folder name on disk, kept exactly
    out_class: str  # after the class-name policy
    stem: str  # file name minus its last extension only (after the clip-name policy)
    # A span of the source (``segments``), in seconds from its first video
    # frame; None for a whole clip.
    start: float | None = None
    end: float | None = None
    # (stage, reason) when the plan already knows this item fails (a segment
    # row naming no video, or times that are not numbers): recorded as a
    # failure like any other, so resume and --retry-failed see it.
    problem: tuple[str, str] | None = None

    @property
    def rel(self) -> str:
        """``<class>/<clip>``: the clip's id in records, shards and messages."""
        return f"{self.out_class}/{self.stem}"


@dataclasses.dataclass(frozen=True)
class Collision:
    """Two sources that would write the same output folder."""

    class_name: str
    out_class: str
    stem: str
    sources: tuple[Path, ...]

    @property
    def rel(self) -> str:
        return f"{self.out_class}/{self.stem}"


def output_class_name(class_name: str, policy: str) -> str:
    """Apply the ``class_names`` policy: ``keep`` or ``underscore`` (spaces -> _)."""
    return label_key(class_name) if policy == "underscore" else class_name


def output_clip_name(stem: str, policy: str) -> str:
    """Apply the ``clip_names`` policy: ``keep``, or ``underscore`` (every
    whitespace character -> ``_``, as whitespace-split list readers need)."""
    return "".join("_" if ch.isspace() else ch for ch in stem) if policy == "underscore" else stem


def has_whitespace(name: str) -> bool:
    return any(ch.isspace() for ch in name)


def clip_stem(filename: str) -> str:
    """``100%_real.v2_000001_000011.mp4`` -> ``100%_real.v2_000001_000011``."""
    return filename.rsplit(".", 1)[0] if "." in filename else filename


def _visible(name: str) -> bool:
    # Dotfiles cover .DS_Store, ._AppleDouble twins and editor droppings.
    return not name.startswith(".")


def _sorted_entries(folder: Path, skipped: Counter | None = None) -> list[os.DirEntry]:
    with os.scandir(folder) as entries:
        listed = sorted(entries, key=lambda e: e.name)
    hidden = sum(1 for e in listed if not _visible(e.name))
    if skipped is not None and hidden:
        skipped["dotfiles"] += hidden
    return [e for e in listed if _visible(e.name)]


def skip_kind(name: str) -> str:
    """How a skipped file is counted: by its extension (``.txt``)."""
    suffix = os.path.splitext(name)[1].lower()
    return suffix if suffix else "no extension"


def iter_source(
    source: Path,
    extensions: Iterable[str],
    class_policy: str = "keep",
    skipped: Counter | None = None,
    clip_policy: str = "keep",
) -> Iterator[Clip | Collision]:
    """Yield every clip under ``source`` in sorted order, and a
    :class:`Collision` for each output folder that two sources claim (the
    ``clip_names`` policy may map two file names to one).  Entries
    that are not clips are counted in ``skipped`` by kind (an extension,
    ``dotfiles`` or ``folders``)."""
    extensions = tuple(e.lower() for e in extensions)
    count = skipped if skipped is not None else Counter()
    for class_entry in _sorted_entries(source, count):
        try:
            is_class = class_entry.is_dir()  # follows symlinks
            entries = _sorted_entries(Path(class_entry.path), count) if is_class else []
        except OSError as exc:  # a symlink loop, a dangling mount: one entry left out, not the run
            _unreadable(count, class_entry.path, exc)
            continue
        if not is_class:
            count[skip_kind(class_entry.name)] += 1
            continue
        class_name = class_entry.name
        out_class = output_class_name(class_name, class_policy)
        by_stem: dict[str, list[Path]] = {}
        for entry in entries:
            try:
                is_file = entry.is_file()
            except OSError as exc:
                _unreadable(count, entry.path, exc)
                continue
            if not is_file:
                count["folders"] += 1
                continue
            if not entry.name.lower().endswith(extensions):
                count[skip_kind(entry.name)] += 1
                continue
            by_stem.setdefault(output_clip_name(clip_stem(entry.name), clip_policy), []).append(Path(entry.path))
        for stem, paths in by_stem.items():
            if len(paths) == 1:
                yield Clip(paths[0], class_name, out_class, stem)
            else:
                yield Collision(class_name, out_class, stem, tuple(paths))


def _unreadable(count: Counter, path: str, exc: OSError) -> None:
    """Count an entry that cannot be followed or listed (``symlink loop``,
    ``unreadable``) and say which, once, in the log."""
    kind = "symlink loop" if exc.errno == errno.ELOOP else "unreadable"
    count[kind] += 1
    log.warning("skipped %s: %s (%s)", path, kind, exc.strerror or exc)


def shard_of(rel: str, shards: int) -> int:
    """The shard a clip belongs to.  It depends on the clip's own name only, so
    adding clips never moves existing ones between shards."""
    digest = hashlib.sha1(rel.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def in_shard(rel: str, shard: tuple[int, int] | None) -> bool:
    return shard is None or shard_of(rel, shard[1]) == shard[0]
