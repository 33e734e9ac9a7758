"""``extract --dry-run``: what a run would do, and whether it fits on disk.

It goes through the same :func:`~k400frames.run.preflight.preflight` as the real
run, so it refuses what the real run refuses (a missing or empty source, an
unwritable target, finished clips made with other output settings) with the
same error.  A run in progress on the target is reported, not refused.

Frames of a clip weigh what its content and the encoder make them weigh, so
the estimate is measured, never guessed, and given as a range: from the
finished clips in the manifest when there are enough of them (their mean,
plus or minus three standard errors), otherwise from up to
:data:`SAMPLES` clips to do, picked evenly over the plan (so over the
classes), each extracted into a temp folder beside the target (same
filesystem, same settings) and removed again; the range is then the
smallest to the largest sample.  "fits" means that the upper end fits.
Free bytes and free inodes come from ``statvfs`` of the target's
filesystem; inodes matter because every frame is a file (K400 at 300
frames: ~70 M).
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import ffmpeg
from ..clip import flow
from ..clip.context import RunContext
from ..clip.extract import extract_clip, promised_frames
from ..clip.outputs import output_named
from ..config import Config
from ..layout import Layout
from ..sources.flat import NO_ROW
from ..sources.tree import Clip, Collision
from ..stores import store_class
from ..words import plural
from .preflight import existing_ancestor, preflight

# Clips extracted to measure a fresh run; also the fewest finished clips
# whose sizes are trusted instead of sampling.
SAMPLES = 5
# The most frames a sample clip is extracted with, whatever num_frames says;
# a longer clip's size is scaled from them (see _scaled).
SAMPLE_FRAMES = 300
# Candidates kept while walking the plan (the extra ones stand in for a
# sample that fails to extract).
_CANDIDATES = 4 * SAMPLES


@dataclasses.dataclass
class ClassPlan:
    """Per-class counts."""

    clips: int = 0
    done: int = 0
    todo: int = 0


@dataclasses.dataclass
class DryRun:
    """What :func:`dry_run` found; sizes are for the clips still to do.
    Every estimate is a range; ``need_bytes`` and ``need_inodes`` are its
    upper ends, the ones ``fits_*`` compare with what is free."""

    target: Path
    classes: dict[str, ClassPlan]
    clips: int = 0
    done: int = 0
    todo: int = 0
    collisions: int = 0
    previously_failed: int = 0  # among `todo`: recorded as failed by an earlier run
    stale: int = 0  # finished with other output settings (redone with overwrite)
    running: list[str] = dataclasses.field(default_factory=list)  # runs holding the target now
    bytes_per_clip: float | None = None  # mean
    bytes_per_clip_low: float | None = None
    bytes_per_clip_high: float | None = None
    inodes_per_clip: float | None = None  # mean
    inodes_per_clip_high: float | None = None
    samples: list[str] = dataclasses.field(default_factory=list)  # clips measured (rel)
    block_size: int = 4096
    estimate_source: str = ""  # how the per-clip sizes were measured
    need_bytes_low: int | None = None
    need_bytes: int | None = None  # upper end
    need_inodes_low: int | None = None
    need_inodes: int | None = None  # upper end
    free_bytes: int = 0
    free_inodes: int | None = None  # None: the filesystem reports no inode limit
    store: Path | None = None  # a packed store: the one store the clips go into
    store_files: int = 0  # the files that store takes
    store_kind: str = ""  # its ``store`` config value
    store_plan: dict[str, Any] = dataclasses.field(default_factory=dict)  # the store after the run (its shards)
    store_plan_line: str = ""
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
        data.update(
            target=str(self.target),
            store=str(self.store) if self.store else None,
            filesystem=str(self.filesystem) if self.filesystem else None,
            fits_bytes=self.fits_bytes,
            fits_inodes=self.fits_inodes,
        )
        return data


class _EvenSample:
    """At most ``cap`` items spread evenly over a stream of unknown length:
    keep every ``stride``-th item, and when too many are kept, drop every
    other one and double the stride.  Memory stays O(cap) for any plan."""

    def __init__(self, cap: int):
        self.cap, self.stride, self.seen = cap, 1, 0
        self.items: list[Clip] = []

    def offer(self, item: Clip) -> None:
        if self.seen % self.stride == 0:
            self.items.append(item)
            if len(self.items) > self.cap:
                self.items = self.items[::2]
                self.stride *= 2
        self.seen += 1

    def pick(self, k: int) -> tuple[list[Clip], list[Clip]]:
        """``k`` items evenly spaced over the stream, and the rest as spares."""
        n = len(self.items)
        if n <= k:
            return list(self.items), []
        chosen = sorted({int((i + 0.5) * n / k) for i in range(k)})
        return [self.items[i] for i in chosen], [c for i, c in enumerate(self.items) if i not in chosen]


def _measure_samples(cfg: Config, chosen: list[Clip], spares: list[Clip], beside: Path) -> list[tuple[int, int, str]]:
    """Extract the chosen clips (a spare for each one that fails) into a temp
    folder in ``beside``, ``cfg.worker_count`` at a time; (bytes, inodes, rel) each."""
    try:
        work = Path(tempfile.mkdtemp(prefix=Layout(cfg.target).sample_prefix, dir=beside))
    except OSError:
        work = Path(tempfile.mkdtemp(prefix="k400frames-dryrun-"))  # read-only target: measure elsewhere
    output = output_named(cfg.output)
    # A sample clip holds at most SAMPLE_FRAMES frames whatever num_frames says
    # (a huge one would pad each sample out to that many files); its size is
    # scaled to the real clip's frames below.
    capped = output.is_folder and (cfg.frame_cap is None or cfg.frame_cap > SAMPLE_FRAMES)
    sample_cfg = dataclasses.replace(cfg, target=work / "split", min_decoded=None)
    if capped:
        sample_cfg = dataclasses.replace(sample_cfg, num_frames=SAMPLE_FRAMES)
    spares = list(spares)
    measured: list[tuple[int, int, str]] = []

    # The samples go into a store of their own, of the run's kind.
    store = store_class(cfg.store).open_run(Layout(sample_cfg.target), pad=cfg.pad)
    ctx = RunContext(store)
    exe = ffmpeg.find_ffmpeg(cfg.ffmpeg)

    def one(clip: Clip) -> tuple[int, int, str] | None:
        result = extract_clip(clip, sample_cfg, work / "tmp", ctx)
        if not result.ok:
            return None
        key = output.key(clip)
        inodes = store.clip_inodes(key)
        if not capped:
            return result.bytes, inodes, clip.rel
        sizes = store.view(key).sizes()
        real_sizes = [sizes.get(cfg.frame_name.format(i), 0) for i in range(1, result.decoded + 1)]
        return (*_scaled(cfg, result.decoded, real_sizes, inodes, _frames_in(clip, cfg, exe)), clip.rel)

    try:
        (work / "tmp").mkdir()
        with cf.ThreadPoolExecutor(max_workers=max(1, min(cfg.worker_count, len(chosen)))) as pool:
            batch = chosen
            while batch:
                results = list(pool.map(one, batch))
                measured.extend(r for r in results if r)
                missing = min(sum(r is None for r in results), len(spares))
                batch, spares = spares[:missing], spares[missing:]
        if measured:  # what the values' bytes take in the store
            sizes = store.measured([m[0] for m in measured])
            measured = [(size, inodes, rel) for size, (_, inodes, rel) in zip(sizes, measured, strict=True)]
        return measured
    finally:
        store.close()
        shutil.rmtree(work, ignore_errors=True)


def _frames_in(clip: Clip, cfg: Config, exe: str) -> int | None:
    """Frames the clip has at the output rate by its header (duration × rate), None if it says nothing."""
    try:
        return promised_frames(clip, dataclasses.replace(cfg, sampling="first"), exe)
    except OSError:
        return None


def _scaled(cfg: Config, sampled: int, real_sizes: list[int], inodes: int, in_header: int | None) -> tuple[int, int]:
    """(bytes, inodes) of a clip as the run would make it, from a sample of
    it capped at :data:`SAMPLE_FRAMES` frames: ``sampled`` real frames of
    ``real_sizes`` bytes each.  A clip that ended inside the sample is known
    whole; a longer one has the frames its header promises (duration ×
    rate), each of the sample's mean size; pads (not with ``num_frames:
    all``) are copies of its last frame, files of their own unless hardlinked."""
    real = sampled if sampled < SAMPLE_FRAMES or in_header is None else max(in_header, sampled)
    cap = cfg.frame_cap
    if cap is not None:
        real = min(real, cap)
    frames = cap if cap is not None else real
    pads = frames - real
    mean = sum(real_sizes) / len(real_sizes) if real_sizes else 0.0
    last = real_sizes[-1] if real_sizes else 0
    copies = cfg.pad == "copy" or store_class(cfg.store).packed
    size = sum(real_sizes) + (real - sampled) * mean + (pads * last if copies else 0)
    if inodes:  # a folder store: one file per frame (a hardlinked pad: none) and the folder
        inodes = (frames if cfg.pad == "copy" else real) + 1
    return int(round(size)), inodes


@dataclasses.dataclass(frozen=True)
class _PerClip:
    """(low, mean, high) per clip, and how they were measured."""

    bytes: tuple[float, float, float]
    inodes: tuple[float, float, float]
    source: str


def _low_mean_high(values: list[int]) -> tuple[float, float, float]:
    return float(min(values)), sum(values) / len(values), float(max(values))


def _disk_per_clip(bytes_per_clip: float, inodes_per_clip: float, block_size: int, folder: bool = True) -> float:
    # Each file takes whole blocks, so round the mean file up to a block.
    files = max(inodes_per_clip - folder, 1)
    blocks = -(-(bytes_per_clip / files) // block_size)
    return files * blocks * block_size + block_size * folder


def dry_run(
    cfg: Config,
    *,
    shard: tuple[int, int] | None = None,
    overwrite: bool = False,
    retry_failed: bool = False,
    sample: bool = True,
) -> DryRun:
    """Plan the run ``run_extract`` would make with the same arguments,
    without writing anything but removed temp samples; estimate its size.
    Raises what ``run_extract`` raises before its first clip, except for a
    run in progress on the target, which is reported in ``running``."""
    checked = preflight(cfg, shard, overwrite=overwrite, retry_failed=retry_failed, dry_run=True)
    resume = checked.resume
    report = DryRun(target=cfg.target, classes={}, stale=resume.stale, running=[h.describe() for h in checked.holders])
    candidates = _EvenSample(_CANDIDATES)
    bad_rows = 0  # CSV rows that fail without a decode (no video, bad times)
    skipped = checked.skipped
    store_cls = store_class(cfg.store)
    for item, state in checked.plan:
        if isinstance(item, Collision):
            report.collisions += 1
            continue
        counts = report.classes.setdefault(item.out_class, ClassPlan())
        counts.clips += 1
        report.clips += 1
        if state:
            counts.done += 1
            report.done += 1
        else:
            counts.todo += 1
            report.todo += 1
            report.previously_failed += item.rel in resume.failed
            if item.problem:
                bad_rows += 1
            else:
                candidates.offer(item)

    fs = existing_ancestor(cfg.target)
    stats = os.statvfs(fs)
    report.filesystem = fs
    report.block_size = stats.f_frsize or stats.f_bsize or 4096
    report.free_bytes = stats.f_bavail * stats.f_frsize
    # Filesystems without a fixed inode table (btrfs, many network mounts) report 0.
    report.free_inodes = stats.f_favail if stats.f_files else None

    per_clip: _PerClip | None = None
    if resume.measured >= SAMPLES and resume.bytes_per_clip is not None:
        # Many finished clips: their mean is good to a few standard errors.
        mean, margin = resume.bytes_per_clip, 3 * resume.bytes_spread / resume.measured**0.5
        # The manifest has the values' bytes; a packed store adds its own per value.
        # num_frames: all: a clip has its own count of frames, the manifest's mean and most.
        frames = cfg.frame_cap if cfg.frame_cap is not None else resume.decoded_per_clip or 1.0
        members = frames * flow.members_per_frame(cfg)  # a frame, and its flow pair with flow
        mean += store_cls.value_slack(members if output_named(cfg.output).is_folder else 1)
        # Hardlinked pads share the last frame's inode; copies are files of their own.
        if store_cls.packed:
            inodes = (0.0,) * 3  # the store's few files, counted once below
        elif not output_named(cfg.output).is_folder:
            inodes = (1.0,) * 3  # one file per clip, no folder
        elif cfg.frame_cap is not None and (cfg.pad == "copy" or resume.decoded_per_clip is None or cfg.flow != "none"):
            inodes = (members + 1.0,) * 3
        else:
            real = resume.decoded_per_clip or float(resume.decoded_max)
            inodes = (real + 1, real + 1, resume.decoded_max + 1.0)
        per_clip = _PerClip(
            (max(mean - margin, 0.0), mean, mean + margin),
            inodes,
            f"{resume.measured} finished clips in the manifest: mean ± 3 standard errors",
        )
    elif sample and candidates.items:
        chosen, spares = candidates.pick(SAMPLES)
        measured = _measure_samples(cfg, chosen, spares, existing_ancestor(cfg.target.parent))
        if measured:
            report.samples = [m[2] for m in measured]
            scaled = (
                f" (each at most {SAMPLE_FRAMES} frames, scaled to "
                f"{'its frames by header duration × rate' if cfg.all_frames else f'{cfg.num_frames} frames'})"
                if output_named(cfg.output).is_folder and (cfg.frame_cap is None or cfg.frame_cap > SAMPLE_FRAMES)
                else ""
            )
            per_clip = _PerClip(
                _low_mean_high([m[0] for m in measured]),
                _low_mean_high([m[1] for m in measured]),
                f"{plural(len(measured), 'sample clip', 'sample clips')} spread over the plan, "
                f"extracted to a temp folder and removed{scaled}: smallest to largest",
            )
        else:
            report.notes.append(f"no estimate: the {len(chosen) + len(spares)} clips tried failed to extract")
    elif report.todo:
        report.notes.append("no estimate: too few finished clips and sampling is off")

    shard_stores = store_cls.shard_paths(Layout(cfg.target)) if shard is None else []
    if shard_stores:
        report.notes.append(
            f"the run first merges {plural(len(shard_stores), 'shard store')} into "
            f"{store_cls.run_path(Layout(cfg.target))} (their clips count as done above)"
        )
    if per_clip is not None:
        (report.bytes_per_clip_low, report.bytes_per_clip, report.bytes_per_clip_high) = per_clip.bytes
        (inodes_low, report.inodes_per_clip, report.inodes_per_clip_high) = per_clip.inodes
        report.estimate_source = per_clip.source
        new_classes = sum(1 for name, c in report.classes.items() if c.todo and not (cfg.target / name).is_dir())
        if store_cls.packed:
            # One store per split (or shard), of a few files.
            report.store, report.store_files = store_cls.run_path(Layout(cfg.target, shard)), store_cls.fixed_files
            report.store_kind = store_cls.name
            new_classes = 0 if report.store.exists() else store_cls.fixed_files
            low, high = per_clip.bytes[0], per_clip.bytes[2]  # pages already counted; no per-file blocks
        else:
            folders = output_named(cfg.output).is_folder
            low = _disk_per_clip(per_clip.bytes[0], inodes_low, report.block_size, folders)
            high = _disk_per_clip(per_clip.bytes[2], per_clip.inodes[2], report.block_size, folders)
        extra = new_classes * report.block_size
        extra_low = extra_high = float(extra)
        planned = store_cls.plan_files(cfg, Layout(cfg.target, shard), (report.todo * low, report.todo * high))
        if planned is not None:
            report.store_plan, report.store_plan_line, (more_low, more_high) = planned
            extra_low, extra_high = extra + more_low, extra + more_high
        report.need_bytes_low = int(report.todo * low + extra_low)
        report.need_bytes = int(report.todo * high + extra_high)
        report.need_inodes_low = int(round(report.todo * inodes_low)) + new_classes
        report.need_inodes = int(round(report.todo * per_clip.inodes[2])) + new_classes
    flow_cost = flow.cost_note(cfg, report.todo, cfg.worker_count)
    if flow_cost:
        report.notes.append(flow_cost)
    if report.collisions:
        report.notes.append(f"{report.collisions} output folders are claimed by several source files and would fail")
    if bad_rows and cfg.segments is not None:
        report.notes.append(
            f"{plural(bad_rows, 'segment row')} would fail (video not found, bad times or a "
            f"collision); a real run records why"
        )
    elif bad_rows:
        report.notes.append(
            f"{plural(bad_rows, 'annotation row')} would fail (no file, no label or two labels); "
            f"a real run records why, and `k400frames doctor` lists them"
        )
    if skipped[NO_ROW]:
        verb = "matches" if skipped[NO_ROW] == 1 else "match"
        report.notes.append(
            f"{plural(skipped[NO_ROW], 'file')} under the source {verb} no row of {cfg.annotations} and "
            f"would be left out (`k400frames doctor` names them)"
        )
    return report


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.1f} TB"


def _range(low: float, high: float, show: Callable[[float], str] = _size) -> str:
    return show(high) if show(low) == show(high) else f"{show(low)} to {show(high)}"


def format_dry_run(report: DryRun, classes_shown: int = 20) -> str:
    """Human summary of a :class:`DryRun`."""
    lines = [f"dry run: nothing written to {report.target}"]
    if report.running:
        lines.append(
            f"WARNING: a run is in progress on this target ({'; '.join(report.running)}): "
            f"a second run now would stop at once; the counts below change while it runs"
        )
    lines.append(
        f"clips: {report.clips} in {plural(len(report.classes), 'class', 'classes')}: "
        f"{report.done} already done, {report.todo} to do"
        + (f" ({report.previously_failed} failed before)" if report.previously_failed else "")
    )
    names = sorted(report.classes)
    for name in names[:classes_shown]:
        c = report.classes[name]
        lines.append(f"  {name}: {plural(c.clips, 'clip', 'clips')}, {c.done} done, {c.todo} to do")
    if len(names) > classes_shown:
        lines.append(f"  ... and {len(names) - classes_shown} more classes")
    if report.need_bytes is not None and report.need_bytes_low is not None and report.need_inodes is not None:
        need_inodes_low = report.need_inodes_low or 0
        inodes = _range(report.inodes_per_clip or 0, report.inodes_per_clip_high or 0, lambda n: f"{n:.0f}")
        lines.append(
            f"estimate: {_range(report.bytes_per_clip_low or 0, report.bytes_per_clip_high or 0)} "
            f"(mean {_size(report.bytes_per_clip or 0)}) and {inodes} inodes per clip "
            f"({report.estimate_source})"
        )
        inode_free = "no inode limit" if report.free_inodes is None else f"{report.free_inodes:,} inodes free"
        if report.store is not None:
            lines.append(
                f"store: every clip in one {report.store_kind} store, {report.store} "
                f"({report.store_files} files in all, instead of a file per frame)"
            )
        if report.store_plan_line:
            lines.append(report.store_plan_line)
        lines.append(
            f"needs: {_range(report.need_bytes_low, report.need_bytes)} and "
            f"{_range(need_inodes_low, report.need_inodes, lambda n: f'{n:,}')} inodes; "
            f"{report.filesystem} has {_size(report.free_bytes)} and {inode_free}"
        )
        short = [what for what, fits in (("space", report.fits_bytes), ("inodes", report.fits_inodes)) if fits is False]
        if short:
            low_fits = report.need_bytes_low <= report.free_bytes and (
                report.free_inodes is None or need_inodes_low <= report.free_inodes
            )
            lines.append(
                f"WARNING: not enough {' and '.join(short)} for "
                f"{'the upper end of the estimate' if low_fits else 'this run'} on {report.filesystem}"
                + ("; it may not fit" if low_fits else "")
            )
        else:
            lines.append("fits: yes, even at the upper end of the estimate")
    lines.extend(f"note: {note}" for note in report.notes)
    return "\n".join(lines)
