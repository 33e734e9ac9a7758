"""Run a whole split: preflight, resume, schedule clips, record, summarise.

The runner never prints.  It reports through a ``progress`` object and
returns a :class:`Summary`; the CLI decides what the user sees.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterator, Protocol

from . import ffmpeg
from .clips import Clip, Collision, in_shard, iter_source
from .config import Config
from .errors import ConfigChanged, DiskFull, PreflightError
from .executors import make_executor
from .extract import ClipResult, extract_clip, final_folder, stopping
from .postprocess import looks_complete
from .records import RecordWriter, all_record_files, read_records, record_file, replaced_atomically

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Summary:
    """Counts for one run, over the clips of this shard."""

    target: Path
    manifest: Path
    failures: Path
    total: int = 0          # clips in this run's plan
    done: int = 0           # extracted now
    skipped: int = 0        # already finished before this run
    padded: int = 0         # of `done`, padded up to N
    pad_frames: int = 0     # copies of last frames written for those
    cut: int = 0            # of `done`, longer than N and cut
    failed: int = 0
    damaged_kept: int = 0   # of `done`: damaged videos kept (damaged: keep), marked in the manifest
    damaged_failed: int = 0  # of `failed`: damaged videos refused (damaged: fail)
    skipped_files: Counter = dataclasses.field(default_factory=Counter)  # not clips, by kind
    frames: int = 0         # frames written now
    bytes: int = 0          # bytes written now
    seconds: float = 0.0
    interrupted: bool = False
    disk_full: str = ""

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        if self.interrupted:
            return 130
        return 1 if self.failed or self.disk_full else 0


def format_summary(summary: Summary) -> str:
    """The few lines a user reads after a run."""
    lines = [
        f"clips: {summary.done} extracted ({summary.padded} padded with {summary.pad_frames} frames, "
        f"{summary.cut} cut), {summary.skipped} already done, {summary.failed} failed, of {summary.total}",
        f"speed: {summary.frames} frames in {summary.seconds:.1f} s = {summary.frames_per_second:.0f} frames/s, "
        f"{summary.bytes / 1e6:.1f} MB written",
        f"frames: {summary.target}",
        f"manifest: {summary.manifest}",
    ]
    if summary.damaged_kept or summary.damaged_failed:
        lines.append(f"damaged videos (decode errors or truncated): {summary.damaged_failed} failed, "
                     f"{summary.damaged_kept} kept and marked in the manifest")
    if summary.skipped_files:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(summary.skipped_files.items()))
        lines.append(f"skipped {plural(sum(summary.skipped_files.values()), 'file')} ({kinds})")
    if summary.failed:
        lines.append(f"failures: {summary.failures}  (rerun with --retry-failed after fixing them)")
    if summary.disk_full:
        lines.append(f"stopped: {summary.disk_full}; free some space and rerun to resume")
    if summary.interrupted:
        lines.append("interrupted: rerun the same command to resume")
    return "\n".join(lines)


def plural(count: int, noun: str) -> str:
    """``plural(1, "clip")`` -> ``"1 clip"``; ``plural(3, "file")`` -> ``"3 files"``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


class Progress(Protocol):
    def start(self, total: int) -> None: ...
    def update(self, result: ClipResult | None, summary: Summary) -> None: ...
    def close(self) -> None: ...


class NoProgress:
    def start(self, total: int) -> None: pass
    def update(self, result: ClipResult | None, summary: Summary) -> None: pass
    def close(self) -> None: pass


# ----------------------------------------------------------------------------
# preflight and plan
# ----------------------------------------------------------------------------

def tmp_area(cfg: Config, shard: tuple[int, int] | None) -> Path:
    """Temp dirs live beside the split folder, one area per shard, so a job
    array's shards never clean up each other's work."""
    tag = f"shard-{shard[0]}-of-{shard[1]}" if shard else "all"
    return cfg.target.parent / f".{cfg.target.name}.tmp" / tag


