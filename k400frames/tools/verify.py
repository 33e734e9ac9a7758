"""Check a split folder: every clip whole by its output kind, nothing stray,
every clip the run was asked for present, none failed, and no recording in
two splits.

A clean verify means the split is complete.  Besides the clips on disk it
reads what the run left: its failure records (a failed clip is listed and
fails the check), and the list of clips it was asked for, from ``csv`` or
``segments`` (:func:`expected_csv` finds the CSV copy a run leaves beside
the split); clips listed there but not on disk are missing.  Recordings in
more than one split (:mod:`.leakage`) fail it too.

Each kind checks its own clips (:meth:`~k400frames.clip.outputs.Output.check`):
a frame folder must hold exactly N well-named JPEGs whose two ends look right
(a stat and a few bytes per frame), a video must be a whole .mp4 by its own
index.  ``deep`` also decodes every frame with ffmpeg.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .. import ffmpeg
from ..clip.outputs import Problem, scan_store
from ..config import ALL_FRAMES
from ..errors import PreflightError
from ..files import members_digest
from ..layout import Layout
from ..run.progress import Progress
from ..run.records import decoded_counts, read_records
from ..sources.kinetics import clip_names_of, label_folder_candidates, read_kinetics_csv
from ..sources.segments import expected_rels
from ..sources.tree import output_clip_name
from ..stores import Store, locate
from ..words import plural
from .leakage import Leak, csv_ids_by_split, find_leaks

_CHUNK = 1024


@dataclasses.dataclass
class VerifyReport:
    """The outcome of :func:`verify_tree`; ``ok`` when nothing is wrong."""

    frames: Path
    num_frames: int | str  # "all": each clip's own count, its manifest row's `decoded`
    frame_name: str
    deep: bool = False
    csv: Path | None = None
    segments: Path | None = None
    clips: int = 0
    frames_checked: int = 0
    csv_rows: int = 0
    problems: list[Problem] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)  # in the CSV, not on disk
    unexpected: list[str] = dataclasses.field(default_factory=list)  # on disk, not in the CSV
    # (rel, reason) of damaged videos, from the run records: kept on purpose
    # (damaged: keep) and so not a failure here, or refused and not extracted.
    damaged: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    damaged_failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    # (rel, reason) of the other clips the run records as failed and that are not on disk.
    failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    leaks: list[Leak] = dataclasses.field(default_factory=list)  # recordings in more than one split
    missing_ok: Path | None = None  # the CSV of rows known gone for good
    known_gone: int = 0  # rows of missing_ok not on disk: expected, not a problem
    flow_name: str | None = None  # with flow: each clip's flow pairs are counted too (clip/flow.py)
    flow_only: bool = False  # flow pairs alone, no RGB frames

    @property
    def ok(self) -> bool:
        return not (
            self.problems or self.missing or self.unexpected or self.failed or self.damaged_failed or self.leaks
        )

    @property
    def bad_clips(self) -> int:
        return len({p.rel for p in self.problems})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (paths as strings)."""
        return {
            "ok": self.ok,
            "frames": str(self.frames),
            "num_frames": self.num_frames,
            "frame_name": self.frame_name,
            "flow_name": self.flow_name,
            "flow_only": self.flow_only,
            "deep": self.deep,
            "csv": str(self.csv) if self.csv else None,
            "segments": str(self.segments) if self.segments else None,
            "clips": self.clips,
            "frames_checked": self.frames_checked,
            "csv_rows": self.csv_rows,
            "problems": [dataclasses.asdict(p) for p in self.problems],
            "missing": self.missing,
            "unexpected": self.unexpected,
            "damaged": [{"rel": rel, "reason": reason} for rel, reason in self.damaged],
            "damaged_failed": [{"rel": rel, "reason": reason} for rel, reason in self.damaged_failed],
            "failed": [{"rel": rel, "reason": reason} for rel, reason in self.failed],
            "leaks": [leak.to_dict() for leak in self.leaks],
            "known_gone": self.known_gone,
        }


@dataclasses.dataclass
class VerifyCounts:
    """What :func:`verify_tree` hands its progress after each clip: frames
    checked and clips with problems so far (the names a run's summary uses)."""

    frames: int = 0
    failed: int = 0


