"""Run ffmpeg safely: an argv list (never a shell) in its own process group,
with a timeout, a stderr tail, the parent-death signal, and a ``finally``
that never lets it outlive the call.

The ffmpegs a run starts are registered in that run's :class:`Processes`,
so stopping one run kills its ffmpegs and nobody else's (two runs in one
process, or one Dask worker serving two clients, stay apart).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path

from ..errors import FFmpegFailed
from . import libc
from .argv import file_url

log = logging.getLogger("k400frames.ffmpeg")

STDERR_TAIL_LINES = 12


@dataclasses.dataclass
class FFmpegResult:
    returncode: int
    stderr_tail: str
    timed_out: bool = False
    stderr: str = ""  # all of it, for callers that classify every message


class Processes:
    """The ffmpegs one owner (a run) has started and not yet reaped.

    :meth:`stop` kills them all, and every ffmpeg registered after it is
    killed the moment it starts: a clip thread that was just starting its
    ffmpeg as the stop came cannot slip through."""

    def __init__(self) -> None:
        self._live: dict[subprocess.Popen, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self.stopped = False

    def add(self, proc: subprocess.Popen, argv: Sequence[str]) -> None:
        with self._lock:
            self._live[proc] = tuple(argv)
            stopped = self.stopped
        if stopped:
            _kill_group(proc)

    def discard(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._live.pop(proc, None)

    def kill(self, inputs: Collection[str | os.PathLike] | None = None) -> None:
        """Kill the ffmpegs (whole process groups); with ``inputs``, only those
        reading one of these videos."""
        wanted = None if inputs is None else {file_url(p) for p in inputs}
        with self._lock:
            procs = [p for p, argv in self._live.items() if wanted is None or wanted.intersection(argv)]
        for proc in procs:
            _kill_group(proc)

    def stop(self) -> None:
        """Kill every ffmpeg now and every one started from now on."""
        with self._lock:
            self.stopped = True
        self.kill()

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)


def _tail(data: bytes, lines: int = STDERR_TAIL_LINES) -> str:
    text = data.decode("utf-8", "replace").strip()
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent_hook():
    """A ``preexec_fn`` that has the kernel SIGKILL ffmpeg when the thread that
    started it dies (Linux only; None elsewhere).  ``finally`` cannot run in a
    process killed with SIGKILL (the OOM killer, or a Dask worker killed by
    its nanny), and without this its ffmpeg would run on as an orphan.  The
    starting thread waits for ffmpeg, so it cannot exit first by accident."""
    prctl = libc.function("prctl")
    if prctl is None:
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


_PR_SET_PDEATHSIG = 1


@functools.cache
def _setpriv() -> str | None:
    """util-linux's ``setpriv``, if it can set the parent-death signal."""
    exe = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if exe is None:
        return None
    try:
        ok = (
            subprocess.run(
                [exe, "--pdeathsig", "KILL", "--", exe, "--version"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=30,
            ).returncode
            == 0
        )
    except (OSError, subprocess.SubprocessError):
        ok = False
    return exe if ok else None


def _die_with_parent() -> tuple[list[str], Callable[[], None] | None]:
    """(argv prefix, preexec_fn) that give ffmpeg the parent-death signal.

    A ``preexec_fn`` makes Python fork the whole process instead of using
    vfork: 20 to 60 ms per clip in a Dask worker on a busy machine, a few
    percent of a clip's time.  So ffmpeg starts through ``setpriv --pdeathsig
    KILL`` where util-linux has it (it sets the signal, then execs ffmpeg),
    and through the hook elsewhere.  setpriv does not recheck the parent: a
    parent killed in the millisecond before setpriv sets the signal leaves one
    ffmpeg that finishes its clip in the temp area and is never published."""
    setpriv = _setpriv()
    if setpriv:
        return [setpriv, "--pdeathsig", "KILL", "--"], None
    return [], _die_with_parent_hook()


def run(
    argv: Sequence[str],
    cwd: Path | None = None,
    timeout: float | None = None,
    tail_lines: int = STDERR_TAIL_LINES,
    processes: Processes | None = None,
) -> FFmpegResult:
    """Run ffmpeg and return its exit code and stderr tail.  The child gets its
    own process group so a timeout or an interrupt can kill it with anything it
    spawned; the ``finally`` guarantees it never outlives this call, and on
    Linux the kernel kills it if this process dies without running it."""
    proc = _start(argv, cwd, subprocess.DEVNULL, subprocess.PIPE, processes)
    # The timeout is a timer that kills the group, not communicate(timeout=):
    # with a timeout, Popen waits for the exit by polling with sleeps of 1, 2,
    # 4 ms..., which cost a short clip about 2.5 ms of idle worker per ffmpeg
    # (measured, bench/scale.py); without one it reads stderr to its end and
    # blocks in waitpid.
    expired = threading.Event()

    def expire() -> None:
        if proc.returncode is None:
            expired.set()
            _kill_group(proc)

    timer = threading.Timer(timeout, expire) if timeout is not None else None
    try:
        if timer:
            timer.daemon = True
            timer.start()
        _, stderr = proc.communicate()
        return FFmpegResult(
            proc.returncode,
            _tail(stderr, tail_lines),
            timed_out=expired.is_set(),
            stderr=stderr.decode("utf-8", "replace"),
        )
    finally:
        if timer:
            timer.cancel()
        _reap(proc, processes)


def _start(argv: Sequence[str], cwd: Path | None, stdout, stderr, processes: Processes | None) -> subprocess.Popen:
    """Start ffmpeg in its own process group, registered with ``processes``."""
    log.debug("running: %s", shlex.join(argv))
    prefix, preexec = _die_with_parent()
    proc = subprocess.Popen(
        [*prefix, *argv],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
        preexec_fn=preexec,
    )
    if processes is not None:
        processes.add(proc, argv)
    return proc


def _reap(proc: subprocess.Popen, processes: Processes | None) -> None:
    """Kill ``proc``'s group if it still runs, wait for it, stop tracking it."""
    if proc.poll() is None:
        _kill_group(proc)
        proc.wait()
    if processes is not None:
        processes.discard(proc)


class Streaming:
    """An ffmpeg started by :func:`stream`: read its frames from ``stdout``;
    ``result`` is set once the ``with`` block has ended without an error."""

    def __init__(self, proc: subprocess.Popen):
        # stdout=PIPE with Popen's default buffering: a BufferedReader (readinto).
        assert isinstance(proc.stdout, io.BufferedReader)
        self.stdout = proc.stdout
        self.result: FFmpegResult | None = None
        self.timed_out = threading.Event()


@contextlib.contextmanager
def stream(
    argv: Sequence[str],
    cwd: Path | None = None,
    timeout: float | None = None,
    tail_lines: int = STDERR_TAIL_LINES,
    processes: Processes | None = None,
) -> Iterator[Streaming]:
    """Run ffmpeg with its stdout as a pipe that the ``with`` block reads.

    The guarantees of :func:`run`: its own process group, registered
    with ``processes``, killed with its group ``timeout`` seconds after the start
    (the block's reads then end early and ``result.timed_out`` is set) or as
    soon as the block raises, and never alive after the block.  stderr goes
    to an unnamed temp file, not a pipe, so a damaged video that prints
    thousands of errors cannot stall ffmpeg while the block waits on stdout."""
    with tempfile.TemporaryFile() as stderr:
        proc = _start(argv, cwd, subprocess.PIPE, stderr, processes)
        running = Streaming(proc)

        def expire() -> None:
            running.timed_out.set()
            _kill_group(proc)

        timer = threading.Timer(timeout, expire) if timeout else None
        try:
            if timer:
                timer.daemon = True
                timer.start()
            yield running
            # Closing our end first: a block that stopped reading early must
            # not leave ffmpeg blocked on a full pipe while we wait for it.
            running.stdout.close()
            proc.wait()
        finally:
            if timer:
                timer.cancel()
            _reap(proc, processes)
            running.stdout.close()
        stderr.seek(0)
        data = stderr.read()
        running.result = FFmpegResult(
            proc.returncode,
            _tail(data, tail_lines),
            timed_out=running.timed_out.is_set(),
            stderr=data.decode("utf-8", "replace"),
        )


def run_checked(argv: Sequence[str], what: str, cwd: Path | None = None, timeout: float | None = None) -> None:
    """:func:`run` for an ffmpeg that must succeed: a non-zero exit or a
    timeout raises :class:`FFmpegFailed`, saying ``what`` failed, ending with
    ffmpeg's stderr tail (as imageio-ffmpeg's errors do)."""
    result = run(argv, cwd=cwd, timeout=timeout)
    if result.timed_out:
        raise FFmpegFailed(f"ffmpeg timed out after {timeout:g}s {what}")
    if result.returncode != 0:
        tail = result.stderr_tail or "(no error output)"
        raise FFmpegFailed(f"ffmpeg failed {what} (exit {result.returncode}): {tail}")