TINY_K400_HELP = (
    "Tiny-Kinetics-400 (train_256/ and val_256/, about 420 MB) downloads from "
    "https://drive.google.com/drive/folders/1OVDtdqNnOrzZ6PfoWMUNrsqvPijWHMCD or "
    "https://pan.baidu.com/s/1kpyLj4CZym_2hp-RzY1kDg?pwd=pigr ; unpack it under data/tiny-kinetics-400/")


def check_source(cfg: Config) -> None:
    if not cfg.source.exists():
        raise PreflightError(f"source folder does not exist: {cfg.source}. Edit the config key 'source' "
                             f"(or pass --set source=DIR). {TINY_K400_HELP}")
    if not cfg.source.is_dir():
        raise PreflightError(f"source is not a folder: {cfg.source}")
    if cfg.annotations is not None and not cfg.annotations.is_file():
        raise PreflightError(f"annotations file does not exist: {cfg.annotations}")
    if cfg.segments is not None and not cfg.segments.is_file():
        raise PreflightError(f"segments file does not exist: {cfg.segments}")


def check_target_writable(cfg: Config) -> None:
    """Create the target folder and prove we can write beside it."""
    try:
        cfg.target.mkdir(parents=True, exist_ok=True)
        probe = cfg.target.parent / f".{cfg.target.name}.write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise PreflightError(f"target is not writable: {cfg.target} ({exc.strerror or exc})") from None


@dataclasses.dataclass
class Resume:
    """What earlier runs left: finished clips (current settings) and failures."""

    done: set[str]
    failed: set[str]
    stale: int  # finished clips made with other output settings
    measured: int = 0              # finished clips whose size the manifest records
    bytes_per_clip: float | None = None
    decoded_per_clip: float | None = None  # real frames (the rest are pads)

    @classmethod
    def load(cls, cfg: Config) -> "Resume":
        current = cfg.output_hash()
        done, stale_rels = set(), set()
        measured = total_bytes = total_decoded = 0
        for row in read_records(all_record_files(cfg.target, "manifest")):
            (done if row.get("config") == current else stale_rels).add(row["rel"])
            if row.get("config") == current and isinstance(row.get("bytes"), int) and row["bytes"] > 0:
                measured += 1
                total_bytes += row["bytes"]
                decoded = row.get("decoded")
                total_decoded += decoded if isinstance(decoded, int) else cfg.num_frames
        failed = {row["rel"] for row in read_records(all_record_files(cfg.target, "failures"))}
        return cls(done=done, failed=failed - done, stale=len(stale_rels - done), measured=measured,
                   bytes_per_clip=total_bytes / measured if measured else None,
                   decoded_per_clip=total_decoded / measured if measured else None)


def warn_if_short_of_space(cfg: Config, clips_left: int, bytes_per_clip: float) -> None:
    """Log a warning when ``clips_left`` clips of a measured size will not fit."""
    need = clips_left * bytes_per_clip
    free = shutil.disk_usage(cfg.target).free
    if need > free:
        log.warning("the remaining %d clips need about %.1f GB but only %.1f GB are free on %s",
                    clips_left, need / 1e9, free / 1e9, cfg.target)


def plan(cfg: Config, shard: tuple[int, int] | None,
         skipped: Counter | None = None) -> Iterator[Clip | Collision]:
    """This shard's clips, lazily, in sorted order; with ``only_annotated``,
    only those the ``annotations`` CSV lists (one split of a single tree).
    Files that are not clips are counted in ``skipped`` by kind."""
    listed = None
    if cfg.only_annotated:
        from .annotations import annotated_clips, clip_key
        listed = annotated_clips(cfg.annotations)
    if cfg.segments is not None:  # one clip per row of the segments CSV (segments.py)
        from .segments import iter_segments
        items = iter_segments(cfg.segments, cfg.source, cfg.extensions, cfg.class_names, skipped)
    else:
        items = iter_source(cfg.source, cfg.extensions, cfg.class_names, skipped)
    for item in items:
        if not in_shard(item.rel, shard):
            continue
        if listed is not None and clip_key(item.class_name, item.stem) not in listed:
            continue
        yield item