def join_csv(pairs: Sequence[tuple[str, str]], csv_path: Path) -> tuple[int, list[str], list[str]]:
    """Match CSV rows to clip folders: ``label`` to the class folder (spaces
    and underscores both accepted), ``youtube_id``/times to the clip folder
    ``<id>_<start:06d>_<end:06d>``, or to a folder named ``<id>`` alone (what
    ``annotate`` makes of a clip whose name is not Kinetics-style).
    Returns (rows, in the CSV but not on disk, on disk but not in the CSV)."""
    rows = read_kinetics_csv(csv_path)
    on_disk = set(pairs)
    classes = {c for c, _ in pairs}
    clips_anywhere: dict[str, list[tuple[str, str]]] = {}
    for pair in pairs:
        clips_anywhere.setdefault(pair[1], []).append(pair)
    matched: set[tuple[str, str]] = set()
    missing: list[str] = []
    for row in rows:
        clip = row.clip_name
        if not row.label:
            # Unlabelled rows (the Kinetics test split) match the clip in any class.
            found = clips_anywhere.get(clip, [])
            matched.update(found)
            if not found:
                missing.append(f"?/{clip}")
            continue
        folder = next((c for c in label_folder_candidates(row.label) if c in classes), row.label)
        if (folder, clip) in on_disk:
            matched.add((folder, clip))
        elif (folder, output_clip_name(clip, "underscore")) in on_disk:  # extracted with clip_names: underscore
            matched.add((folder, output_clip_name(clip, "underscore")))
        elif (folder, row.youtube_id) in on_disk:
            # Own data annotated from plain stems: the folder is the id alone.
            matched.add((folder, row.youtube_id))
        else:
            missing.append(f"{folder}/{clip}")
    unexpected = [f"{c}/{k}" for c, k in pairs if (c, k) not in matched]
    return len(rows), sorted(dict.fromkeys(missing)), unexpected


def _add_records(report: VerifyReport, frames: Path, on_disk: set[str]) -> None:
    """List what the run records of the split folder ``frames`` name:
    damaged clips (kept ones on disk, refused ones not) and the other clips
    that failed and are not on disk.  The latest line about a clip wins, as
    a rerun may have replaced the video."""
    layout = Layout(frames)
    kept: dict[str, str] = {}
    for row in read_records(layout.all_records("manifest")):
        kept.pop(row["rel"], None)
        if isinstance(row.get("damaged"), str):
            kept[row["rel"]] = row["damaged"]
    refused: dict[str, str] = {}
    failed: dict[str, str] = {}
    for row in read_records(layout.all_records("failures")):
        if row.get("stage") == "damaged":
            if row["rel"] not in kept:
                refused[row["rel"]] = row.get("reason", "")
        elif row["rel"] not in on_disk:
            failed[row["rel"]] = str(row.get("reason", ""))
    report.damaged = [(rel, reason) for rel, reason in sorted(kept.items()) if rel in on_disk]
    report.damaged_failed = [(rel, reason) for rel, reason in sorted(refused.items()) if rel not in on_disk]
    report.failed = sorted(failed.items())


def expected_csv(frames: Path, annotations: Path | None = None) -> Path | None:
    """The Kinetics CSV that lists the clips the split folder ``frames``
    should hold: the copy of ``annotations`` a run leaves beside the split
    (else ``annotations`` itself); without ``annotations``, the one CSV
    beside the split whose ``split`` column names this split (Tiny-K400's
    ``tiny_train.csv`` for ``train``); None when there is none."""
    frames = Path(frames)
    if annotations is not None:
        copy = Layout(frames).csv_copy(annotations)
        return copy if copy.is_file() else annotations
    named = [path for path in sorted(frames.parent.glob("*.csv")) if set(csv_ids_by_split(path)) == {frames.name}]
    return named[0] if len(named) == 1 else None


def join_segments(
    pairs: Sequence[tuple[str, str]], segments: Path, class_names: str, clip_names: str = "keep"
) -> tuple[int, list[str], list[str]]:
    """Match a segments CSV's rows to the clips: (rows, missing, unexpected)."""
    expected = expected_rels(segments, class_names, clip_names)
    on_disk = {f"{c}/{k}" for c, k in pairs}
    wanted = set(expected)
    return len(expected), [rel for rel in expected if rel not in on_disk], sorted(on_disk - wanted)


