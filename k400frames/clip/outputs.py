"""What a clip becomes: the output kinds, behind one interface.

An output kind says how a clip is made (its members: frame JPEGs, or one
video), how a finished one is recognised (resume), checked (``verify``) and
counted (``lists``).  It never knows where a clip is kept: a store
(:mod:`k400frames.stores`) puts the members it makes, and hands finished
clips back as views that every kind reads the same way.  The runner, the
planner and the tools only ever talk to an :class:`Output`.

A new kind is one new module with a subclass and one line in
:data:`OUTPUTS`; its name and doc line are plain data in
:mod:`k400frames.config` (``OUTPUT_DOCS``), which a test holds equal to it.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from .. import ffmpeg
from ..stores.base import ClipKey, ClipView

if TYPE_CHECKING:  # only for annotations
    from pathlib import Path

    from ..config import Config
    from ..layout import Entry
    from ..sources.tree import Clip
    from ..stores.base import Store
    from .context import RunContext


class IncompleteOutput(Exception):
    """ffmpeg's output has gaps or cannot be read; the clip is not trusted."""


@dataclasses.dataclass
class Made:
    """A clip made, not yet counted, finished or put in its store."""

    run: ffmpeg.FFmpegResult
    frames: list[bytes] = dataclasses.field(default_factory=list)  # a frame clip's JPEGs, in order
    path: Path | None = None  # a file clip: the file ffmpeg wrote in the clip's work folder
    flow: list[tuple[str, bytes]] = dataclasses.field(
        default_factory=list
    )  # flow members (clip/flow.py), made by finish


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
    suffix: ClassVar[str] = ""  # of the clip's name: "" for a folder, ".mp4" for a file
    is_folder: ClassVar[bool]  # a folder of members (frames) or one file

    def key(self, clip: Clip) -> ClipKey:
        """The clip's place in its split's store."""
        return self.key_of(clip.out_class, clip.stem)

    def key_of(self, class_name: str, stem: str) -> ClipKey:
        """The key of the clip ``stem`` of ``class_name`` (as :func:`scan` pairs name it)."""
        return ClipKey(class_name, stem + self.suffix, self.is_folder)

    # -- making --------------------------------------------------------------

    def make(self, clip: Clip, cfg: Config, work: Path, exe: str, ctx: RunContext) -> Made:
        """Decode ``clip`` (temp files go in ``work``).  Raises ``SpanError``
        for a span outside its video, :class:`IncompleteOutput` for output
        with gaps."""
        raise NotImplementedError

    def count(self, made: Made, cfg: Config) -> int:
        """Frames ffmpeg made (0: none, or an unfinished file); raises
        :class:`IncompleteOutput` for output with gaps.  A zero exit code
        alone is never success: this count is."""
        raise NotImplementedError

    def finish(self, made: Made, count: int, cfg: Config) -> Finished:
        """Give a made clip of ``count`` frames its final form (trim, pad)."""
        return Finished(decoded=count)

    def members(self, made: Made, cfg: Config, key: ClipKey) -> list[tuple[str, bytes]]:
        """The finished clip as ``(name, bytes)`` members, byte-identical to
        the files a folder tree holds (a file clip: one member, named ``key.name``)."""
        raise NotImplementedError

    # -- reading back --------------------------------------------------------

    def claims(self, entry: Entry) -> bool:
        """Whether an entry of a split (a folder's or a store's) is a clip of this kind."""
        raise NotImplementedError

    def looks_complete(self, view: ClipView, cfg: Config) -> bool:
        """Whether a clip found without its manifest line is whole (adopted on
        resume when the run died between putting it and recording it)."""
        raise NotImplementedError

    def check(
        self,
        view: ClipView,
        rel: str,
        num_frames: int,
        frame_name: str,
        *,
        deep: bool = False,
        ffmpeg_exe: str | None = None,
        flow_name: str | None = None,
        flow_only: bool = False,
    ) -> tuple[list[Problem], int]:
        """``verify`` of one clip: its problems and the frames it holds (with
        ``flow_name``, its flow pairs too, checked by the same count;
        ``flow_only``: flow alone, no RGB frames)."""
        raise NotImplementedError

    def listed_frames(self, view: ClipView, frame_name: str) -> int | None:
        """Frames a loader will read from the clip, for list lines that carry
        a count (0: nothing readable, leave it out); None where list lines
        carry no count."""
        raise NotImplementedError


# The registry: ``output`` config value -> the module and class of its kind
# (its doc line is config.OUTPUT_DOCS).  Imported on first use, so reading a
# config loads no video or frame code.
OUTPUTS: dict[str, tuple[str, str]] = {
    "frames": ("k400frames.clip.frames", "FramesOutput"),
    "video": ("k400frames.clip.video", "VideoOutput"),
}


@functools.cache
def output_named(name: str) -> Output:
    """The output kind of the ``output`` config value ``name``."""
    module, cls = OUTPUTS[name]
    return getattr(importlib.import_module(module), cls)()


def all_outputs() -> list[Output]:
    return [output_named(name) for name in OUTPUTS]


def detect(entries: Iterable[Entry]) -> Output | None:
    """The kind of the clips among a split's ``entries`` (the first entry of
    a class that some kind claims decides); None when it holds none."""
    kinds = all_outputs()
    try:
        for entry in entries:
            if entry.class_name and entry.name:
                for kind in kinds:
                    if kind.claims(entry):
                        return kind
    except OSError:
        return None
    return None


def scan(entries: Iterable[Entry], output: Output) -> tuple[list[tuple[str, str]], list[Problem]]:
    """The one scanner of a split, whatever its store: (class, clip name)
    pairs of the clips ``output`` claims among ``entries``, in their order,
    and the entries that are neither (strays, empty class folders).  A clip
    name is its stem (``<clip>``, whether it is a folder or ``<clip>.mp4``)."""
    pairs: list[tuple[str, str]] = []
    problems: list[Problem] = []
    clips_in_class = 0
    what = "clip folders" if output.is_folder else f"clip {output.suffix} files"
    others = [kind for kind in all_outputs() if kind is not output]
    for entry in entries:
        if not entry.class_name:
            problems.append(Problem(entry.name, "stray", "a file where class folders are expected"))
        elif not entry.name:  # the class itself, after its children
            if clips_in_class == 0:
                problems.append(Problem(entry.class_name, "empty-class", f"class folder holds no {what}"))
            clips_in_class = 0
        elif output.claims(entry):
            pairs.append((entry.class_name, entry.name[: len(entry.name) - len(output.suffix)]))
            clips_in_class += 1
        elif other := next((kind for kind in others if kind.claims(entry)), None):
            problems.append(Problem(entry.rel, "mixed", f"a clip of output: {other.name} where {what} are expected"))
        else:
            problems.append(Problem(entry.rel, "stray", f"not a clip where {what} are expected"))
    return pairs, problems


def scan_store(store: Store) -> tuple[Output, list[tuple[str, str]], list[Problem]]:
    """The kind of a store's clips (frames when it holds none), and :func:`scan` of it."""
    output = detect(store.entries()) or output_named("frames")
    pairs, problems = scan(store.entries(), output)
    return output, pairs, problems
