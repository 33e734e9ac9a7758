"""Where each encoder's CPU goes: decode (+ scale), encode, file system.

Each stage is run on its own, one clip at a time, and measured in CPU
seconds (this process and its reaped children, user + system), which other
jobs on the machine move far less than wall time.  A stage's share is the
difference between two runs that differ only in that stage:

* decode: ffmpeg with k400frames's exact input and filter chain, frames
  thrown away (``-f null``); the OpenCV path: ``VideoCapture.read`` of every
  frame plus ``cv2.resize`` of the first N, as mmaction2 does;
* pipe (turbo only): the same frames sent to us over the pipe and read;
* encode: + the JPEG encoder, output thrown away (ffmpeg's mjpeg to
  ``-f null``; libjpeg-turbo on the piped planes; ``cv2.imencode``);
* file system: the real run that writes the frame files, minus the encode
  run, plus deleting them again (every bench round deletes its output).

Padding is left out: it is the same file copies for every contender.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import shutil
import statistics
import tempfile
from pathlib import Path

from k400frames import ffmpeg
from k400frames.clip import codec, turbo


def cpu_seconds() -> tuple[float, float]:
    """(user, system) CPU seconds of this process and its reaped children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + kids.ru_utime, me.ru_stime + kids.ru_stime


def _measure(fn) -> float:
    user, system = cpu_seconds()
    fn()
    user2, system2 = cpu_seconds()
    return (user2 - user) + (system2 - system)


def _argv(exe: str, clip: Path, n: int, width: int, height: int, quality: int, *, raw: bool) -> list[str]:
    return ffmpeg.extract_command(
        exe,
        clip,
        n,
        frame_name="{:05d}.jpg",
        size=(width, height),
        encoder_options=codec.ffmpeg_output_options(quality),
        raw_frames=raw,
    )


def _to_null(argv: list[str], encode_mjpeg: bool = False, quality: int = 2) -> list[str]:
    """The raw-frames argv with its pipe output swapped for ffmpeg's null
    muxer (optionally through the mjpeg encoder with k400frames's options)."""
    argv = list(argv)
    at = argv.index("pipe:1")
    codec = []
    if encode_mjpeg:
        codec = ["-c:v", "mjpeg", "-q:v", str(quality)]
        for key, value in codec.FFMPEG_ENCODER_OPTIONS.items():
            codec += [f"-{key}", str(value)]
    argv[at : at + 1] = [*codec, "-f", "null", "-"]
    fmt = argv.index("yuv4mpegpipe")
    del argv[fmt - 1 : fmt + 1]  # the earlier "-f yuv4mpegpipe"
    return argv


def _check(result: ffmpeg.FFmpegResult) -> None:
    if result.returncode != 0 or result.timed_out:
        raise RuntimeError(f"ffmpeg failed in the CPU split: {result.stderr_tail}")


def _stream_frames(argv: list[str], encode_quality: int | None) -> int:
    import simplejpeg

    count = 0
    with ffmpeg.stream(argv, timeout=600) as running:
        for y, u, v in turbo.Y4MReader(running.stdout):
            if encode_quality is not None:
                simplejpeg.encode_jpeg_yuv_planes(y, u, v, encode_quality)
            count += 1
    _check(running.result)
    return count


@dataclasses.dataclass
class Split:
    encoder: str
    frames: int
    stages: dict[str, list[float]]  # stage -> CPU seconds, one per round

    def ms_per_frame(self, stage: str) -> float:
        return statistics.median(self.stages[stage]) / self.frames * 1000

    @property
    def total_ms_per_frame(self) -> float:
        return sum(self.ms_per_frame(stage) for stage in self.stages)


