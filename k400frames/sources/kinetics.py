"""The Kinetics annotation CSV: read it, write it, and name its clips on disk.

A Kinetics annotation row names a clip by ``youtube_id``, ``time_start`` and
``time_end``; on disk that clip is ``<label>/<youtube_id>_<start:06d>_<end:06d>``.
Tiny-K400 keeps ``tai chi`` in the CSV but ``tai_chi`` on disk, so joins here
accept either spelling of a label.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from ..errors import AnnotationError, K400Error
from ..files import replaced_atomically

KINETICS_HEADER = ("label", "youtube_id", "time_start", "time_end", "split", "is_cc")

# Parsed from the right: YouTube ids themselves hold '_' and '-'.
_KINETICS_STEM = re.compile(r"(?P<id>.+)_(?P<start>\d{6,})_(?P<end>\d{6,})")


@dataclasses.dataclass(frozen=True, slots=True)
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


@dataclasses.dataclass(frozen=True, slots=True)
class Record:
    """One data row of a Kinetics-style CSV, before any column is checked:
    its line and its fields by column name, stripped (a short row's missing
    fields are empty; columns past the header are dropped)."""

    line: int
    fields: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.fields.get(column, "")


def iter_kinetics_records(
    path: Path,
    required: Iterable[str] = ("youtube_id", "time_start", "time_end"),
    *,
    error: type[K400Error] = AnnotationError,
    what: str = "annotations",
    kind: str = "Kinetics",
    expected: str = "expected at least label,youtube_id,time_start,time_end; split and is_cc are optional",
) -> Iterator[Record]:
    """The one reader of Kinetics-style CSVs (annotations, segments, the
    leakage check's): the rows of ``path`` under its header, read lazily.

    The header is the first line, its names stripped; the columns
    ``required`` must all be there.  Rows whose fields are all blank are
    skipped.  A file that cannot be opened, is not UTF-8, is not CSV or
    lacks a required column raises ``error``; ``what`` names the file in
    the first case (``cannot read annotations ...``), ``kind`` and
    ``expected`` the CSV and header wanted in the last (``not a Kinetics
    CSV; the header lacks ...``, naming the missing columns in the order of
    ``required``)."""
    path = Path(path)
    try:
        handle = open(path, newline="", encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip() for name in next(reader, [])]
            missing = [column for column in required if column not in header]
            if missing:
                raise error(f"{path}: not a {kind} CSV; the header lacks {', '.join(missing)} ({expected})")
            for fields in reader:
                if not any(field.strip() for field in fields):
                    continue  # a blank line
                # Not strict: a short row's missing fields read as empty, fields past the header go.
                yield Record(reader.line_num, {n: f.strip() for n, f in zip(header, fields, strict=False)})
        except csv.Error as exc:
            raise error(f"{path} line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError:
            raise error(f"{path}: not UTF-8 text") from None


def read_kinetics_csv(path: Path) -> list[Row]:
    """Read a Kinetics CSV (header ``label,youtube_id,time_start,time_end,...``).

    ``split`` and ``is_cc`` are optional (the test split of Kinetics has no
    label either; such rows get an empty label)."""
    path = Path(path)
    rows: list[Row] = []
    # Required columns in name order: the order this message has always named them in.
    for record in iter_kinetics_records(path, ("time_end", "time_start", "youtube_id")):
        line = record.line
        if not record["youtube_id"]:
            raise AnnotationError(f"{path} line {line}: empty youtube_id")
        is_cc = record["is_cc"] or "0"
        rows.append(
            Row(
                # Interned: 400 labels and 3 splits shared by 240,000 rows.
                label=sys.intern(record["label"]),
                youtube_id=record["youtube_id"],
                time_start=_seconds(path, line, "time_start", record["time_start"]),
                time_end=_seconds(path, line, "time_end", record["time_end"]),
                split=sys.intern(record["split"]),
                is_cc=int(is_cc) if is_cc.isdigit() else 0,
            )
        )
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


def clip_names_of(path: Path) -> set[str]:
    """The clip names (``<id>_<start:06d>_<end:06d>``) of a Kinetics CSV's rows:
    how a ``missing_ok`` CSV of rows known gone is matched."""
    return {row.clip_name for row in read_kinetics_csv(path)}


def sibling_csvs(path: Path) -> list[Path]:
    """The other ``*.csv`` files in the folder of the CSV ``path``, sorted: the
    other splits' annotations of an official download
    (``annotations/train.csv``, ``val.csv``, ``test.csv``)."""
    path = Path(path)
    return [p for p in sorted(path.parent.glob("*.csv")) if p.name != path.name and p.is_file()]


def label_folder_candidates(label: str) -> list[str]:
    """Folder names a CSV label may have on disk: as written, with spaces as
    underscores, and with underscores as spaces (Tiny-K400 maps both ways)."""
    names = [label, label_key(label), label.replace("_", " ")]
    return list(dict.fromkeys(names))


def label_key(name: str) -> str:
    """A class name with spaces as underscores: how Tiny-K400 names its class
    folders, and how mmaction2's build_file_list.py spells the CSV labels it
    sorts into class indices."""
    return name.replace(" ", "_")


def clip_key(class_name: str, stem: str) -> tuple[str, str]:
    """A join key that treats spaces and underscores in class names alike."""
    return label_key(class_name), stem


def annotated_clips(csv_path: Path) -> set[tuple[str, str]]:
    """:func:`clip_key` of every clip a Kinetics CSV lists: by its Kinetics
    name, or by its id alone (what ``annotate`` makes of a plain stem)."""
    keys = set()
    for row in read_kinetics_csv(csv_path):
        keys.add(clip_key(row.label, row.clip_name))
        keys.add(clip_key(row.label, row.youtube_id))
    return keys
