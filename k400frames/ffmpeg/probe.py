"""What a video's header says (duration, start times, frame rate), from
``ffmpeg -i`` (imageio-ffmpeg ships no ffprobe)."""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from pathlib import Path

from .argv import VIDEO_DEMUXERS, command, file_url
from .process import run

_DURATION = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_VIDEO_RATE = re.compile(r"Stream #\S+.*?: Video: .*?(\d+(?:\.\d+)?)(k?) fps")
_VIDEO_CODEC = re.compile(r"Stream #\S+.*?: Video: (\w+)")
_VIDEO_SIZE = re.compile(r"Stream #\S+.*?: Video: .*?, (\d+)x(\d+)[ ,\n]")
_CONTAINER_START = re.compile(r"Duration:.*?, start: (-?\d+(?:\.\d+)?)")
# ffmpeg prints a stream's own start only where it is not 0.
_VIDEO_START = re.compile(r"Stream #\S+.*?: Video: .*?, start (-?\d+(?:\.\d+)?)")


@dataclasses.dataclass(frozen=True)
class Header:
    """What a video's header says, from ``ffmpeg -i``; None where it says nothing."""

    duration: float | None  # the container's, in seconds
    fps: float | None  # the first video stream's frame rate
    start: float | None = None  # the container's start time (ffmpeg's -ss counts from it)
    video_start: float | None = None  # the first video stream's start time: its first frame
    width: int | None = None  # the first video stream's coded size
    height: int | None = None
    codec: str | None = None  # the first video stream's codec (h264, vp9, ...)

    @property
    def video_offset(self) -> float:
        """Seconds from the container's start to the first video frame (audio
        or an edit list may start earlier); 0 when the header says nothing."""
        if self.start is None or self.video_start is None:
            return 0.0
        return max(self.video_start - self.start, 0.0)


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
    size = _VIDEO_SIZE.search(result.stderr)
    codec = _VIDEO_CODEC.search(result.stderr)
    return Header(
        duration=int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3]) if duration else None,
        fps=float(rate[1]) * (1000 if rate[2] else 1) if rate else None,
        start=container_start,
        video_start=float(video_start[1]) if video_start else container_start,
        width=int(size[1]) if size else None,
        height=int(size[2]) if size else None,
        codec=codec[1] if codec else None,
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