# ----------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------

def run_extract(cfg: Config, *, shard: tuple[int, int] | None = None, overwrite: bool = False,
                retry_failed: bool = False, progress: Progress | None = None) -> Summary:
    """Extract every clip of ``cfg.source`` (or of one shard) into ``cfg.target``.

    Finished clips are skipped; a run with other output settings than the
    finished clips is refused unless ``overwrite``.  Raises only for problems
    that stop the whole run (config, preflight); bad videos are counted."""
    progress = progress or NoProgress()
    ffmpeg.find_ffmpeg(cfg.ffmpeg)
    check_source(cfg)
    resume = Resume.load(cfg)
    if resume.stale and not overwrite:
        raise ConfigChanged(
            f"{resume.stale} finished clips in {cfg.target} were made with other output settings "
            f"({', '.join(Config.OUTPUT_KEYS)}); restore them, or rerun with --overwrite to redo those clips")
    total = sum(1 for item in plan(cfg, shard) if not retry_failed or item.rel in resume.failed)
    if total == 0 and not retry_failed:
        raise PreflightError(f"no clips found in {cfg.source} (expected <class>/<clip> with extensions "
                             f"{' '.join(cfg.extensions)})")
    check_target_writable(cfg)
    if resume.bytes_per_clip:  # a resumed run knows its clip size before any work
        warn_if_short_of_space(cfg, max(total - len(resume.done), 0), resume.bytes_per_clip)
    # Before anything is written: a Dask scheduler that cannot be reached must
    # not leave a temp area behind or truncate the failures of the last run.
    executor = make_executor(cfg)
    tmp_root = tmp_area(cfg, shard)
    summary = Summary(cfg.target, record_file(cfg.target, "manifest", shard),
                      record_file(cfg.target, "failures", shard), total=total)
    writers: list[RecordWriter] = []
    previous_sigint = signal.getsignal(signal.SIGINT)
    started = time.monotonic()
    try:
        shutil.rmtree(tmp_root, ignore_errors=True)  # leftovers of a crashed run
        tmp_root.mkdir(parents=True)
        writers.append(RecordWriter(summary.manifest))
        writers.append(RecordWriter(summary.failures, truncate=True))
        recorder = _Recorder(cfg, summary, *writers, progress)
        stopping.clear()
        progress.start(total)
        try:
            _schedule(cfg, shard, overwrite, retry_failed, resume, tmp_root, executor, recorder)
        except KeyboardInterrupt:
            summary.interrupted = True
            _stop_now()
        except DiskFull as exc:
            summary.disk_full = str(exc)
            _stop_now()
    finally:
        # The executor first: its workers may still be cleaning up inside tmp_root.
        executor.close()
        summary.seconds = time.monotonic() - started
        for writer in writers:
            writer.close()
        progress.close()
        shutil.rmtree(tmp_root, ignore_errors=True)
        _remove_if_empty(tmp_root.parent)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous_sigint)
    if cfg.annotations is not None and not summary.interrupted:
        # Every shard of a job array copies the CSV; a reader must never see half of it.
        with replaced_atomically(cfg.target.parent / cfg.annotations.name) as partial:
            shutil.copyfile(cfg.annotations, partial)
    return summary


def _stop_now() -> None:
    """No new clips; kill running ffmpegs.  A second Ctrl-C exits at once."""
    stopping.set()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _exit_now)
    ffmpeg.kill_all()


def _exit_now(signum, frame) -> None:
    ffmpeg.kill_all()
    os._exit(130)


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


