"""Own long videos -> Kinetics clips: a segments CSV names labelled spans.

The CSV has Kinetics' columns ``label,youtube_id,time_start,time_end`` (more
columns are ignored); each row is one clip, cut from the video under
``source`` (any depth) whose file stem is ``youtube_id``.  Every row becomes
a :class:`~k400frames.sources.tree.Clip` with ``start``/``end`` set, named as
Kinetics names clips, so the runner plans, shards, resumes, retries and
dry-runs rows exactly as it does whole clips.  A row that cannot be cut
(no video, bad times, two rows for one folder) becomes a Clip with a
``problem``: a failure line that names the row, and the run goes on.

Times count from the video's first frame, not from the file's start (audio
or an edit list may start earlier): the decode seeks to
``time_start`` + the video stream's offset (see
:func:`k400frames.clip.decode.decode_plan`).
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from ..errors import SegmentsError
from .kinetics import iter_kinetics_records
from .tree import Clip, clip_stem, output_class_name, output_clip_name, skip_kind

SEGMENT_COLUMNS = ("label", "youtube_id", "time_start", "time_end")


@dataclasses.dataclass(frozen=True)
class Segment:
    """One row of a segments CSV; ``start``/``end`` are None when not numbers."""

    line: int
    label: str
    youtube_id: str
    time_start: str  # as written
    time_end: str
    start: Decimal | None
    end: Decimal | None
    is_cc: str = ""  # kept by annotate --segments

    def describe(self) -> str:
        return (
            f"row {self.line} (youtube_id {self.youtube_id!r}, time_start {self.time_start!r}, "
            f"time_end {self.time_end!r})"
        )

    def time_problem(self) -> str | None:
        """Why the times cannot be a span, or None."""
        if self.start is None or self.end is None:
            return "time_start and time_end must be numbers of seconds"
        if self.start < 0:
            return "time_start must not be negative"
        if self.end <= self.start:
            return "time_end must be after time_start"
        return None


def _seconds(text: str) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        return None
    return value if value.is_finite() else None


def read_segments(path: Path) -> list[Segment]:
    """Every row of the segments CSV at ``path`` (see :func:`iter_rows`)."""
    return list(iter_rows(path))


def iter_rows(path: Path) -> Iterator[Segment]:
    """The rows of the segments CSV at ``path``, read lazily.  A file that is
    missing, not UTF-8 or lacks the Kinetics columns is a
    :class:`SegmentsError`; a row with bad times is kept (it becomes that
    row's failure).  Read by :func:`~k400frames.sources.kinetics.iter_kinetics_records`,
    the reader of every Kinetics-style CSV."""
    expected = f"expected {','.join(SEGMENT_COLUMNS)}, more columns allowed"
    records = iter_kinetics_records(
        path, SEGMENT_COLUMNS, error=SegmentsError, what="segments", kind="segments", expected=expected
    )
    for record in records:
        yield Segment(
            line=record.line,
            label=record["label"],
            youtube_id=record["youtube_id"],
            time_start=record["time_start"],
            time_end=record["time_end"],
            start=_seconds(record["time_start"]),
            end=_seconds(record["time_end"]),
            is_cc=record["is_cc"],
        )


def time_text(seconds: Decimal) -> str:
    """A span end as it appears in a clip name: whole seconds as Kinetics
    writes them (``000010``), others with their decimals as written, less
    trailing zeros (``12.50`` -> ``000012.5``)."""
    if seconds == seconds.to_integral_value():
        return f"{int(seconds):06d}"
    text = format(seconds.normalize(), "f")
    whole, _, fraction = text.partition(".")
    return f"{int(whole):06d}" + (f".{fraction}" if fraction else "")


def span_name(youtube_id: str, start: Decimal, end: Decimal) -> str:
    """``("abc", 10, 20)`` -> ``abc_000010_000020`` (Kinetics' own form);
    ``("abc", 12.5, 20)`` -> ``abc_000012.5_000020``."""
    return f"{youtube_id}_{time_text(start)}_{time_text(end)}"


# ----------------------------------------------------------------------------
# rows -> clips
# ----------------------------------------------------------------------------


def find_videos(
    source: Path, extensions: Sequence[str], skipped: Counter | None = None, exclude: Path | None = None
) -> dict[str, list[Path]]:
    """Every video under ``source`` (any depth, symlinks followed once), by
    file stem, each list sorted.  Dotfiles and dot-folders are skipped and,
    like other files, counted in ``skipped`` by kind.  The folder
    ``exclude`` is left out (a replacements folder kept inside the source)."""
    extensions = tuple(e.lower() for e in extensions)
    count = skipped if skipped is not None else Counter()
    found: dict[str, list[Path]] = {}
    seen: set[str] = {os.path.realpath(exclude)} if exclude is not None else set()
    for folder, dirs, files in os.walk(source, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop, or two links to one folder
            dirs[:] = []
            continue
        seen.add(real)
        count["dotfiles"] += sum(1 for name in dirs + files if name.startswith("."))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            if not name.lower().endswith(extensions):
                count[skip_kind(name)] += 1
                continue
            found.setdefault(clip_stem(name), []).append(Path(folder) / name)
    if not count["dotfiles"]:
        del count["dotfiles"]
    return found


def class_folder(label: str, policy: str) -> str | None:
    """The class folder for ``label``, or None when no folder may have that name."""
    name = output_class_name(label, policy)
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        return None
    return name


def _safe(text: str) -> str:
    # Only for the record id of a row that fails before any folder exists.
    return text.replace("/", "_").replace(os.sep, "_") or "_"


def _clip_for(row: Segment, policy: str, source: Path = Path(), clip_policy: str = "keep") -> tuple[Clip, str | None]:
    """The row's clip and why it cannot be cut, if so."""
    out_class = class_folder(row.label, policy)
    reason = row.time_problem()
    if out_class is None:
        reason = (
            f"label {row.label!r} cannot be a class folder name"
            if row.label
            else "empty label (every segment needs a class)"
        )
    if not row.youtube_id or row.youtube_id in (".", "..") or "/" in row.youtube_id:
        reason = f"youtube_id {row.youtube_id!r} cannot be a video file stem"
    if reason or out_class is None or row.start is None or row.end is None:  # reason says why
        stem = _safe(f"{row.youtube_id}_{row.time_start}_{row.time_end}")
        return Clip(source, row.label, out_class or _safe(row.label), stem), reason or "bad times"
    return Clip(
        source,
        row.label,
        out_class,
        output_clip_name(span_name(row.youtube_id, row.start, row.end), clip_policy),
        start=float(row.start),
        end=float(row.end),
    ), None


def iter_segments(
    segments_csv: Path,
    source: Path,
    extensions: Sequence[str],
    class_policy: str = "keep",
    skipped: Counter | None = None,
    clip_policy: str = "keep",
) -> Iterator[Clip]:
    """One :class:`Clip` per row of ``segments_csv``, in the CSV's order, its
    video found under ``source``.  Rows that cannot be cut get a
    ``problem`` naming the row; rows that map to one folder are one
    collision.  Two lazy passes over the CSV (the first only finds the
    collisions), so memory holds one name per row, not the rows."""
    videos = find_videos(source, extensions, skipped)
    segments_csv = Path(segments_csv)
    first_line: dict[str, int] = {}
    shared: dict[str, list[int]] = {}  # rel -> the lines of every row that maps to it
    for row in iter_rows(segments_csv):
        rel = _clip_for(row, class_policy, clip_policy=clip_policy)[0].rel
        if rel in first_line:
            shared.setdefault(rel, [first_line[rel]]).append(row.line)
        else:
            first_line[rel] = row.line
    del first_line
    for row in iter_rows(segments_csv):
        paths = videos.get(row.youtube_id, [])
        clip, reason = _clip_for(row, class_policy, paths[0] if paths else segments_csv, clip_policy)
        lines = shared.get(clip.rel)
        if lines and row.line != lines[0]:
            continue  # reported once, with the first of its rows
        problem = None
        if lines:
            problem = (
                "collision",
                f"rows {', '.join(map(str, lines))} of {segments_csv.name} map to one "
                f"clip folder (same label, youtube_id and times); keep one",
            )
        elif reason:
            problem = ("segment", f"{row.describe()}: {reason}")
        elif not paths:
            problem = (
                "segment",
                f"{row.describe()}: video not found: no file {row.youtube_id}.<ext> anywhere under {source}",
            )
        elif len(paths) > 1:
            problem = (
                "collision",
                f"{row.describe()}: several videos have the stem {row.youtube_id}: "
                f"{', '.join(str(p.relative_to(source)) for p in paths)}; "
                f"rename or remove all but one",
            )
        yield dataclasses.replace(clip, problem=problem) if problem else clip


def expected_rels(segments_csv: Path, class_policy: str = "keep", clip_policy: str = "keep") -> list[str]:
    """The ``<class>/<clip>`` of every row of ``segments_csv``, in order, once
    each: the clips a run of it should leave (``verify`` joins them)."""
    rows = iter_rows(segments_csv)
    return list(dict.fromkeys(_clip_for(row, class_policy, clip_policy=clip_policy)[0].rel for row in rows))
