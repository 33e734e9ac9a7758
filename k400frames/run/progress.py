"""What the user sees while work goes: one protocol, two displays.

Every long job reports to a :class:`Progress`: a run (one update per clip,
with its :class:`~k400frames.run.runner.Summary`), ``verify`` (per clip
checked, with its counts) and ``doctor`` (per header read).  The displays:
a tqdm bar on a terminal, otherwise (CI logs, ``nohup``, SLURM) a one-line
status every ``interval`` seconds; :func:`make_progress` picks one, and is
how the CLI makes every bar."""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from typing import Any, Protocol

from ..words import plural

log = logging.getLogger("k400frames")


class Counts(Protocol):
    """What a display reads after each item: frames made or checked and
    items failed, so far (a run's ``Summary`` is one)."""

    @property
    def frames(self) -> int: ...

    @property
    def failed(self) -> int: ...


class Progress(Protocol):
    """What long work reports to: ``start`` once (``done``: items of
    ``total`` finished by earlier runs, so not part of this run's speed),
    ``update`` after each item this run finishes or fails (``item``: the
    clip's result, its ``rel`` or the file; displays need only the
    ``counts``), ``close`` at the end."""

    def start(self, total: int, done: int = 0) -> None: ...
    def update(self, item: object, counts: Counts) -> None: ...
    def close(self) -> None: ...


@dataclasses.dataclass
class Tally:
    """Plain :class:`Counts` for work that keeps no summary of its own."""

    frames: int = 0
    failed: int = 0


class NoProgress:
    """Reports to nobody (``--quiet``, or no progress given)."""

    def start(self, total: int, done: int = 0) -> None:
        pass

    def update(self, item: object, counts: Counts) -> None:
        pass

    def close(self) -> None:
        pass


class BarProgress:
    """tqdm bar: items done / total, frames/s, failures, ETA.  Items
    finished by an earlier run start the bar (tqdm's ``initial``), so its
    rate and ETA count only the items this run does.  ``unit``: what is
    counted; ``frames``: whether the work makes or checks frames (their rate
    is shown); ``desc``: the bar's label."""

    def __init__(self, stream=None, clock=time.monotonic, *, unit: str = "clip", frames: bool = True, desc=None):
        self.stream = stream or sys.stderr
        self.clock = clock
        self.unit, self.frames, self.desc = unit, frames, desc
        self.bar: Any = None  # a tqdm, once started
        self.started = clock()

    def start(self, total: int, done: int = 0) -> None:
        from tqdm import tqdm

        self.started = self.clock()
        self.bar = tqdm(
            total=total,
            initial=done,
            unit=self.unit,
            desc=self.desc,
            file=self.stream,
            dynamic_ncols=True,
            mininterval=0.5,
        )

    def update(self, item: object, counts: Counts) -> None:
        if self.bar is None:  # update before start: nothing to draw on
            return
        self.bar.update(1)
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = f"{counts.frames / elapsed:.0f} frames/s, " if self.frames else ""
        self.bar.set_postfix_str(f"{rate}{counts.failed} failed", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class LineProgress:
    """Periodic status lines for logs that are not a terminal.  Rate and ETA
    count only the items this run does, not those finished before it."""

    def __init__(self, interval: float = 30.0, clock=time.monotonic, *, unit: str = "clip", frames: bool = True):
        self.interval = interval
        self.clock = clock
        self.unit, self.frames = unit, frames
        self.total = self.done_before = self.seen = 0
        self.started = self.last = clock()

    def start(self, total: int, done: int = 0) -> None:
        self.total, self.done_before, self.seen = total, done, done
        self.started = self.last = self.clock()
        if done:
            log.info("progress: %d/%s already done, %d to do", done, plural(total, self.unit), total - done)

    def update(self, item: object, counts: Counts) -> None:
        self.seen += 1
        now = self.clock()
        if now - self.last >= self.interval or self.seen == self.total:
            self.last = now
            elapsed = max(now - self.started, 1e-9)
            rate = (self.seen - self.done_before) / elapsed
            eta = (self.total - self.seen) / rate if rate else 0
            frames = f"{counts.frames / elapsed:.0f} frames/s, " if self.frames else ""
            log.info(
                "progress: %d/%s, %.1f %ss/s, %s%d failed, ETA %s",
                self.seen,
                plural(self.total, self.unit),
                rate,
                self.unit,
                frames,
                counts.failed,
                _hms(eta),
            )

    def close(self) -> None:
        pass


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def make_progress(quiet: bool = False, *, unit: str = "clip", frames: bool = True, desc=None) -> Progress:
    """The display for the CLI's every long job: none when ``quiet``, a bar
    when a person watches, status lines for logs (CI, nohup, SLURM)."""
    if quiet:
        return NoProgress()
    interactive = sys.stdout.isatty() and sys.stderr.isatty()
    if interactive:
        return BarProgress(unit=unit, frames=frames, desc=desc)
    return LineProgress(unit=unit, frames=frames)