class _Recorder:
    """Turns results into manifest/failures lines, summary counts and progress."""

    def __init__(self, cfg: Config, summary: Summary, manifest: RecordWriter, failures: RecordWriter,
                 progress: Progress):
        self.cfg, self.summary, self.manifest, self.failures, self.progress = cfg, summary, manifest, failures, progress
        self.config_hash = cfg.output_hash()
        self._space_checked = False

    def finished(self, result: ClipResult) -> None:
        s = self.summary
        if result.interrupted:
            return  # neither done nor a failure: the next run does it
        if result.ok:
            row = {"rel": result.rel, "source": result.source, "decoded": result.decoded,
                   "padded": result.padded, "cut": result.cut, "seconds": round(result.seconds, 3),
                   "bytes": result.bytes, "config": self.config_hash}
            if result.damaged:
                row["damaged"] = result.damaged
            self.manifest.write(row)
            s.done += 1
            s.padded += result.padded > 0
            s.pad_frames += result.padded
            s.damaged_kept += bool(result.damaged)
            s.cut += result.cut
            s.frames += result.decoded + result.padded  # num_frames, or a video's own count
            s.bytes += result.bytes
            self._check_space()
        else:
            self.failures.write(result.failure_record())
            s.failed += 1
            s.damaged_failed += bool(result.damaged)
            log.warning("failed: %s: %s", result.rel, result.reason)
        self.progress.update(result, s)

    def skipped(self, rel: str, adopted: bool = False) -> None:
        if adopted:
            self.manifest.write({"rel": rel, "adopted": True, "config": self.config_hash})
        self.summary.skipped += 1
        self.progress.update(None, self.summary)

    def _check_space(self) -> None:
        # A fresh run measures its clip size on the first clip, then checks once.
        if self._space_checked:
            return
        self._space_checked = True
        s = self.summary
        warn_if_short_of_space(self.cfg, s.total - s.skipped - s.done - s.failed, s.bytes / max(s.done, 1))


def finished_before(cfg: Config, clip: Clip, resume: Resume, overwrite: bool = False) -> str | None:
    """How an earlier run left ``clip``: ``"recorded"`` (final folder and a
    manifest row with these settings), ``"unrecorded"`` (a complete-looking
    final folder without a row: the run died between the rename and the
    record), or None when it must be (re)done."""
    final = final_folder(cfg, clip)
    video = cfg.output == "video"
    if overwrite or not (final.is_file() if video else final.is_dir()):
        return None
    if clip.rel in resume.done:
        return "recorded"
    if video:  # published by one rename: a whole .mp4 at its final name is finished
        from .videoout import looks_complete as video_complete
        return "unrecorded" if video_complete(final) else None
    if looks_complete(final, cfg.num_frames, cfg.frame_name):
        return "unrecorded"
    return None


def _schedule(cfg, shard, overwrite, retry_failed, resume, tmp_root, executor, recorder) -> None:
    """Feed clips to the executor lazily (a bounded window, so memory stays flat)."""
    window = max(2 * getattr(executor, "workers", 1), 2)
    pending: set = set()

    def drain(block_until_below: int) -> None:
        nonlocal pending
        while len(pending) >= block_until_below:
            done, pending = executor.wait_any(pending)
            for future in done:
                recorder.finished(future.result())  # re-raises DiskFull from a worker

    for item in plan(cfg, shard, recorder.summary.skipped_files):
        if retry_failed and item.rel not in resume.failed:
            continue
        if isinstance(item, Collision):
            others = ", ".join(p.name for p in item.sources)
            recorder.finished(ClipResult(item.rel, str(item.sources[0]), ok=False, stage="collision",
                                         reason=f"several sources map to one output folder: {others}; "
                                                f"rename or remove all but one"))
            continue
        state = finished_before(cfg, item, resume, overwrite)
        if state:
            recorder.skipped(item.rel, adopted=state == "unrecorded")
            continue
        if stopping.is_set():
            break
        pending.add(executor.submit(extract_clip, item, cfg, tmp_root))
        drain(window)
    drain(1)
