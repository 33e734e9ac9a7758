"""The frame codec, JPEG, in one place: the names a frame may have, ffmpeg's
encoder options, and what a whole frame looks like to a reader."""

from __future__ import annotations

import os
from pathlib import Path

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
    """The JPEGs of a stream of them back to back (ffmpeg's ``image2pipe``),
    each exactly as the encoder wrote it.  Walks each frame's marker segments
    (by their lengths, so table bytes are never taken for markers) to its
    start of scan; from there the frame ends at the first ``FFD9``, because
    inside entropy-coded data ``FF`` is only ever followed by a stuffed
    ``00`` or a restart marker (one C-speed search per frame).  Returns the
    whole frames and, for a stream that is cut short or is not JPEG, what
    is wrong ("" when nothing is)."""
    frames: list[bytes] = []
    try:
        _split(data, frames)
    except ValueError as exc:
        return frames, str(exc)
    return frames, ""


def _split(data: bytes, frames: list[bytes]) -> None:
    pos, end = 0, len(data)
    while pos < end:
        if data[pos : pos + 2] != SOI:
            raise ValueError(f"frame {len(frames) + 1}: no JPEG start marker at byte {pos}")
        start, pos = pos, pos + 2
        while True:  # marker segments up to the start of scan
            if pos + 4 > end or data[pos] != 0xFF:
                raise ValueError(f"frame {len(frames) + 1} is cut short or damaged (byte {pos})")
            marker = data[pos + 1]
            if marker == 0xD9:  # EOI without a scan
                pos += 2
                break
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
            if marker == 0xDA:
                eoi = data.find(EOI, pos)
                if eoi < 0:
                    raise ValueError(f"frame {len(frames) + 1} is cut short (no end marker)")
                pos = eoi + 2
                break
        frames.append(data[start:pos])
