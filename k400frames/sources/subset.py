"""``k400frames subset``: a seeded, repeatable subset of a Kinetics CSV.

Tiny-Kinetics-400, this project's own seed, is one clip per class of
Kinetics-400; Mini-Kinetics-200 exists only as lists of ids.  A subset is
made from the CSV alone (no videos needed) and written in the Kinetics CSV
format, ready for the ``annotations`` key.

Repeatable: the same CSV, options and seed give the same bytes.  Each class
draws from its own generator, seeded by the seed and the class, over its
rows in name order, so neither the CSV's row order nor the other classes
change which clips a class gets; the output is sorted by label, then clip.

Downloads are never whole: with ``usable`` (the CLI's ``--only-present``,
:func:`present_and_readable` with the config's source and replacements) a
class passes over the drawn rows whose file is missing, empty or has no
readable video header and draws on, in an order of its own seed, until it
has its rows.  Where every drawn file is there, the subset is the one the
seed gives without the option.
"""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from .. import ffmpeg
from ..errors import AnnotationError
from .flat import index_videos, row_files
from .kinetics import Row, label_key, parse_clip_stem


@dataclasses.dataclass
class Subset:
    """The rows taken, and what a user should know about them."""

    rows: list[Row]
    classes: int
    short_classes: dict[str, int]  # classes with fewer rows than asked: label -> rows taken
    ids_not_found: list[str]  # lines of the ids file that name no row
    passed_over: list[Row] = dataclasses.field(default_factory=list)  # drawn, but not usable (``usable``)


def read_list(path: Path, what: str) -> list[str]:
    """The non-blank, non-comment lines of a text file, stripped."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise AnnotationError(f"cannot read the {what} file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise AnnotationError(f"{path}: not UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def make_subset(
    rows: Iterable[Row],
    *,
    per_class: int | None = None,
    seed: int = 0,
    classes: Iterable[str] | None = None,
    ids: Iterable[str] | None = None,
    usable: Callable[[Row], bool] | None = None,
) -> Subset:
    """Up to ``per_class`` rows of each class (all when None), drawn with
    ``seed``; only the ``classes`` named (either spelling of spaces) and only
    the clips ``ids`` names (a ``youtube_id``, or a clip name
    ``<id>_<start>_<end>`` for one span).  Raises :class:`AnnotationError`
    for a class the CSV does not have, or when nothing is left."""
    if per_class is not None and per_class < 1:
        raise AnnotationError(f"--per-class must be 1 or more, got {per_class}")
    unique: dict[tuple[str, str], Row] = {}
    for row in rows:
        unique.setdefault((row.label, row.clip_name), row)
    pool = list(unique.values())
    if not pool:
        raise AnnotationError("the CSV has no rows")
    ids_not_found: list[str] = []
    if ids is not None:
        wanted_ids: set[str] = set()
        wanted_clips: set[str] = set()
        listed = list(dict.fromkeys(ids))
        for text in listed:
            (wanted_clips if parse_clip_stem(text) else wanted_ids).add(text)
        pool = [r for r in pool if r.youtube_id in wanted_ids or r.clip_name in wanted_clips]
        found = {r.youtube_id for r in pool} | {r.clip_name for r in pool}
        ids_not_found = [text for text in listed if text not in found]
    if classes is not None:
        known = {label_key(r.label): r.label for r in unique.values()}
        keys = []
        for name in classes:
            if label_key(name) not in known:
                raise AnnotationError(f"class {name!r} is not a label of the CSV")
            keys.append(label_key(name))
        chosen = set(keys)
        pool = [r for r in pool if label_key(r.label) in chosen]
    by_class: dict[str, list[Row]] = {}
    for row in pool:
        by_class.setdefault(row.label, []).append(row)
    taken: list[Row] = []
    short: dict[str, int] = {}
    passed_over: list[Row] = []
    for label in sorted(by_class):
        members = sorted(by_class[label], key=lambda r: (r.youtube_id, r.time_start, r.time_end))
        want = len(members) if per_class is None else per_class
        if len(members) > want:
            # A string seed is hashed with SHA-512: the same on every machine and Python.
            drawn = random.Random(f"{seed}:{label}").sample(members, want)
            if usable is not None:  # the rest, in an order of their own, replace drawn rows that are unusable
                drawn_ids = {id(r) for r in drawn}
                rest = [r for r in members if id(r) not in drawn_ids]
                random.Random(f"{seed}:{label}:more").shuffle(rest)
                drawn += rest
            members = drawn
        if usable is not None:
            kept: list[Row] = []
            for row in members:
                if len(kept) == want:
                    break
                (kept if usable(row) else passed_over).append(row)
            members = kept
        if per_class is not None and len(members) < per_class:
            short[label] = len(members)
        taken.extend(sorted(members, key=lambda r: (r.youtube_id, r.time_start, r.time_end)))
    if not taken:
        raise AnnotationError("no rows left after the --classes and --ids filters")
    return Subset(
        rows=taken, classes=len(by_class), short_classes=short, ids_not_found=ids_not_found, passed_over=passed_over
    )


def present_and_readable(
    rows: Iterable[Row],
    source: Path,
    extensions: Sequence[str],
    replacements: Path | None = None,
    ffmpeg_exe: str | None = None,
) -> Callable[[Row], bool]:
    """Whether a row of ``rows`` has its video as a run would find it (under
    ``source`` at any depth, or in ``replacements``), not empty, with a
    readable video header (an MP4's own index, else ffmpeg's): a row that
    ``doctor`` would have fetched again is not usable.  The folders are
    listed once; a header is read only for a row asked about."""
    videos = index_videos(Path(source), extensions, replacements)
    id_rows = Counter(row.youtube_id for row in {row.clip_name: row for row in rows}.values())
    exe: list[str] = []

    def find_exe() -> str:
        if not exe:
            exe.append(ffmpeg.find_ffmpeg(ffmpeg_exe))
        return exe[0]

    def usable(row: Row) -> bool:
        _, paths = row_files(row, videos, id_rows)
        if len(paths) != 1:
            return False  # no file, or two for one row (a run's collision)
        try:
            if paths[0].stat().st_size == 0:
                return False
        except OSError:
            return False
        header, fault, _, _ = ffmpeg.read_header(paths[0], find_exe)
        return fault is None and header is not None

    return usable
