"""Where clips run: a local thread pool, or a Dask cluster.

Both follow the :class:`Executor` protocol, so the runner's loop does not
care which one it drives.  Threads are enough locally because each clip's
work happens in an ffmpeg subprocess.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..clip.context import RunContext
from ..clip.extract import extract_clip

if TYPE_CHECKING:
    from ..config import Config
    from ..sources.tree import Clip


class Task(Protocol):
    """One submitted call, as :meth:`Executor.submit_clip` returns it."""

    def result(self) -> Any:
        """The call's return value; re-raises what the call raised."""
        ...


class Executor(Protocol):
    """What the runner needs from a place to run clips."""

    # Clips that run at once; the runner keeps about twice this many queued.
    workers: int

    def submit_clip(self, clip: Clip, cfg: Config, tmp_root: Path) -> Task:
        """Start extracting ``clip`` (later, when a worker is free); the
        task's result is its :class:`~k400frames.clip.extract.ClipResult`."""
        ...

    def wait_any(self, pending: Iterable[Any]) -> tuple[set[Any], set[Any]]:
        """Block until at least one of ``pending`` is done: (done, not done)."""
        ...

    def close(self) -> None:
        """Stop everything still queued or running and release the workers."""
        ...


class LocalExecutor:
    """``workers`` clips at a time, each in its own ffmpeg process, all in
    the run's context ``ctx``."""

    def __init__(self, workers: int, ctx: RunContext):
        self.workers = workers
        self.ctx = ctx
        self._pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clip")

    def submit_clip(self, clip: Clip, cfg: Config, tmp_root: Path) -> cf.Future:
        return self._pool.submit(extract_clip, clip, cfg, tmp_root, self.ctx)

    def wait_any(self, pending: Iterable[cf.Future]) -> tuple[set, set]:
        done, not_done = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        return set(done), set(not_done)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(cfg: Config, ctx: RunContext) -> Executor:
    """The executor the config asks for, for the run whose context is ``ctx``."""
    if cfg.executor == "dask":
        from .dask import DaskExecutor  # imports dask only when asked for

        return DaskExecutor(cfg, ctx)
    return LocalExecutor(cfg.worker_count, ctx)
