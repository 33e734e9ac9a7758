"""Run a whole split: preflight, resume, schedule clips, record, summarise.

The runner never prints and never takes the process: it installs no signal
handler and never exits.  It stops when asked (a ``stop`` event, or a
KeyboardInterrupt in the calling thread), kills its ffmpegs and returns a
:class:`Summary`; the CLI decides what the user sees and the exit code.
The checks and the plan live in :mod:`.preflight`, shared with the dry
run.  A run owns its state (:class:`~k400frames.clip.context.RunContext`:
its stop and its ffmpegs), so two runs in one process never touch each other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
import threading
import time
from collections import Counter
from pathlib import Path

from ..clip.context import RunContext
from ..clip.extract import ClipResult
from ..config import Config
from ..errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, CardNotReady, DiskFull, K400Error, PreflightError
from ..files import replaced_atomically
from ..layout import Layout
from ..sources.flat import KNOWN_GONE
from ..sources.tree import Collision
from ..stores import Store, store_class
from ..words import plural
from .card import MOSTLY_PAD_NAMED, write_card
from .executors import Executor, make_executor
from .lock import TargetLock
from .preflight import Preflight, adoption_record, preflight, warn_if_short_of_space
from .progress import NoProgress, Progress
from .records import PAD_WARN_SHARE, RecordWriter, decoded_counts, pad_advice

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Summary:
    """Counts for one run, over the clips of this shard."""

    target: Path
    manifest: Path
    failures: Path
    total: int = 0  # clips in this run's plan
    done: int = 0  # extracted now
    skipped: int = 0  # already finished before this run
    padded: int = 0  # of `done`, padded up to N
    pad_frames: int = 0  # copies of last frames written for those
    cut: int = 0  # of `done`, longer than N and cut
    failed: int = 0
    damaged_kept: int = 0  # of `done`: damaged videos kept (damaged: keep), marked in the manifest
    damaged_failed: int = 0  # of `failed`: damaged videos refused (damaged: fail)
    mostly_pad: int = 0  # of `done`: real frames under half of num_frames
    mostly_pad_clips: list[tuple[str, int]] = dataclasses.field(default_factory=list)  # the first ten: (rel, real)
    num_frames: int | str = 300  # the config's, for the lines that name it
    skipped_files: Counter = dataclasses.field(default_factory=Counter)  # not clips, by kind
    frames: int = 0  # frames written now
    bytes: int = 0  # bytes written now
    seconds: float = 0.0
    interrupted: bool = False
    disk_full: str = ""
    annotations: Path | None = None  # where the run copied the config's annotations CSV
    error: str = ""  # what ended the run early (an OSError mid-run), if anything
    output: str = "frames"  # what a clip became (the config's output)
    # (pad frames, frames) of every clip of the split the manifest records, this run's included
    split_pads: tuple[int, int] | None = None
    store: Path | None = None  # a packed store: where the clips went
    merged_shards: int = 0  # shard stores this run merged into the store before it started
    card: Path | None = None  # the dataset card written at the end (whole split; None: not yet)
    fingerprint: str = ""  # the card's fingerprint of the finished clips
    card_note: str = ""  # why no card was written (a shard still running or not run)

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        """The code the CLI exits with for this outcome (errors.EXIT_*)."""
        if self.interrupted:
            return EXIT_INTERRUPTED
        return EXIT_FAILED if self.failed or self.disk_full or self.error else EXIT_OK


def format_summary(summary: Summary) -> str:
    """The few lines a user reads after a run."""
    if summary.output == "frames":
        shape = f" ({summary.padded} padded with {summary.pad_frames} frames, {summary.cut} cut)"
        where = f"frames: {summary.target}"
    else:  # a video keeps its clip's own frames: nothing padded, nothing cut
        shape, where = "", f"{summary.output}s: {summary.target}"
    merged = f" ({plural(summary.merged_shards, 'shard store')} merged into it first)" if summary.merged_shards else ""
    lines = [
        f"clips: {summary.done} extracted{shape}, {summary.skipped} already done, {summary.failed} failed, "
        f"of {summary.total}",
        f"speed: {summary.frames} frames in {summary.seconds:.1f} s = {summary.frames_per_second:.0f} frames/s, "
        f"{summary.bytes / 1e6:.1f} MB written",
        (f"store: {summary.store}" + merged) if summary.store else where,
        f"manifest: {summary.manifest}",
    ]
    if summary.output == "frames" and summary.split_pads and summary.split_pads[1]:
        pads, frames = summary.split_pads
        share = pads / frames
        line = f"pads: {share:.0%} of the split's frames are copies of a last frame ({pads} of {frames})"
        if share > PAD_WARN_SHARE:
            line += f" (above {PAD_WARN_SHARE:.0%}: {pad_advice()})"
        lines.append(line)
    if summary.mostly_pad:
        named = ", ".join(f"{rel} ({real} real)" for rel, real in summary.mostly_pad_clips)
        more = summary.mostly_pad - len(summary.mostly_pad_clips)
        lines.append(
            f"mostly pads: {plural(summary.mostly_pad, 'clip')} with under half of num_frames "
            f"({summary.num_frames}) real: {named}{f' and {more} more' if more > 0 else ''} "
            f"(min_decoded: N fails such clips instead)"
        )
    if summary.damaged_kept or summary.damaged_failed:
        lines.append(
            f"damaged videos (decode errors or truncated): {summary.damaged_failed} failed, "
            f"{summary.damaged_kept} kept and marked in the manifest"
        )
    files = {kind: n for kind, n in summary.skipped_files.items() if kind != KNOWN_GONE}
    if files:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(files.items()))
        lines.append(f"skipped {plural(sum(files.values()), 'file')} ({kinds})")
    if summary.skipped_files.get(KNOWN_GONE):
        gone = summary.skipped_files[KNOWN_GONE]
        lines.append(f"known gone: {plural(gone, 'row')} of missing_ok without a file (expected, not failures)")
    if summary.annotations:
        lines.append(f"annotations: copied to {summary.annotations}")
    if summary.card:
        lines.append(f"card: {summary.card} (fingerprint {summary.fingerprint[:16]})")
    elif summary.card_note:
        lines.append(f"card: not yet ({summary.card_note})")
    if summary.failed:
        lines.append(f"failures: {summary.failures}")
    if summary.disk_full:
        lines.append(f"stopped: {summary.disk_full}; free some space and rerun to resume")
    if summary.error:
        lines.append(f"stopped: {summary.error}; fix it and rerun to resume")
    if summary.interrupted:
        lines.append("interrupted: rerun the same command to resume")
    return "\n".join(lines)


# ----------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------


def run_extract(
    cfg: Config,
    *,
    shard: tuple[int, int] | None = None,
    overwrite: bool = False,
    retry_failed: bool = False,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
) -> Summary:
    """Extract every clip of ``cfg.source`` (or of one shard) into ``cfg.target``.

    Finished clips are skipped; a run with other output settings than the
    finished clips is refused unless ``overwrite``.  Raises only for problems
    found before any work (config, preflight, another run on the target);
    bad videos are counted, and an error during the run ends it early with
    ``summary.error`` set.  Setting ``stop`` (from any thread), or a
    KeyboardInterrupt, stops it: no new clips, running ffmpegs killed,
    ``summary.interrupted`` set."""
    progress = progress or NoProgress()
    checked = preflight(cfg, shard, overwrite=overwrite, retry_failed=retry_failed)
    resume, total = checked.resume, checked.total
    layout = Layout(cfg.target, shard)
    try:
        cfg.target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PreflightError(f"target is not writable: {cfg.target} ({exc.strerror or exc})") from None
    lock = TargetLock(cfg.target, shard).acquire()
    store: Store | None = None
    journal: RecordWriter | None = None
    try:
        # The store is opened for writing once per run, under the lock; it sees
        # every clip of the split (a packed store: its shards' too, which the
        # whole split's run first moves in).  A clip's record goes to the
        # journal before a store without transactions publishes the clip.
        journal = RecordWriter(layout.record("journal"))
        store_cls = store_class(cfg.store)
        store = store_cls.open_run(
            layout, durable=cfg.durable, pad=cfg.pad, journal=journal.write, **store_cls.run_settings(cfg)
        )
        ctx = RunContext(store)
        if resume.bytes_per_clip:  # a resumed run knows its clip size before any work
            warn_if_short_of_space(cfg, total - checked.finished, resume.bytes_per_clip)
        # Before anything is written: a Dask scheduler that cannot be reached must
        # not leave a temp area behind or truncate the failures of the last run.
        executor = make_executor(cfg, ctx)
    except BaseException:
        if store is not None:
            store.close()
        if journal is not None:
            journal.close()
        lock.release()
        raise
    tmp_root = layout.tmp_area
    summary = Summary(
        cfg.target,
        layout.record("manifest"),
        layout.record("failures"),
        total=total,
        output=cfg.output,
        num_frames=cfg.num_frames,
    )
    summary.skipped_files.update(checked.skipped)
    if store.packed:
        summary.store, summary.merged_shards = store.path, store.merged
    writers: list[RecordWriter] = []
    over = threading.Event()  # the run has ended: the stop watcher goes
    started = time.monotonic()
    try:
        shutil.rmtree(tmp_root, ignore_errors=True)  # leftovers of a crashed run
        tmp_root.mkdir(parents=True)
        writers.append(RecordWriter(summary.manifest))
        writers.append(RecordWriter(summary.failures, truncate=True))
        recorder = _Recorder(cfg, summary, writers[0], writers[1], progress)
        if stop is not None:
            threading.Thread(
                target=_stop_when_asked, args=(stop, over, ctx), daemon=True, name="k400frames-stop"
            ).start()
        # Clips finished before show as done at the start, not as speed.
        progress.start(total, done=checked.finished)
        try:
            _schedule(cfg, checked, tmp_root, executor, recorder, ctx, store)
            summary.interrupted = stop is not None and stop.is_set()
        except KeyboardInterrupt:
            summary.interrupted = True
            ctx.stop()
        except DiskFull as exc:
            summary.disk_full = str(exc)
            ctx.stop()
        except (OSError, K400Error) as exc:
            # Clips are done already: the summary must reach the user, so this
            # ends the run (exit 1) instead of escaping as an error before work.
            summary.error = _describe(exc)
            ctx.stop()
    finally:
        over.set()
        try:
            # The executor first: its workers may still be cleaning up inside tmp_root.
            executor.close()
            summary.seconds = time.monotonic() - started
            assert journal is not None
            for writer in [*writers, journal]:
                writer.close()
            if writers and not summary.failed:
                # The failures file was emptied at the start; a clean run leaves none to puzzle over.
                _remove_if_empty_file(summary.failures)
            if not (summary.interrupted or summary.disk_full or summary.error):
                # Every clip it announced is in the manifest now (or was never published).
                journal.path.unlink(missing_ok=True)
            _remove_if_empty_file(journal.path)
            progress.close()
            shutil.rmtree(tmp_root, ignore_errors=True)
            _remove_if_empty(tmp_root.parent)
            try:
                # Compact only after a run that ended by itself: an interrupted
                # one should stop now, and the next run compacts.
                store.close(compact=not summary.interrupted)
            except (OSError, K400Error) as exc:
                summary.error = summary.error or f"cannot compact the store: {_describe(exc)}"
        finally:
            lock.release()
    cap = cfg.frame_cap  # None: num_frames: all, which pads nothing
    if cfg.output == "frames" and cap is not None:
        # The split's share, earlier runs' clips included: what a sampler will meet.
        real = decoded_counts(layout.all_records("manifest"))
        summary.split_pads = (sum(max(cap - n, 0) for n in real.values()), cap * len(real))
    if cfg.annotations is not None and not summary.interrupted:
        # Every shard of a job array copies the CSV; a reader must never see half of it.
        try:
            copy = layout.csv_copy(cfg.annotations)
            with replaced_atomically(copy) as partial:
                shutil.copyfile(cfg.annotations, partial)
            summary.annotations = copy
        except OSError as exc:
            summary.error = summary.error or f"cannot copy the annotations CSV: {_describe(exc)}"
    if not summary.interrupted:
        # A run of the whole split has the split's plan in hand; a shard's card needs every shard's.
        whole = shard is None and not retry_failed
        _write_card(cfg, summary, {item.rel for item, _ in checked.plan} if whole else None)
    return summary


def _write_card(cfg: Config, summary: Summary, planned: set[str] | None) -> None:
    """The dataset card of the whole split, once nothing else runs on it: the
    last shard of a job array to end writes it (or ``k400frames card``)."""
    try:
        card = write_card(cfg, planned)
    except CardNotReady as exc:
        summary.card_note = str(exc).partition(": ")[2] or str(exc)
        log.info("%s", exc)
        return
    except OSError as exc:
        summary.error = summary.error or f"cannot write the dataset card: {_describe(exc)}"
        return
    summary.card, summary.fingerprint = card.json_path, card.fingerprint


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
    return str(exc)


def _stop_when_asked(stop: threading.Event, over: threading.Event, ctx: RunContext) -> None:
    """Watch a caller's ``stop`` event for the length of one run and stop
    the run's clips once it is set (its ffmpegs, and any that start later)."""
    while not stop.wait(0.1):
        if over.is_set():
            return
    ctx.stop()


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty: another shard's area is still there
        folder.rmdir()


