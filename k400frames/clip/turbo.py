"""The ``turbo`` encoder: ffmpeg decodes, libjpeg-turbo encodes in the worker.

ffmpeg runs the very command of the ``ffmpeg`` encoder (same input, same
filter chain: first video frame, fps, cut at N, square pixels, size) but
writes the frames unencoded to a pipe (``extract_command(raw_frames=True)``).
Here each frame is encoded with libjpeg-turbo (the ``simplejpeg`` wheel,
which bundles it) and written under its final name into the clip's temp
folder, and the rest of the clip's path is shared with the ``ffmpeg`` encoder:
the count check, damage classification, trim, pad and atomic publish.

Why it is cheaper: ffmpeg's mjpeg encoder costs more CPU per frame than
libjpeg-turbo's SIMD one, and ffmpeg's threaded pipeline wakes its threads
thousands of times a clip; see docs/performance.md, "Two encoders".
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from pathlib import Path

from .. import ffmpeg
from ..errors import MissingExtra
from ..files import write_new
from .damage import StageError

INSTALL_HINT = "pip install 'k400frames[turbo]' (or pip install simplejpeg)"

# ffmpeg's -q:v (the ``jpeg_quality`` key, 1..31) -> the libjpeg quality
# (1..100) whose mean luma PSNR against the decoded frames is closest to the
# ffmpeg encoder's, as `python bench/quality.py` measured it on the k400 bench
# corpus (real footage at 340x256, 4 clips x 60 frames).  At the default,
# -q:v 2, ffmpeg gives 45.00 dB at 18.8 KB a frame and libjpeg 91 gives
# 44.99 dB at 22.1 KB (90: 44.55 dB, outside the 0.3 dB rule; 92: 45.42 dB,
# 23.0 KB); OpenCV's imwrite at its quality 95 writes 29.8 KB a frame of the
# same frames (47.85 dB).  Every entry is within 0.16 dB of ffmpeg's.  -q:v 1
# is -q:v 2: ffmpeg's mjpeg encoder never quantizes finer than 2 by default.
LIBJPEG_QUALITY = {
    1: 91,
    2: 91,
    3: 84,
    4: 77,
    5: 70,
    6: 61,
    7: 52,
    8: 43,
    9: 38,
    10: 33,
    11: 30,
    12: 27,
    13: 25,
    14: 23,
    15: 21,
    16: 20,
    17: 18,
    18: 17,
    19: 17,
    20: 16,
    21: 15,
    22: 14,
    23: 14,
    24: 13,
    25: 13,
    26: 12,
    27: 12,
    28: 12,
    29: 11,
    30: 11,
    31: 11,
}


def load_codec():
    """The simplejpeg module; :class:`MissingExtra` when it is not installed."""
    try:
        import simplejpeg
    except ImportError as exc:
        raise MissingExtra(
            f"encoder 'turbo' needs simplejpeg, which is not installed ({exc}); "
            f"install with {INSTALL_HINT}, or use encoder: ffmpeg"
        ) from None
    return simplejpeg


def encode(
    argv: Sequence[str],
    frames_dir: Path,
    frame_name: str,
    jpeg_quality: int,
    timeout: float | None = None,
    processes: ffmpeg.Processes | None = None,
    frames_out: list[bytes] | None = None,
) -> ffmpeg.FFmpegResult:
    """Run ``argv`` (an ``extract_command(..., raw_frames=True)``) and write
    each frame it pipes out as a JPEG named by ``frame_name`` into
    ``frames_dir`` (or, with ``frames_out``, append its bytes there: a
    store's clip never touches the disk as frames).  Returns ffmpeg's result, exactly as :func:`ffmpeg.run`
    would; ffmpeg is killed if anything here fails, and never outlives this
    call.  A full disk raises :class:`DiskFull`; a frame that cannot be
    encoded or written, or a stream that is not the frames asked for, a
    :class:`~.damage.StageError` (``encode``, ``decode``)."""
    codec = load_codec()
    quality = LIBJPEG_QUALITY[jpeg_quality]
    with ffmpeg.stream(argv, cwd=frames_dir, timeout=timeout, processes=processes) as running:
        frames = Y4MReader(running.stdout)
        try:
            for index, (y, u, v) in enumerate(frames, 1):
                try:
                    data = codec.encode_jpeg_yuv_planes(y, u, v, quality)
                except Exception as exc:  # noqa: BLE001 - whatever the codec raises, this clip's encode failed
                    raise StageError(f"libjpeg-turbo cannot encode frame {index}: {exc}", "encode") from exc
                if frames_out is not None:
                    frames_out.append(data)
                else:
                    _write_new(frames_dir / frame_name.format(index), data)
        except ValueError as exc:  # the reader's: ffmpeg's stream is not the frames it was asked for
            raise StageError(f"ffmpeg's frame stream: {exc}", "decode") from exc
    result = running.result
    assert result is not None  # set by stream() once the block ended without an error
    if frames.cut_short and result.returncode == 0 and not result.timed_out:
        # ffmpeg said all is well, yet its stream stopped inside a frame.
        raise StageError(f"ffmpeg's frame stream ended inside frame {frames.count + 1}", "decode")
    return result


def _write_new(path: Path, data: bytes) -> None:
    try:
        write_new(path, data)
    except OSError as exc:  # a full disk is DiskFull, which stops the run
        raise StageError(f"cannot write the encoded frame {path.name}: {exc.strerror or exc}", "encode") from exc


class Y4MReader:
    """Iterate over the frames of a YUV4MPEG2 stream of full-range 4:2:0
    frames as (Y, U, V) numpy planes.

    The planes are views of one buffer that the next frame overwrites: encode
    each before taking the next.  A stream that ends inside a frame (ffmpeg
    killed or failed) just ends; ``cut_short`` says so and ``count`` is the
    number of whole frames."""

    def __init__(self, pipe: io.BufferedIOBase):
        self.pipe = pipe
        self.count = 0
        self.cut_short = False

    def __iter__(self) -> Iterator[tuple]:
        import numpy  # simplejpeg depends on it; imported here so `import k400frames` stays cheap

        header = self.pipe.readline(4096)
        if not header:
            return  # ffmpeg wrote nothing (no decodable frame, or it failed before the first)
        if not header.endswith(b"\n"):
            self.cut_short = True
            return
        width, height = _parse_header(header)
        luma, chroma = width * height, ((width + 1) // 2) * ((height + 1) // 2)
        # ffmpeg starts every frame with a bare "FRAME\n": read it with the
        # planes in one go, and check it, so a reader out of step stops at once.
        buffer = bytearray(len(_FRAME) + luma + 2 * chroma)
        view = memoryview(buffer)
        planes = numpy.frombuffer(buffer, numpy.uint8, offset=len(_FRAME))
        y = planes[:luma].reshape(height, width)
        u = planes[luma : luma + chroma].reshape((height + 1) // 2, (width + 1) // 2)
        v = planes[luma + chroma :].reshape((height + 1) // 2, (width + 1) // 2)
        while True:
            got = _read_into(self.pipe, view)
            if got < len(view):
                self.cut_short = got > 0
                return
            if view[: len(_FRAME)] != _FRAME:
                raise ValueError(f"not a YUV4MPEG2 frame marker after frame {self.count}: {bytes(view[:16])!r}")
            self.count += 1
            yield y, u, v


_FRAME = b"FRAME\n"


def _parse_header(header: bytes) -> tuple[int, int]:
    fields = header.split()
    if not fields or fields[0] != b"YUV4MPEG2":
        raise ValueError(f"not a YUV4MPEG2 stream: {header[:60]!r}")
    tags = {field[:1]: field[1:] for field in fields[1:]}
    # ffmpeg was asked for full-range 4:2:0 (RAW_FRAME_OPTIONS); anything else
    # would give wrong colours or a wrong plane layout, so refuse it.
    if not tags.get(b"C", b"420").startswith(b"420") or b"XCOLORRANGE=FULL" not in fields:
        raise ValueError(f"expected full-range 4:2:0 frames, ffmpeg sent: {header.strip().decode(errors='replace')}")
    return int(tags[b"W"]), int(tags[b"H"])


def _read_into(pipe: io.BufferedIOBase, view: memoryview) -> int:
    """Fill ``view`` from ``pipe``; the bytes read, fewer at the end of the stream."""
    filled = 0
    while filled < len(view):
        got = pipe.readinto(view[filled:])
        if not got:
            break
        filled += got
    return filled
