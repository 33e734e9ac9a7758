"""What a clip becomes: the output kinds, behind one interface.

An output kind says how a clip is made in its temp folder, where it is
published, how a finished one is recognised (resume), checked (``verify``),
counted (``lists``), measured (dry run) and read back (``preview``).  The
runner, the planner and the tools only ever talk to an :class:`Output`.

A new kind is one new module with a subclass and one line in
:data:`OUTPUTS`; the ``output`` config key, its documentation and the CLI
offer it from there.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from .. import ffmpeg
from ..layout import walk_split

if TYPE_CHECKING:  # only for annotations: a config imports nothing from here at run time
    from ..config import Config
    from ..layout import Entry, Layout
    from ..sources.tree import Clip
    from ..stores.lmdb import LmdbStore
    from .context import RunContext


class IncompleteOutput(Exception):
    """ffmpeg's output has gaps or cannot be read; the clip is not trusted."""


@dataclasses.dataclass
class Made:
    """A clip made in its temp folder, not yet counted or published."""

    run: ffmpeg.FFmpegResult
    path: Path  # the folder or file to publish
    frames: list[bytes] | None = None  # a store's clip: the frames in memory, never on disk


@dataclasses.dataclass(frozen=True)
class Finished:
    """What a made clip holds once it has its final form."""

    decoded: int  # real frames kept
    padded: int = 0  # copies of the last real frame
    cut: bool = False  # the video had more frames than kept


@dataclasses.dataclass(frozen=True)
class Problem:
    """Something wrong at ``rel`` (``class/clip``, ``class`` or a file name)."""

    rel: str
    kind: str  # missing-frames | extra-files | bad-jpeg | bad-video | decode | stray | empty-class | ...
    detail: str


class Output:
    """One output kind.  Subclasses set the class attributes and override the methods."""

    name: ClassVar[str]  # the ``output`` config value
    lists_kind: ClassVar[str]  # what a split of these holds, in the words of lists: "frames" or "videos"
    suffix: ClassVar[str] = ""  # of the published name: "" for a folder, ".mp4" for a file
    is_folder: ClassVar[bool]  # published as a folder (of frames) or as one file

    # -- making and publishing ---------------------------------------------

    def final(self, layout: Layout, clip: Clip) -> Path:
        """Where the finished clip lives: ``<split>/<class>/<clip><suffix>``."""
        return layout.clip_path(clip.out_class, clip.stem, self.suffix)

    def make(self, clip: Clip, cfg: Config, work: Path, exe: str, ctx: RunContext) -> Made:
        """Decode ``clip`` into ``work``.  Raises ``SpanError`` for a span
        outside its video, :class:`IncompleteOutput` for output with gaps."""
        raise NotImplementedError

    def count(self, made: Made, cfg: Config) -> int:
        """Frames ffmpeg wrote (0: none, or an unfinished file); raises
        :class:`IncompleteOutput` for output with gaps.  A zero exit code
        alone is never success: this count is."""
        raise NotImplementedError

    def finish(self, made: Made, count: int, cfg: Config) -> Finished:
        """Give a made clip of ``count`` frames its final form (trim, pad)
        before it is published."""
        return Finished(decoded=count)

    # -- reading back ------------------------------------------------------

    def claims(self, entry: Entry) -> bool:
        """Whether an entry of a class folder is a clip of this kind."""
        raise NotImplementedError

    def looks_complete(self, path: Path, cfg: Config) -> bool:
        """Whether a clip at its final name is whole (adopted on resume
        when the run died between publishing it and recording it)."""
        raise NotImplementedError

    def size(self, path: Path) -> tuple[int, int]:
        """(bytes, inodes) of a published clip."""
        raise NotImplementedError

    def check(
        self,
        path: Path,
        rel: str,
        num_frames: int,
        frame_name: str,
        *,
        deep: bool = False,
        ffmpeg_exe: str | None = None,
    ) -> tuple[list[Problem], int]:
        """``verify`` of one clip: its problems and the frames it holds."""
        raise NotImplementedError

    def listed_frames(self, path: Path, frame_name: str) -> int | None:
        """Frames a loader will read from the clip, for list lines that carry
        a count (0: nothing readable, leave it out); None where list lines
        carry no count."""
        raise NotImplementedError

    # -- in a store (store: lmdb) ------------------------------------------
    # A clip in a store is its members under the key prefix ``<split>/<class>/<clip>``:
    # ``/frame_00001.jpg`` ... for frames, ``.mp4`` for a video.

    def members(self, made: Made, cfg: Config) -> list[tuple[str, bytes]]:
        """The finished clip as ``(name, bytes)`` members, byte-identical to
        the files a folder tree would hold."""
        raise NotImplementedError

    def stored(self, store: LmdbStore, prefix: str) -> dict[str, int]:
        """The members of the clip ``prefix`` in ``store`` (name -> bytes);
        empty when it is not there."""
        raise NotImplementedError

    def in_store(self, store: LmdbStore, prefix: str) -> bool:
        """Whether ``store`` holds any member of the clip ``prefix``: its keys
        start ``<prefix>/`` (a folder's members) or are ``<prefix><suffix>``.
        Reads one key, no value (a resume asks it of every finished clip)."""
        return store.has_prefix(prefix + ("/" if self.is_folder else self.suffix))

    def looks_complete_stored(self, store: LmdbStore, prefix: str, cfg: Config) -> bool:
        """Whether the clip ``prefix`` is whole in ``store`` (adopted on resume)."""
        raise NotImplementedError

    def clip_of_key(self, rel: str) -> tuple[str, str] | None:
        """``(class, clip name as in a folder tree)`` of a key relative to
        its split (``abseiling/x/frame_00001.jpg``), None when the key is
        not a member of a clip of this kind."""
        raise NotImplementedError

    def check_stored(
        self,
        store: LmdbStore,
        prefix: str,
        rel: str,
        num_frames: int,
        frame_name: str,
        *,
        deep: bool = False,
        ffmpeg_exe: str | None = None,
    ) -> tuple[list[Problem], int]:
        """``verify`` of one clip in a store: its problems and the frames it holds."""
        raise NotImplementedError

    def listed_frames_stored(self, store: LmdbStore, prefix: str, frame_name: str) -> int | None:
        """:meth:`listed_frames` of a clip in a store."""
        raise NotImplementedError


# The registry: ``output`` config value -> the module and class of its kind,
# and its line in the config reference.  Imported on first use, so reading a
# config loads no video or frame code.
OUTPUTS: dict[str, tuple[str, str, str]] = {
    "frames": ("k400frames.clip.frames", "FramesOutput", "a folder of exactly `num_frames` JPEGs per clip"),
    "video": ("k400frames.clip.video", "VideoOutput", "one normalized H.264 `<class>/<clip>.mp4` per clip"),
}


@functools.cache
def output_named(name: str) -> Output:
    """The output kind of the ``output`` config value ``name``."""
    module, cls, _ = OUTPUTS[name]
    return getattr(importlib.import_module(module), cls)()


def all_outputs() -> list[Output]:
    return [output_named(name) for name in OUTPUTS]


def detect(split: Path) -> Output | None:
    """The kind of the clips in the split folder ``split`` (the first entry of
    a class folder that some kind claims decides); None when it holds none."""

    kinds = all_outputs()
    try:
        for entry in walk_split(split):
            if entry.class_name and entry.name:
                for kind in kinds:
                    if kind.claims(entry):
                        return kind
    except OSError:
        return None
    return None
