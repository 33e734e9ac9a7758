"""What the user sees while a run goes: a tqdm bar on a terminal, otherwise
(CI logs, ``nohup``, SLURM) a one-line status every ``interval`` seconds."""

from __future__ import annotations

import logging
import sys
import time

from ..clip.extract import ClipResult
from ..words import plural
from .runner import NoProgress, Summary

log = logging.getLogger("k400frames")


class BarProgress:
    """tqdm bar: clips done / total, frames/s, failures, ETA.  Clips finished
    by an earlier run start the bar (tqdm's ``initial``), so its rate and ETA
    count only the clips this run does."""

    def __init__(self, stream=None, clock=time.monotonic):
        self.stream = stream or sys.stderr
        self.clock = clock
        self.bar = None
        self.started = clock()

    def start(self, total: int, done: int = 0) -> None:
        from tqdm import tqdm

        self.started = self.clock()
        self.bar = tqdm(total=total, initial=done, unit="clip", file=self.stream, dynamic_ncols=True, mininterval=0.5)

    def update(self, result: ClipResult | None, summary: Summary) -> None:
        if self.bar is None:  # update before start: nothing to draw on
            return
        self.bar.update(1)
        elapsed = max(self.clock() - self.started, 1e-9)
        self.bar.set_postfix_str(f"{summary.frames / elapsed:.0f} frames/s, {summary.failed} failed", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class LineProgress:
    """Periodic status lines for logs that are not a terminal.  Rate and ETA
    count only the clips this run does, not those finished before it."""

    def __init__(self, interval: float = 30.0, clock=time.monotonic):
        self.interval = interval
        self.clock = clock
        self.total = self.done_before = self.seen = 0
        self.started = self.last = clock()

    def start(self, total: int, done: int = 0) -> None:
        self.total, self.done_before, self.seen = total, done, done
        self.started = self.last = self.clock()
        if done:
            log.info("progress: %d/%s already done, %d to do", done, plural(total, "clip"), total - done)

    def update(self, result: ClipResult | None, summary: Summary) -> None:
        self.seen += 1
        now = self.clock()
        if now - self.last >= self.interval or self.seen == self.total:
            self.last = now
            elapsed = max(now - self.started, 1e-9)
            rate = (self.seen - self.done_before) / elapsed
            eta = (self.total - self.seen) / rate if rate else 0
            log.info(
                "progress: %d/%s, %.1f clips/s, %.0f frames/s, %d failed, ETA %s",
                self.seen,
                plural(self.total, "clip"),
                rate,
                summary.frames / elapsed,
                summary.failed,
                _hms(eta),
            )

    def close(self) -> None:
        pass


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def make_progress(quiet: bool = False):
    if quiet:
        return NoProgress()
    # A bar only when a person watches; logs (CI, nohup, SLURM) get status lines.
    interactive = sys.stdout.isatty() and sys.stderr.isatty()
    return BarProgress() if interactive else LineProgress()