def measure(
    clips: list[Path], n: int, width: int, height: int, quality: int, rounds: int, with_turbo: bool, with_opencv: bool
) -> list[Split]:
    """CPU seconds per stage for each encoder, medians over ``rounds``."""
    exe = ffmpeg.find_ffmpeg()
    work = Path(tempfile.mkdtemp(prefix="k400frames-split-"))
    # N + 1 frames, as k400frames asks for, so the frame count is the same everywhere.
    want = n + 1
    splits = {"ffmpeg": Split("ffmpeg", 0, {"decode": [], "encode": [], "file system": []})}
    if with_turbo:
        splits["turbo"] = Split("turbo", 0, {"decode": [], "pipe": [], "encode": [], "file system": []})
    if with_opencv:
        splits["opencv"] = Split("opencv", 0, {"decode": [], "encode": [], "file system": []})
    try:
        for _ in range(rounds):
            totals = {key: {stage: 0.0 for stage in split.stages} for key, split in splits.items()}
            frames = {key: 0 for key in splits}
            for clip in clips:
                raw = _argv(exe, clip, want, width, height, quality, raw=True)
                jpeg = _argv(exe, clip, want, width, height, quality, raw=False)
                decode = _measure(lambda: _check(ffmpeg.run(_to_null(raw), timeout=600)))
                encoded = _measure(lambda: _check(ffmpeg.run(_to_null(raw, True, quality), timeout=600)))
                out = work / "out"
                out.mkdir()
                written = _measure(lambda: _check(ffmpeg.run(jpeg, cwd=out, timeout=600)))
                count = len(os.listdir(out))
                removed = _measure(lambda: shutil.rmtree(out))
                t = totals["ffmpeg"]
                t["decode"] += decode
                t["encode"] += encoded - decode
                t["file system"] += written - encoded + removed
                frames["ffmpeg"] += count
                if with_turbo:
                    piped = _measure(lambda: _stream_frames(raw, None))
                    turbo_encoded = _measure(lambda: _stream_frames(raw, turbo.LIBJPEG_QUALITY[quality]))
                    out.mkdir()
                    turbo_written = _measure(lambda: _check(turbo.encode(raw, out, "{:05d}.jpg", quality, 600)))
                    count = len(os.listdir(out))
                    removed = _measure(lambda: shutil.rmtree(out))
                    t = totals["turbo"]
                    t["decode"] += decode
                    t["pipe"] += piped - decode
                    t["encode"] += turbo_encoded - piped
                    t["file system"] += turbo_written - turbo_encoded + removed
                    frames["turbo"] += count
                if with_opencv:
                    t = totals["opencv"]
                    cv_decode = _measure(lambda: _opencv(clip, n, width, height, None))
                    cv_encoded = _measure(lambda: _opencv(clip, n, width, height, "encode"))
                    out.mkdir()
                    cv_written = _measure(lambda: _opencv(clip, n, width, height, str(out)))
                    count = len(os.listdir(out))
                    removed = _measure(lambda: shutil.rmtree(out))
                    t["decode"] += cv_decode
                    t["encode"] += cv_encoded - cv_decode
                    t["file system"] += cv_written - cv_encoded + removed
                    frames["opencv"] += count
            for key, split in splits.items():
                split.frames = frames[key]
                for stage, seconds in totals[key].items():
                    split.stages[stage].append(seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return list(splits.values())


def _opencv(clip: Path, n: int, width: int, height: int, write: str | None) -> int:
    """The OpenCV contender's loop, in this process (its CPU is then ours):
    ``write`` None decodes and resizes only, "encode" adds ``imencode``, a
    folder adds ``imwrite`` there."""
    import cv2

    capture = cv2.VideoCapture(str(clip))
    written = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        if written < n:
            written += 1
            small = cv2.resize(frame, (width, height))
            if write == "encode":
                cv2.imencode(".jpg", small)
            elif write:
                cv2.imwrite(os.path.join(write, f"img_{written:05d}.jpg"), small)
    capture.release()
    return written


def print_split(splits: list[Split], clips: int, rounds: int) -> None:
    stages = ["decode", "pipe", "encode", "file system"]
    print(f"\nCPU split, ms of CPU per frame (median of {rounds} rounds, {clips} k400 clips, one at a time)")
    print(f"  {'encoder':<10}" + "".join(f"{s:>13}" for s in stages) + f"{'total':>10}")
    for split in splits:
        cells = "".join(f"{split.ms_per_frame(s):13.2f}" if s in split.stages else f"{'-':>13}" for s in stages)
        print(f"  {split.encoder:<10}{cells}{split.total_ms_per_frame:10.2f}")
