"""Kinetics CSVs (read, write, make them for your own videos) and training list files.

A Kinetics annotation row names a clip by ``youtube_id``, ``time_start`` and
``time_end``; on disk that clip is ``<label>/<youtube_id>_<start:06d>_<end:06d>``.
Tiny-K400 keeps ``tai chi`` in the CSV but ``tai_chi`` on disk, so joins here
accept either spelling of a label.

List files follow the frameworks that read them (mmaction2, PaddleVideo,
VideoMAE, SlowFast): one clip per line, fields split on whitespace.  That is
why a path holding a space is refused instead of written.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import os
import random
import re
from pathlib import Path
from typing import Iterable, Sequence

from .clips import Clip, Collision, iter_source
from .config import DEFAULT_EXTENSIONS, Config
from .errors import AnnotationError, ListFormatError
from .records import replaced_atomically

KINETICS_HEADER = ("label", "youtube_id", "time_start", "time_end", "split", "is_cc")

# Parsed from the right: YouTube ids themselves hold '_' and '-'.
_KINETICS_STEM = re.compile(r"(?P<id>.+)_(?P<start>\d{6,})_(?P<end>\d{6,})")

LIST_FORMATS = ("mmaction2", "paddlevideo", "videomae", "slowfast")
# Formats whose lines carry a frame count (rawframe datasets).
_WITH_FRAME_COUNT = {"mmaction2", "paddlevideo"}
LABELS_FILE = "labels.txt"


# ----------------------------------------------------------------------------
# Kinetics CSV
# ----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Row:
    """One Kinetics annotation row."""

    label: str
    youtube_id: str
    time_start: int
    time_end: int
    split: str = "train"
    is_cc: int = 0

    @property
    def clip_name(self) -> str:
        """The clip's folder (and video stem) name: ``<id>_<start:06d>_<end:06d>``."""
        return kinetics_clip_name(self.youtube_id, self.time_start, self.time_end)

    def as_csv(self) -> list[str]:
        return [self.label, self.youtube_id, str(self.time_start), str(self.time_end), self.split, str(self.is_cc)]


def kinetics_clip_name(youtube_id: str, start: int, end: int) -> str:
    """``("--uWuXty1jw", 10, 20)`` -> ``"--uWuXty1jw_000010_000020"``."""
    return f"{youtube_id}_{start:06d}_{end:06d}"


def parse_clip_stem(stem: str) -> tuple[str, int, int] | None:
    """``"a_b-c_000010_000020"`` -> ``("a_b-c", 10, 20)``; None when the stem
    is not Kinetics-named (or its times run backwards)."""
    match = _KINETICS_STEM.fullmatch(stem)
    if not match:
        return None
    start, end = int(match["start"]), int(match["end"])
    if end <= start:
        return None
    return match["id"], start, end


