"""Run clips on a Dask cluster (``executor: dask``).

The client (the ``k400frames extract`` process) keeps everything that must be
written once: the progress bar, the manifest, the failures file and the
summary.  Workers only run :func:`~k400frames.clip.extract.extract_clip`, which
publishes each clip folder with one atomic rename on the shared filesystem.
So a worker that dies mid-clip leaves at most a temp folder (removed at the
end of the run), never a half folder at a final name.

A clip whose worker dies is started again elsewhere by the scheduler itself;
after ``distributed.scheduler.allowed-failures`` such deaths (3 by default)
Dask gives up with ``KilledWorker``, and the clip is recorded as failed here
instead of crashing the run.  We deliberately pass no ``retries=``: that
option re-runs tasks that *raise*, and ``extract_clip`` only raises for a
full disk, which must stop the run rather than be tried again.

Dask is an optional extra and is imported only when this executor is made.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import ffmpeg
from ..clip.context import RunContext
from ..clip.extract import ClipResult, extract_clip
from ..config import Config
from ..errors import FFmpegNotFound, MissingExtra, PreflightError
from ..ffmpeg.process import _die_with_parent
from ..sources.tree import Clip

INSTALL_HINT = "pip install 'k400frames[dask]'"
WAIT_FOR_WORKERS_S = 120.0

# Slower ticks than Dask's defaults: clips take seconds, and an idle cluster
# otherwise takes a share of the cores (docs/performance.md).  Used for the
# local cluster; for `dask worker` and `dask scheduler` set them as
# environment variables (DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL=1s and so
# on, see examples/dask_cluster.md and dask_environment()).
QUIET_DASK_CONFIG = {
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


def dask_environment() -> dict[str, str]:
    """QUIET_DASK_CONFIG as the environment variables Dask's command line reads."""
    return {
        "DASK_" + key.upper().replace(".", "__").replace("-", "_"): value for key, value in QUIET_DASK_CONFIG.items()
    }


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise MissingExtra(f"executor 'dask' needs Dask, which is not installed; install with {INSTALL_HINT}") from None
    return distributed


def _ignore_sigint_plugin(distributed):
    """Local worker processes share the terminal's process group, so Ctrl-C
    reaches them too and each would die printing a traceback.  The client
    alone handles Ctrl-C (it cancels the tasks and closes the cluster), so
    its workers ignore SIGINT; workers the nanny restarts get this too."""

    class IgnoreSigint(distributed.WorkerPlugin):  # type: ignore[name-defined]  # imported at run time
        def setup(self, worker) -> None:
            import signal
            import threading

            if threading.current_thread() is threading.main_thread():
                signal.signal(signal.SIGINT, signal.SIG_IGN)

    return IgnoreSigint()


def _warm_up(configured_ffmpeg: str | None) -> str:
    """Run on every worker when the run starts: import the extraction code and
    find (and cache) ffmpeg there, so the first clip on each worker does not
    pay for it and a worker without a working ffmpeg stops the run before
    any work, with the reason."""
    from ..clip import frames, video  # noqa: F401 - imported for their cost, now rather than on the first clip

    _die_with_parent()  # probes and caches how ffmpeg gets its parent-death signal
    return ffmpeg.find_ffmpeg(configured_ffmpeg)


# On a worker: the context of each run (client) it serves, by run id.  A
# worker may serve several runs at once; stopping one leaves the others be.
_contexts: dict[str, RunContext] = {}
_contexts_lock = threading.Lock()


def _context(run_id: str) -> RunContext:
    with _contexts_lock:
        return _contexts.setdefault(run_id, RunContext())


def _run_clip(run_id: str, clip: Clip, cfg: Config, tmp_root: Path) -> ClipResult:
    """What a worker runs for one clip, in its run's context there: a clip
    of a run that has stopped returns at once as interrupted (the scheduler
    may have handed it to this worker before the client cancelled it)."""
    return extract_clip(clip, cfg, tmp_root, _context(run_id))


STOP_GRACE_S = 10.0


def _stop_run(run_id: str) -> None:
    """On every worker when a run stops: no clip of it starts any more, and
    its ffmpegs are killed, now and as they start.  Waits (a while) until
    none of them is left, so the client removes a temp area nobody writes to."""
    ctx = _context(run_id)
    ctx.stop()
    end = time.monotonic() + STOP_GRACE_S
    while len(ctx.processes) and time.monotonic() < end:
        time.sleep(0.02)


def _end_run(run_id: str) -> None:
    """On every worker when a run has ended without a stop: forget it."""
    with _contexts_lock:
        _contexts.pop(run_id, None)


class DaskTask:
    """One submitted call.  Its :meth:`result` is safe for the runner: a lost
    worker becomes a failed :class:`ClipResult`; anything the call itself
    raised (a full disk) is raised as it is."""

    def __init__(self, future, args: tuple):
        self.future = future
        self.args = args

    def result(self) -> Any:
        from distributed import KilledWorker

        try:
            return self.future.result()
        except KilledWorker as exc:
            clip = self.args[0] if self.args else None
            if not isinstance(clip, Clip):
                raise
            return ClipResult(
                clip.rel,
                str(clip.source),
                ok=False,
                stage="worker",
                reason=f"the Dask worker running this clip died, on every try ({exc}); "
                f"often out of memory: check the worker logs, then retry the failed clips",
            )


