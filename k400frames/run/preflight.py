"""Before the first clip: the checks, the resume state and the plan of a run.

The real run and the dry run both go through :func:`preflight`, so a dry run
refuses exactly what the real run refuses, with the same message.  Nothing
here writes anything that stays: the writability probe removes its file.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from .. import ffmpeg
from ..clip import flow, turbo
from ..clip.outputs import output_named
from ..config import ALL_FRAMES, MAX_WORKERS_PER_CPU, OUTPUT_KEYS, SCHEMA, Config, usable_cpus
from ..errors import ConfigChanged, PreflightError
from ..layout import Layout
from ..sources.flat import iter_annotated, uses_annotations_layout
from ..sources.kinetics import annotated_clips, clip_key
from ..sources.segments import iter_segments
from ..sources.tree import Clip, Collision, clip_stem, has_whitespace, in_shard, iter_source
from ..stores import Store, store_class
from ..words import plural
from .lock import Holder, conflicting_holders, in_progress_error
from .records import read_records

log = logging.getLogger(__name__)


TINY_K400_HELP = (
    "Tiny-Kinetics-400 (train_256/ and val_256/, about 420 MB) downloads from "
    "https://drive.google.com/drive/folders/1OVDtdqNnOrzZ6PfoWMUNrsqvPijWHMCD or "
    "https://pan.baidu.com/s/1kpyLj4CZym_2hp-RzY1kDg?pwd=pigr ; unpack it under data/tiny-kinetics-400/"
)


def _where_relative(path: Path) -> str:
    # Config paths are made absolute on load; one under the current folder was
    # most likely given relative, and the user may expect the config's folder.
    cwd = Path.cwd()
    return f" (relative paths are read from the current folder, {cwd})" if path.is_relative_to(cwd) else ""


def check_source(cfg: Config) -> None:
    if not cfg.source.exists():
        # The download hint only where the path is the shipped Tiny-K400 configs' own.
        hint = f" {TINY_K400_HELP}" if cfg.source.parts[-3:-1] == ("data", "tiny-kinetics-400") else ""
        raise PreflightError(
            f"source folder does not exist: {cfg.source}{_where_relative(cfg.source)}. "
            f"Edit the config key 'source'.{hint}"
        )
    if not cfg.source.is_dir():
        raise PreflightError(f"source is not a folder: {cfg.source}")
    if cfg.annotations is not None and not cfg.annotations.is_file():
        raise PreflightError(f"annotations file does not exist: {cfg.annotations}{_where_relative(cfg.annotations)}")
    if cfg.replacements is not None and not cfg.replacements.is_dir():
        raise PreflightError(
            f"replacements folder does not exist: {cfg.replacements}{_where_relative(cfg.replacements)}"
        )
    if cfg.segments is not None and not cfg.segments.is_file():
        raise PreflightError(f"segments file does not exist: {cfg.segments}{_where_relative(cfg.segments)}")


def existing_ancestor(path: Path) -> Path:
    """``path`` or its nearest parent that exists (the target may not yet)."""
    path = Path(path).absolute()
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def check_target_writable(cfg: Config) -> None:
    """Prove that the target can be made and written, in it and beside it
    (records, temp dirs, the lock), by writing a probe file and removing it
    again: the dry run leaves no trace, and the real run creates nothing
    before all its checks have passed."""
    target = cfg.target
    for folder in dict.fromkeys((existing_ancestor(target), existing_ancestor(target.parent))):
        if not folder.is_dir():
            raise PreflightError(f"target is not writable: {target} ({folder} is a file, not a folder)")
        try:
            fd, probe = tempfile.mkstemp(prefix=Layout(target).write_probe_prefix, dir=folder)
            os.close(fd)
            os.unlink(probe)
        except OSError as exc:
            raise PreflightError(f"target is not writable: {target} ({exc.strerror or exc})") from None


@dataclasses.dataclass
class Resume:
    """What earlier runs left: finished clips (current settings) and failures."""

    done: set[str]
    failed: set[str]
    stale: int  # finished clips made with other output settings
    measured: int = 0  # finished clips whose size the manifest records
    bytes_per_clip: float | None = None
    decoded_per_clip: float | None = None  # real frames (the rest are pads)
    bytes_spread: float = 0.0  # standard deviation of the measured clip sizes
    decoded_max: int = 0  # most real frames in one measured clip
    # rel -> record of a clip about to be published (current settings), from the
    # journals of runs that may have died before writing its manifest line
    journal: dict[str, dict] = dataclasses.field(default_factory=dict)

    @classmethod
    def load(cls, cfg: Config) -> Resume:
        current = cfg.output_hash()
        done: set[str] = set()
        stale_rels: set[str] = set()
        measured = total_bytes = total_decoded = decoded_max = 0
        squares = 0.0
        layout = Layout(cfg.target)
        for row in read_records(layout.all_records("manifest")):
            (done if row.get("config") == current else stale_rels).add(row["rel"])
            if row.get("config") == current and isinstance(row.get("bytes"), int) and row["bytes"] > 0:
                measured += 1
                total_bytes += row["bytes"]
                squares += float(row["bytes"]) ** 2
                decoded = row.get("decoded")
                decoded = decoded if isinstance(decoded, int) else cfg.frame_cap or 0
                total_decoded += decoded
                decoded_max = max(decoded_max, decoded)
        failed = {row["rel"] for row in read_records(layout.all_records("failures"))}
        journal = {
            row["rel"]: row for row in read_records(layout.all_records("journal")) if row.get("config") == current
        }
        mean = total_bytes / measured if measured else None
        spread = max(squares / measured - mean * mean, 0.0) ** 0.5 if mean is not None else 0.0
        return cls(
            done=done,
            failed=failed - done,
            stale=len(stale_rels - done),
            measured=measured,
            bytes_per_clip=mean,
            decoded_per_clip=total_decoded / measured if measured else None,
            bytes_spread=spread,
            decoded_max=decoded_max,
            journal=journal,
        )


def warn_if_short_of_space(cfg: Config, clips_left: int, bytes_per_clip: float) -> None:
    """Log a warning when ``clips_left`` clips of a measured size will not fit."""
    need = clips_left * bytes_per_clip
    free = shutil.disk_usage(cfg.target).free
    if need > free:
        log.warning(
            "the remaining %s about %.1f GB but only %.1f GB are free on %s",
            "1 clip needs" if clips_left == 1 else f"{clips_left} clips need",
            need / 1e9,
            free / 1e9,
            cfg.target,
        )


def plan(cfg: Config, shard: tuple[int, int] | None, skipped: Counter | None = None) -> Iterator[Clip | Collision]:
    """This shard's clips, lazily, in sorted order; with ``only_annotated``,
    only those the ``annotations`` CSV lists (one split of a single tree).
    A source that is not a class tree (flat, or any depth), or one with
    ``replacements``, takes its clips from the annotations CSV's rows.
    Files that are not clips are counted in ``skipped`` by kind."""
    listed = None
    by_rows = cfg.segments is None and uses_annotations_layout(
        cfg.source, cfg.annotations, cfg.replacements, cfg.extensions
    )
    if cfg.only_annotated and cfg.annotations is not None and not by_rows:  # the config requires both together
        listed = annotated_clips(cfg.annotations)
    items: Iterator[Clip | Collision]
    if cfg.segments is not None:  # one clip per row of the segments CSV
        items = iter_segments(cfg.segments, cfg.source, cfg.extensions, cfg.class_names, skipped, cfg.clip_names)
    elif by_rows and cfg.annotations is not None:  # the CSV's rows, whatever the folders
        items = iter_annotated(
            cfg.annotations, cfg.source, cfg.extensions, cfg.class_names, cfg.replacements, skipped, cfg.missing_ok
        )
    else:
        items = iter_source(cfg.source, cfg.extensions, cfg.class_names, skipped, cfg.clip_names)
    for item in items:
        if not in_shard(item.rel, shard):
            continue
        if (
            listed is not None
            and not {
                clip_key(item.class_name, item.stem),
                clip_key(item.class_name, clip_stem(_source_of(item).name)),
            }
            & listed
        ):
            continue
        yield item


def _source_of(item: Clip | Collision) -> Path:
    return item.source if isinstance(item, Clip) else item.sources[0]


def whitespace_warning(names: list[str], count: int, options: tuple[str, str] = ("clip_names:", "class_names:")) -> str:
    """The one line that says, before any work, that names hold whitespace;
    ``options``: how the way out is spelled (config keys, or annotate's flags)."""
    shown = ", ".join(repr(n) for n in names)
    return (
        f"{plural(count, 'clip')} {'has' if count == 1 else 'have'} whitespace in the class or clip name "
        f"(e.g. {shown}), which list readers that split on whitespace (mmaction2, PaddleVideo, VideoMAE, "
        f"SlowFast) break on, so lists will refuse them; set {options[0]} underscore (and {options[1]} "
        f"underscore) to write them with _"
    )


def finished_before(
    cfg: Config,
    clip: Clip,
    resume: Resume,
    overwrite: bool = False,
    store: Store | None = None,
) -> str | None:
    """How an earlier run left ``clip`` in ``store`` (the run's, which sees
    every clip the split holds): ``"recorded"`` (there, and a manifest row
    with these settings), ``"unrecorded"`` (there and whole, without a row:
    a run died between putting it and recording it), or None when it must be
    (re)done."""
    if overwrite or store is None:
        return None
    output = output_named(cfg.output)
    try:
        key = output.key(clip)
        if not store.has(key):
            return None
    except ValueError:  # a name that would leave the split: never finished, and refused when extracted
        return None
    if clip.rel in resume.done:
        return "recorded"
    return "unrecorded" if output.looks_complete(store.view(key), cfg) else None


def adoption_record(cfg: Config, clip: Clip, resume: Resume, store: Store) -> dict:
    """The manifest line of a clip found whole without one: the record that
    travelled with it (its store's, or the run's journal) when it was made
    with these settings, else only what the clip itself says."""
    config = cfg.output_hash()
    record = store.record(output_named(cfg.output).key(clip)) or resume.journal.get(clip.rel)
    if record is None or record.get("config") != config or record.get("rel") != clip.rel:
        record = {"rel": clip.rel, "config": config}
    return {**record, "adopted": True}


@contextlib.contextmanager
def resume_store(cfg: Config, shard: tuple[int, int] | None) -> Iterator[Store]:
    """Every store a run of ``shard`` would resume from, open for reading."""
    store = store_class(cfg.store).open_resume(Layout(cfg.target, shard))
    try:
        yield store
    finally:
        store.close()


@dataclasses.dataclass
class Preflight:
    """What :func:`preflight` found: the run may start."""

    resume: Resume
    total: int  # clips in this run's plan
    holders: list[Holder]  # runs holding the target now (only a dry run gets past them)
    finished: int = 0  # of `total`: finished by earlier runs (shown as done, not as speed)
    # The run's plan, walked once: each clip (or collision) and how earlier runs
    # left it (finished_before); the runner, the dry run and the card use it.
    plan: list[tuple[Clip | Collision, str | None]] = dataclasses.field(default_factory=list)
    skipped: Counter = dataclasses.field(default_factory=Counter)  # files that are no clips, by kind


def preflight(
    cfg: Config,
    shard: tuple[int, int] | None = None,
    *,
    overwrite: bool = False,
    retry_failed: bool = False,
    dry_run: bool = False,
) -> Preflight:
    """Every check a run makes before its first write, in one place, so that
    the dry run fails where the real run fails, with the same error.

    Raises :class:`~k400frames.errors.K400Error` subclasses: no ffmpeg, a
    missing source, an unwritable target, another run on the target (not
    for ``dry_run``: it reports the holders instead), finished clips made
    with other output settings (unless ``overwrite``), no clips at all."""
    ffmpeg.find_ffmpeg(cfg.ffmpeg)
    store_cls = store_class(cfg.store)
    store_cls.check_installed()  # a missing wheel, before any work
    store_cls.check_config(cfg)  # settings the store cannot hold, before any work
    if cfg.encoder == "turbo":
        turbo.load_codec()
    flow.check_installed(cfg.flow)  # OpenCV with the algorithm, before any work
    check_source(cfg)
    check_target_writable(cfg)
    # Only a probe: the lock itself is taken by the run once every check has
    # passed; this makes a second run give up before its long counting pass.
    holders = conflicting_holders(cfg.target, shard)
    if holders and not dry_run:
        raise in_progress_error(cfg.target, holders)
    resume = Resume.load(cfg)
    if resume.stale and not overwrite:
        raise ConfigChanged(
            f"{plural(resume.stale, 'finished clip')} in {cfg.target} {'was' if resume.stale == 1 else 'were'} "
            f"made with other output settings (one or more of {', '.join(OUTPUT_KEYS)}); restore them, or "
            f"overwrite "
            f"to redo those clips"
        )
    total = finished = spaced = 0
    spaced_names: list[str] = []
    strange = store_cls.bad_names([cfg.target.name])
    planned: list[tuple[Clip | Collision, str | None]] = []
    skipped: Counter = Counter()
    with resume_store(cfg, shard) as store:
        for item in plan(cfg, shard, skipped):
            if retry_failed and item.rel not in resume.failed:
                continue
            total += 1
            if has_whitespace(item.rel):
                spaced += 1
                if len(spaced_names) < 2:
                    spaced_names.append(item.rel)
            if store_cls.bad_names([item.rel]):
                strange.append(item.rel)
                continue
            state = finished_before(cfg, item, resume, overwrite, store) if isinstance(item, Clip) else None
            finished += state is not None
            planned.append((item, state))
    if strange:
        raise PreflightError(store_cls.bad_names_error(strange, cfg.target))
    if total == 0 and not retry_failed:
        raise PreflightError(
            f"no clips found in {cfg.source} (expected <class>/<clip> with extensions {' '.join(cfg.extensions)}, "
            f"or any layout with 'annotations', the Kinetics CSV that names the clips)"
        )
    if spaced:
        log.warning("%s", whitespace_warning(spaced_names, spaced))
    num_frames_default = next(f.default for f in SCHEMA if f.name == "num_frames")
    if cfg.output == "video" and cfg.num_frames not in (num_frames_default, ALL_FRAMES):
        log.warning(
            "num_frames (%s) does not apply to output: %s: each video keeps every frame of its clip or span",
            cfg.num_frames,
            cfg.output,
        )
    if cfg.workers > cfg.worker_count:
        log.warning(
            "workers: %d is more than %d per CPU (%s here); running %d clips at a time: each holds an ffmpeg "
            "and its clip's frames in memory, and more only queue for the CPUs",
            cfg.workers,
            MAX_WORKERS_PER_CPU,
            plural(usable_cpus(), "CPU"),
            cfg.worker_count,
        )
    if cfg.flow != "none" and cfg.fps:
        warn_flow_rate(cfg, planned)
    return Preflight(resume, total, holders, finished, planned, skipped)


def warn_flow_rate(cfg: Config, planned: list[tuple[Clip | Collision, str | None]], probes: int = 3) -> None:
    """Warn when ``fps`` is above a source's own rate: ffmpeg repeats frames
    to reach it, and the flow between a frame and its copy is zero.  The
    first ``probes`` clips left to do are probed (a header read each), so a
    split of one rate is told before any work."""
    if cfg.fps is None:
        return
    exe = ffmpeg.find_ffmpeg(cfg.ffmpeg)
    todo = [item for item, state in planned if isinstance(item, Clip) and state is None][:probes]
    for clip in todo:
        try:
            rate = ffmpeg.probe(exe, clip.source).fps
        except Exception:  # noqa: BLE001 - a clip that cannot be probed is the run's to report, not this warning's
            continue
        if rate and cfg.fps > rate * 1.01:
            log.warning(
                "fps %g is above the source rate of %s (%g fps): ffmpeg repeats frames to reach it, and the flow "
                "from a frame to its copy is zero (flow: %s); set fps to the sources' rate or below, or null",
                cfg.fps,
                clip.rel,
                rate,
                cfg.flow,
            )
            return
