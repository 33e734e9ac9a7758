"""Check a frames tree: exactly N well-named, intact JPEGs per clip, and
(optionally) the same clips as a Kinetics CSV.

The shallow check reads two bytes at each end of every frame (a JPEG starts
with SOI ``FF D8`` and ends with EOI ``FF D9``), which catches the usual
damage (empty files, writes cut short by a full disk or a killed job) at the
cost of a stat and a few bytes per frame.  ``deep`` also decodes every frame
with ffmpeg: one ffmpeg per clip, and one per frame only for a clip that
fails, to name the bad frames.
"""
from __future__ import annotations

import concurrent.futures
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import ffmpeg
from .kinetics import label_folder_candidates, read_kinetics_csv
from .records import all_record_files, read_records
from .words import plural

JPEG_SOI = b"\xff\xd8"
JPEG_EOI = b"\xff\xd9"
# Frames named in one problem line before "and N more"; JSON keeps them all
# through the counts, and the human summary must stay short.
_NAMES_SHOWN = 5
_CHUNK = 1024


@dataclasses.dataclass(frozen=True)
class Problem:
    """Something wrong at ``rel`` (``class/clip``, ``class`` or a file name)."""

    rel: str
    kind: str     # missing-frames | extra-files | bad-jpeg | decode | stray | empty-class
    detail: str


@dataclasses.dataclass
class VerifyReport:
    """The outcome of :func:`verify_tree`; ``ok`` when nothing is wrong."""

    frames: Path
    num_frames: int
    frame_name: str
    deep: bool = False
    csv: Path | None = None
    clips: int = 0
    frames_checked: int = 0
    csv_rows: int = 0
    problems: list[Problem] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)      # in the CSV, not on disk
    unexpected: list[str] = dataclasses.field(default_factory=list)   # on disk, not in the CSV
    # (rel, reason) of damaged videos, from the run records: kept on purpose
    # (damaged: keep) and so not a failure here, or refused and not extracted.
    damaged: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    damaged_failed: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.problems or self.missing or self.unexpected)

    @property
    def bad_clips(self) -> int:
        return len({p.rel for p in self.problems})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (paths as strings)."""
        return {
            "ok": self.ok, "frames": str(self.frames), "num_frames": self.num_frames,
            "frame_name": self.frame_name, "deep": self.deep, "csv": str(self.csv) if self.csv else None,
            "clips": self.clips, "frames_checked": self.frames_checked, "csv_rows": self.csv_rows,
            "problems": [dataclasses.asdict(p) for p in self.problems],
            "missing": self.missing, "unexpected": self.unexpected,
            "damaged": [{"rel": rel, "reason": reason} for rel, reason in self.damaged],
            "damaged_failed": [{"rel": rel, "reason": reason} for rel, reason in self.damaged_failed],
        }


@dataclasses.dataclass
class VerifyCounts:
    """What :func:`verify_tree` hands its progress after each clip: frames
    checked and clips with problems so far (the names a run's summary uses)."""

    frames: int = 0
    failed: int = 0


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_NAMES_SHOWN])
    more = len(names) - _NAMES_SHOWN
    return shown + (f" and {more} more" if more > 0 else "")


def jpeg_defect(path: Path) -> str | None:
    """Why ``path`` is not a complete JPEG, or None when its ends look right."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                return "empty file"
            if size < 4:
                return f"only {size} bytes"
            handle.seek(-2, os.SEEK_END)
            tail = handle.read(2)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if head != JPEG_SOI:
        return "not a JPEG (no SOI marker FFD8 at the start)"
    if tail != JPEG_EOI:
        return "truncated JPEG (no EOI marker FFD9 at the end)"
    return None


def link_sequence(files: Sequence[Path], folder: Path) -> str:
    """Symlink ``files`` as ``000001.jpg ...`` in ``folder``; return the image2
    pattern.  Our own safe names mean a ``%`` in a user's path never reaches
    ffmpeg's pattern parser."""
    for index, path in enumerate(files, 1):
        os.symlink(os.path.abspath(path), folder / f"{index:06d}.jpg")
    return str(folder / "%06d.jpg")


def _decode_command(exe: str, pattern: str) -> list[str]:
    return ffmpeg.command(exe, "-f", "image2", "-start_number", "1", "-i", ffmpeg.file_url(pattern),
                          "-xerror", "-f", "null", "-")


def decodes_clean(argv: Sequence[str], timeout: float) -> tuple[bool, str]:
    """Run a decode-to-null ``argv``: (clean, the last error line).  At
    loglevel error a damaged file can still exit 0 (the decoder conceals it
    and says "overread"), so any error output counts as a failure."""
    result = ffmpeg.run(argv, timeout=timeout)
    message = result.stderr_tail.strip()
    if result.timed_out:
        return False, f"ffmpeg timed out after {timeout:g}s"
    return result.returncode == 0 and not message, (message.splitlines() or [""])[-1]


