"""Own long videos -> Kinetics clips: a segments CSV names labelled spans.

The CSV has Kinetics' columns ``label,youtube_id,time_start,time_end`` (more
columns are ignored); each row is one clip, cut from the video under
``source`` (any depth) whose file stem is ``youtube_id``.  Every row becomes
a :class:`~k400frames.clips.Clip` with ``start``/``end`` set, named as
Kinetics names clips, so the runner plans, shards, resumes, retries and
dry-runs rows exactly as it does whole clips.  A row that cannot be cut
(no video, bad times, two rows for one folder) becomes a Clip with a
``problem``: a failure line that names the row, and the run goes on.

Times count from the video's first frame, not from the file's start (audio
or an edit list may start earlier): the decode seeks to
``time_start`` + the video stream's offset (see :func:`decode_plan`).

Also here: ``sampling: uniform`` (which frames of a clip or span to keep)
and ``annotate --segments`` (a stratified train/val split of a segments CSV).
"""
from __future__ import annotations

import csv
import dataclasses
import functools
import math
import os
from collections import Counter
from collections.abc import Iterator, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path

from . import ffmpeg
from .clips import Clip, clip_stem, output_class_name, skip_kind
from .errors import SegmentsError
from .records import replaced_atomically

SEGMENT_COLUMNS = ("label", "youtube_id", "time_start", "time_end")
OUTPUT_HEADER = ("label", "youtube_id", "time_start", "time_end", "split", "is_cc")

# ffmpeg prints start times to the microsecond, so a frame exactly at
# time_start may sit a hair before the computed seek point.  Both span ends
# move this much earlier, which keeps that frame and still drops the frame
# exactly at time_end; 0.5 ms is far below any frame period.
SEEK_TOLERANCE_S = 0.0005


class SpanError(Exception):
    """This row's span cannot be cut from its video (a failure of that row only)."""


