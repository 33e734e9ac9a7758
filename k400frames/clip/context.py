"""What the clips of one run share: the run's stop, and the ffmpegs it started.

A run makes one :class:`RunContext` and hands it to each of its clips;
nothing about a run lives in module globals, so two runs in one process (two
notebook threads, two targets) never stop or kill each other's work.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from .. import ffmpeg

if TYPE_CHECKING:
    from ..stores.base import Store


class RunContext:
    """One run's stop flag, its ffmpeg processes, and the store its clips go
    into, opened once for the whole run."""

    def __init__(self, store: Store | None = None) -> None:
        self.processes = ffmpeg.Processes()
        self.store = store
        self._stopped = threading.Event()

    @property
    def stopping(self) -> bool:
        """True once the run is stopping: no new clip starts."""
        return self._stopped.is_set()

    def stop(self) -> None:
        """No new clips; kill this run's ffmpegs, and any it starts from now on
        (their clips are neither done nor failed: the next run does them)."""
        self._stopped.set()
        self.processes.stop()
