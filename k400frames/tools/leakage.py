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
from typing import Any

from ..errors import AnnotationError
from ..layout import Layout
from ..run.records import read_records
from ..sources.kinetics import iter_kinetics_records, label_key, sibling_csvs

# From the right, as YouTube ids hold '_' and '-'; times as Kinetics writes
# them (000010) or with decimals (a segments span, 000012.5).
_SPAN_STEM = re.compile(r"(?P<id>.+)_\d{6,}(?:\.\d+)?_\d{6,}(?:\.\d+)?")


def recording_of(stem: str) -> str:
    """``"abc_000010_000020"`` -> ``"abc"``; a plain stem is its own recording."""
    match = _SPAN_STEM.fullmatch(stem)
    return match["id"] if match else stem


@dataclasses.dataclass(frozen=True)
class Leak:
    """One recording found in more than one split, with its labels in each
    (a class folder's name, or a CSV row's label)."""

    youtube_id: str
    splits: tuple[str, ...]
    where: str  # "split folders", "CSVs", or both
    labels: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (split, its labels there)

    def labels_in(self, split: str) -> tuple[str, ...]:
        return dict(self.labels).get(split, ())

    def describe(self) -> str:
        shown = [
            f"{split} ({', '.join(self.labels_in(split))})" if self.labels_in(split) else split for split in self.splits
        ]
        return f"{self.youtube_id} in {' and '.join(shown)} ({self.where})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "youtube_id": self.youtube_id,
            "splits": list(self.splits),
            "where": self.where,
            "labels": {split: list(labels) for split, labels in self.labels},
        }


# split -> youtube_id -> its labels in that split
Labelled = dict[str, dict[str, set[str]]]


def _add(found: Labelled, split: str, youtube_id: str, label: str) -> None:
    labels = found.setdefault(split, {}).setdefault(youtube_id, set())
    if label and label_key(label) not in {label_key(known) for known in labels}:
        labels.add(label)  # one spelling of a label: 'tai chi' and its folder 'tai_chi' are one


def _leaks(found: Labelled, where: str, only: set[str] | None = None) -> dict[str, Leak]:
    """Recordings of ``found`` in more than one split (those in ``only`` when given)."""
    splits_of: dict[str, list[str]] = {}
    for split in sorted(found):
        for youtube_id in found[split]:
            if only is None or youtube_id in only:
                splits_of.setdefault(youtube_id, []).append(split)
    return {
        youtube_id: Leak(
            youtube_id, tuple(splits), where, tuple((s, tuple(sorted(found[s][youtube_id]))) for s in splits)
        )
        for youtube_id, splits in sorted(splits_of.items())
        if len(splits) > 1
    }


def _merged(first: dict[str, Leak], second: dict[str, Leak]) -> list[Leak]:
    """One leak per recording: one seen both in the split folders and in the
    CSVs is one recording, not two."""
    leaks = dict(first)
    for youtube_id, leak in second.items():
        seen = leaks.get(youtube_id)
        if seen is None:
            leaks[youtube_id] = leak
            continue
        splits = tuple(dict.fromkeys(seen.splits + leak.splits))
        labels = dict(leak.labels) | dict(seen.labels)
        leaks[youtube_id] = Leak(
            youtube_id, splits, f"{seen.where} and {leak.where}", tuple((s, labels.get(s, ())) for s in splits)
        )
    return [leaks[youtube_id] for youtube_id in sorted(leaks)]


def csv_labels_by_split(path: Path, into: Labelled | None = None) -> Labelled:
    """youtube_ids of a Kinetics-style CSV, with their labels, by its
    ``split`` column (the file's stem where that is empty); nothing from a
    file that is not such a CSV."""
    found: Labelled = into if into is not None else {}
    mine: Labelled = {}
    try:
        for record in iter_kinetics_records(path, ("youtube_id",)):
            if record["youtube_id"]:
                _add(mine, record["split"] or Path(path).stem, record["youtube_id"], record["label"])
    except AnnotationError:
        return found
    for split, ids in mine.items():
        for youtube_id, labels in ids.items():
            for label in labels or {""}:
                _add(found, split, youtube_id, label)
    return found


def csv_ids_by_split(path: Path) -> dict[str, set[str]]:
    """youtube_ids of a Kinetics-style CSV by its ``split`` column (the file's
    stem where that is empty); empty for a file that is not such a CSV."""
    return {split: set(ids) for split, ids in csv_labels_by_split(path).items()}


def find_leaks(target: Path, clips: Iterable[str | tuple[str, str]] = (), csvs: Iterable[Path] = ()) -> list[Leak]:
    """Recordings in more than one split around the split folder ``target``
    (see the module docstring); ``clips``: the clips found in ``target``
    (``(class, stem)`` pairs, or stems alone), ``csvs``: CSVs to compare
    besides those in the folder above it.  One leak per recording."""
    target = Path(target)
    root = target.parent
    folders: Labelled = {target.name: {}}
    for clip in clips:
        class_name, stem = clip if isinstance(clip, tuple) else ("", clip)
        _add(folders, target.name, recording_of(stem), class_name)
    # Each split once, though its shards each leave a manifest file.
    splits = {manifest.name[: manifest.name.index(".manifest")] for manifest in root.glob("*.manifest*.jsonl")}
    for split in sorted(splits):
        folders.setdefault(split, {})
        for row in read_records(Layout(root / split).all_records("manifest")):
            class_name, _, stem = str(row["rel"]).rpartition("/")
            _add(folders, split, recording_of(stem), class_name)
    by_name = {p.name: p for p in sorted(root.glob("*.csv"))}
    for extra in csvs:
        by_name.setdefault(Path(extra).name, Path(extra))  # a run's copy beside the split is the same file
    rows: Labelled = {}
    for path in by_name.values():
        csv_labels_by_split(path, rows)
    return _merged(_leaks(folders, "split folders"), _leaks(rows, "CSVs"))


def csv_leaks(csv: Path, against: Iterable[Path] = ()) -> list[Leak]:
    """Before any extraction: the recordings of the Kinetics CSV ``csv`` that
    another split also holds, by the CSVs beside it (an official download's
    ``train.csv``, ``val.csv``, ``test.csv``) and ``against``; rows of the
    same split (a subset's CSV beside its source) are no leak."""
    csv = Path(csv)
    mine = csv_labels_by_split(csv)
    ids = {youtube_id for found in mine.values() for youtube_id in found}
    everything: Labelled = {}
    for path in dict.fromkeys([csv, *sibling_csvs(csv), *map(Path, against)]):
        csv_labels_by_split(path, everything)
    return list(_leaks(everything, "CSVs", ids).values())


def format_leaks(leaks: list[Leak], limit: int = 5) -> str:
    """One line: how many recordings are in more than one split, the first few named."""
    shown = "; ".join(leak.describe() for leak in leaks[:limit])
    more = f"; and {len(leaks) - limit} more" if len(leaks) > limit else ""
    return (
        f"{len(leaks)} recording{'s' if len(leaks) != 1 else ''} (youtube_id) in more than one split, "
        f"so validation would see training footage: {shown}{more}"
    )
