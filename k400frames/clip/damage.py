"""What went wrong with a clip, in words a user can act on: ffmpeg's failures,
and damage in a video that ffmpeg decoded anyway."""

from __future__ import annotations

import re
from pathlib import Path

from .. import ffmpeg


class StageError(Exception):
    """One clip failed at a known ``stage`` (the failures record's field):
    recorded under it, with the message as its reason, rather than as an
    ``internal`` surprise."""

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


# strerror(ENOSPC) and strerror(EDQUOT), as ffmpeg prints them.
DISK_FULL_WORDS = ("No space left on device", "Disk quota exceeded")

# ffmpeg's words -> a reason a user can act on.  First match wins.
_KNOWN_ERRORS = (
    (
        "not on whitelist",
        "refused: not a plain video container (a playlist, script or other format that could read other files)",
    ),
    ("moov atom not found", "truncated or incomplete MP4 (moov atom not found)"),
    ("matches no streams", "no video stream (audio-only or not a video)"),
    ("Nothing was written into output file", "no frame could be decoded (corrupt video data)"),
    ("Invalid data found when processing input", "not a readable video (invalid data)"),
    ("No such file or directory", "source file disappeared"),
    ("Permission denied", "permission denied"),
)


def disk_full(result: ffmpeg.FFmpegResult) -> bool:
    return any(words in result.stderr for words in DISK_FULL_WORDS)


def describe_failure(result: ffmpeg.FFmpegResult, frames: int, source: Path) -> str:
    """One readable line for a failed ffmpeg run."""
    if "moov atom not found" in result.stderr_tail and not _has_mp4_header(source):
        return "not a video file (no MP4 header; text or another format named like a video)"
    for needle, reason in _KNOWN_ERRORS:
        if needle in result.stderr_tail:
            return reason
    if result.returncode == 0 and frames == 0:
        return "ffmpeg decoded 0 frames"
    last = result.stderr_tail.splitlines()[-1] if result.stderr_tail else "no error message"
    return f"ffmpeg exited with code {result.returncode}: {last}"


def _has_mp4_header(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return handle.read(12)[4:8] == b"ftyp"
    except OSError:
        return False


# Demuxer words for a file that ends before its own header says it does (a
# download cut short): mov/mp4, matroska/webm, and the generic packet reader.
_TRUNCATION_WORDS = ("partial file", "File ended prematurely", "Truncating packet", "EOF inside")

# Decoder messages that healthy files print as well.  A clip cut with
# ``-c copy`` from an open-GOP source starts with frames that reference
# pictures before the cut; the decoder drops or rebuilds those and says so.
_HARMLESS_DECODER_WORDS = (
    "mmco: unref short failure",
    "co located POCs unavailable",
    "reference picture missing during reorder",
    "Missing reference picture",
    "Could not find ref with POC",
    "Error constructing the frame RPS",
    "illegal short term buffer state detected",
)

# Lines from our side of the pipeline (filters, encoder, image2 muxer): those
# are about writing frames, never about the source.
_OUTPUT_SIDE = re.compile(r"^\[(?:out#|vost#|enc:|fc#|vf#|image2 @|Parsed_)")
_REPEATED = re.compile(r"^\s*Last message repeated (\d+) times?")


def find_damage(stderr: str) -> tuple[str, int, str]:
    """Classify what a *successful* ffmpeg run printed at ``-loglevel error``.

    A healthy file prints nothing there, so every message from the demuxer or
    the decoder is damage, except the few that healthy open-GOP cuts print.
    Returns (``"truncated"`` | ``"decode"`` | ``""``, number of error messages,
    the first one, or for a truncated file the demuxer's message)."""
    kind, count, first, counting = "", 0, "", False
    for line in stderr.splitlines():
        repeated = _REPEATED.match(line)
        if repeated:
            count += int(repeated[1]) if counting else 0
            continue
        counting = False
        text = line.strip()
        if not text or _OUTPUT_SIDE.match(text) or any(w in text for w in _HARMLESS_DECODER_WORDS):
            continue
        message = re.sub(r"^(?:\[[^]]*\]\s*)+", "", text)  # drop the "[h264 @ 0x...]" prefixes
        if any(w in text for w in _TRUNCATION_WORDS):
            if kind != "truncated":  # the demuxer's word says more than the decoder's complaint
                kind, first = "truncated", message
        elif not kind:
            kind = "decode"
        counting = True
        count += 1
        first = first or message
    return kind, count, first


def damage_reason(kind: str, count: int, first: str, decoded: int, promised: int | None, sampled: bool = False) -> str:
    """The line a user reads for a damaged clip; ``promised``: the frames its
    header promises (for a span, within the span), None when unknown;
    ``sampled``: ``decoded`` counts the frames ``sampling: uniform`` picked,
    not the frames that decode."""
    if kind == "truncated":
        if sampled:
            return (
                f"truncated: the file ends before its header says; sampling: uniform picked {decoded} frames "
                f"from the part that decodes (ffmpeg: {first})"
            )
        if promised:
            return f"truncated: {decoded} of the {promised} frames its header promises decoded (ffmpeg: {first})"
        return f"truncated: the file ends early after {decoded} frames (ffmpeg: {first})"
    return f"decode errors: {count}, first: {first}"