def verify_tree(
    frames: Path,
    num_frames: int | str,
    frame_name: str = "frame_{:05d}.jpg",
    *,
    csv: Path | None = None,
    segments: Path | None = None,
    class_names: str = "keep",
    clip_names: str = "keep",
    deep: bool = False,
    ffmpeg_exe: str | None = None,
    workers: int | None = None,
    progress: Progress | None = None,
    missing_ok: Path | None = None,
    flow_name: str | None = None,
    flow_only: bool = False,
) -> VerifyReport:
    """Check every clip of the split folder ``frames`` (frame folders or
    videos, whichever it holds; see the module docstring); with ``csv``, also
    join it to the clips (``segments``: the same with a segments CSV, its
    rows named under the ``class_names`` policy).  ``progress``, a run's
    :class:`~k400frames.run.progress.Progress` (``update(rel, counts)`` after
    each clip with a :class:`VerifyCounts`), follows the check.  Rows of
    ``missing_ok`` (a Kinetics CSV of rows known gone) that are not on disk
    are counted in ``known_gone``, not missing or failed.  With
    ``flow_name``, each frame clip must hold flow pairs 1..N by that template
    as well (``flow_only``: and no RGB frames)."""
    frames = Path(frames)
    store_cls, store_path = locate(frames)
    if not store_cls.packed and not frames.is_dir():
        raise PreflightError(f"frames folder does not exist: {frames}")
    if num_frames != ALL_FRAMES and (not isinstance(num_frames, int) or num_frames < 1):
        raise PreflightError(f"num_frames must be 1 or more, or 'all', got {num_frames}")
    if deep:
        ffmpeg_exe = ffmpeg_exe or ffmpeg.find_ffmpeg()
    store = store_cls.open_split(store_path)
    try:
        return _verify(
            store_path,
            num_frames,
            frame_name,
            csv,
            segments,
            class_names,
            clip_names,
            deep,
            ffmpeg_exe,
            workers,
            progress,
            store,
            missing_ok,
            flow_name,
            flow_only,
        )
    finally:
        store.close()


def _verify(
    frames: Path,
    num_frames: int | str,
    frame_name: str,
    csv: Path | None,
    segments: Path | None,
    class_names: str,
    clip_names: str,
    deep: bool,
    ffmpeg_exe: str | None,
    workers: int | None,
    progress: Progress | None,
    store: Store,
    missing_ok: Path | None = None,
    flow_name: str | None = None,
    flow_only: bool = False,
) -> VerifyReport:
    report = VerifyReport(
        frames=frames,
        num_frames=num_frames,
        frame_name=frame_name,
        deep=deep,
        csv=Path(csv) if csv else None,
        segments=Path(segments) if segments else None,
        missing_ok=Path(missing_ok) if missing_ok else None,
        flow_name=flow_name,
        flow_only=flow_only,
    )
    split = store.layout.target
    output, pairs, stray = scan_store(store)
    if store.pending():  # never OK while some of the split's clips sit in shard stores
        stray.append(Problem(split.name, "merge-pending", store.pending()))
    # The CSV first: a bad one is refused before a frame is read.
    joined = join_csv(pairs, Path(csv)) if csv is not None else None
    if segments is not None:
        joined = join_segments(pairs, Path(segments), class_names, clip_names)
    if deep:
        ffmpeg_exe = ffmpeg_exe or ffmpeg.find_ffmpeg()
    report.clips = len(pairs)

    # num_frames: all: a whole clip is frames 1..decoded, the count its record
    # (the manifest row) keeps; a clip without one is checked for a gap-free run from frame 1.
    counted = decoded_counts(store.layout.all_records("manifest")) if num_frames == ALL_FRAMES else {}
    recorded = _recorded_digests(split) if deep else {}

    def check(pair: tuple[str, str]) -> tuple[list[Problem], int]:
        key = output.key_of(*pair)
        view = store.view(key)
        rel = f"{pair[0]}/{pair[1]}"
        whole = num_frames if isinstance(num_frames, int) else counted.get(rel)
        if whole is None:
            whole = max(output.listed_frames(view, frame_name) or 0, 1)
        problems, count = output.check(
            view, rel, whole, frame_name, deep=deep, ffmpeg_exe=ffmpeg_exe, flow_name=flow_name, flow_only=flow_only
        )
        if deep:
            # The digest taken when the clip was made travels with it (its store's record, or the manifest).
            expected = (store.record(key) or {}).get("digest") or recorded.get(rel)
            if expected and members_digest(list(view.items()), key.folder) != expected:
                problems.append(Problem(rel, "digest", DIGEST_MISMATCH))
        return problems, count

    counts = VerifyCounts()
    if progress is not None:
        progress.start(len(pairs))
    # Threads: the shallow check waits on the filesystem, the deep one on ffmpeg.
    # Chunks, because map() submits everything at once: 240k futures for K400.
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            for start in range(0, len(pairs), _CHUNK):
                chunk = pairs[start : start + _CHUNK]
                for (class_name, clip_name), (problems, count) in zip(chunk, pool.map(check, chunk), strict=True):
                    report.problems.extend(problems)
                    report.frames_checked += count
                    if progress is not None:
                        counts.frames, counts.failed = report.frames_checked, counts.failed + bool(problems)
                        progress.update(f"{class_name}/{clip_name}", counts)
    finally:
        if progress is not None:
            progress.close()
    report.problems.extend(stray)
    report.problems.extend(Problem(*problem) for problem in store.problems())  # shards against their index
    _add_records(report, split, {f"{c}/{k}" for c, k in pairs})
    if joined is not None:
        report.csv_rows, missing, report.unexpected = joined
        failed = {rel for rel, _ in report.failed + report.damaged_failed}
        report.missing = [rel for rel in missing if rel not in failed]  # listed once, with its reason
    if missing_ok is not None:
        gone = clip_names_of(Path(missing_ok))
        known = {rel for rel in report.missing if _clip_of(rel) in gone}
        known.update(rel for rel, _ in report.failed if _clip_of(rel) in gone)  # failed before missing_ok was set
        report.known_gone = len(known)
        report.missing = [rel for rel in report.missing if rel not in known]
        report.failed = [(rel, why) for rel, why in report.failed if rel not in known]
    report.leaks = find_leaks(split, pairs, [p for p in (csv, segments) if p is not None])
    return report


