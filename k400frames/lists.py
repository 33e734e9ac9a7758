"""Training list files: one line per clip in the form each framework's loader
reads (mmaction2, PaddleVideo, VideoMAE, SlowFast), and ``labels.txt``.

Fields are split on whitespace, which is why a path holding a space is
refused instead of written.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Sequence

from .config import Config
from .errors import K400Error
from .records import replaced_atomically

LIST_FORMATS = ("mmaction2", "paddlevideo", "videomae", "slowfast")
# Formats whose lines carry a frame count (rawframe datasets).
_WITH_FRAME_COUNT = {"mmaction2", "paddlevideo"}
LABELS_FILE = "labels.txt"


class ListFormatError(K400Error):
    """A list file could not be written in a form its framework reads correctly."""


@dataclasses.dataclass
class ListsResult:
    """Files written by :func:`write_lists` and what was left out of them."""

    lists: dict[str, Path]
    labels: Path
    classes: int
    clips: int
    empty: list[str]                 # clip folders without frame 1: not listed
    short: list[tuple[str, int]]     # (clip, frames) listed with fewer than num_frames
    labels_grew: list[str]           # classes added to an existing labels.txt


def list_path(target: Path, fmt: str) -> Path:
    """``<root>/train`` + ``mmaction2`` -> ``<root>/train.mmaction2.txt``."""
    return target.parent / f"{target.name}.{fmt}.txt"


def count_frames(folder: Path, frame_name: str) -> int:
    """Frames 1..k present by the template (a loader reads exactly those)."""
    names = set(os.listdir(folder))
    count = 0
    while frame_name.format(count + 1) in names:
        count += 1
    return count


def _clip_folders(target: Path) -> list[tuple[str, str]]:
    """(class, clip) folder pairs under the split folder, sorted; hidden
    entries (temp dirs, Finder droppings) are not clips."""
    pairs = []
    for class_entry in sorted(os.scandir(target), key=lambda e: e.name):
        if class_entry.name.startswith(".") or not class_entry.is_dir():
            continue
        for clip_entry in sorted(os.scandir(class_entry.path), key=lambda e: e.name):
            if not clip_entry.name.startswith(".") and clip_entry.is_dir():
                pairs.append((class_entry.name, clip_entry.name))
    return pairs


def _read_labels(path: Path) -> list[str]:
    try:
        return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def _atomic_write(path: Path, text: str) -> None:
    with replaced_atomically(path) as partial:
        partial.write_text(text, encoding="utf-8")


def write_lists(cfg: Config, formats: Sequence[str]) -> ListsResult:
    """Write one list file per format for the split ``cfg.target``, beside it,
    plus ``labels.txt`` (the class of line i has label index i).

    Paths are ``<class>/<clip>`` relative to the split folder, exactly the
    folders on disk; frame counts are read from disk.  Classes are the union
    of this split's and any existing ``labels.txt``, sorted, so train and val
    agree on indices when both are listed."""
    target = cfg.target
    unknown = [f for f in formats if f not in LIST_FORMATS]
    if unknown or not formats:
        raise ListFormatError(f"--format: expected {', '.join(LIST_FORMATS)} or all, got {', '.join(unknown)}")
    if not target.is_dir():
        raise ListFormatError(f"frames folder does not exist: {target} (run extract first)")
    pairs = _clip_folders(target)
    if not pairs:
        raise ListFormatError(f"no clip folders in {target} (expected <class>/<clip>/)")

    # Whitespace-split readers would take "air drumming/x 300 0" as 4 fields.
    for class_name, clip_name in pairs:
        if any(ch.isspace() for ch in class_name):
            raise ListFormatError(
                f"class folder {class_name!r} contains whitespace, which the list readers of "
                f"{', '.join(formats)} split on; set class_names: underscore in the config and extract "
                f"again (or rename the class folders)")
        if any(ch.isspace() for ch in clip_name):
            raise ListFormatError(
                f"clip folder {class_name}/{clip_name!r} contains whitespace, which list readers split on "
                f"(class_names only renames class folders); rename the source video and extract it again")

    labels_file = target.parent / LABELS_FILE
    existing = _read_labels(labels_file)
    classes = sorted({*existing, *(c for c, _ in pairs)})
    labels_grew = sorted(set(classes) - set(existing)) if existing else []
    index = {name: i for i, name in enumerate(classes)}

    lines_counts: list[tuple[str, int, int]] = []  # (path, frames, label)
    empty: list[str] = []
    short: list[tuple[str, int]] = []
    for class_name, clip_name in pairs:
        rel = f"{class_name}/{clip_name}"
        frames = count_frames(target / class_name / clip_name, cfg.frame_name)
        if frames == 0:
            empty.append(rel)  # listing it would make a loader crash mid-epoch
            continue
        if frames < cfg.num_frames:
            short.append((rel, frames))
        lines_counts.append((rel, frames, index[class_name]))

    written: dict[str, Path] = {}
    for fmt in formats:
        if fmt in _WITH_FRAME_COUNT:
            body = "".join(f"{rel} {frames} {label}\n" for rel, frames, label in lines_counts)
        else:
            body = "".join(f"{rel} {label}\n" for rel, _, label in lines_counts)
        path = list_path(target, fmt)
        _atomic_write(path, body)
        written[fmt] = path
    _atomic_write(labels_file, "".join(f"{name}\n" for name in classes))
    return ListsResult(lists=written, labels=labels_file, classes=len(classes), clips=len(lines_counts),
                       empty=empty, short=short, labels_grew=labels_grew)
