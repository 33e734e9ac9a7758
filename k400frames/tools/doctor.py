"""``k400frames doctor``: a download reconciled with its Kinetics CSV before
any extraction.

Downloads of Kinetics are never whole: rows whose video is gone, 0-byte
files, "moov atom not found", files cut short, clips shorter than their span.
A 27-hour run should not be the first thing that finds them.  The doctor
matches every row to its file (by ``youtube_id``; a file whose time suffix
differs from its row's is *renamed*, not missing), then reads each file's
header: an MP4's own index in Python (:mod:`k400frames.ffmpeg.mp4`, a few
hundred bytes a file), ffmpeg only for other containers and fragmented
files.  It never changes a file.

Kinds of findings, each naming its clip (:data:`KINDS`); all but ``short``
make the report unclean, and the download faults (:data:`REDOWNLOAD`) are
the rows to fetch again.

Rows with no file at all are the ones YouTube has lost for good (about 5%
of Kinetics): :func:`write_missing` writes them as a ``missing_ok`` CSV, and
a doctor given that CSV counts them as known gone.  An empty or broken file
is never "gone": it is worth fetching again (``--redownload``).

The official download's layout is taken as it is: one replacements folder
serves every split, so its files that another split's CSV beside this one
names are that split's, not strays here; and the recordings this split
shares with the other splits' CSVs (train/val leakage) are found before
any extraction (:func:`~k400frames.tools.leakage.csv_leaks`).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import ffmpeg
from ..run.progress import NoProgress, Progress, Tally
from ..sources.flat import from_replacements, index_videos, known_gone_names, row_files, unused_stems
from ..sources.kinetics import Row, parse_clip_stem, read_kinetics_csv, sibling_csvs, write_kinetics_csv
from ..words import plural
from .leakage import csv_leaks

# (kind, what it means), in report order.
KINDS = (
    ("missing", "rows with no file"),
    ("renamed", "files whose time suffix differs from their row's"),
    ("no_row", "files that match no row"),
    ("duplicate_row", "rows listed more than once"),
    ("duplicate_file", "rows with more than one file"),
    ("leak", "recordings (youtube_id) another split's CSV also holds: validation would see training footage"),
    ("empty", "empty files (0 bytes)"),
    ("unreadable", "files whose header cannot be read"),
    ("no_video", "files with no video stream"),
    ("truncated", "files cut short (the header promises more than the file holds)"),
    ("short", "clips much shorter than their span (reported, not a download fault)"),
)
KIND_NAMES = tuple(kind for kind, _ in KINDS)
REDOWNLOAD = ("missing", "empty", "unreadable", "no_video", "truncated")
NOT_FAULTS = ("short",)
# A clip is "much shorter" than its span below this share of it (Kinetics
# spans are 10 s; yt-dlp cuts land within a frame or two of that).
SHORT_SHARE = 0.8
HEADER_BATCH = 512


@dataclasses.dataclass(frozen=True)
class Finding:
    """One problem: its kind, the clip it concerns, the file (relative to
    the folder it was found in) and what exactly is wrong."""

    kind: str
    clip: str
    path: str | None
    detail: str
    label: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class DoctorReport:
    source: Path
    csv: Path
    rows: int = 0
    files: int = 0
    by_ffmpeg: int = 0  # headers ffmpeg had to read (not MP4, or fragmented)
    findings: list[Finding] = dataclasses.field(default_factory=list)
    fps: Counter = dataclasses.field(default_factory=Counter)
    sizes: Counter = dataclasses.field(default_factory=Counter)
    codecs: Counter = dataclasses.field(default_factory=Counter)
    redownload: list[Row] = dataclasses.field(default_factory=list)  # in CSV order
    missing: list[Row] = dataclasses.field(default_factory=list)  # rows with no file (known gone apart), in CSV order
    replacements: Path | None = None
    replaced: int = 0  # rows whose file came from the replacements folder
    for_other_splits: int = 0  # replacement files that another split's CSV names
    missing_ok: Path | None = None
    gone: list[Row] = dataclasses.field(default_factory=list)  # rows of missing_ok with no file: expected
    no_file: list[Row] = dataclasses.field(default_factory=list)  # missing and gone, in CSV order
    leak_csvs: list[str] = dataclasses.field(default_factory=list)  # the other CSVs the leak check read

    @property
    def ok(self) -> bool:
        """No finding but notes (clips shorter than their span)."""
        return all(f.kind in NOT_FAULTS for f in self.findings)

    def of_kind(self, kind: str) -> list[Finding]:
        return [f for f in self.findings if f.kind == kind]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "source": str(self.source),
            "csv": str(self.csv),
            "rows": self.rows,
            "files": self.files,
            "headers_read_by_ffmpeg": self.by_ffmpeg,
            "counts": {kind: len(self.of_kind(kind)) for kind in KIND_NAMES},
            "findings": {kind: [f.to_dict() for f in self.of_kind(kind)] for kind in KIND_NAMES},
            "mix": {
                "fps": _mix(self.fps),
                "size": _mix(self.sizes),
                "codec": _mix(self.codecs),
            },
            "redownload": [dataclasses.asdict(row) for row in self.redownload],
            "replacements": str(self.replacements) if self.replacements else None,
            "replaced": self.replaced,
            "replacements_for_other_splits": self.for_other_splits,
            "missing_ok": str(self.missing_ok) if self.missing_ok else None,
            "known_gone": len(self.gone),
            "leak_check_csvs": self.leak_csvs,
        }


def _mix(counter: Counter) -> dict[str, int]:
    return {str(key): n for key, n in counter.most_common()}


def diagnose(
    source: Path,
    csv: Path,
    *,
    extensions: Sequence[str],
    replacements: Path | None = None,
    ffmpeg_exe: str | None = None,
    workers: int = 2,
    short_share: float = SHORT_SHARE,
    progress: Progress | None = None,
    missing_ok: Path | None = None,
    against: Sequence[Path] = (),
) -> DoctorReport:
    """Reconcile the videos under ``source`` (any depth; ``replacements``
    win) with the Kinetics CSV ``csv`` and read every video's header.
    ``progress`` (a run's :class:`~k400frames.run.progress.Progress`) follows
    the headers read, counting the files with a fault as failed.  ffmpeg (the
    configured ``ffmpeg_exe``, else the usual search) is looked for only if
    a file needs it.  Rows of ``missing_ok`` with no file are counted as
    known gone, not missing; the leak check reads the CSVs beside ``csv``
    and ``against``."""
    source, csv = Path(source), Path(csv)
    report = DoctorReport(source=source, csv=csv, replacements=replacements, missing_ok=missing_ok)
    gone = known_gone_names(missing_ok)
    rows = read_kinetics_csv(csv)
    report.rows = len(rows)
    videos = index_videos(source, extensions, replacements)
    report.files = sum(len(paths) for paths in videos.values())
    findings = report.findings

    def shown(path: Path) -> str:
        for base in (source, replacements):
            if base is not None and path.is_relative_to(base):
                return path.relative_to(base).as_posix()
        return str(path)

    # Rows: repeats, then each distinct clip to its file(s).  Each clip name
    # is made once and shared (240,000 of them).
    names = [row.clip_name for row in rows]
    repeats: Counter = Counter(names)
    labels_of: dict[str, set[str]] = {}
    for row, name in zip(rows, names, strict=True):
        if repeats[name] > 1:
            labels_of.setdefault(name, set()).add(row.label)
    distinct_ids = Counter(row.youtube_id for name, row in dict(zip(names, rows, strict=True)).items())
    for name, n in sorted(repeats.items()):
        if n > 1:
            labels = sorted(labels_of[name])
            detail = f"listed {n} times" + (
                f" with {len(labels)} labels: {', '.join(labels)}" if len(labels) > 1 else ""
            )
            findings.append(Finding("duplicate_row", name, None, detail, labels[0]))
    del repeats, labels_of
    seen: dict[str, Row] = {}  # clip name -> its first row
    used: set[str] = set()
    unmatched: list[tuple[Row, str]] = []
    span_of: dict[Path, tuple[Row | None, str]] = {}  # file -> its row and the clip name to report
    for row, name in zip(rows, names, strict=True):
        if name in seen:
            continue
        seen[name] = row
        stem, paths = row_files(row, videos, distinct_ids, name)
        if not paths:
            unmatched.append((row, name))
            continue
        used.add(stem)
        if len(paths) > 1:
            findings.append(
                Finding(
                    "duplicate_file",
                    name,
                    shown(paths[0]),
                    f"{len(paths)} files: {', '.join(shown(p) for p in paths)}",
                    row.label,
                )
            )
        for path in paths:
            span_of[path] = (row, name)
    del names, rows

    # A row's video under another time suffix: renamed, not missing.
    by_id: dict[str, list[str]] = {}
    for stem in videos:
        parsed = parse_clip_stem(stem)
        if stem not in used and parsed is not None:
            by_id.setdefault(parsed[0], []).append(stem)
    missing: set[str] = set()
    for row, name in unmatched:
        stems = [s for s in by_id.get(row.youtube_id, []) if s not in used]
        if not stems:
            if name in gone:
                report.gone.append(row)
                continue
            missing.add(name)
            findings.append(Finding("missing", name, None, "no file for this row", row.label))
            continue
        for stem in stems:
            used.add(stem)
            for path in videos[stem]:
                findings.append(
                    Finding("renamed", name, shown(path), f"the row's file is named {path.name}", row.label)
                )
                span_of[path] = (row, name)
    strays, theirs = unused_stems(videos, used, csv, replacements)
    for stem in strays:
        for path in videos[stem]:
            findings.append(Finding("no_row", stem, shown(path), f"no row of {csv.name} names {stem}"))
    # The shared replacements folder: what this split took from it, and what is the other splits'.
    report.replaced = sum(1 for stem in used if stem in videos and from_replacements(videos[stem], replacements))
    report.for_other_splits = sum(len(videos[stem]) for stem in theirs)
    for stem in theirs:
        del videos[stem]  # another split's file: its header is that split's doctor's business
    report.files -= report.for_other_splits

    # Leakage, before any extraction: this split's recordings in another split's CSV.
    for leak in csv_leaks(csv, against):
        sides = [f"{split} ({', '.join(leak.labels_in(split)) or 'no label'})" for split in leak.splits]
        findings.append(Finding("leak", leak.youtube_id, None, "in " + " and ".join(sides)))
    report.leak_csvs = [str(p) for p in dict.fromkeys([*sibling_csvs(csv), *map(Path, against)])]

    # Headers, in parallel: mostly file reads; ffmpeg for the rest.
    exe: list[str] = []

    def find_exe() -> str:
        if not exe:
            exe.append(ffmpeg.find_ffmpeg(ffmpeg_exe))
        return exe[0]

    all_paths = [path for _, paths in sorted(videos.items()) for path in paths]
    faulty: dict[str, set[str]] = {}  # clip -> fault kinds

    def headers():
        # In batches: Executor.map holds a future per item, 240,000 of them at once.
        with cf.ThreadPoolExecutor(max(1, workers)) as pool:
            for at in range(0, len(all_paths), HEADER_BATCH):
                batch = all_paths[at : at + HEADER_BATCH]
                yield from zip(batch, pool.map(lambda p: ffmpeg.read_header(p, find_exe), batch), strict=True)

    progress = progress or NoProgress()
    tally = Tally()  # failed: files with a fault
    progress.start(len(all_paths))
    try:
        for path, (header, fault, detail, by_ffmpeg) in headers():
            report.by_ffmpeg += by_ffmpeg
            owner, clip = span_of.get(path, (None, path.name.rsplit(".", 1)[0]))
            label = owner.label if owner else None
            if fault is not None:
                findings.append(Finding(fault, clip, shown(path), detail, label))
                faulty.setdefault(clip, set()).add(fault)
                tally.failed += 1
            elif header is not None:
                if header.fps:
                    report.fps[format(round(header.fps, 2), "g")] += 1
                if header.width and header.height:
                    report.sizes[f"{header.width}x{header.height}"] += 1
                if header.codec:
                    report.codecs[header.codec] += 1
                span = owner.time_end - owner.time_start if owner else None
                if span and header.duration is not None and header.duration < short_share * span:
                    findings.append(
                        Finding("short", clip, shown(path), f"{header.duration:.2f} s of a {span} s span", label)
                    )
            progress.update(path, tally)
    finally:
        progress.close()

    # The rows to fetch again: missing, or a file of theirs has a download fault.
    refetch = set(missing)
    for clip, kinds in faulty.items():
        if clip in seen and kinds & set(REDOWNLOAD):
            refetch.add(clip)
    report.redownload = [row for name, row in seen.items() if name in refetch]
    report.missing = [row for name, row in seen.items() if name in missing]
    still_gone = {row.clip_name for row in report.gone}
    report.no_file = [row for name, row in seen.items() if name in missing or name in still_gone]
    order = {kind: i for i, kind in enumerate(KIND_NAMES)}
    findings.sort(key=lambda f: (order[f.kind], f.clip, f.path or ""))
    return report


def write_redownload(report: DoctorReport, path: Path) -> Path:
    """The rows to fetch again as a Kinetics CSV (what the official
    downloaders read)."""
    return write_kinetics_csv(path, report.redownload)


def write_missing(report: DoctorReport, path: Path) -> Path:
    """The rows with no file at all (rows gone for good, the ``missing_ok``
    key's CSV), with those already known gone, as a Kinetics CSV.  Rows
    whose file is empty or broken are not among them: fetch those again."""
    return write_kinetics_csv(path, report.no_file)


def format_report(report: DoctorReport, limit: int = 20) -> str:
    """The report as text: per kind, its count and up to ``limit`` clips."""
    lines = [
        f"doctor: {plural(report.rows, 'row')} in {report.csv}, {plural(report.files, 'video file')} under "
        f"{report.source}" + (f" ({report.by_ffmpeg} headers read by ffmpeg)" if report.by_ffmpeg else "")
    ]
    for kind, meaning in KINDS:
        found = report.of_kind(kind)
        if not found:
            continue
        lines.append(f"{kind} ({len(found)}): {meaning}")
        for finding in found[:limit]:
            where = f" [{finding.path}]" if finding.path else ""
            label = f" ({finding.label})" if finding.label else ""
            lines.append(f"  {finding.clip}{label}{where}: {finding.detail}")
        if len(found) > limit:
            lines.append(f"  ... and {len(found) - limit} more (--json lists all)")
    if report.replacements is not None:
        theirs = (
            f"; {plural(report.for_other_splits, 'more file')} there {'is' if report.for_other_splits == 1 else 'are'}"
            " other splits' (named by the CSVs beside this one)"
            if report.for_other_splits
            else ""
        )
        lines.append(
            f"replacements: {plural(report.replaced, 'row')} of this split take their file from "
            f"{report.replacements}{theirs}"
        )
    if report.gone:
        lines.append(
            f"known gone: {plural(len(report.gone), 'row')} of {report.missing_ok} have no file (expected; missing_ok)"
        )
    leaks = report.of_kind("leak")
    if not leaks:
        checked = ", ".join(Path(p).name for p in report.leak_csvs) or "no other CSV beside it"
        lines.append(f"leakage: no recording of this split in another split ({checked}; --against CSV adds one)")
    for name, counter in (("fps", report.fps), ("size", report.sizes), ("codec", report.codecs)):
        if counter:
            mix = ", ".join(f"{key} x{n}" for key, n in counter.most_common(8))
            more = f", {len(counter) - 8} more" if len(counter) > 8 else ""
            lines.append(f"{name} mix: {mix}{more}")
    faults = sum(1 for f in report.findings if f.kind not in NOT_FAULTS)
    gone = f", {len(report.gone)} known gone" if report.gone else ""
    if report.ok:
        lines.append(
            f"clean: every row has one readable video{gone}" + (" (some clips are short)" if report.findings else "")
        )
    else:
        lines.append(
            f"not clean: {plural(faults, 'finding')}; {plural(len(report.redownload), 'row')} to download again "
            f"(--redownload FILE writes them as a Kinetics CSV)"
            + (
                f"; {plural(len(report.missing), 'row')} with no file (--write-missing FILE writes them "
                "for the missing_ok key once they are known gone)"
                if report.missing
                else ""
            )
        )
    return "\n".join(lines)