DIGEST_MISMATCH = "its bytes differ from the digest recorded when it was made (bit rot, or changed by hand)"


def _recorded_digests(split: Path) -> dict[str, str]:
    """rel -> the digest of the split's manifest (the latest line per clip)."""
    digests: dict[str, str] = {}
    for row in read_records(Layout(split).all_records("manifest")):
        digests.pop(row["rel"], None)
        if isinstance(row.get("digest"), str) and row["digest"]:
            digests[row["rel"]] = row["digest"]
    return digests


def _clip_of(rel: str) -> str:
    return rel.rpartition("/")[2]


def format_report(report: VerifyReport, limit: int = 20) -> str:
    """A short human summary: one line when clean, else the first ``limit``
    problems of each kind (:meth:`VerifyReport.to_dict`, the JSON report, has them all)."""
    counted = "flow pair" if report.flow_only else "frame"
    what = f"{plural(report.clips, 'clip')}, {plural(report.frames_checked, counted)}" + (
        " with as many flow pairs" if report.flow_name and not report.flow_only else ""
    )
    what += ", decoded" if report.deep else ""
    listing = report.csv or report.segments
    if listing:
        what += f", {plural(report.csv_rows, 'CSV row')}"
    if report.known_gone:
        what += f", {report.known_gone} known gone ({report.missing_ok.name if report.missing_ok else 'missing_ok'})"
    if report.ok:
        lines = [f"verify OK: {report.frames} ({what})"]
        if not listing:
            lines.append("note: no CSV lists the clips this split should hold, so missing clips cannot be told")
    else:
        failed = len(report.failed) + len(report.damaged_failed)
        lines = [
            f"verify FAILED: {report.frames} ({what}): {plural(report.bad_clips, 'entry', 'entries')} with "
            f"problems, {plural(len(report.missing), 'clip')} missing, {failed} failed in the run, "
            f"{len(report.unexpected)} not in the CSV"
            + (f", {plural(len(report.leaks), 'recording')} in more than one split" if report.leaks else "")
        ]

    def section(title: str, items: list[str]) -> None:
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  {item}" for item in items[:limit])
            if len(items) > limit:
                lines.append(f"  ... and {len(items) - limit} more (the JSON report lists all)")

    section("problems", [f"{p.rel}: {p.detail}" for p in report.problems])
    section(f"in {listing} but not on disk", report.missing)
    section(
        f"failed in the run (failures records): {len(report.failed)}; fix them and rerun extract --retry-failed",
        [f"{rel}: {why}" for rel, why in report.failed],
    )
    section("on disk but not in the CSV", report.unexpected)
    section(f"damaged (kept): {len(report.damaged)}", [f"{rel}: {why}" for rel, why in report.damaged])
    section(
        f"damaged (failed, not extracted): {len(report.damaged_failed)}",
        [f"{rel}: {why}" for rel, why in report.damaged_failed],
    )
    section(
        "recordings (youtube_id) in more than one split: validation would see training footage",
        [leak.describe() for leak in report.leaks],
    )
    return "\n".join(lines)