def _remove_if_empty_file(path: Path) -> None:
    try:
        if path.stat().st_size == 0:
            path.unlink()
    except OSError:
        pass


class _Recorder:
    """Turns results into manifest/failures lines, summary counts and progress."""

    def __init__(
        self, cfg: Config, summary: Summary, manifest: RecordWriter, failures: RecordWriter, progress: Progress
    ):
        self.cfg, self.summary, self.manifest, self.failures, self.progress = cfg, summary, manifest, failures, progress
        self.config_hash = cfg.output_hash()
        self._space_checked = False

    def settle(self, result: ClipResult) -> None:
        """A clip came back from its worker: a manifest line (done) or a failures line."""
        s = self.summary
        if result.interrupted:
            return  # neither done nor a failure: the next run does it
        if result.ok:
            row = {
                "rel": result.rel,
                "source": result.source,
                "decoded": result.decoded,
                "padded": result.padded,
                "cut": result.cut,
                "seconds": round(result.seconds, 3),
                "bytes": result.bytes,
                "config": self.config_hash,
                "digest": result.digest,
            }
            if result.damaged:
                row["damaged"] = result.damaged
            self.manifest.write(row)
            s.done += 1
            s.padded += result.padded > 0
            s.pad_frames += result.padded
            s.damaged_kept += bool(result.damaged)
            s.cut += result.cut
            cap = self.cfg.frame_cap
            if self.cfg.output == "frames" and cap is not None and 2 * result.decoded < cap:
                s.mostly_pad += 1
                if len(s.mostly_pad_clips) < MOSTLY_PAD_NAMED:
                    s.mostly_pad_clips.append((result.rel, result.decoded))
            s.frames += result.decoded + result.padded  # num_frames, or a video's own count
            s.bytes += result.bytes
            self._check_space()
        else:
            self.failures.write(result.failure_record())
            s.failed += 1
            s.damaged_failed += bool(result.damaged)
            # The bar first: the log line redraws it, and it must show this failure, not "0 failed".
            self.progress.update(result, s)
            log.warning("failed: %s: %s", result.rel, result.reason)
            return
        self.progress.update(result, s)

    def skipped(self, adopted: dict | None = None) -> None:
        """A clip finished before this run; ``adopted``: its manifest line, for
        a clip found whole without one."""
        if adopted is not None:
            self.manifest.write(adopted)
        self.summary.skipped += 1  # the progress counted it at the start

    def _check_space(self) -> None:
        # A fresh run measures its clip size on the first clip, then checks once.
        if self._space_checked:
            return
        self._space_checked = True
        s = self.summary
        warn_if_short_of_space(self.cfg, s.total - s.skipped - s.done - s.failed, s.bytes / max(s.done, 1))


def _schedule(
    cfg: Config,
    checked: Preflight,
    tmp_root: Path,
    executor: Executor,
    recorder: _Recorder,
    ctx: RunContext,
    store: Store,
) -> None:
    """Feed the preflight's plan to the executor lazily (a bounded window, so
    memory stays flat), skipping the clips earlier runs finished."""
    window = max(2 * executor.workers, 2)
    pending: set = set()

    def drain(block_until_below: int) -> None:
        nonlocal pending
        while len(pending) >= block_until_below:
            done, pending = executor.wait_any(pending)
            for future in done:
                recorder.settle(future.result())  # re-raises DiskFull from a worker

    for item, state in checked.plan:
        if isinstance(item, Collision):
            others = ", ".join(p.name for p in item.sources)
            recorder.settle(
                ClipResult(
                    item.rel,
                    str(item.sources[0]),
                    ok=False,
                    stage="collision",
                    reason=f"several sources map to one output folder: {others}; rename or remove all but one",
                )
            )
            continue
        if state:
            recorder.skipped(adoption_record(cfg, item, checked.resume, store) if state == "unrecorded" else None)
            continue
        if ctx.stopping:
            break
        pending.add(executor.submit_clip(item, cfg, tmp_root))
        drain(window)
    drain(1)
