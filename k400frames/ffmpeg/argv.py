"""Build ffmpeg command lines: the safe prefix every command shares, the
``file:`` URLs, the image2 pattern, and the frame-extraction graph
(ffmpeg-python).  Nothing here runs ffmpeg; :mod:`.process` does."""

from __future__ import annotations

import functools
import itertools
import os
import re
import string
from collections.abc import Mapping
from pathlib import Path

# Demuxers ffmpeg may pick for a clip.  Everything else (hls, concat, tty,
# image2, playlists, ...) is refused, since those can pull in other files.
VIDEO_DEMUXERS = "mov,matroska,webm,avi,flv,mpeg,mpegts,asf,ogg,m4v,h264,hevc,ivf,nut,yuv4mpegpipe"

# Flags for the scale filter (swscale); None keeps ffmpeg's default (bicubic).
# bilinear: less CPU and no worse than the others measured, and what OpenCV
# and torchvision resize with (docs/performance.md, settings chosen by measurement).
SCALER_FLAGS: str | None = "bilinear"

# Threads for each ffmpeg's decoder, filter graph and encoder; None is
# ffmpeg's default (about one per core in every process).  The runner already
# runs one ffmpeg per core, so more threads only contend (docs/performance.md).
FFMPEG_THREADS: int | None = 1

# Output options for raw frames on a pipe.  Full-range 4:2:0 is what JPEG
# stores (JFIF's YCbCr is full range) and exactly what the mjpeg encoder is
# fed (`yuv420p(pc)`), so both encoders start from the same planes; limited-range
# planes in a JPEG would decode washed out.  yuv4mpegpipe rather than bare
# rawvideo: its header states the size (with short_side or square pixels
# ffmpeg computes it from expressions) and the colour range, and each frame
# starts with a marker, so a reader can check it never loses step.
RAW_FRAME_OPTIONS: dict[str, str] = {"f": "yuv4mpegpipe", "pix_fmt": "yuv420p", "color_range": "pc"}


def file_url(path: str | os.PathLike) -> str:
    """``path`` as an absolute ``file:`` URL: ffmpeg then never reads a name
    that starts with ``-`` as an option, nor one holding ``:`` as a protocol."""
    return "file:" + os.path.abspath(path)


def command(ffmpeg_exe: str, *args: str, loglevel: str = "error") -> list[str]:
    """argv for ``ffmpeg_exe`` with ``args`` behind the prefix every command
    shares: ``-nostdin`` (ffmpeg reading the terminal stalls a run),
    ``-hide_banner -nostats`` (nobody reads the chatter), ``-loglevel error``
    (so a stderr tail holds only the errors) and ``-protocol_whitelist file``.

    ffmpeg resets per-input options at each ``-i``, so the prefix's whitelist
    covers the first input only; a second input must name its own, and a
    command that forgets is refused here (ValueError) rather than run.

    ffmpeg-python builds :func:`extract_command`, where a filter chain is
    composed from the config.  The other commands are hand-built on this
    prefix because ffmpeg-python cannot say them or would make them harder to
    read: the duration probe has no output at all; the preview's graph is one
    ``-vf`` string with ``enable`` expressions whose escaping ffmpeg-python
    would redo; verify's decode and the synthetic clips are a few fixed flags."""
    inputs = [i for i, arg in enumerate(args) if arg == "-i"]
    for previous, current in itertools.pairwise(inputs):
        if "-protocol_whitelist" not in args[previous + 1 : current]:
            raise ValueError(f"ffmpeg input {args[current + 1]!r} has no -protocol_whitelist of its own")
    return [
        ffmpeg_exe,
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        loglevel,
        "-protocol_whitelist",
        "file",
        *args,
    ]


def image2_pattern(frame_name: str) -> str:
    """The ``frame_name`` template as an image2 output pattern, so ffmpeg writes
    frames under their final names: ``frame_{:05d}.jpg`` -> ``./frame_%05d.jpg``.

    A literal ``%`` is escaped, and the ``./`` keeps a name that starts with
    ``-`` from being read as an option.  ffmpeg runs inside the clip's own temp
    dir, so the pattern never contains a user's path.  Raises ValueError for a
    template printf cannot express (only ``{}``, ``{:d}``, ``{:5d}``,
    ``{:05d}`` and the like can)."""
    pieces = []
    for literal, field, spec, conversion in string.Formatter().parse(frame_name):
        pieces.append(literal.replace("%", "%%"))
        if field is None:
            continue
        if field not in ("", "0") or conversion or not re.fullmatch(r"0?\d*d?", spec or ""):
            raise ValueError(
                f"cannot express {{{field}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}} as an ffmpeg frame number"
            )
        pieces.append("%" + (spec or "").rstrip("d") + "d")
    return "./" + "".join(pieces)