def deep_decode(files: Sequence[Path], ffmpeg_exe: str, timeout: float = 600.0) -> list[tuple[str, str]]:
    """Decode every file with ffmpeg; return ``(name, error)`` for those that fail."""
    if not files:
        return []
    work = Path(tempfile.mkdtemp(prefix="k400frames-verify-"))
    try:
        pattern = link_sequence(files, work)
        clean, _ = decodes_clean(_decode_command(ffmpeg_exe, pattern), timeout)
        if clean:
            return []
        bad = []
        for index, path in enumerate(files, 1):
            ok, message = decodes_clean(_decode_command(ffmpeg_exe, str(work / f"{index:06d}.jpg")), timeout)
            if not ok:
                bad.append((path.name, message or "ffmpeg could not decode it"))
        return bad or [("(clip)", "ffmpeg failed on the sequence but on no single frame")]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_clip(folder: Path, rel: str, num_frames: int, frame_name: str, *, deep: bool = False,
               ffmpeg_exe: str | None = None) -> tuple[list[Problem], int]:
    """Problems of one clip folder and the number of frames it holds."""
    problems: list[Problem] = []
    try:
        names = set(os.listdir(folder))
    except OSError as exc:
        return [Problem(rel, "stray", f"cannot list the folder ({exc.strerror or exc})")], 0
    expected = [frame_name.format(i) for i in range(1, num_frames + 1)]
    expected_set = set(expected)
    missing = [name for name in expected if name not in names]
    extra = sorted(names - expected_set)
    if missing:
        problems.append(Problem(rel, "missing-frames", f"{len(missing)} of {num_frames} frames missing: "
                                                       f"{_names(missing)}"))
    if extra:
        problems.append(Problem(rel, "extra-files", f"{len(extra)} unexpected entries: {_names(extra)}"))
    present = [folder / name for name in expected if name in names]
    intact = []
    damaged = []
    for path in present:
        defect = "not a regular file" if not path.is_file() else jpeg_defect(path)
        if defect:
            damaged.append(f"{path.name} ({defect})")
        else:
            intact.append(path)
    if damaged:
        problems.append(Problem(rel, "bad-jpeg", f"{len(damaged)} damaged frames: {_names(damaged)}"))
    if deep and intact:
        bad = deep_decode(intact, ffmpeg_exe or ffmpeg.find_ffmpeg())
        if bad:
            problems.append(Problem(rel, "decode", f"{len(bad)} frames fail to decode: "
                                                   f"{_names([f'{n} ({m})' for n, m in bad])}"))
    return problems, len(present)


def scan_tree(frames: Path) -> tuple[list[tuple[str, str]], list[Problem]]:
    """(class, clip) folders under the split folder, sorted, and the entries
    that are neither (stray files, empty class folders)."""
    pairs: list[tuple[str, str]] = []
    problems: list[Problem] = []
    for class_entry in sorted(os.scandir(frames), key=lambda e: e.name):
        if not class_entry.is_dir():
            problems.append(Problem(class_entry.name, "stray", "a file where class folders are expected"))
            continue
        clips = 0
        for clip_entry in sorted(os.scandir(class_entry.path), key=lambda e: e.name):
            rel = f"{class_entry.name}/{clip_entry.name}"
            if clip_entry.is_dir():
                pairs.append((class_entry.name, clip_entry.name))
                clips += 1
            else:
                problems.append(Problem(rel, "stray", "a file where clip folders are expected"))
        if clips == 0:
            problems.append(Problem(class_entry.name, "empty-class", "class folder holds no clip folders"))
    return pairs, problems


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
        elif (folder, row.youtube_id) in on_disk:
            # Own data annotated from plain stems: the folder is the id alone.
            matched.add((folder, row.youtube_id))
        else:
            missing.append(f"{folder}/{clip}")
    unexpected = [f"{c}/{k}" for c, k in pairs if (c, k) not in matched]
    return len(rows), sorted(dict.fromkeys(missing)), unexpected


