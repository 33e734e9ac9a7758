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

from .kinetics import Row, label_key, read_kinetics_csv
from .segments import class_folder, find_videos
from .tree import Clip, Collision, output_class_name

# How files that match no CSV row are counted among a run's skipped files.
NO_ROW = "no CSV row"


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
) -> Iterator[Clip | Collision]:
    """One :class:`Clip` per distinct row of the Kinetics CSV ``annotations``,
    sorted by ``<class>/<clip>``, its video found under ``source`` (or in
    ``replacements``); a :class:`Collision` where two files claim one row.
    Files that match no row are counted in ``skipped`` as :data:`NO_ROW`."""
    count = skipped if skipped is not None else Counter()
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
    count[NO_ROW] += sum(len(paths) for stem, paths in videos.items() if stem not in used)
    if not count[NO_ROW]:
        del count[NO_ROW]
    # The rows and the index are not needed while the run takes the clips.
    del rows, names, videos, used, labels_of, per_clip, id_rows
    items.sort(key=lambda item: item.rel)
    yield from items
