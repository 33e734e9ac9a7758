"""``output: video``: each clip (a trimmed clip or a segment's span) as a
normalized ``<target>/<class>/<clip>.mp4``, the tree that decord/PyAV
loaders read (VideoMAE's and SlowFast's Kinetics datasets, mmaction2's
``VideoDataset``).

H.264 (libx264) in yuv420p with ``+faststart`` (the index first, so a loader
can start reading before the whole file is in), ``fps``, ``size``,
``short_side`` and the square-pixel rule as for frames, no audio unless
``keep_audio``.  ffmpeg writes into the clip's temp folder and one rename
publishes the file, so a ``.mp4`` at its final name is complete; its frame
count is read back from the file's own index (:func:`~k400frames.ffmpeg.mp4.mp4_video_frames`), so
an empty or cut file is a failure, not a clip.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from .. import ffmpeg
from ..ffmpeg.mp4 import BadVideo, frames_written, mp4_video_frames, video_frames_of
from . import decode
from .frames import decodes_clean
from .outputs import Made, Output, Problem

if TYPE_CHECKING:
    from ..config import Config
    from ..layout import Entry
    from ..sources.tree import Clip
    from ..stores.base import ClipKey, ClipView
    from .context import RunContext

VIDEO_SUFFIX = ".mp4"

# x264 quality: training re-decodes and augments these clips, so keep a margin
# (measured in docs/performance.md, settings chosen by measurement).
VIDEO_CRF = 18
VIDEO_PRESET = "veryfast"
AUDIO_BITRATE = "128k"  # AAC, only with keep_audio: mp4 cannot hold every source codec


class VideoOutput(Output):
    name = "video"
    lists_kind = "videos"
    suffix = VIDEO_SUFFIX
    is_folder = False

    def make(self, clip: Clip, cfg: Config, work: Path, exe: str, ctx: RunContext) -> Made:
        video = work / f"clip{VIDEO_SUFFIX}"
        plan = decode.decode_plan(clip, cfg.frame_cap, cfg.fps, "first", exe)
        run = ffmpeg.run(
            video_command(exe, clip, video, cfg, plan.seek, plan.duration),
            cwd=work,
            timeout=cfg.timeout_s,
            processes=ctx.processes,
        )
        return Made(run, path=video)

    def count(self, made: Made, cfg: Config) -> int:
        assert made.path is not None
        return frames_written(made.path)

    def members(self, made: Made, cfg: Config, key: ClipKey) -> list[tuple[str, bytes]]:
        assert made.path is not None
        return [(key.name, made.path.read_bytes())]

    def claims(self, entry: Entry) -> bool:
        return entry.is_file and entry.name.endswith(VIDEO_SUFFIX)

    def looks_complete(self, view: ClipView, cfg: Config) -> bool:
        """A whole .mp4 with at least one video frame by its own index."""
        if not view.sizes():
            return False
        problems, _ = self._by_index(view, view.key.name)
        return not problems

    def _by_index(self, view: ClipView, rel: str) -> tuple[list[Problem], int]:
        path = view.path(view.key.name)
        if path is not None:
            return _by_index(lambda: mp4_video_frames(path), rel)
        return _by_index(lambda: video_frames_of(view.read(view.key.name)), rel)

    def check(
        self,
        view: ClipView,
        rel: str,
        num_frames: int,
        frame_name: str,
        *,
        deep: bool = False,
        ffmpeg_exe: str | None = None,
        flow_name: str | None = None,
        flow_only: bool = False,
    ) -> tuple[list[Problem], int]:
        """Complete with video frames by its own index (a few hundred bytes
        per file); ``deep`` also decodes every frame."""
        if not view.sizes():
            return [Problem(rel, "bad-video", "missing from the store")], 0
        problems, frames = self._by_index(view, rel)
        if deep and not problems:
            with view.files([view.key.name]) as (path,):
                argv = ffmpeg.command(
                    ffmpeg_exe or ffmpeg.find_ffmpeg(),
                    "-i",
                    ffmpeg.file_url(path),
                    "-map",
                    "0:V:0",
                    "-xerror",
                    "-f",
                    "null",
                    "-",
                )
                clean, message = decodes_clean(argv, 600.0)
            if not clean:
                return [Problem(rel, "decode", message or "ffmpeg failed")], frames
        return problems, frames

    def listed_frames(self, view: ClipView, frame_name: str) -> int | None:
        return None if view.sizes().get(view.key.name) else 0  # video lines hold no count; an empty file is not listed


def _by_index(count_frames: Callable[[], int], rel: str) -> tuple[list[Problem], int]:
    """A clip's problems and frames by its mp4 index (from a file or from bytes)."""
    try:
        frames = count_frames()
    except BadVideo as exc:
        return [Problem(rel, "bad-video", str(exc))], 0
    if frames == 0:
        return [Problem(rel, "bad-video", "no video frames")], 0
    return [], frames


def video_filters(cfg, keep_audio: bool) -> list[tuple[str, dict]]:
    """The frames chain, made fit for yuv420p H.264 (even sizes)."""
    filters = ffmpeg.video_filters(cfg.fps, cfg.size, cfg.short_side, cfg.square_pixels)
    if keep_audio:
        # setpts would move the video to 0 but not the audio: keep the two
        # streams' own timing (a seek already starts both near 0).
        filters = [f for f in filters if f[0] != "setpts"]
    if not cfg.size and not cfg.short_side:
        # An odd storage or display size cannot be 4:2:0; drop one line rather than resample.
        filters.insert(
            len(filters) - (filters[-1][0] == "setsar"), ("crop", {"w": "trunc(iw/2)*2", "h": "trunc(ih/2)*2"})
        )
    return filters


def video_command(exe: str, clip: Clip, out: Path, cfg, seek: float | None, duration: float | None) -> list[str]:
    """argv that writes ``clip`` (its span when ``seek``/``duration`` are set,
    as for frames) as a normalized H.264 ``.mp4`` at ``out``."""
    import ffmpeg as ffmpeg_python  # imported here so `import k400frames` stays cheap

    threads = ffmpeg.FFMPEG_THREADS
    source = ffmpeg.video_input(seek, duration, threads)
    stream = source["V:0"]
    for name, kwargs in video_filters(cfg, cfg.keep_audio):
        stream = stream.filter(name, **kwargs)
    streams = [stream]
    options = {
        "vcodec": "libx264",
        "crf": VIDEO_CRF,
        "preset": VIDEO_PRESET,
        "pix_fmt": "yuv420p",
        "movflags": "+faststart",
        "f": "mp4",
    }
    if cfg.keep_audio:
        streams.append(source["a:0?"])  # '?': a silent video is fine
        options.update(acodec="aac", **{"b:a": AUDIO_BITRATE})
    else:
        options["an"] = None
    if threads:
        options["threads"] = threads
    out_node = ffmpeg_python.output(*streams, ffmpeg.OUTPUT_STAND_IN, **options)
    return ffmpeg.from_graph(exe, out_node, clip.source, output=out, threads=threads)