def _seconds(path: Path, line: int, key: str, text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise AnnotationError(f"{path} line {line}: {key} must be a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0 or value != int(value):
        raise AnnotationError(f"{path} line {line}: {key} must be a whole number of seconds, got {text!r}")
    return int(value)


def read_kinetics_csv(path: Path) -> list[Row]:
    """Read a Kinetics CSV (header ``label,youtube_id,time_start,time_end,...``).

    ``split`` and ``is_cc`` are optional (the test split of Kinetics has no
    label either; such rows get an empty label)."""
    path = Path(path)
    try:
        handle = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise AnnotationError(f"cannot read annotations {path}: {exc.strerror or exc}") from None
    rows: list[Row] = []
    with handle:
        reader = csv.DictReader(handle)
        missing = {"youtube_id", "time_start", "time_end"} - set(reader.fieldnames or ())
        if missing:
            raise AnnotationError(f"{path}: not a Kinetics CSV; the header lacks {', '.join(sorted(missing))} "
                                  f"(expected {','.join(KINETICS_HEADER)})")
        try:
            for record in reader:
                line = reader.line_num
                if not record.get("youtube_id"):
                    raise AnnotationError(f"{path} line {line}: empty youtube_id")
                is_cc = (record.get("is_cc") or "0").strip()
                rows.append(Row(label=(record.get("label") or "").strip(), youtube_id=record["youtube_id"].strip(),
                                time_start=_seconds(path, line, "time_start", record["time_start"] or ""),
                                time_end=_seconds(path, line, "time_end", record["time_end"] or ""),
                                split=(record.get("split") or "").strip(),
                                is_cc=int(is_cc) if is_cc.isdigit() else 0))
        except csv.Error as exc:
            raise AnnotationError(f"{path} line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError:
            raise AnnotationError(f"{path}: not UTF-8 text") from None
    return rows


def write_kinetics_csv(path: Path, rows: Iterable[Row]) -> Path:
    """Write ``rows`` under the Kinetics header, atomically (temp + rename).

    Quoting is the csv module's (only where a field needs it); lines end in
    ``\\n`` like the Tiny-K400 files."""
    path = Path(path)
    with replaced_atomically(path) as partial, open(partial, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(KINETICS_HEADER)
        writer.writerows(row.as_csv() for row in rows)
    return path


def label_folder_candidates(label: str) -> list[str]:
    """Folder names a CSV label may have on disk: as written, with spaces as
    underscores, and with underscores as spaces (Tiny-K400 maps both ways)."""
    names = [label, label.replace(" ", "_"), label.replace("_", " ")]
    return list(dict.fromkeys(names))


def clip_key(class_name: str, stem: str) -> tuple[str, str]:
    """A join key that treats spaces and underscores in class names alike."""
    return class_name.replace(" ", "_"), stem


def annotated_clips(csv_path: Path) -> set[tuple[str, str]]:
    """:func:`clip_key` of every clip a Kinetics CSV lists: by its Kinetics
    name, or by its id alone (what ``annotate`` makes of a plain stem)."""
    keys = set()
    for row in read_kinetics_csv(csv_path):
        keys.add(clip_key(row.label, row.clip_name))
        keys.add(clip_key(row.label, row.youtube_id))
    return keys


# ----------------------------------------------------------------------------
# annotate: a <class>/<clip> tree -> Kinetics CSVs
# ----------------------------------------------------------------------------

@dataclasses.dataclass
class AnnotateResult:
    """What :func:`annotate` found and decided."""

    train: list[Row]
    val: list[Row]
    too_small: dict[str, int]        # class -> clip count; all went to train
    skipped: list[tuple[str, str]]   # (clip, reason): not written to either CSV
    train_csv: Path | None = None
    val_csv: Path | None = None


def _split_counts(n: int, val_fraction: float) -> int:
    """Clips of a class that go to val: the fraction rounded, but at least one
    and never all, so each split sees every class it can."""
    if val_fraction <= 0 or n < 2:
        return 0
    return min(n - 1, max(1, round(n * val_fraction)))


def annotate(source: Path, *, val_fraction: float = 0.2, seed: int = 0, class_names: str = "keep",
             extensions: Sequence[str] = DEFAULT_EXTENSIONS, ffmpeg_exe: str | None = None) -> AnnotateResult:
    """Describe every clip under ``source/<class>/`` as a Kinetics row and split
    them per class (stratified) into train and val, reproducibly for ``seed``.

    A Kinetics-named stem gives the id and times; any other stem becomes the
    id, with times 0 and the duration rounded up.  A class with fewer than two
    clips cannot be split: all its clips go to train and it is listed in
    ``too_small``."""
    source = Path(source)
    if not 0 <= val_fraction < 1:
        raise AnnotationError(f"val_fraction must be at least 0 and below 1, got {val_fraction}")
    if class_names not in ("keep", "underscore"):
        raise AnnotationError(f"class_names must be keep or underscore, got {class_names!r}")
    if not source.is_dir():
        raise AnnotationError(f"source folder does not exist: {source}")

    by_class: dict[str, list[Row]] = {}
    skipped: list[tuple[str, str]] = []
    for item in iter_source(source, extensions, class_names):
        if isinstance(item, Collision):
            skipped.append((item.rel, "several files share this clip name: "
                                      + ", ".join(p.name for p in item.sources)))
            continue
        row = _row_for(item, ffmpeg_exe)
        if isinstance(row, str):
            skipped.append((item.rel, row))
            continue
        by_class.setdefault(item.out_class, []).append(row)
    if not by_class and not skipped:
        raise AnnotationError(f"no clips found in {source} (expected <class>/<clip> with extensions "
                              f"{' '.join(extensions)})")

    train: list[Row] = []
    val: list[Row] = []
    too_small: dict[str, int] = {}
    for label in sorted(by_class):
        rows = sorted(by_class[label], key=lambda r: r.clip_name)
        n_val = _split_counts(len(rows), val_fraction)
        if val_fraction > 0 and n_val == 0:
            too_small[label] = len(rows)
        # A per-class generator seeded by (seed, class): adding a class never
        # reshuffles the others.  str seeds are hashed deterministically.
        order = list(range(len(rows)))
        random.Random(f"{seed}/{label}").shuffle(order)
        val_picks = set(order[:n_val])
        for index, row in enumerate(rows):
            if index in val_picks:
                val.append(dataclasses.replace(row, split="val"))
            else:
                train.append(row)
    return AnnotateResult(train=train, val=val, too_small=too_small, skipped=skipped)


def _row_for(clip: Clip, ffmpeg_exe: str | None) -> Row | str:
    """The clip's row, or a reason it has none."""
    parsed = parse_clip_stem(clip.stem)
    if parsed:
        youtube_id, start, end = parsed
        return Row(clip.out_class, youtube_id, start, end)
    from .ffmpeg import find_ffmpeg, probe_duration
    duration = probe_duration(ffmpeg_exe or find_ffmpeg(), clip.source)
    if duration is None:
        return "ffmpeg reports no duration (not a readable video?)"
    # Rounded up so the span covers the whole clip; at least 1 s so end > start.
    return Row(clip.out_class, clip.stem, 0, max(1, math.ceil(duration)))


def write_annotations(result: AnnotateResult, out_dir: Path) -> AnnotateResult:
    """Write ``train.csv`` and ``val.csv`` into ``out_dir`` (created); a split
    with no rows still gets its header, so scripts can rely on both files."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AnnotationError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    result.train_csv = write_kinetics_csv(out_dir / "train.csv", result.train)
    result.val_csv = write_kinetics_csv(out_dir / "val.csv", result.val)
    return result


# ----------------------------------------------------------------------------
# training list files
# ----------------------------------------------------------------------------

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
        raise ListFormatError(f"formats: expected some of {', '.join(LIST_FORMATS)}, "
                              f"got {', '.join(unknown) or 'none'}")
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
