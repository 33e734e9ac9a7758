"""Run records: ``<root>/<split>.manifest*.jsonl`` and ``<split>.failures*.jsonl``
(named by :class:`~k400frames.layout.Layout`).

One JSON object per line, each written with a single ``write`` on an
``O_APPEND`` descriptor, so a crash can only tear the line being written,
never an earlier one.  Readers skip a torn line.  Each shard of a job array
writes its own files (``train.manifest.shard-3-of-8.jsonl``); readers take
them all together.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import raise_if_disk_full
from ..files import open_own

# Every field a record may hold: (which file, meaning).  The reference
# (docs/reference/records.md) is made from this, and a test checks that a
# real run writes no field missing here.
RECORD_FIELDS = {
    "rel": ("both", "`<class>/<clip>`, the clip relative to the split folder (class name after `class_names`)"),
    "source": ("both", "the video it came from, absolute path"),
    "decoded": (
        "manifest",
        "real frames kept (at most `num_frames`); the rest are padding; with `num_frames: all`, "
        "every frame the clip has: a whole clip is frames 1..decoded",
    ),
    "padded": ("manifest", "frames added as copies (or hardlinks) of the last real frame"),
    "cut": ("manifest", "`true` when the video had more than `num_frames` frames"),
    "seconds": ("manifest", "wall time for this clip: ffmpeg, post-processing and the publish"),
    "bytes": ("manifest", "bytes of the clip as published (a hardlinked pad counted once)"),
    "config": (
        "manifest",
        "hash of the output settings (the config keys marked as changing the output); "
        "resume skips a clip only when it matches",
    ),
    "digest": (
        "manifest",
        "BLAKE2b-128 (hex) of the published clip: every file name and byte; "
        "the dataset card's fingerprint hashes these",
    ),
    "damaged": ("manifest", "why the video is damaged, for a clip kept with `damaged: keep`"),
    "adopted": (
        "manifest",
        "`true` on a line written for a complete clip found without a line (a run died "
        "between the publish and the record); its counts and digest come from the record that "
        "travelled with the clip (in a packed store, or the run's journal), else it has only "
        "`rel`, `adopted` and `config`",
    ),
    "stage": (
        "failures",
        "where it failed: `source` (an annotations row with no file, or whose label cannot be a folder, or "
        "with two labels: fix the download or the CSV, or list it in `missing_ok`), "
        "`input` (an empty file, one that cannot be opened, or a clip name that would leave the target), "
        "`decode` (ffmpeg could not decode it: not a video at all, e.g. an HTML page saved as `.mp4`, "
        "`moov atom not found`, or its frame stream to `encoder: turbo` was not whole), "
        "`encode` (`encoder: turbo` could not encode or write a frame), `damaged`, "
        "`short` (fewer real frames than `min_decoded`), `timeout`, "
        "`span` or `segment` (a segments row that cannot be cut), `publish` (could not write the clip), "
        "`collision` (two sources, one clip), `worker` (a Dask worker died on it every time), "
        "`internal` (a bug of ours, for this clip only), `interrupted`",
    ),
    "reason": ("failures", "one readable line, e.g. `truncated or incomplete MP4 (moov atom not found)`"),
    "returncode": ("failures", "ffmpeg's exit code, or `null` when ffmpeg did not run"),
    "stderr_tail": ("failures", "the last 12 lines ffmpeg wrote to stderr"),
}


def read_records(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """Yield each JSON object from ``paths``, skipping torn or foreign lines.
    A record file that is a symbolic link is refused (:func:`~k400frames.files.open_own`):
    a planted one could make resume skip clips it never made."""
    for path in paths:
        try:
            handle = os.fdopen(open_own(path, os.O_RDONLY), "rb")
        except FileNotFoundError:
            continue
        with handle:
            for line in handle:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue  # a line torn by a crash
                if isinstance(record, dict) and "rel" in record:
                    yield record


def json_line(record: dict[str, Any]) -> bytes:
    """``record`` as one UTF-8 JSON line.  A file name that is not valid UTF-8
    (os.fsdecode keeps its bytes as lone surrogates) is written with ``\\udcXX``
    escapes instead: the line stays valid JSON for every reader, and
    json.loads gives back the very same str, so resume still matches it."""
    try:
        return (json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
    except UnicodeEncodeError:
        return (json.dumps(record, ensure_ascii=True, sort_keys=True) + "\n").encode("ascii")


class RecordWriter:
    """Appends one JSON line per record, crash-safely; never through a
    symbolic link at ``path`` (:func:`~k400frames.files.open_own`)."""

    def __init__(self, path: Path, truncate: bool = False):
        self.path = path
        # Read and write: the torn-line check reads the last byte through this same descriptor.
        flags = os.O_RDWR | os.O_CREAT | (os.O_TRUNC if truncate else os.O_APPEND)
        try:
            self._fd = open_own(path, flags)
            if not truncate:
                self._end_torn_line()
        except OSError as exc:
            raise_if_disk_full(exc, path)
            raise

    def _end_torn_line(self) -> None:
        # A crash may have left a line without its newline; end it so the
        # next record starts on a line of its own and stays readable.
        size = os.fstat(self._fd).st_size
        if size and os.pread(self._fd, 1, size - 1) != b"\n":
            os.write(self._fd, b"\n")

    def write(self, record: dict[str, Any]) -> None:
        line = json_line(record)
        try:
            os.write(self._fd, line)
        except OSError as exc:
            raise_if_disk_full(exc, self.path)
            raise

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


# Above this share of pad frames in a split, the run summary and the lists warn.
PAD_WARN_SHARE = 0.20


def pad_advice() -> str:
    """What to do about a high pad share: one sentence, shared by lists and the run summary."""
    return (
        "samplers that draw from every frame land on frozen copies; list with --frames decoded "
        "(counts of real frames only), or extract with sampling: uniform or fewer num_frames"
    )


def decoded_counts(paths: list[Path]) -> dict[str, int]:
    """rel -> real frames kept, from manifest files (the latest line per clip
    wins; a line without ``decoded``, an adopted clip, gives none)."""
    counts: dict[str, int] = {}
    for row in read_records(paths):
        counts.pop(row["rel"], None)
        if isinstance(row.get("decoded"), int):
            counts[row["rel"]] = row["decoded"]
    return counts
