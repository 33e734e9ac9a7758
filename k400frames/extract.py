"""Extract one clip: ffmpeg into a temp dir, post-process, publish.

:func:`extract_clip` is a plain top-level function of picklable arguments so
that the local thread pool and a Dask cluster run exactly the same code.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
import threading
import time
from pathlib import Path

from . import ffmpeg, postprocess, segments, turbo, videoout
from .clips import Clip
from .config import Config
from .errors import DiskFull, PreflightError

# Set when the run is stopping (Ctrl-C, SIGTERM, disk full): no new clip starts.
stopping = threading.Event()


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
    disk_full: bool = False
    damaged: str = ""       # why the video is damaged (kept with damaged: keep, else a failure)

    def failure_record(self) -> dict:
        return {"rel": self.rel, "source": self.source, "stage": self.stage, "reason": self.reason,
                "returncode": self.returncode, "stderr_tail": self.stderr_tail}


# strerror(ENOSPC) and strerror(EDQUOT), as ffmpeg prints them.
_DISK_FULL_WORDS = ("No space left on device", "Disk quota exceeded")

# ffmpeg's words -> a reason a user can act on.  First match wins.
_KNOWN_ERRORS = (
    ("not on whitelist", "refused: not a plain video container (a playlist, script or other format "
                         "that could read other files)"),
    ("moov atom not found", "truncated or incomplete MP4 (moov atom not found)"),
    ("matches no streams", "no video stream (audio-only or not a video)"),
    ("Nothing was written into output file", "no frame could be decoded (corrupt video data)"),
    ("Invalid data found when processing input", "not a readable video (invalid data)"),
    ("No such file or directory", "source file disappeared"),
    ("Permission denied", "permission denied"),
)


def describe_failure(result: ffmpeg.FFmpegResult, frames: int, source: Path) -> str:
    """One readable line for a failed ffmpeg run."""
    if "moov atom not found" in result.stderr_tail and not _has_mp4_header(source):
        return "not a video file (no MP4 header; text or another format named like a video)"
    for needle, reason in _KNOWN_ERRORS:
        if needle in result.stderr_tail:
            return reason
    if result.returncode == 0 and frames == 0:
        return "ffmpeg decoded 0 frames"
    last = result.stderr_tail.splitlines()[-1] if result.stderr_tail else "no error message"
    return f"ffmpeg exited with code {result.returncode}: {last}"


# Demuxer words for a file that ends before its own header says it does (a
# download cut short): mov/mp4, matroska/webm, and the generic packet reader.
_TRUNCATION_WORDS = ("partial file", "File ended prematurely", "Truncating packet", "EOF inside")

# Decoder messages that healthy files print as well.  A clip cut with
# ``-c copy`` from an open-GOP source starts with frames that reference
# pictures before the cut; the decoder drops or rebuilds those and says so.
_HARMLESS_DECODER_WORDS = ("mmco: unref short failure", "co located POCs unavailable",
                           "reference picture missing during reorder", "Missing reference picture",
                           "Could not find ref with POC", "Error constructing the frame RPS",
                           "illegal short term buffer state detected")

# Lines from our side of the pipeline (filters, encoder, image2 muxer): those
# are about writing frames, never about the source.
_OUTPUT_SIDE = re.compile(r"^\[(?:out#|vost#|enc:|fc#|vf#|image2 @|Parsed_)")
_REPEATED = re.compile(r"^\s*Last message repeated (\d+) times?")


def find_damage(stderr: str) -> tuple[str, int, str]:
    """Classify what a *successful* ffmpeg run printed at ``-loglevel error``.

    A healthy file prints nothing there, so every message from the demuxer or
    the decoder is damage, except the few that healthy open-GOP cuts print.
    Returns (``"truncated"`` | ``"decode"`` | ``""``, number of error messages,
    the first one, or for a truncated file the demuxer's message)."""
    kind, count, first, counting = "", 0, "", False
    for line in stderr.splitlines():
        repeated = _REPEATED.match(line)
        if repeated:
            count += int(repeated[1]) if counting else 0
            continue
        counting = False
        text = line.strip()
        if not text or _OUTPUT_SIDE.match(text) or any(w in text for w in _HARMLESS_DECODER_WORDS):
            continue
        message = re.sub(r"^(?:\[[^]]*\]\s*)+", "", text)  # drop the "[h264 @ 0x...]" prefixes
        if any(w in text for w in _TRUNCATION_WORDS):
            if kind != "truncated":  # the demuxer's word says more than the decoder's complaint
                kind, first = "truncated", message
        elif not kind:
            kind = "decode"
        counting = True
        count += 1
        first = first or message
    return kind, count, first


def damage_reason(kind: str, count: int, first: str, decoded: int, promised: int | None) -> str:
    """The line a user reads for a damaged clip; ``promised``: the frames its
    header promises (for a span, within the span), None when unknown."""
    if kind == "truncated":
        if promised:
            return (f"truncated: {decoded} of the {promised} frames its header promises decoded "
                    f"(ffmpeg: {first})")
        return f"truncated: the file ends early after {decoded} frames (ffmpeg: {first})"
    return f"decode errors: {count}, first: {first}"


def promised_frames(clip: Clip, cfg: Config, exe: str) -> int | None:
    """Frames the header says this clip (or its span) has at the output rate,
    to compare with the frames decoded; None where that count would mislead
    (``uniform`` keeps picks, not every frame) or the header says nothing."""
    if cfg.sampling != "first":
        return None
    header = segments.probe(exe, clip.source)  # cached: a span's plan may have read it already
    rate = cfg.fps or header.fps
    length = header.duration - header.video_offset if header.duration else None
    if length is not None and clip.start is not None and clip.end is not None:
        length = min(clip.end, length) - clip.start
    return round(length * rate) if length and rate else None


def final_folder(cfg: Config, clip: Clip) -> Path:
    """``<target>/<class>/<clip>``, the only place a clip's frames may go
    (``<clip>.mp4`` with ``output: video``)."""
    final = cfg.target / clip.out_class / clip.stem
    # Names come from directory listings (no '/', never '.' or '..'), but a
    # clip's folder must never land outside the target, whatever the source.
    if os.path.normpath(final).rsplit(os.sep, 2)[0] != os.path.normpath(cfg.target) or clip.stem in ("", ".", ".."):
        raise PreflightError(f"refusing a clip whose output would leave the target: {clip.source}")
    if cfg.output == "video":
        from .videoout import final_video
        return final_video(final)
    return final


def _has_mp4_header(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(12)[4:8] == b"ftyp"
    except OSError:
        return False


def extract_clip(clip: Clip, cfg: Config, tmp_root: Path) -> ClipResult:
    """Extract ``clip`` to ``cfg.target/<class>/<stem>``; never raises for a bad
    video or for anything else that goes wrong with this one clip (that is a
    failed :class:`ClipResult`), only for a full disk, which stops the run."""
    started = time.monotonic()
    try:
        return _extract(clip, cfg, tmp_root, started)
    except DiskFull:
        raise
    except Exception as exc:  # noqa: BLE001 - one clip's surprise must not end a 240k-clip run
        return ClipResult(clip.rel, str(clip.source), ok=False, stage="internal",
                          reason=f"unexpected error: {type(exc).__name__}: {exc}",
                          seconds=time.monotonic() - started, interrupted=stopping.is_set())


def _extract(clip: Clip, cfg: Config, tmp_root: Path, started: float) -> ClipResult:
    def failed(stage: str, reason: str, run: ffmpeg.FFmpegResult | None = None, damaged: str = "") -> ClipResult:
        return ClipResult(clip.rel, str(clip.source), ok=False, stage=stage, reason=reason,
                          returncode=run.returncode if run else None,
                          stderr_tail=run.stderr_tail if run else "",
                          seconds=time.monotonic() - started, interrupted=stopping.is_set(), damaged=damaged)

    if stopping.is_set():
        return failed("interrupted", "run stopped before this clip started")
    if clip.problem:  # a segment row the plan could not map to a span of a video
        return failed(*clip.problem)
    try:
        if clip.source.stat().st_size == 0:
            return failed("input", "empty file (0 bytes)")
    except OSError as exc:
        return failed("input", f"cannot read source: {exc.strerror}")

    work = Path(tempfile.mkdtemp(prefix="clip-", dir=tmp_root))
    try:
        frames_dir = work / "clip"
        frames_dir.mkdir()
        exe = ffmpeg.find_ffmpeg(cfg.ffmpeg)
        video = work / "clip.mp4" if cfg.output == "video" else None
        try:
            if video:
                plan = segments.decode_plan(clip, cfg.num_frames, cfg.fps, "first", exe)
                run = ffmpeg.run(videoout.video_command(exe, clip, video, cfg, plan.seek, plan.duration),
                                 cwd=work, timeout=cfg.timeout_s)
            else:
                # One frame more than needed tells a cut clip from one of exactly N.
                run = _decode_frames(exe, clip, cfg, frames_dir, cfg.num_frames + 1)
        except segments.SpanError as exc:
            return failed("span", str(exc))
        if any(words in run.stderr for words in _DISK_FULL_WORDS):
            raise DiskFull(f"no space left on the target filesystem while extracting {clip.rel}")
        if stopping.is_set():
            return failed("interrupted", "run stopped", run)
        if run.timed_out:
            return failed("timeout", f"ffmpeg ran longer than timeout_s={cfg.timeout_s:g}s and was killed", run)
        try:
            count = (videoout.frames_written(video) if video
                     else postprocess.count_frames(frames_dir, cfg.frame_name))
        except postprocess.IncompleteFrames as exc:
            return failed("decode", str(exc), run)
        if run.returncode != 0 or count == 0:
            return failed("decode", describe_failure(run, count, clip.source), run)

        damaged = ""
        kind, errors, first = find_damage(run.stderr)
        if kind:
            # Only a truncated clip pays for a look at its header.
            promised = promised_frames(clip, cfg, exe) if kind == "truncated" else None
            damaged = damage_reason(kind, errors, first, count, promised)
            if cfg.damaged == "fail":
                return failed("damaged", damaged + "; set damaged: keep to extract such clips anyway", run,
                              damaged=damaged)

        final = final_folder(cfg, clip)
        if video:
            try:
                postprocess.publish(video, final, trash=work / "old.mp4", durable=cfg.durable)
            except OSError as exc:
                return failed("publish", f"cannot write {final}: {exc.strerror or exc}")
            return ClipResult(clip.rel, str(clip.source), ok=True, decoded=count, seconds=time.monotonic() - started,
                              bytes=final.stat().st_size, damaged=damaged)
        try:
            frames = postprocess.finish_frames(frames_dir, cfg.num_frames, cfg.frame_name, count, cfg.pad)
            postprocess.publish(frames_dir, final, trash=work / "old", durable=cfg.durable)
        except OSError as exc:  # only this clip fails; a full disk raises DiskFull (no OSError) and stops the run
            return failed("publish", f"cannot write {final}: {exc.strerror or exc}")
        return ClipResult(clip.rel, str(clip.source), ok=True, decoded=frames.decoded, padded=frames.padded,
                          cut=frames.cut, seconds=time.monotonic() - started,
                          bytes=postprocess.folder_bytes(final), damaged=damaged)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _decode_frames(exe: str, clip: Clip, cfg: Config, frames_dir: Path, max_frames: int) -> ffmpeg.FFmpegResult:
    """Decode ``clip`` into JPEGs in ``frames_dir`` by its decode plan (a span
    of a segment, uniform picks), encoded by ffmpeg or, with ``encoder:
    turbo``, by libjpeg-turbo here.  Decodes a second time only when
    ``uniform`` found the clip shorter than its header said.  Raises
    :class:`segments.SpanError` for a span outside the video."""
    plan = segments.decode_plan(clip, cfg.num_frames, cfg.fps, cfg.sampling, exe)
    while True:
        argv = ffmpeg.extract_command(exe, clip.source, max_frames, frame_name=cfg.frame_name, fps=cfg.fps,
                                      size=cfg.size, short_side=cfg.short_side,
                                      square_pixels=cfg.square_pixels, jpeg_quality=cfg.jpeg_quality,
                                      seek=plan.seek, duration=plan.duration, select=plan.select,
                                      raw_frames=cfg.encoder == "turbo")
        if cfg.encoder == "turbo":  # the same frames, encoded by libjpeg-turbo here
            run = turbo.encode(argv, frames_dir, cfg.frame_name, cfg.jpeg_quality, timeout=cfg.timeout_s)
        else:
            run = ffmpeg.run(argv, cwd=frames_dir, timeout=cfg.timeout_s)
        if run.returncode != 0 or run.timed_out or plan.select is None:
            return run  # only uniform picks can call for a second decode
        try:
            again = segments.replan_short(plan, postprocess.count_frames(frames_dir, cfg.frame_name),
                                          cfg.num_frames)
        except postprocess.IncompleteFrames:
            return run  # the caller counts again and reports it
        if again is None:
            return run
        plan = again
        shutil.rmtree(frames_dir)
        frames_dir.mkdir()