# ffmpeg-python hashes every argument as strict UTF-8, so a file name that is
# not valid UTF-8 (kept by os.fsdecode as surrogates) cannot pass through it.
# Commands are built around these stand-ins and the real URLs put in after
# (:func:`from_graph`).
INPUT_STAND_IN = "file:k400frames-input"
OUTPUT_STAND_IN = "file:k400frames-output"

# ``piped`` JPEGs go out through ffmpeg's mpjpeg muxer (MIME multipart):
# each frame is a part that states its length, so a reader cuts the stream
# into frames without searching their bytes (k400frames.clip.codec.split_jpegs).
PIPE_BOUNDARY = "k400frames"


def from_graph(
    ffmpeg_exe: str,
    out_node,
    video: str | os.PathLike,
    output: str | os.PathLike | None = None,
    threads: int | None = None,
) -> list[str]:
    """argv for an ffmpeg-python graph built on :data:`INPUT_STAND_IN` (and
    :data:`OUTPUT_STAND_IN`), with the real ``file:`` URLs put in, behind the
    shared safe prefix (:func:`command`)."""
    import ffmpeg  # ffmpeg-python; imported here so `import k400frames` stays cheap

    args = ffmpeg.get_args(out_node)
    args[args.index(INPUT_STAND_IN)] = file_url(video)
    if output is not None:
        args[args.index(OUTPUT_STAND_IN)] = file_url(output)
    # ffmpeg-python puts the graph in -filter_complex, whose thread count is global.
    filter_threads = ["-filter_complex_threads", str(threads)] if threads else []
    return command(ffmpeg_exe, *filter_threads, *args)


def video_filters(
    fps: float | None,
    size: tuple[int, int] | None,
    short_side: int | None,
    square_pixels: bool = True,
    select: str | None = None,
) -> list[tuple[str, dict]]:
    """The filter chain as (name, kwargs) pairs, in order; ``select`` is a
    frame-picking expression (``sampling: uniform``) applied before scaling."""
    # Frame 1 is the first decoded video frame.  ffmpeg's output timeline starts
    # at the file's start, and audio, an edit list or a container offset can
    # start before the video; constant-rate output would fill that gap with
    # copies of frame 1 and make every later frame lag.
    filters: list[tuple[str, dict]] = [("setpts", {"expr": "PTS-STARTPTS"})]
    if fps:
        # eof_action=pass: a clip shorter than one output period still gives
        # its one real frame (the default rounding would drop it).
        filters.append(("fps", {"fps": f"{fps:g}", "eof_action": "pass"}))
    if select:
        filters.append(("select", {"expr": select}))  # before scale: only kept frames are scaled
    flags = {"flags": SCALER_FLAGS} if SCALER_FLAGS else {}
    if size:
        filters.append(("scale", {"w": size[0], "h": size[1], **flags}))
    elif short_side:
        s = short_side
        if square_pixels:
            # By the display aspect (dar = iw/ih * sar), even lengths: PAL
            # 720x576 with SAR 64:45 is 16:9 on screen, so 456x256, not 320x256.
            w, h = f"if(lt(dar,1),{s},2*round({s}*dar/2))", f"if(lt(dar,1),2*round({s}/dar/2),{s})"
        else:
            # Scale the shorter side to `s`; -2 keeps the storage aspect with an even length.
            w, h = f"if(lt(iw,ih),{s},-2)", f"if(lt(iw,ih),-2,{s})"
        filters.append(("scale", {"w": w, "h": h, **flags}))
    elif square_pixels:
        # Storage size stretched to square pixels, height kept (720x576 at SAR
        # 64:45 -> 1024x576).  With square pixels already, the size is the
        # same and ffmpeg's scale filter passes frames through untouched.
        filters.append(("scale", {"w": "round(ih*dar)", "h": "ih", **flags}))
    if square_pixels:
        filters.append(("setsar", {"sar": "1"}))  # the JPEGs then say 1:1
    return filters


def video_input(seek: float | None = None, duration: float | None = None, threads: int | None = None):
    """The ffmpeg-python input node of the video (on :data:`INPUT_STAND_IN`):
    only video demuxers; input ``-ss`` seeks by the index and drops the frames
    before that time, input ``-t`` ends the decode there, so a span of a long
    video costs the span, not the video."""
    import ffmpeg  # ffmpeg-python; imported here so `import k400frames` stays cheap

    options: dict[str, object] = {"threads": threads} if threads else {}
    if seek is not None:
        options["ss"] = f"{seek:.6f}"
    if duration is not None:
        options["t"] = f"{duration:.6f}"
    return ffmpeg.input(INPUT_STAND_IN, format_whitelist=VIDEO_DEMUXERS, **options)


