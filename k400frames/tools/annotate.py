"""annotate: describe your own ``<class>/<clip>`` tree as Kinetics CSVs
(``train.csv``, ``val.csv``), split per class and repeatably; and
``annotate --segments``: the same split of a segments CSV's rows.

Both keep every clip (span) of one recording, one ``youtube_id``, in one
split: spans of one video in train and val would put training footage into
validation.  The split is stratified by label as far as whole recordings
allow; :class:`SplitBalance` says how far the shares moved."""

from __future__ import annotations

import csv
import dataclasses
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from ..config import DEFAULT_EXTENSIONS
from ..errors import AnnotationError, SegmentsError
from ..ffmpeg import find_ffmpeg, probe_duration
from ..files import replaced_atomically
from ..sources.kinetics import KINETICS_HEADER, Row, parse_clip_stem, write_kinetics_csv
from ..sources.segments import read_segments
from ..sources.tree import Clip, Collision, has_whitespace, iter_source


@dataclasses.dataclass
class AnnotateResult:
    """What :func:`annotate` found and decided."""

    train: list[Row]
    val: list[Row]
    too_small: dict[str, int]  # class -> clip count; all went to train
    skipped: list[tuple[str, str]]  # (clip, reason): not written to either CSV
    spaced: list[str] = dataclasses.field(default_factory=list)  # clips whose class or clip name holds whitespace
    train_csv: Path | None = None
    val_csv: Path | None = None
    balance: SplitBalance | None = None


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
    clip_names: str = "keep",
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
    for item in iter_source(source, extensions, class_names, clip_policy=clip_names):
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
    # Clips of one recording (Kinetics names: one youtube_id) stay in one split.
    train, picked, too_small = split_by_recording(rows, lambda r: r.label, lambda r: r.youtube_id, val_fraction, seed)
    val = [dataclasses.replace(row, split="val") for row in picked]
    balance = SplitBalance.of(train, picked, lambda r: r.label, lambda r: r.youtube_id, val_fraction)
    spaced = [f"{r.label}/{r.youtube_id}" for r in rows if has_whitespace(r.label) or has_whitespace(r.youtube_id)]
    return AnnotateResult(train=train, val=val, too_small=too_small, skipped=skipped, balance=balance, spaced=spaced)


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


def split_by_recording(
    items: Sequence[T],
    label_of: Callable[[T], str],
    recording_of: Callable[[T], str],
    val_fraction: float,
    seed: int,
) -> tuple[list[T], list[T], dict[str, int]]:
    """Split ``items`` into (train, val) keeping every item of one recording
    (``youtube_id``) in one split: the recordings are split per label (see
    :func:`stratified_split`), a recording counting under the label most of
    its items carry (ties: the first by name).  ``too_small``: labels with
    one recording, all in train (label -> recordings)."""
    positions: dict[str, list[int]] = {}
    for position, item in enumerate(items):
        positions.setdefault(recording_of(item), []).append(position)
    recordings = sorted(positions)

    def main_label(recording: str) -> str:
        counts = Counter(label_of(items[p]) for p in positions[recording])
        return min(counts, key=lambda label: (-counts[label], label))

    _, val_recordings, too_small = stratified_split(recordings, main_label, val_fraction, seed)
    picked = {p for recording in val_recordings for p in positions[recording]}
    train = [item for position, item in enumerate(items) if position not in picked]
    val = [item for position, item in enumerate(items) if position in picked]
    return train, val, too_small


@dataclasses.dataclass
class SplitBalance:
    """How far whole recordings let the split follow ``val_fraction``."""

    asked: float
    recordings: tuple[int, int]  # (train, val)
    items: tuple[int, int]  # (train, val)
    # label -> (items, of them in val)
    per_label: dict[str, tuple[int, int]]

    @classmethod
    def of(
        cls,
        train: Sequence[T],
        val: Sequence[T],
        label_of: Callable[[T], str],
        recording_of: Callable[[T], str],
        asked: float,
    ) -> SplitBalance:
        per_label: dict[str, list[int]] = {}
        for part, in_val in ((train, 0), (val, 1)):
            for item in part:
                counts = per_label.setdefault(label_of(item), [0, 0])
                counts[0] += 1
                counts[1] += in_val
        return cls(
            asked=asked,
            recordings=(len({recording_of(i) for i in train}), len({recording_of(i) for i in val})),
            items=(len(train), len(val)),
            per_label={label: (n, v) for label, (n, v) in sorted(per_label.items())},
        )

    @property
    def val_share(self) -> float:
        return self.items[1] / max(sum(self.items), 1)

    def widest(self) -> tuple[str, float] | None:
        """The label whose val share is furthest from ``asked``, and that share."""
        shares = {label: v / n for label, (n, v) in self.per_label.items() if n}
        if not shares:
            return None
        label = max(shares, key=lambda name: (abs(shares[name] - self.asked), name))
        return label, shares[label]

    def describe(self, what: str) -> str:
        """One line for the summary: the shares asked and got."""
        line = (
            f"split by recording (youtube_id): {self.recordings[0]} in train, {self.recordings[1]} in val, "
            f"none in both; val holds {self.val_share:.0%} of the {what} (asked {self.asked:.0%})"
        )
        widest = self.widest()
        if widest and abs(widest[1] - self.asked) >= 0.005:
            moved = abs(widest[1] - self.asked)
            line += f"; per label from the asked share at most {moved:.0%} ({widest[0]!r}: {widest[1]:.0%})"
        return line


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
    balance: SplitBalance | None = None


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
    # Spans of one video in both splits would put training footage in val.
    train, val, too_small = split_by_recording(rows, lambda r: r.label, lambda r: r.youtube_id, val_fraction, seed)
    balance = SplitBalance.of(train, val, lambda r: r.label, lambda r: r.youtube_id, val_fraction)
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
    return SegmentSplit(paths[0], paths[1], len(train), len(val), too_small, balance)