class DaskExecutor:
    """The executor interface of :class:`~k400frames.run.executors.LocalExecutor`
    on a Dask cluster: ``cfg.dask_scheduler`` if set, else a cluster of
    ``cfg.worker_count`` local worker processes with one thread each (the
    real work happens in ffmpeg, one process per clip)."""

    def __init__(self, cfg: Config, ctx: RunContext):
        distributed = _import_distributed()
        self.ctx = ctx  # the client's side of the run: its stop reaches the workers through close()
        self._outstanding: set[DaskTask] = set()
        self._run_id = uuid.uuid4().hex  # tells this run's tasks from other clients' on shared workers
        # The scheduler and nannies of a local cluster live in this process and
        # log every worker start and stop at INFO; keep the user's terminal for
        # the progress bar and real problems.
        self._distributed_log = logging.getLogger("distributed")
        self._previous_log_level = self._distributed_log.level
        self._distributed_log.setLevel(logging.ERROR)
        self._cluster = None
        try:
            if cfg.dask_scheduler:
                try:
                    self._client = distributed.Client(cfg.dask_scheduler)
                except OSError as exc:
                    raise PreflightError(
                        f"cannot reach the Dask scheduler at {cfg.dask_scheduler} (dask.scheduler in the config): {exc}"
                    ) from None
            else:
                import dask

                with dask.config.set(QUIET_DASK_CONFIG):  # the nannies pass it on to their workers
                    self._cluster = distributed.LocalCluster(
                        n_workers=cfg.worker_count,
                        threads_per_worker=1,
                        processes=True,
                        # CRITICAL: a worker of this private cluster that logs an
                        # error while we shut it down (a heartbeat to a scheduler
                        # already gone) says nothing a user can act on; a clip
                        # that really failed reaches the run through its future.
                        dashboard_address=None,
                        silence_logs=logging.CRITICAL,
                        # No dashboard; its small HTTP server (health, metrics) on a
                        # free local port rather than 8787, which another run may hold.
                        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
                    )
                self._client = distributed.Client(self._cluster)
                register = getattr(self._client, "register_plugin", None) or self._client.register_worker_plugin
                register(_ignore_sigint_plugin(distributed), name="k400frames-ignore-sigint")
        except BaseException:
            if self._cluster is not None:
                self._cluster.close()
            self._distributed_log.setLevel(self._previous_log_level)
            raise
        if not self._client.nthreads():
            # A fresh cluster whose workers are still starting (a job queue):
            # wait for one, so the queue the runner keeps is sized to the cluster.
            try:
                self._client.wait_for_workers(1, timeout=WAIT_FOR_WORKERS_S)
            except (TimeoutError, OSError):
                self.close()
                raise PreflightError(
                    f"no Dask worker joined the scheduler at {cfg.dask_scheduler} within "
                    f"{WAIT_FOR_WORKERS_S:g} s; start some with: dask worker "
                    f"{cfg.dask_scheduler} --nthreads 1"
                ) from None
        try:
            self._client.run(_warm_up, cfg.ffmpeg)
        except FFmpegNotFound as exc:
            self.close()
            raise PreflightError(f"a Dask worker has no working ffmpeg: {exc}") from None
        # Threads across the cluster now; the runner keeps about twice this many clips queued.
        self.workers = max(sum(self._client.nthreads().values()), 1)

    def submit_clip(self, clip: Clip, cfg: Config, tmp_root: Path) -> DaskTask:
        # pure=False: every submission is its own task, even for equal arguments.
        task = DaskTask(self._client.submit(_run_clip, self._run_id, clip, cfg, tmp_root, pure=False), (clip,))
        self._outstanding.add(task)
        return task

    def wait_any(self, pending: Iterable[DaskTask]) -> tuple[set, set]:
        from distributed import wait

        by_future = {task.future: task for task in pending}
        done, not_done = wait(list(by_future), return_when="FIRST_COMPLETED")
        settled = {by_future[f] for f in done}
        self._outstanding -= settled
        return settled, {by_future[f] for f in not_done}

    def _cancel(self, pending: Iterable[DaskTask]) -> None:
        pending = list(pending)
        if pending:
            self._client.cancel([task.future for task in pending])
        self._outstanding.difference_update(pending)

    def close(self) -> None:
        """Cancel what is still queued or running, kill the ffmpegs that run
        for it on every worker, and shut down (the local cluster too)."""
        try:
            if self._outstanding or self.ctx.stopping:
                self._cancel(list(self._outstanding))
                # Cancelling a future does not stop a task that is running,
                # nor one the worker already holds, so stop them there;
                # extract_clip then removes its temp dir.  A dead worker has
                # no ffmpeg left to kill.
                with contextlib.suppress(Exception):
                    self._client.run(_stop_run, self._run_id, wait=True)
            else:
                with contextlib.suppress(Exception):
                    self._client.run(_end_run, self._run_id, wait=True)
        finally:
            try:
                self._client.close()
                if self._cluster is not None:
                    self._cluster.close()
            finally:
                self._distributed_log.setLevel(self._previous_log_level)