def extract_command(
    ffmpeg_exe: str,
    video: Path,
    max_frames: int | None,
    *,
    frame_name: str = "frame_{:05d}.jpg",
    fps: float | None = None,
    size: tuple[int, int] | None = None,
    short_side: int | None = None,
    square_pixels: bool = True,
    encoder_options: Mapping[str, object] | None = None,
    threads: int | None = None,
    seek: float | None = None,
    duration: float | None = None,
    select: str | None = None,
    raw_frames: bool = False,
    piped: bool = False,
) -> list[str]:
    """argv that decodes the first video stream of ``video`` and writes at most
    ``max_frames`` images (None: every frame), named by the ``frame_name`` template, into the
    working directory, encoded with ``encoder_options`` (the frame codec's,
    :func:`k400frames.clip.codec.ffmpeg_output_options`).  With
    ``raw_frames``, the same frames go to stdout instead, unencoded, for
    :mod:`k400frames.clip.turbo` to encode (see :data:`RAW_FRAME_OPTIONS`).
    With ``piped``, the same JPEGs (same encoder, same options) go to stdout
    one after another, each a part of ffmpeg's ``mpjpeg`` stream with its
    length (:data:`PIPE_BOUNDARY`), for a store to split and keep.

    ``-frames:v`` makes ffmpeg stop decoding once enough frames are out.
    Without ``seek``, frame 1 is the first decoded frame (see
    :func:`video_filters`); with it (seconds, as ffmpeg's input ``-ss``
    counts them), ffmpeg seeks by the index and drops the frames before that
    time, and ``duration`` (input ``-t``) ends the decode there: a span of a
    long video costs the span, not the video.  ``select`` keeps only the
    frames it picks, so the output keeps their timestamps' gaps unfilled."""
    argv = list(
        _extract_template(
            ffmpeg_exe,
            max_frames,
            frame_name,
            fps,
            tuple(size) if size else None,
            short_side,
            square_pixels,
            tuple(sorted((encoder_options or {}).items())),
            threads or FFMPEG_THREADS,
            seek,
            duration,
            select,
            raw_frames,
            piped,
        )
    )
    argv[argv.index(INPUT_STAND_IN)] = file_url(video)
    return argv


# The clips of a run share their settings, so each distinct command is built
# once, on the input stand-in (building a graph is not free: docs/performance.md),
# and only the input URL differs between clips.
@functools.lru_cache(maxsize=256)
def _extract_template(
    ffmpeg_exe: str,
    max_frames: int | None,
    frame_name: str,
    fps: float | None,
    size: tuple[int, int] | None,
    short_side: int | None,
    square_pixels: bool,
    encoder_options: tuple[tuple[str, object], ...],
    threads: int | None,
    seek: float | None,
    duration: float | None,
    select: str | None,
    raw_frames: bool,
    piped: bool,
) -> tuple[str, ...]:
    import ffmpeg  # ffmpeg-python; imported here so `import k400frames` stays cheap

    source = video_input(seek, duration, threads)
    # 'V', not 'v': the first real video stream, never cover art or a
    # thumbnail (yt-dlp embeds those), which would give one frame and 299 pads.
    stream = source["V:0"]
    for name, kwargs in video_filters(fps, size, short_side, square_pixels, select):
        stream = stream.filter(name, **kwargs)
    cap = {"frames:v": max_frames} if max_frames is not None else {}
    if raw_frames:
        output_options = {**cap, **RAW_FRAME_OPTIONS}
    elif piped:
        # image2 picks mjpeg from the .jpg name; a pipe has no name, so say it.
        output_options = {
            **cap,
            "f": "mpjpeg",
            "boundary_tag": PIPE_BOUNDARY,
            "c:v": "mjpeg",
            **dict(encoder_options),
        }
    else:
        output_options = {**cap, "f": "image2", **dict(encoder_options)}
    if select:
        output_options["fps_mode"] = "passthrough"  # cfr would copy frames into the gaps select leaves
    if threads:
        output_options["threads"] = threads
    out = stream.output("pipe:1" if raw_frames or piped else image2_pattern(frame_name), **output_options)
    # The stand-in stays in: the caller puts each clip's URL in its place.
    filter_threads = ["-filter_complex_threads", str(threads)] if threads else []
    return tuple(command(ffmpeg_exe, *filter_threads, *ffmpeg.get_args(out)))