def damaged_clips(frames: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Damaged videos the run records of the split folder ``frames`` name:
    (kept and in the tree, refused), each as sorted (rel, reason).  The
    latest line about a clip wins, as a rerun may have replaced the video."""
    kept: dict[str, str] = {}
    for row in read_records(all_record_files(frames, "manifest")):
        kept.pop(row["rel"], None)
        if isinstance(row.get("damaged"), str):
            kept[row["rel"]] = row["damaged"]
    refused = {row["rel"]: row.get("reason", "") for row in read_records(all_record_files(frames, "failures"))
               if row.get("stage") == "damaged" and row["rel"] not in kept}
    return sorted(kept.items()), sorted(refused.items())


def _add_damaged(report: VerifyReport, frames: Path, on_disk: set[str], videos: bool = False) -> None:
    """List the damaged clips the run records name: kept ones on disk, refused
    ones not.  For a video tree, a clip is on disk as ``<class>/<clip>.mp4``."""
    kept, refused = damaged_clips(frames)
    present = (lambda rel: (frames / f"{rel}.mp4").is_file()) if videos else (lambda rel: rel in on_disk)
    report.damaged = [(rel, reason) for rel, reason in kept if present(rel)]
    report.damaged_failed = [(rel, reason) for rel, reason in refused if not present(rel)]


def verify_tree(frames: Path, num_frames: int, frame_name: str = "frame_{:05d}.jpg", *,
                csv: Path | None = None, deep: bool = False, ffmpeg_exe: str | None = None,
                workers: int | None = None, progress=None) -> VerifyReport:
    """Check every clip folder of the split folder ``frames`` (see the module
    docstring); with ``csv``, also join it to the folders.  ``progress``, an
    object like a run's (``start(total)``, ``update(rel, counts)`` after each
    clip with a :class:`VerifyCounts`, ``close()``), follows the check."""
    from .errors import PreflightError

    frames = Path(frames)
    if not frames.is_dir():
        raise PreflightError(f"frames folder does not exist: {frames}")
    if num_frames < 1:
        raise PreflightError(f"num_frames must be 1 or more, got {num_frames}")
    report = VerifyReport(frames=frames, num_frames=num_frames, frame_name=frame_name, deep=deep,
                          csv=Path(csv) if csv else None)
    from .videoout import holds_videos, verify_videos
    if holds_videos(frames):  # an output: video tree: <class>/<clip>.mp4
        report = verify_videos(report, deep=deep, ffmpeg_exe=ffmpeg_exe)
        _add_damaged(report, frames, {p.rel for p in report.problems}, videos=True)
        return report
    pairs, stray = scan_tree(frames)
    if deep:
        ffmpeg_exe = ffmpeg_exe or ffmpeg.find_ffmpeg()
    report.clips = len(pairs)

    def check(pair: tuple[str, str]) -> tuple[list[Problem], int]:
        return check_clip(frames / pair[0] / pair[1], f"{pair[0]}/{pair[1]}", num_frames, frame_name,
                          deep=deep, ffmpeg_exe=ffmpeg_exe)

    counts = VerifyCounts()
    if progress is not None:
        progress.start(len(pairs))
    # Threads: the shallow check waits on the filesystem, the deep one on ffmpeg.
    # Chunks, because map() submits everything at once: 240k futures for K400.
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            for start in range(0, len(pairs), _CHUNK):
                chunk = pairs[start:start + _CHUNK]
                for (class_name, clip_name), (problems, count) in zip(chunk, pool.map(check, chunk)):
                    report.problems.extend(problems)
                    report.frames_checked += count
                    if progress is not None:
                        counts.frames, counts.failed = report.frames_checked, counts.failed + bool(problems)
                        progress.update(f"{class_name}/{clip_name}", counts)
    finally:
        if progress is not None:
            progress.close()
    report.problems.extend(stray)
    _add_damaged(report, frames, {f"{c}/{k}" for c, k in pairs})
    if csv is not None:
        report.csv_rows, report.missing, report.unexpected = join_csv(pairs, Path(csv))
    return report


def format_report(report: VerifyReport, limit: int = 20) -> str:
    """A short human summary: one line when clean, else the first ``limit``
    problems of each kind (:meth:`VerifyReport.to_dict`, the JSON report, has them all)."""
    what = f"{plural(report.clips, 'clip')}, {plural(report.frames_checked, 'frame')}" + (
        ", decoded" if report.deep else "")
    if report.csv:
        what += f", {plural(report.csv_rows, 'CSV row')}"
    if report.ok:
        lines = [f"verify OK: {report.frames} ({what})"]
    else:
        lines = [f"verify FAILED: {report.frames} ({what}): {plural(report.bad_clips, 'entry', 'entries')} with "
                 f"problems, {plural(len(report.missing), 'clip')} missing, {len(report.unexpected)} not in the CSV"]

    def section(title: str, items: list[str]) -> None:
        if items:
            lines.append(f"{title}:")
            lines.extend(f"  {item}" for item in items[:limit])
            if len(items) > limit:
                lines.append(f"  ... and {len(items) - limit} more (the JSON report lists all)")

    section("problems", [f"{p.rel}: {p.detail}" for p in report.problems])
    section(f"in {report.csv} but not on disk", report.missing)
    section("on disk but not in the CSV", report.unexpected)
    section(f"damaged (kept): {len(report.damaged)}", [f"{rel}: {why}" for rel, why in report.damaged])
    section(f"damaged (failed, not extracted): {len(report.damaged_failed)}",
            [f"{rel}: {why}" for rel, why in report.damaged_failed])
    return "\n".join(lines)
