"""Extract one clip: its output kind makes it, then it is checked, finished
(trim, pad) and put in the run's store, whole or not at all, with its record.

:func:`extract_clip` is a plain top-level function of picklable arguments
(and the run's context, which stays in the process that runs the clip), so
that the local thread pool and a Dask worker run exactly the same code.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .. import ffmpeg
from ..errors import DiskFull, PreflightError, StoreError
from ..files import members_digest
from ..layout import Layout
from ..stores import Store, store_class
from . import damage
from .context import RunContext
from .decode import SpanError
from .outputs import IncompleteOutput, output_named

if TYPE_CHECKING:
    from ..config import Config
    from ..sources.tree import Clip


@dataclasses.dataclass
class ClipResult:
    """What happened to one clip; becomes a manifest or a failures line."""

    rel: str
    source: str
    ok: bool
    decoded: int = 0
    padded: int = 0
    cut: bool = False
    seconds: float = 0.0
    bytes: int = 0
    stage: str = ""
    reason: str = ""
    returncode: int | None = None
    stderr_tail: str = ""
    interrupted: bool = False
    damaged: str = ""  # why the video is damaged (kept with damaged: keep, else a failure)
    digest: str = ""  # of the clip's member names and bytes (files.members_digest)

    def record(self, config: str) -> dict:
        """The manifest line of a finished clip, less its timing and size: what
        its store keeps with it (``config``: the output settings' hash)."""
        row = {
            "rel": self.rel,
            "source": self.source,
            "decoded": self.decoded,
            "padded": self.padded,
            "cut": self.cut,
            "config": config,
            "digest": self.digest,
        }
        if self.damaged:
            row["damaged"] = self.damaged
        return row

    def failure_record(self) -> dict:
        return {
            "rel": self.rel,
            "source": self.source,
            "stage": self.stage,
            "reason": self.reason,
            "returncode": self.returncode,
            "stderr_tail": self.stderr_tail,
        }


def promised_frames(clip: Clip, cfg: Config, exe: str) -> int | None:
    """Frames the header says this clip (or its span) has at the output rate,
    to compare with the frames decoded; None where that count would mislead
    (``uniform`` keeps picks, not every frame) or the header says nothing."""
    if cfg.sampling != "first":
        return None
    header = ffmpeg.probe(exe, clip.source)  # cached: a span's plan may have read it already
    rate = cfg.fps or header.fps
    length = header.duration - header.video_offset if header.duration else None
    if length is not None and clip.start is not None and clip.end is not None:
        length = min(clip.end, length) - clip.start
    return round(length * rate) if length and rate else None


def short_reason(real: int, cfg: Config) -> str:
    """Why a clip with ``real`` decoded frames fails ``min_decoded``."""
    cap = cfg.frame_cap
    pads = f", so {cap - real} of its {cap} frames would be copies of its last frame" if cap and real < cap else ""
    return (
        f"only {real} real frames, fewer than min_decoded: {cfg.min_decoded}{pads}; "
        f"lower min_decoded (or set it to null) to extract such clips"
    )


def extract_clip(clip: Clip, cfg: Config, tmp_root: Path, ctx: RunContext | None = None) -> ClipResult:
    """Extract ``clip`` to its final name under ``cfg.target``; never raises for
    a bad video or for anything else that goes wrong with this one clip (that
    is a failed :class:`ClipResult`), only for a full disk or a store that
    cannot be written, which stop the run.  ``ctx``: the run's stop and ffmpegs (a clip alone gets its own)."""
    ctx = ctx or RunContext()
    started = time.monotonic()
    store = ctx.store
    try:
        if store is None:  # a clip alone, or on a Dask worker: the split's store, for this clip
            store_cls = store_class(cfg.store)
            store = store_cls.open_run(
                Layout(cfg.target), durable=cfg.durable, pad=cfg.pad, **store_cls.run_settings(cfg)
            )
        try:
            return _extract(clip, cfg, tmp_root, ctx, store, started)
        finally:
            if store is not ctx.store:
                store.close()
    except (DiskFull, StoreError):  # every later clip would fail the same way: the run stops
        raise
    except Exception as exc:  # noqa: BLE001 - one clip's surprise must not end a 240k-clip run
        # Failures that know their stage are no bug of ours: turbo's (decode, encode), a refused name (input).
        known = exc.stage if isinstance(exc, damage.StageError) else "input" if isinstance(exc, PreflightError) else ""
        return ClipResult(
            clip.rel,
            str(clip.source),
            ok=False,
            stage=known or "internal",
            reason=str(exc) if known else f"unexpected error: {type(exc).__name__}: {exc}",
            seconds=time.monotonic() - started,
            interrupted=ctx.stopping,
        )


def _extract(clip: Clip, cfg: Config, tmp_root: Path, ctx: RunContext, store: Store, started: float) -> ClipResult:
    def failed(stage: str, reason: str, run: ffmpeg.FFmpegResult | None = None, damaged: str = "") -> ClipResult:
        return ClipResult(
            clip.rel,
            str(clip.source),
            ok=False,
            stage=stage,
            reason=reason,
            returncode=run.returncode if run else None,
            stderr_tail=run.stderr_tail if run else "",
            seconds=time.monotonic() - started,
            interrupted=ctx.stopping,
            damaged=damaged,
        )

    if ctx.stopping:
        return failed("interrupted", "run stopped before this clip started")
    if clip.problem:  # a segment row the plan could not map to a span of a video
        return failed(*clip.problem)
    try:
        if clip.source.stat().st_size == 0:
            return failed("input", "empty file (0 bytes)")
    except OSError as exc:
        return failed("input", f"cannot read source: {exc.strerror}")

    output = output_named(cfg.output)
    work = Path(tempfile.mkdtemp(prefix="clip-", dir=tmp_root))
    try:
        exe = ffmpeg.find_ffmpeg(cfg.ffmpeg)
        try:
            made = output.make(clip, cfg, work, exe, ctx)
        except SpanError as exc:
            return failed("span", str(exc))
        except IncompleteOutput as exc:
            return failed("decode", str(exc))
        run = made.run
        if damage.disk_full(run):
            raise DiskFull(f"no space left on the target filesystem while extracting {clip.rel}")
        if ctx.stopping:
            return failed("interrupted", "run stopped", run)
        if run.timed_out:
            return failed("timeout", f"ffmpeg ran longer than timeout_s={cfg.timeout_s:g}s and was killed", run)
        try:
            count = output.count(made, cfg)
        except IncompleteOutput as exc:
            return failed("decode", str(exc), run)
        if run.returncode != 0 or count == 0:
            return failed("decode", damage.describe_failure(run, count, clip.source), run)

        real = count if cfg.frame_cap is None or not output.is_folder else min(count, cfg.frame_cap)
        if cfg.min_decoded is not None and real < cfg.min_decoded:
            return failed("short", short_reason(real, cfg), run)

        damaged = ""
        kind, errors, first = damage.find_damage(run.stderr)
        if kind:
            # Only a truncated clip pays for a look at its header.
            promised = promised_frames(clip, cfg, exe) if kind == "truncated" else None
            damaged = damage.damage_reason(kind, errors, first, count, promised, sampled=cfg.sampling != "first")
            if cfg.damaged == "fail":
                return failed(
                    "damaged", damaged + "; set damaged: keep to extract such clips anyway", run, damaged=damaged
                )

        key = output.key(clip)
        try:
            finished = output.finish(made, count, cfg)
            members = output.members(made, cfg, key)
            result = ClipResult(
                clip.rel,
                str(clip.source),
                ok=True,
                decoded=finished.decoded,
                padded=finished.padded,
                cut=finished.cut,
                damaged=damaged,
                digest=members_digest(members, output.is_folder),
            )
            # The record travels with the clip: in its transaction, or ahead of its rename.
            result.bytes = store.put(key, members, result.record(cfg.output_hash()), work)
        except ValueError:  # names come from listings and CSVs; never let one leave the split
            return failed("input", f"refusing a clip whose output would leave the target: {clip.source}")
        except OSError as exc:  # only this clip fails; a full disk raises DiskFull (no OSError) and stops the run
            return failed("publish", f"cannot write {store.where(key)}: {exc.strerror or exc}")
        result.seconds = time.monotonic() - started
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
