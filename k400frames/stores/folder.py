"""``store: files`` (the default): the folder tree every path-based loader
reads, ``<split>/<class>/<clip>/frame_00001.jpg`` or ``<split>/<class>/<clip>.mp4``.

A clip is written into a folder of its own beside the split and published by
one ``rename``, so a final name always means a whole clip.  Its record goes
to the run's journal first (a write-ahead line): a run killed between the
rename and its manifest line leaves a clip whose counts the next run reads
back from the journal instead of guessing them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import raise_if_disk_full
from ..files import publish, write_new
from ..layout import Entry, Layout, walk_split
from .base import ClipKey, ClipView, Journal, Members, Store, fsname


class FolderView(ClipView):
    def __init__(self, key: ClipKey, clip: Path):
        self.key, self.clip = key, clip

    def sizes(self) -> dict[str, int]:
        try:
            if not self.key.folder:
                return {self.key.name: os.stat(self.clip).st_size} if os.path.isfile(self.clip) else {}
            with os.scandir(self.clip) as entries:
                return {e.name: e.stat().st_size for e in entries}
        except OSError:
            return {}

    def read(self, name: str) -> bytes:
        return self.path(name).read_bytes()

    def path(self, name: str) -> Path:
        return self.clip if not self.key.folder else self.clip / fsname(name)


class FolderStore(Store):
    name = "files"
    packed = False

    def __init__(self, layout: Layout, *, durable: bool = False, pad: str = "copy", journal: Journal | None = None):
        self.layout, self.path = layout, layout.target
        self.durable, self.pad, self.journal = durable, pad, journal
        self._listed: tuple[str, dict[str, os.DirEntry]] | None = None

    @classmethod
    def locate(cls, path: Path) -> Path | None:
        return path if path.is_dir() else None

    @classmethod
    def run_path(cls, layout: Layout) -> Path:
        return layout.target

    @classmethod
    def open_run(cls, layout, *, durable=False, pad="copy", journal=None) -> FolderStore:
        return cls(layout, durable=durable, pad=pad, journal=journal)

    @classmethod
    def open_resume(cls, layout: Layout) -> FolderStore:
        return cls(layout)

    @classmethod
    def open_split(cls, path: Path) -> FolderStore:
        return cls(Layout(path))

    # -- writing -----------------------------------------------------------------

    def final(self, key: ClipKey) -> Path:
        return self.layout.clip_path(key.class_name, key.name)

    def put(self, key: ClipKey, members: Members, record: dict[str, Any], work: Path) -> int:
        final = self.final(key)
        staged = work / "clip"
        written = 0
        try:
            if key.folder:
                staged.mkdir()
                last: tuple[bytes, Path] | None = None
                for name, data in members:
                    path = staged / fsname(name)
                    if last is not None and data is last[0] and self.pad == "hardlink":
                        os.link(last[1], path)  # a pad: the very bytes object of the last real frame
                        continue
                    write_new(path, data)
                    written += len(data)
                    last = (data, path)
            else:
                ((_, data),) = members
                write_new(staged, data)
                written = len(data)
        except OSError as exc:
            raise_if_disk_full(exc, exc.filename or staged)
            raise
        if self.journal is not None:
            self.journal(record)  # before the rename: a published clip always has its counts somewhere
        publish(staged, final, trash=work / "old", durable=self.durable)
        return written

    # -- reading -----------------------------------------------------------------

    def has(self, key: ClipKey) -> bool:
        """From one ``scandir`` per class folder instead of a ``stat`` per
        clip: a resume asks in plan order, class by class, so only the current
        class's names are kept.  Names are joined as strings and a file type
        comes from the directory entry (``d_type``): at 240,000 clips the
        stats and pathlib objects were most of a resume's planning
        (bench/scale.py)."""
        self.final(key)  # refuses a name that would leave the split
        folder = os.path.join(self.layout.target, key.class_name)
        if self._listed is None or self._listed[0] != folder:
            try:
                with os.scandir(folder) as entries:
                    self._listed = (folder, {entry.name: entry for entry in entries})
            except OSError:  # no class folder yet: nothing of this class is finished
                self._listed = (folder, {})
        entry = self._listed[1].get(key.name)
        try:
            return entry is not None and (entry.is_dir() if key.folder else entry.is_file())
        except OSError:
            return False

    def where(self, key: ClipKey) -> str:
        return str(self.final(key))

    def view(self, key: ClipKey) -> FolderView:
        return FolderView(key, self.final(key))

    def clip_inodes(self, key: ClipKey) -> int:
        final = self.final(key)
        if not key.folder:
            return 1
        with os.scandir(final) as entries:  # a hardlinked pad shares its frame's inode
            return len({entry.inode() for entry in entries}) + 1

    def entries(self) -> Iterator[Entry]:
        return walk_split(self.layout.target)
