"""``extract --dry-run``: what a run would do, and whether it fits on disk.

Frames of a clip weigh what its content and the encoder make them weigh, so
the estimate is measured, never guessed: the mean of the finished clips in
the manifest when there are any, otherwise one clip extracted into a temp
folder beside the target (same filesystem, same settings) and removed again.
Free bytes and free inodes come from ``statvfs`` of the target's filesystem;
inodes matter because every frame is a file (K400 at 300 frames: ~70 M).
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .clips import Clip, Collision
from .config import Config
from .runner import Resume, check_source, finished_before, plan

# Sample clips tried before giving up on measuring (a broken first clip
# should not leave the user without an estimate).
SAMPLE_TRIES = 3


@dataclasses.dataclass
class ClassPlan:
    """Per-class counts."""

    clips: int = 0
    done: int = 0
    todo: int = 0


@dataclasses.dataclass
class DryRun:
    """What :func:`dry_run` found; sizes are for the clips still to do."""

    target: Path
    classes: dict[str, ClassPlan]
    clips: int = 0
    done: int = 0
    todo: int = 0
    collisions: int = 0
    previously_failed: int = 0     # among `todo`: recorded as failed by an earlier run
    stale: int = 0                 # finished with other output settings: refused without --overwrite
    bytes_per_clip: float | None = None
    inodes_per_clip: float | None = None
    block_size: int = 4096
    estimate_source: str = ""      # how bytes_per_clip was measured
    need_bytes: int | None = None
    need_inodes: int | None = None
    free_bytes: int = 0
    free_inodes: int | None = None  # None: the filesystem reports no inode limit
    filesystem: Path | None = None  # the existing folder statvfs was asked about
    notes: list[str] = dataclasses.field(default_factory=list)

    @property
    def fits_bytes(self) -> bool | None:
        return None if self.need_bytes is None else self.need_bytes <= self.free_bytes

    @property
    def fits_inodes(self) -> bool | None:
        if self.need_inodes is None or self.free_inodes is None:
            return None
        return self.need_inodes <= self.free_inodes

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.update(target=str(self.target), filesystem=str(self.filesystem) if self.filesystem else None,
                    fits_bytes=self.fits_bytes, fits_inodes=self.fits_inodes)
        return data


def existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest parent that exists (the target may not yet)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _measure_sample(cfg: Config, clips: list[Clip], beside: Path) -> tuple[int, int, str] | None:
    """Extract one clip into a temp folder in ``beside``; (bytes, inodes, rel)."""
    from .extract import extract_clip, final_folder
    from .postprocess import folder_bytes

    try:
        work = Path(tempfile.mkdtemp(prefix=".k400frames-dryrun-", dir=beside))
    except OSError:
        work = Path(tempfile.mkdtemp(prefix="k400frames-dryrun-"))  # read-only target: measure elsewhere
    try:
        sample_cfg = dataclasses.replace(cfg, target=work / "split")
        (work / "tmp").mkdir()
        for clip in clips[:SAMPLE_TRIES]:
            result = extract_clip(clip, sample_cfg, work / "tmp")
            if result.ok and cfg.output == "video":
                return os.path.getsize(final_folder(sample_cfg, clip)), 1, clip.rel
            if result.ok:
                folder = sample_cfg.target / clip.out_class / clip.stem
                inodes = len({os.stat(e.path).st_ino for e in os.scandir(folder)}) + 1
                return folder_bytes(folder), inodes, clip.rel
        return None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def dry_run(cfg: Config, *, shard: tuple[int, int] | None = None, overwrite: bool = False,
            retry_failed: bool = False, sample: bool = True) -> DryRun:
    """Plan the run ``run_extract`` would make with the same arguments,
    without writing anything but a removed temp sample; estimate its size."""
    check_source(cfg)
    resume = Resume.load(cfg)
    report = DryRun(target=cfg.target, classes={}, stale=resume.stale)
    todo_clips: list[Clip] = []
    bad_rows = 0  # segment rows that will fail without a decode (no video, bad times)
    for item in plan(cfg, shard):
        if retry_failed and item.rel not in resume.failed:
            continue
        if isinstance(item, Collision):
            report.collisions += 1
            continue
        counts = report.classes.setdefault(item.out_class, ClassPlan())
        counts.clips += 1
        report.clips += 1
        if finished_before(cfg, item, resume, overwrite):
            counts.done += 1
            report.done += 1
        else:
            counts.todo += 1
            report.todo += 1
            report.previously_failed += item.rel in resume.failed
            bad_rows += item.problem is not None
            if len(todo_clips) < SAMPLE_TRIES and not item.problem:
                todo_clips.append(item)

    fs = existing_ancestor(cfg.target)
    stats = os.statvfs(fs)
    report.filesystem = fs
    report.block_size = stats.f_frsize or stats.f_bsize or 4096
    report.free_bytes = stats.f_bavail * stats.f_frsize
    # Filesystems without a fixed inode table (btrfs, many network mounts) report 0.
    report.free_inodes = stats.f_favail if stats.f_files else None

    if resume.measured:
        # Hardlinked pads share the last frame's inode; copies are files of their own.
        files = cfg.num_frames if cfg.pad == "copy" else resume.decoded_per_clip
        files = 0 if cfg.output == "video" else files  # one .mp4 (the +1 below), no folder
        report.bytes_per_clip, report.inodes_per_clip = resume.bytes_per_clip, files + 1  # +1: the folder
        report.estimate_source = f"mean of {resume.measured} finished clips in the manifest"
    elif sample and todo_clips:
        beside = existing_ancestor(cfg.target.parent)
        sampled = _measure_sample(cfg, todo_clips, beside)
        if sampled:
            bytes_, inodes, rel = sampled
            report.bytes_per_clip, report.inodes_per_clip = float(bytes_), float(inodes)
            report.estimate_source = f"one sample clip extracted to a temp folder and removed ({rel})"
        else:
            report.notes.append(f"no estimate: the first {len(todo_clips)} clips to do failed to extract")
    elif report.todo:
        report.notes.append("no estimate: nothing finished yet and sampling is off")

    if report.bytes_per_clip is not None and report.inodes_per_clip:
        # Each file takes whole blocks, so round the mean file up to a block.
        files = max(report.inodes_per_clip - 1, 1)
        per_file = report.bytes_per_clip / files
        blocks = -(-per_file // report.block_size)
        disk_per_clip = files * blocks * report.block_size + report.block_size  # + the folder
        new_classes = sum(1 for name, c in report.classes.items()
                          if c.todo and not (cfg.target / name).is_dir())
        report.need_bytes = int(report.todo * disk_per_clip + new_classes * report.block_size)
        report.need_inodes = int(round(report.todo * report.inodes_per_clip)) + new_classes
    if report.stale and not overwrite:
        report.notes.append(f"{report.stale} finished clips were made with other output settings: a real run "
                            f"stops unless you pass --overwrite")
    if bad_rows:
        report.notes.append(f"{bad_rows} segment rows would fail (video not found, bad times or a collision); "
                            f"a real run records why")
    if report.collisions:
        report.notes.append(f"{report.collisions} output folders are claimed by several source files "
                            f"and would fail")
    return report


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"


def format_dry_run(report: DryRun, classes_shown: int = 20) -> str:
    """Human summary of a :class:`DryRun`."""
    lines = [f"dry run: nothing written to {report.target}",
             f"clips: {report.clips} in {len(report.classes)} classes: {report.done} already done, "
             f"{report.todo} to do" + (f" ({report.previously_failed} failed before)" if report.previously_failed
                                      else "")]
    names = sorted(report.classes)
    for name in names[:classes_shown]:
        c = report.classes[name]
        lines.append(f"  {name}: {c.clips} clips, {c.done} done, {c.todo} to do")
    if len(names) > classes_shown:
        lines.append(f"  ... and {len(names) - classes_shown} more classes")
    if report.need_bytes is not None:
        lines.append(f"estimate: {_size(report.bytes_per_clip or 0)} and {report.inodes_per_clip:.0f} inodes "
                     f"per clip ({report.estimate_source})")
        inode_free = "no inode limit" if report.free_inodes is None else f"{report.free_inodes:,} inodes free"
        lines.append(f"needs: {_size(report.need_bytes)} and {report.need_inodes:,} inodes; "
                     f"{report.filesystem} has {_size(report.free_bytes)} and {inode_free}")
        if report.fits_bytes is False or report.fits_inodes is False:
            short = [what for what, fits in (("space", report.fits_bytes), ("inodes", report.fits_inodes))
                     if fits is False]
            lines.append(f"WARNING: not enough {' and '.join(short)} for this run on {report.filesystem}")
        else:
            lines.append("fits: yes")
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)
