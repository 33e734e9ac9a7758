"""The frame codec, JPEG, in one place: the names a frame may have, ffmpeg's
encoder options, and what a whole frame looks like to a reader."""

from __future__ import annotations

import os
import re
from pathlib import Path

from .. import ffmpeg

SUFFIXES = (".jpg", ".jpeg")
SOI = b"\xff\xd8"  # every JPEG starts with this marker ...
EOI = b"\xff\xd9"  # ... and ends with this one

# Options for ffmpeg's mjpeg encoder.  "-huffman default" (the standard JPEG
# tables) instead of ffmpeg's per-frame optimal tables: -11% CPU on K400-like
# clips (5.82 -> 5.16 s), -7% on long videos, for +2.8% bytes (91.2 -> 93.7
# MB); still ~37% smaller than OpenCV's imwrite at its default quality 95.
FFMPEG_ENCODER_OPTIONS: dict[str, str] = {"huffman": "default"}


def ffmpeg_output_options(quality: int) -> dict[str, object]:
    """ffmpeg output options that encode each frame as a JPEG at ``-q:v quality``."""
    return {"q:v": quality, **FFMPEG_ENCODER_OPTIONS}


def is_frame_name(name: str) -> bool:
    return name.lower().endswith(SUFFIXES)


def defect(path: Path | str) -> str | None:
    """Why ``path`` is not a whole JPEG, or None when its two ends look right:
    a stat and four bytes catch the usual damage (empty files, writes cut
    short by a full disk or a killed job)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(2)
            size = os.fstat(handle.fileno()).st_size
            tail = b""
            if size >= 4:
                handle.seek(-2, os.SEEK_END)
                tail = handle.read(2)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    return _ends_defect(size, head, tail, "empty file")


def defect_of(data: bytes) -> str | None:
    """:func:`defect` of a JPEG held in memory (a value in a store)."""
    return _ends_defect(len(data), data[:2], data[-2:], "empty value")


def _ends_defect(size: int, head: bytes, tail: bytes, empty: str) -> str | None:
    if size == 0:
        return empty
    if size < 4:
        return f"only {size} bytes"
    if head != SOI:
        return "not a JPEG (no SOI marker FFD8 at the start)"
    if tail != EOI:
        return "truncated JPEG (no EOI marker FFD9 at the end)"
    return None


def dimensions(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame marker; None if it has none."""
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            break
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[i + 7 : i + 9], "big"), int.from_bytes(data[i + 5 : i + 7], "big")
        i += 2 + length
    return None


def split_jpegs(data: bytes) -> tuple[list[bytes], str]:
    """The JPEGs of ffmpeg's piped stream (``extract_command(piped=True)``:
    the mpjpeg muxer), each exactly as the encoder wrote it.  Each frame is a
    MIME part: the boundary line, headers that give its length, a blank
    line, the JPEG, CRLF; the boundary line alone ends the stream.  The
    lengths cut the stream without a search through the frames' bytes, and
    each frame must still be a whole JPEG.  Returns the whole frames and,
    for a stream that is cut short or is not such a stream, what is wrong
    ("" when nothing is)."""
    frames: list[bytes] = []
    pos, end = 0, len(data)
    while pos < end:
        number = len(frames) + 1
        if not data.startswith(_BOUNDARY_LINE, pos):
            return frames, f"frame {number}: no part boundary at byte {pos}"
        pos += len(_BOUNDARY_LINE)
        if pos == end:
            break  # the closing boundary
        head_end = data.find(b"\r\n\r\n", pos, pos + _PART_HEAD_MAX)
        length = _CONTENT_LENGTH.search(data, pos, head_end) if head_end >= 0 else None
        if length is None:
            return frames, f"frame {number}: its part header is cut short or gives no length (byte {pos})"
        start = head_end + 4
        stop = start + int(length[1])
        if stop + 2 > end:
            return frames, f"frame {number} is cut short"
        frame = data[start:stop]
        defect = defect_of(frame) or (None if data[stop : stop + 2] == b"\r\n" else "no line end after it")
        if defect:
            return frames, f"frame {number}: {defect}"
        frames.append(frame)
        pos = stop + 2
    return frames, ""


_BOUNDARY_LINE = f"--{ffmpeg.PIPE_BOUNDARY}\r\n".encode("ascii")
_CONTENT_LENGTH = re.compile(rb"Content-length: (\d+)", re.IGNORECASE)
_PART_HEAD_MAX = 256  # ffmpeg writes about 50 bytes of part headers
