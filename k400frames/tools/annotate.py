"""annotate: describe your own ``<class>/<clip>`` tree as Kinetics CSVs
(``train.csv``, ``val.csv``), split per class and repeatably; and
``annotate --segments``: the same split of a segments CSV's rows."""

from __future__ import annotations

import csv
import dataclasses
import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ..config import DEFAULT_EXTENSIONS
from ..errors import AnnotationError, SegmentsError
from ..ffmpeg import find_ffmpeg, probe_duration
from ..files import replaced_atomically
from ..sources.kinetics import KINETICS_HEADER, Row, parse_clip_stem, write_kinetics_csv
from ..sources.segments import read_segments
from ..sources.tree import Clip, Collision, iter_source


@dataclasses.dataclass
class AnnotateResult:
    """What :func:`annotate` found and decided."""

    train: list[Row]
    val: list[Row]
    too_small: dict[str, int]  # class -> clip count; all went to train
    skipped: list[tuple[str, str]]  # (clip, reason): not written to either CSV
    train_csv: Path | None = None
    val_csv: Path | None = None


def _split_counts(n: int, val_fraction: float) -> int:
    """Clips of a class that go to val: the fraction rounded, but at least one
    and never all, so each split sees every class it can."""
    if val_fraction <= 0 or n < 2:
        return 0
    return min(n - 1, max(1, round(n * val_fraction)))


def annotate(
    source: Path,
    *,
    val_fraction: float = 0.2,
    seed: int = 0,
    class_names: str = "keep",
    extensions: Sequence[str] = DEFAULT_EXTENSIONS,
    ffmpeg_exe: str | None = None,
) -> AnnotateResult:
    """Describe every clip under ``source/<class>/`` as a Kinetics row and split
    them per class (stratified) into train and val, reproducibly for ``seed``.

    A Kinetics-named stem gives the id and times; any other stem becomes the
    id, with times 0 and the duration rounded up.  A class with fewer than two
    clips cannot be split: all its clips go to train and it is listed in
    ``too_small``."""
    source = Path(source)
    if not 0 <= val_fraction < 1:
        raise AnnotationError(f"val_fraction must be at least 0 and below 1, got {val_fraction}")
    if class_names not in ("keep", "underscore"):
        raise AnnotationError(f"class_names must be keep or underscore, got {class_names!r}")
    if not source.is_dir():
        raise AnnotationError(f"source folder does not exist: {source}")

    by_class: dict[str, list[Row]] = {}
    skipped: list[tuple[str, str]] = []
    for item in iter_source(source, extensions, class_names):
        if isinstance(item, Collision):
            skipped.append((item.rel, "several files share this clip name: " + ", ".join(p.name for p in item.sources)))
            continue
        row = _row_for(item, ffmpeg_exe)
        if isinstance(row, str):
            skipped.append((item.rel, row))
            continue
        by_class.setdefault(item.out_class, []).append(row)
    if not by_class and not skipped:
        raise AnnotationError(
            f"no clips found in {source} (expected <class>/<clip> with extensions {' '.join(extensions)})"
        )

    rows = [row for label in sorted(by_class) for row in sorted(by_class[label], key=lambda r: r.clip_name)]
    train, picked, too_small = stratified_split(rows, lambda r: r.label, val_fraction, seed)
    val = [dataclasses.replace(row, split="val") for row in picked]
    return AnnotateResult(train=train, val=val, too_small=too_small, skipped=skipped)


T = TypeVar("T")


def stratified_split(
    items: Sequence[T], label_of: Callable[[T], str], val_fraction: float, seed: int
) -> tuple[list[T], list[T], dict[str, int]]:
    """Split ``items`` per label into (train, val), reproducibly for ``seed``,
    each keeping the order of ``items``: about ``val_fraction`` of each label
    to val, at least one and never all; a label with one item stays in train
    and is returned in the third value (label -> count)."""
    by_label: dict[str, list[int]] = {}  # label -> positions in items
    for position, item in enumerate(items):
        by_label.setdefault(label_of(item), []).append(position)
    picked: set[int] = set()  # positions that go to val
    too_small: dict[str, int] = {}
    for label in sorted(by_label):
        group = by_label[label]
        n_val = _split_counts(len(group), val_fraction)
        if val_fraction > 0 and n_val == 0:
            too_small[label] = len(group)
        # A per-label generator seeded by (seed, label): adding a label never
        # reshuffles the others.  str seeds are hashed deterministically.
        order = list(range(len(group)))
        random.Random(f"{seed}/{label}").shuffle(order)
        picked.update(group[i] for i in order[:n_val])
    train = [item for position, item in enumerate(items) if position not in picked]
    val = [item for position, item in enumerate(items) if position in picked]
    return train, val, too_small


def _row_for(clip: Clip, ffmpeg_exe: str | None) -> Row | str:
    """The clip's row, or a reason it has none."""
    parsed = parse_clip_stem(clip.stem)
    if parsed:
        youtube_id, start, end = parsed
        return Row(clip.out_class, youtube_id, start, end)
    duration = probe_duration(ffmpeg_exe or find_ffmpeg(), clip.source)
    if duration is None:
        return "ffmpeg reports no duration (not a readable video?)"
    # Rounded up so the span covers the whole clip; at least 1 s so end > start.
    return Row(clip.out_class, clip.stem, 0, max(1, math.ceil(duration)))


def write_annotations(result: AnnotateResult, out_dir: Path) -> AnnotateResult:
    """Write ``train.csv`` and ``val.csv`` into ``out_dir`` (created); a split
    with no rows still gets its header, so scripts can rely on both files."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AnnotationError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    result.train_csv = write_kinetics_csv(out_dir / "train.csv", result.train)
    result.val_csv = write_kinetics_csv(out_dir / "val.csv", result.val)
    return result


# ----------------------------------------------------------------------------
# annotate --segments
# ----------------------------------------------------------------------------


@dataclasses.dataclass
class SegmentSplit:
    """What :func:`split_segments` wrote."""

    train_csv: Path
    val_csv: Path
    train: int
    val: int
    too_small: dict[str, int]


def split_segments(segments_csv: Path, out_dir: Path, *, val_fraction: float = 0.2, seed: int = 0) -> SegmentSplit:
    """Write ``train.csv`` and ``val.csv`` into ``out_dir``: the rows of
    ``segments_csv`` split per label (see :func:`stratified_split`), under the
    Kinetics header with ``split`` filled in and times kept as written.
    Each file is the ``segments`` of one split's extract run."""
    if not 0 <= val_fraction < 1:
        raise SegmentsError(f"--val-fraction must be at least 0 and below 1, got {val_fraction}")
    rows = read_segments(segments_csv)
    if not rows:
        raise SegmentsError(f"{segments_csv}: no rows")
    train, val, too_small = stratified_split(rows, lambda r: r.label, val_fraction, seed)
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SegmentsError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    paths = []
    for name, part in (("train", train), ("val", val)):
        path = out_dir / f"{name}.csv"
        with replaced_atomically(path) as partial, open(partial, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(KINETICS_HEADER)
            for row in sorted(part, key=lambda r: r.line):
                writer.writerow([row.label, row.youtube_id, row.time_start, row.time_end, name, row.is_cc or "0"])
        paths.append(path)
    return SegmentSplit(paths[0], paths[1], len(train), len(val), too_small)