# ----------------------------------------------------------------------------
# the CSV
# ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Segment:
    """One row of a segments CSV; ``start``/``end`` are None when not numbers."""

    line: int
    label: str
    youtube_id: str
    time_start: str            # as written
    time_end: str
    start: Decimal | None
    end: Decimal | None
    is_cc: str = ""            # kept by annotate --segments

    def describe(self) -> str:
        return (f"row {self.line} (youtube_id {self.youtube_id!r}, time_start {self.time_start!r}, "
                f"time_end {self.time_end!r})")

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
    row's failure)."""
    path = Path(path)
    try:
        handle = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise SegmentsError(f"cannot read segments {path}: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader, [])]
            missing = [c for c in SEGMENT_COLUMNS if c not in header]
            if missing:
                raise SegmentsError(f"{path}: not a segments CSV; the header lacks {', '.join(missing)} "
                                    f"(expected {','.join(SEGMENT_COLUMNS)}, more columns allowed)")
            at = [header.index(c) for c in SEGMENT_COLUMNS]
            is_cc = header.index("is_cc") if "is_cc" in header else None
            for record in reader:
                if not any(field.strip() for field in record):
                    continue  # a blank line
                record += [""] * (len(header) - len(record))
                label, youtube_id, start, end = (record[i].strip() for i in at)
                yield Segment(line=reader.line_num, label=label, youtube_id=youtube_id, time_start=start,
                              time_end=end, start=_seconds(start), end=_seconds(end),
                              is_cc=record[is_cc].strip() if is_cc is not None else "")
        except csv.Error as exc:
            raise SegmentsError(f"{path} line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError:
            raise SegmentsError(f"{path}: not UTF-8 text") from None


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

def find_videos(source: Path, extensions: Sequence[str], skipped: Counter | None = None) -> dict[str, list[Path]]:
    """Every video under ``source`` (any depth, symlinks followed once), by
    file stem, each list sorted.  Dotfiles and dot-folders are skipped and,
    like other files, counted in ``skipped`` by kind."""
    extensions = tuple(e.lower() for e in extensions)
    count = skipped if skipped is not None else Counter()
    found: dict[str, list[Path]] = {}
    seen: set[str] = set()
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


def _class_folder(label: str, policy: str) -> str | None:
    """The class folder for ``label``, or None when no folder may have that name."""
    name = output_class_name(label, policy)
    if not name or name in (".", "..") or "/" in name or os.sep in name or "\0" in name:
        return None
    return name


def _safe(text: str) -> str:
    # Only for the record id of a row that fails before any folder exists.
    return text.replace("/", "_").replace(os.sep, "_") or "_"


def _clip_for(row: Segment, policy: str, source: Path = Path()) -> tuple[Clip, str | None]:
    """The row's clip and why it cannot be cut, if so."""
    out_class = _class_folder(row.label, policy)
    reason = row.time_problem()
    if out_class is None:
        reason = (f"label {row.label!r} cannot be a class folder name" if row.label
                  else "empty label (every segment needs a class)")
    if not row.youtube_id or row.youtube_id in (".", "..") or "/" in row.youtube_id:
        reason = f"youtube_id {row.youtube_id!r} cannot be a video file stem"
    if reason or out_class is None or row.start is None or row.end is None:  # reason says why
        stem = _safe(f"{row.youtube_id}_{row.time_start}_{row.time_end}")
        return Clip(source, row.label, out_class or _safe(row.label), stem), reason or "bad times"
    return Clip(source, row.label, out_class, span_name(row.youtube_id, row.start, row.end),
                start=float(row.start), end=float(row.end)), None


def iter_segments(segments_csv: Path, source: Path, extensions: Sequence[str], class_policy: str = "keep",
                  skipped: Counter | None = None) -> Iterator[Clip]:
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
        rel = _clip_for(row, class_policy)[0].rel
        if rel in first_line:
            shared.setdefault(rel, [first_line[rel]]).append(row.line)
        else:
            first_line[rel] = row.line
    del first_line
    for row in iter_rows(segments_csv):
        paths = videos.get(row.youtube_id, [])
        clip, reason = _clip_for(row, class_policy, paths[0] if paths else segments_csv)
        lines = shared.get(clip.rel)
        if lines and row.line != lines[0]:
            continue  # reported once, with the first of its rows
        problem = None
        if lines:
            problem = ("collision", f"rows {', '.join(map(str, lines))} of {segments_csv.name} map to one "
                                    f"clip folder (same label, youtube_id and times); keep one")
        elif reason:
            problem = ("segment", f"{row.describe()}: {reason}")
        elif not paths:
            problem = ("segment", f"{row.describe()}: video not found: no file {row.youtube_id}.<ext> "
                                  f"anywhere under {source}")
        elif len(paths) > 1:
            problem = ("collision", f"{row.describe()}: several videos have the stem {row.youtube_id}: "
                                    f"{', '.join(str(p.relative_to(source)) for p in paths)}; "
                                    f"rename or remove all but one")
        yield dataclasses.replace(clip, problem=problem) if problem else clip


# ----------------------------------------------------------------------------
# decoding a span, and which frames to keep
# ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class DecodePlan:
    """How ffmpeg reads one clip: where to seek, how long, which frames to keep."""

    seek: float | None = None       # input -ss, seconds (ffmpeg adds the container's start itself)
    duration: float | None = None   # input -t
    select: str | None = None       # ffmpeg select expression (sampling: uniform)
    frames: int | None = None       # frames the select expression assumes the clip has


def uniform_indices(total: int, wanted: int) -> list[int]:
    """``wanted`` 0-based frame indices spread evenly over ``total`` frames:
    the first, the last, and distinct whenever ``total >= wanted``."""
    if wanted <= 1 or total <= 1:
        return [0]
    return [k * (total - 1) // (wanted - 1) for k in range(wanted)]


def uniform_select(total: int, wanted: int) -> str:
    """An ffmpeg ``select`` expression that keeps exactly the frames of
    :func:`uniform_indices`: frame n is kept when the pick closest above it,
    k = ceil(n*(wanted-1)/(total-1)), lands on n.  Integer arithmetic in
    doubles, exact for any real frame count, and the same few operations per
    frame whatever ``wanted`` is (a sum of 300 eq() terms would not be)."""
    if wanted <= 1 or total <= 1:
        return "eq(n,0)"
    a, b = wanted - 1, total - 1
    return f"eq(floor(floor((n*{a}+{b - 1})/{b})*{b}/{a}),n)"


@functools.lru_cache(maxsize=256)
def _header(exe: str, path: str, size: int, mtime_ns: int) -> ffmpeg.Header:
    # Many rows cut one long video: probe it once per worker (size and mtime
    # in the key, so a replaced file is probed again).
    return ffmpeg.probe_header(exe, Path(path))


def probe(exe: str, video: Path) -> ffmpeg.Header:
    """``ffmpeg.probe_header`` of ``video``, cached per file version."""
    st = os.stat(video)
    return _header(exe, str(video), st.st_size, st.st_mtime_ns)


def decode_plan(clip: Clip, num_frames: int, fps: float | None, sampling: str, exe: str) -> DecodePlan:
    """How to decode ``clip``: a whole clip with ``sampling: first`` needs no
    probe; a span seeks to its start (measured from the first video frame)
    and stops at its end; ``uniform`` picks ``num_frames`` frames spread over
    the frames the span (or clip) has at ``fps`` or the native rate.

    Raises :class:`SpanError` when the span starts after the video ends."""
    if clip.start is None and sampling == "first":
        return DecodePlan()
    header = probe(exe, clip.source)
    length = header.duration - header.video_offset if header.duration else None
    seek = duration = None
    span = length
    if clip.start is not None and clip.end is not None:
        if length is not None and clip.start >= length:
            raise SpanError(f"{clip.stem}: span {clip.start:g}-{clip.end:g} s lies outside the video "
                            f"{clip.source.name} (its video lasts {length:.3f} s)")
        seek = max(header.video_offset + clip.start - SEEK_TOLERANCE_S, 0.0)
        duration = clip.end - clip.start
        span = min(clip.end, length) - clip.start if length is not None else duration
    if sampling != "uniform":
        return DecodePlan(seek, duration)
    rate = fps or header.fps
    if not rate or not span:
        return DecodePlan(seek, duration)  # nothing to plan from: the first N frames
    # floor, not round: a count one too low only moves the last pick one frame
    # earlier; one too high would ask for a frame that is not there.
    total = math.floor(span * rate + 1e-6)
    return plan_uniform(seek, duration, total, num_frames)


def plan_uniform(seek: float | None, duration: float | None, total: int, wanted: int) -> DecodePlan:
    """A plan keeping ``wanted`` of ``total`` frames, or all when there are no more."""
    if total <= wanted:
        return DecodePlan(seek, duration)
    return DecodePlan(seek, duration, uniform_select(total, wanted), total)


def replan_short(plan: DecodePlan, decoded: int, wanted: int) -> DecodePlan | None:
    """When ``uniform`` kept fewer frames than planned, the clip had fewer
    frames than its header promised (audio longer than the video, say): the
    picks that came out tell how many it has, at least
    ``index[decoded - 1] + 1``.  The plan for a second decode with that
    count, or None when the first one was fine."""
    if plan.select is None or plan.frames is None or decoded >= wanted or decoded == 0:
        return None
    total = uniform_indices(plan.frames, wanted)[decoded - 1] + 1
    return plan_uniform(plan.seek, plan.duration, total, wanted)


# ----------------------------------------------------------------------------
# annotate --segments: a stratified train/val split of the rows
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
    ``segments_csv`` split per label (see :func:`~k400frames.annotate.stratified_split`), under the
    Kinetics header with ``split`` filled in and times kept as written.
    Each file is the ``segments`` of one split's extract run."""
    if not 0 <= val_fraction < 1:
        raise SegmentsError(f"--val-fraction must be at least 0 and below 1, got {val_fraction}")
    rows = read_segments(segments_csv)
    if not rows:
        raise SegmentsError(f"{segments_csv}: no rows")
    from .annotate import stratified_split
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
            writer.writerow(OUTPUT_HEADER)
            for row in sorted(part, key=lambda r: r.line):
                writer.writerow([row.label, row.youtube_id, row.time_start, row.time_end, name,
                                 row.is_cc or "0"])
        paths.append(path)
    return SegmentSplit(paths[0], paths[1], len(train), len(val), too_small)
