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
            if size == 0:
                return "empty file"
            if size < 4:
                return f"only {size} bytes"
            handle.seek(-2, os.SEEK_END)
            tail = handle.read(2)
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
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
