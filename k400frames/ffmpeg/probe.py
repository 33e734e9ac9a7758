"""What a video's header says (duration, start times, frame rate), from
``ffmpeg -i`` (imageio-ffmpeg ships no ffprobe); :func:`read_header` reads
an MP4's own index instead (:mod:`.mp4`) and asks ffmpeg only for the rest.
Both give one :class:`~.header.Header`."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from pathlib import Path

from . import mp4
from .argv import VIDEO_DEMUXERS, command, file_url
from .header import Header
from .process import run

_DURATION = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_VIDEO_RATE = re.compile(r"Stream #\S+.*?: Video: .*?(\d+(?:\.\d+)?)(k?) fps")
_CONTAINER_START = re.compile(r"Duration:.*?, start: (-?\d+(?:\.\d+)?)")
# ffmpeg prints a stream's own start only where it is not 0.
_VIDEO_START = re.compile(r"Stream #\S+.*?: Video: .*?, start (-?\d+(?:\.\d+)?)")
# "Stream #0:0(und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(tv, progressive), 340x256 [SAR 1:1 ..."
_VIDEO_STREAM = re.compile(r"Stream #\S+.*?: Video: (\w+)(?:.*?, (\d+)x(\d+)\b)?")


def probe_header(ffmpeg_exe: str, video: Path, timeout: float = 60.0) -> Header:
    """Container duration, start times and video frame rate from ``ffmpeg -i``
    (imageio-ffmpeg ships no ffprobe)."""
    # The header (with its Duration and Stream lines) is printed at loglevel info.
    argv = command(ffmpeg_exe, "-format_whitelist", VIDEO_DEMUXERS, "-i", file_url(video), loglevel="info")
    # No output file: ffmpeg prints the input's header and exits 1 on purpose.
    # The header is short, but the Duration line is near its top: keep it all.
    result = run(argv, timeout=timeout, tail_lines=200)
    if result.timed_out:
        return Header(None, None)
    duration = _DURATION.search(result.stderr)
    rate = _VIDEO_RATE.search(result.stderr)
    start = _CONTAINER_START.search(result.stderr)
    video_start = _VIDEO_START.search(result.stderr)
    container_start = float(start[1]) if start else None
    stream = _VIDEO_STREAM.search(result.stderr)
    return Header(
        duration=int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3]) if duration else None,
        fps=float(rate[1]) * (1000 if rate[2] else 1) if rate else None,
        start=container_start,
        video_start=float(video_start[1]) if video_start else container_start,
        codec=stream[1] if stream else None,
        width=int(stream[2]) if stream and stream[2] else None,
        height=int(stream[3]) if stream and stream[3] else None,
    )


def probe_duration(ffmpeg_exe: str, video: Path, timeout: float = 60.0) -> float | None:
    """Container duration in seconds; None when ffmpeg reports none (N/A or unreadable)."""
    return probe_header(ffmpeg_exe, video, timeout).duration


@functools.lru_cache(maxsize=256)
def _cached_header(exe: str, path: str, size: int, mtime_ns: int) -> Header:
    # Many rows cut one long video: probe it once per worker (size and mtime
    # in the key, so a replaced file is probed again).
    return probe_header(exe, Path(path))


def probe(exe: str, video: Path) -> Header:
    """:func:`probe_header` of ``video``, cached per file version."""
    st = os.stat(video)
    return _cached_header(exe, str(video), st.st_size, st.st_mtime_ns)


def read_header(path: Path, ffmpeg_exe: Callable[[], str]) -> tuple[Header | None, str | None, str, bool]:
    """(header, fault kind, detail, read by ffmpeg) for the video at ``path``:
    its MP4 index where it has one, else ``ffmpeg -i`` (``ffmpeg_exe()`` is
    called only then).  The fault kinds are :mod:`.mp4`'s."""
    try:
        header = mp4.mp4_video_track(path)
    except mp4.BadVideo as exc:
        if exc.fault != mp4.NOT_MP4:
            return None, exc.fault, str(exc), False
    else:
        if header is not None:
            return header, None, "", False
    if path.stat().st_size == 0:
        return None, mp4.EMPTY, "empty file", False
    header = probe_header(ffmpeg_exe(), path)
    if header.codec is None:
        if header.duration is None:
            return None, mp4.UNREADABLE, "ffmpeg cannot read its header", True
        return None, mp4.NO_VIDEO, "no video stream", True
    return header, None, "", True
