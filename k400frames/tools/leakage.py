"""Train/val leakage: one recording (``youtube_id``) in more than one split.

Spans of one video in train and val inflate validation accuracy, and nothing
else would say so.  Two sources are compared, each on its own (a split
folder ``train_256`` and a CSV split ``train`` are not the same name):

* the split folders beside ``target``: every folder with run records
  (``<split>.manifest*.jsonl``), by the clips they record, plus the clips
  found in ``target`` itself;
* the Kinetics-style CSVs beside the split folders (the copies a run leaves,
  ``annotate``'s ``train.csv``/``val.csv``) and any given ones (the config's
  ``annotations`` or ``segments``, ``verify --csv``), each row under its
  ``split`` column, or under the file's stem where that is empty.

A clip's recording is the id of its Kinetics-style name
(``<id>_<start>_<end>``, decimal times too), else its whole name (a clip
that ``annotate`` described from a plain stem is a whole video).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable
from pathlib import Path

from ..errors import AnnotationError
from ..layout import Layout
from ..run.records import read_records
from ..sources.kinetics import iter_kinetics_records

# From the right, as YouTube ids hold '_' and '-'; times as Kinetics writes
# them (000010) or with decimals (a segments span, 000012.5).
_SPAN_STEM = re.compile(r"(?P<id>.+)_\d{6,}(?:\.\d+)?_\d{6,}(?:\.\d+)?")


def recording_of(stem: str) -> str:
    """``"abc_000010_000020"`` -> ``"abc"``; a plain stem is its own recording."""
    match = _SPAN_STEM.fullmatch(stem)
    return match["id"] if match else stem


@dataclasses.dataclass(frozen=True)
class Leak:
    """One recording found in more than one split."""

    youtube_id: str
    splits: tuple[str, ...]
    where: str  # "split folders" or "CSVs"

    def describe(self) -> str:
        return f"{self.youtube_id} in {' and '.join(self.splits)} ({self.where})"


def _leaks(ids_by_split: dict[str, set[str]], where: str) -> list[Leak]:
    splits_of: dict[str, list[str]] = {}
    for split in sorted(ids_by_split):
        for youtube_id in ids_by_split[split]:
            splits_of.setdefault(youtube_id, []).append(split)
    return [Leak(i, tuple(s), where) for i, s in sorted(splits_of.items()) if len(s) > 1]


def csv_ids_by_split(path: Path) -> dict[str, set[str]]:
    """youtube_ids of a Kinetics-style CSV by its ``split`` column (the file's
    stem where that is empty); empty for a file that is not such a CSV."""
    found: dict[str, set[str]] = {}
    try:
        for record in iter_kinetics_records(path, ("youtube_id",)):
            if record["youtube_id"]:
                split = record["split"] or Path(path).stem
                found.setdefault(split, set()).add(record["youtube_id"])
    except AnnotationError:
        return {}
    return found


def find_leaks(target: Path, clips: Iterable[str] = (), csvs: Iterable[Path] = ()) -> list[Leak]:
    """Recordings in more than one split around the split folder ``target``
    (see the module docstring); ``clips``: the stems found in ``target``,
    ``csvs``: CSVs to compare besides those in the folder above it."""
    target = Path(target)
    root = target.parent
    folders: dict[str, set[str]] = {target.name: {recording_of(stem) for stem in clips}}
    # Each split once, though its shards each leave a manifest file.
    splits = {manifest.name[: manifest.name.index(".manifest")] for manifest in root.glob("*.manifest*.jsonl")}
    for split in sorted(splits):
        ids = folders.setdefault(split, set())
        for row in read_records(Layout(root / split).all_records("manifest")):
            ids.add(recording_of(str(row["rel"]).rpartition("/")[2]))
    by_name = {p.name: p for p in sorted(root.glob("*.csv"))}
    for extra in csvs:
        by_name.setdefault(Path(extra).name, Path(extra))  # a run's copy beside the split is the same file
    rows: dict[str, set[str]] = {}
    for path in by_name.values():
        for split, ids in csv_ids_by_split(path).items():
            rows.setdefault(split, set()).update(ids)
    return _leaks(folders, "split folders") + _leaks(rows, "CSVs")


def format_leaks(leaks: list[Leak], limit: int = 5) -> str:
    """One line: how many recordings are in more than one split, the first few named."""
    shown = "; ".join(leak.describe() for leak in leaks[:limit])
    more = f"; and {len(leaks) - limit} more" if len(leaks) > limit else ""
    return (
        f"{len(leaks)} recording{'s' if len(leaks) != 1 else ''} (youtube_id) in more than one split, "
        f"so validation would see training footage: {shown}{more}"
    )
