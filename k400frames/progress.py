"""What the user sees while a run goes: a tqdm bar on a terminal, otherwise
(CI logs, ``nohup``, SLURM) a one-line status every ``interval`` seconds."""
from __future__ import annotations

import logging
import sys
import time

from .extract import ClipResult
from .runner import Summary

log = logging.getLogger("k400frames")


class BarProgress:
    """tqdm bar: clips done / total, frames/s, failures, ETA."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.bar = None
        self.started = time.monotonic()

    def start(self, total: int) -> None:
        from tqdm import tqdm
        self.started = time.monotonic()
        self.bar = tqdm(total=total, unit="clip", file=self.stream, dynamic_ncols=True, mininterval=0.5)

    def update(self, result: ClipResult | None, summary: Summary) -> None:
        self.bar.update(1)
        if result is not None:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            self.bar.set_postfix_str(f"{summary.frames / elapsed:.0f} frames/s, {summary.failed} failed",
                                     refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class LineProgress:
    """Periodic status lines for logs that are not a terminal."""

    def __init__(self, interval: float = 30.0):
        self.interval = interval
        self.total = 0
        self.seen = 0
        self.started = self.last = time.monotonic()

    def start(self, total: int) -> None:
        self.total = total
        self.started = self.last = time.monotonic()

    def update(self, result: ClipResult | None, summary: Summary) -> None:
        self.seen += 1
        now = time.monotonic()
        if now - self.last >= self.interval or self.seen == self.total:
            self.last = now
            elapsed = max(now - self.started, 1e-9)
            rate = self.seen / elapsed
            eta = (self.total - self.seen) / rate if rate else 0
            log.info("progress: %d/%d clips, %.0f frames/s, %d failed, ETA %s",
                     self.seen, self.total, summary.frames / elapsed, summary.failed, _hms(eta))

    def close(self) -> None:
        pass


def _hms(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def make_progress(quiet: bool = False):
    from .runner import NoProgress
    if quiet:
        return NoProgress()
    # A bar only when a person watches; logs (CI, nohup, SLURM) get status lines.
    interactive = sys.stdout.isatty() and sys.stderr.isatty()
    return BarProgress() if interactive else LineProgress()
