"""What a video's header says: the one type for both ways of reading it,
an MP4's own index (:mod:`.mp4`) and ``ffmpeg -i`` (:mod:`.probe`)."""

from __future__ import annotations

import dataclasses

# MP4 sample entries under ffmpeg's codec names, so that both readers name a codec alike.
MP4_CODEC_NAMES = {
    "avc1": "h264",
    "avc3": "h264",
    "hvc1": "hevc",
    "hev1": "hevc",
    "vp08": "vp8",
    "vp09": "vp9",
    "av01": "av1",
    "mp4v": "mpeg4",
}


@dataclasses.dataclass(frozen=True)
class Header:
    """What a video's header says; None where it says nothing.

    From an MP4's index, ``duration`` is the video track's and ``frames`` the
    samples in its table, and the start times are None (the index gives no
    ``ffmpeg -i`` start line); from ``ffmpeg -i``, ``duration`` is the
    container's and ``frames`` is None."""

    duration: float | None  # seconds
    fps: float | None  # the first video stream's frame rate
    start: float | None = None  # the container's start time (ffmpeg's -ss counts from it)
    video_start: float | None = None  # the first video stream's start time: its first frame
    codec: str | None = None  # ffmpeg's name (h264, vp9, ...); None: no video stream
    width: int | None = None  # coded size
    height: int | None = None
    frames: int | None = None  # samples in the MP4 index's table

    @property
    def video_offset(self) -> float:
        """Seconds from the container's start to the first video frame (audio
        or an edit list may start earlier); 0 when the header says nothing."""
        if self.start is None or self.video_start is None:
            return 0.0
        return max(self.video_start - self.start, 0.0)
