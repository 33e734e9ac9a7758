"""A download as it comes: the annotations CSV gives each video its class.

The CVDF tarballs of Kinetics extract to one flat folder per split
(``train/<youtube_id>_<start>_<end>.mp4``, no class folders) plus a folder
of replacements for corrupted originals; other downloaders nest videos in
folders of their own (``part_0/``).  With an annotations CSV none of that
needs sorting first: each row names its clip (``<youtube_id>_<start:06d>_<end:06d>``,
or the bare ``youtube_id``), the video of that name is found at any depth,
and the row's label is its class, so the output tree is the usual
``<class>/<clip>``.  A file in ``replacements`` wins over the source's file
of the same name.

The CVDF download has one replacements folder for all its splits
(``replacement/replacement_for_corrupted_k400``): a file there that no row
of this split names but another split's CSV beside ``annotations`` does
(:func:`other_split_names`) belongs to that split, and is no stray of this
one.  Rows of the ``missing_ok`` CSV (rows known gone for good) that have no
file are no clips: they are counted as :data:`KNOWN_GONE`, not failed.

Nothing is guessed: a file that matches no row is left out and counted (in
the run's summary; ``k400frames doctor`` names each one), a row whose video
is missing, or whose label cannot be a folder, becomes a clip with a
``problem`` (a failure the run records, so ``--retry-failed`` takes it once
the file is there), and two files for one row are a collision.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..errors import AnnotationError
from .kinetics import (
    Row,
    clip_names_of,
    iter_kinetics_records,
    kinetics_clip_name,
    label_key,
    read_kinetics_csv,
    sibling_csvs,
)
from .segments import class_folder, find_videos
from .tree import Clip, Collision, output_class_name

# How files that match no CSV row are counted among a run's skipped files.
NO_ROW = "no CSV row"
# How rows of the missing_ok CSV without a file are counted there (rows, not files).
KNOWN_GONE = "known gone (missing_ok)"


def other_split_names(annotations: Path, against: Sequence[Path] = ()) -> set[str]:
    """The clip names and bare ``youtube_id``s that the Kinetics CSVs beside
    ``annotations`` (the other splits' of an official download) and
    ``against`` name.  A file beside that is no Kinetics CSV is passed over."""
    names: set[str] = set()
    for path in dict.fromkeys([*sibling_csvs(annotations), *map(Path, against)]):
        try:
            for record in iter_kinetics_records(path):
                youtube_id = record["youtube_id"]
                names.add(youtube_id)
                try:
                    names.add(kinetics_clip_name(youtube_id, int(record["time_start"]), int(record["time_end"])))
                except ValueError:
                    continue  # times that are no whole seconds name no Kinetics file
        except AnnotationError:
            continue
    return names


def from_replacements(paths: Sequence[Path], replacements: Path | None) -> bool:
    """Whether the files ``paths`` of one stem came from the ``replacements`` folder."""
    return replacements is not None and bool(paths) and paths[0].is_relative_to(replacements)


def unused_stems(
    videos: dict[str, list[Path]],
    used: set[str],
    annotations: Path,
    replacements: Path | None,
) -> tuple[list[str], list[str]]:
    """The stems of ``videos`` that no row of this split ``used``, sorted, as
    (strays, other splits'): a file of the shared ``replacements`` folder
    that another split's CSV beside ``annotations`` names is that split's."""
    unused = sorted(stem for stem in videos if stem not in used)
    shared = [stem for stem in unused if from_replacements(videos[stem], replacements)]
    if not shared:
        return unused, []
    others = other_split_names(annotations)
    theirs = {stem for stem in shared if stem in others}
    return [stem for stem in unused if stem not in theirs], sorted(theirs)


def known_gone_names(missing_ok: Path | None) -> set[str]:
    """The clip names the ``missing_ok`` CSV lists (empty without one)."""
    return clip_names_of(missing_ok) if missing_ok is not None else set()


def index_videos(
    source: Path, extensions: Sequence[str], replacements: Path | None = None, skipped: Counter | None = None
) -> dict[str, list[Path]]:
    """Every video under ``source`` (any depth) by file stem, with the files
    of ``replacements`` in place of the source's files of the same stem."""
    exclude = replacements if replacements is not None and replacements.is_relative_to(source) else None
    videos = find_videos(source, extensions, skipped, exclude=exclude)
    if replacements is not None:
        videos.update(find_videos(replacements, extensions, skipped))
    return videos


def is_class_tree(source: Path, labels: Callable[[], set[str]], extensions: Sequence[str]) -> bool:
    """Whether ``source`` is a ``<class>/<clip>`` tree: no video directly in
    it and at least one top-level folder named as a CSV label (either
    spelling of spaces).  An empty source, or a CSV without rows (kept only
    to be copied beside the frames), leaves a tree as it was.  Else the CSV
    gives each video its class.  ``labels`` is called only when the
    folders' names decide."""
    suffixes = tuple(e.lower() for e in extensions)
    folders = []
    with os.scandir(source) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir():
                folders.append(label_key(entry.name))
            elif entry.name.lower().endswith(suffixes):
                return False
    if not folders:
        return True
    keys = {label_key(label) for label in labels()}
    return not keys or any(name in keys for name in folders)


def uses_annotations_layout(
    source: Path, annotations: Path | None, replacements: Path | None, extensions: Sequence[str]
) -> bool:
    """Whether a run takes its clips from the CSV's rows (:func:`iter_annotated`)
    rather than from class folders: with an annotations CSV, when there is a
    replacements folder or the source is not a class tree."""
    if annotations is None:
        return False
    if replacements is not None:
        return True
    return not is_class_tree(source, lambda: {row.label for row in read_kinetics_csv(annotations)}, extensions)


def row_files(
    row: Row, videos: dict[str, list[Path]], id_rows: Counter, name: str | None = None
) -> tuple[str, list[Path]]:
    """(the stem that matched, its files) for ``row`` (whose clip name is
    ``name``, when the caller has made it): its Kinetics name, else its bare
    ``youtube_id`` when no other row has that id; empty when none."""
    name = name or row.clip_name
    if name in videos:
        return name, videos[name]
    if id_rows[row.youtube_id] == 1 and row.youtube_id in videos:
        return row.youtube_id, videos[row.youtube_id]
    return name, []


def iter_annotated(
    annotations: Path,
    source: Path,
    extensions: Sequence[str],
    class_policy: str = "keep",
    replacements: Path | None = None,
    skipped: Counter | None = None,
    missing_ok: Path | None = None,
) -> Iterator[Clip | Collision]:
    """One :class:`Clip` per distinct row of the Kinetics CSV ``annotations``,
    sorted by ``<class>/<clip>``, its video found under ``source`` (or in
    ``replacements``); a :class:`Collision` where two files claim one row.
    Files that match no row (other splits' replacements apart) are counted
    in ``skipped`` as :data:`NO_ROW`; rows of ``missing_ok`` without a file
    are no clips, counted as :data:`KNOWN_GONE`."""
    count = skipped if skipped is not None else Counter()
    gone = known_gone_names(missing_ok)
    videos = index_videos(source, extensions, replacements, count)
    # Rows of one label and clip are one clip (doctor reports the repeats).
    unique: dict[tuple[str, str], Row] = {}
    for row in read_kinetics_csv(annotations):
        unique.setdefault((row.label, row.clip_name), row)
    rows = list(unique.values())
    del unique
    names = [row.clip_name for row in rows]  # made once: 240,000 of them
    # Rows are unique by (label, clip): a clip counted twice has two labels.
    per_clip = Counter(names)
    labels_of: dict[str, list[str]] = {}
    for row, name in zip(rows, names, strict=True):
        if per_clip[name] > 1:
            labels_of.setdefault(name, []).append(row.label)
    id_rows = Counter(row.youtube_id for row in rows)
    used: set[str] = set()
    items: list[Clip | Collision] = []
    for row, name in zip(rows, names, strict=True):
        stem, paths = row_files(row, videos, id_rows, name)
        used.add(stem)
        if not paths and name in gone:
            count[KNOWN_GONE] += 1
            continue
        out_class = class_folder(row.label, class_policy)
        problem = None
        if name in labels_of:
            labels = ", ".join(repr(label) for label in sorted(labels_of[name]))
            problem = f"{annotations.name} gives this clip {len(labels_of[name])} labels ({labels}); keep one"
        elif out_class is None:
            problem = f"label {row.label!r} cannot be a class folder name" if row.label else "the row has no label"
        elif not paths:
            problem = (
                f"no file {name}.<ext> (nor {row.youtube_id}.<ext>) under {source}"
                + (f" or {replacements}" if replacements is not None else "")
                + "; `k400frames doctor` lists the rows to download again"
            )
        folder = out_class or output_class_name(row.label or "_", "underscore").replace("/", "_")
        if problem is None and len(paths) > 1:
            items.append(Collision(row.label, folder, name, tuple(paths)))
            continue
        source_path = paths[0] if paths else annotations
        items.append(Clip(source_path, row.label, folder, name, problem=("source", problem) if problem else None))
    strays, _ = unused_stems(videos, used, annotations, replacements)
    count[NO_ROW] += sum(len(videos[stem]) for stem in strays)
    if not count[NO_ROW]:
        del count[NO_ROW]
    # The rows and the index are not needed while the run takes the clips.
    del rows, names, videos, used, labels_of, per_clip, id_rows, gone
    items.sort(key=lambda item: item.rel)
    yield from items
