"""Where clips run: a local thread pool, or a Dask cluster.

Both offer the same four calls, so the runner's loop does not care which one
it drives.  Threads are enough locally because each clip's work happens in an
ffmpeg subprocess.
"""
from __future__ import annotations

import concurrent.futures as cf
from typing import Any, Callable, Iterable

from .config import Config


class LocalExecutor:
    """``workers`` clips at a time, each in its own ffmpeg process."""

    def __init__(self, workers: int):
        self.workers = workers
        self._pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="clip")

    def submit(self, fn: Callable, *args: Any) -> cf.Future:
        return self._pool.submit(fn, *args)

    def wait_any(self, pending: Iterable[cf.Future]) -> tuple[set, set]:
        done, not_done = cf.wait(pending, return_when=cf.FIRST_COMPLETED)
        return set(done), set(not_done)

    def cancel(self, pending: Iterable[cf.Future]) -> None:
        for future in pending:
            future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def make_executor(cfg: Config):
    """The executor the config asks for."""
    if cfg.executor == "dask":
        from .dask_executor import DaskExecutor
        return DaskExecutor(cfg)
    return LocalExecutor(cfg.worker_count)
