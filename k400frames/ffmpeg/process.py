"""The package's one door for child processes: ffmpeg above all, and every
other program it starts (``ffmpeg -version`` while looking for one,
squashfs-tools' ``sqfstar`` and ``unsquashfs`` for pack and unpack).

A child runs from an argv list (never a shell) in its own process group,
with a timeout, a stderr tail, the parent-death signal, and a ``finally``
that never lets it outlive the call.  :func:`run` waits for it,
:func:`stream` reads its stdout as it runs, :func:`feed` writes its stdin.

The children a run starts are registered in that run's :class:`Processes`,
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
from typing import IO

from ..errors import FFmpegFailed
from . import libc
from .argv import file_url

log = logging.getLogger("k400frames.ffmpeg")

STDERR_TAIL_LINES = 12


@dataclasses.dataclass
class ChildResult:
    """How a child ended: its exit code and what it printed."""

    returncode: int
    stderr_tail: str
    timed_out: bool = False
    stderr: str = ""  # all of it, for callers that classify every message
    stdout: bytes = b""  # with run(capture_stdout=True) only


# What an ffmpeg's run gives back: the name the clip code reads best.
FFmpegResult = ChildResult


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
    *,
    capture_stdout: bool = False,
) -> ChildResult:
    """Run a child (ffmpeg, unless ``argv`` names another program) and return
    its exit code and stderr tail, and its stdout with ``capture_stdout``
    (else it is discarded).  The child gets its own process group so a
    timeout or an interrupt can kill it with anything it spawned; the
    ``finally`` guarantees it never outlives this call, and on Linux the
    kernel kills it if this process dies without running it."""
    stdout = subprocess.PIPE if capture_stdout else subprocess.DEVNULL
    # The timeout is a timer that kills the group, not communicate(timeout=):
    # with a timeout, Popen waits for the exit by polling with sleeps of 1, 2,
    # 4 ms..., which cost a short clip about 2.5 ms of idle worker per ffmpeg
    # (measured, bench/scale.py); without one it reads stderr to its end and
    # blocks in waitpid.
    with _watched(argv, cwd, timeout, processes, subprocess.DEVNULL, stdout, subprocess.PIPE) as (proc, expired):
        out, err = proc.communicate()
        return ChildResult(
            proc.returncode,
            _tail(err, tail_lines),
            timed_out=expired.is_set(),
            stderr=err.decode("utf-8", "replace"),
            stdout=out or b"",
        )


def _start(
    argv: Sequence[str], cwd: Path | None, stdin, stdout, stderr, processes: Processes | None
) -> subprocess.Popen:
    """Start a child in its own process group, registered with ``processes``."""
    log.debug("running: %s", shlex.join(argv))
    prefix, preexec = _die_with_parent()
    proc = subprocess.Popen(
        [*prefix, *argv],
        cwd=cwd,
        stdin=stdin,
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


@contextlib.contextmanager
def _watched(
    argv: Sequence[str], cwd: Path | None, timeout: float | None, processes: Processes | None, stdin, stdout, stderr
) -> Iterator[tuple[subprocess.Popen, threading.Event]]:
    """Start a child (:func:`_start`) for the ``with`` block: killed with its
    group ``timeout`` seconds after the start (the event is then set), and
    killed, waited for and unregistered when the block ends, however it ends."""
    proc = _start(argv, cwd, stdin, stdout, stderr, processes)
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
        yield proc, expired
    finally:
        if timer:
            timer.cancel()
        _reap(proc, processes)


def _result(log: IO[bytes], returncode: int, tail_lines: int, timed_out: bool) -> ChildResult:
    log.seek(0)
    data = log.read()
    return ChildResult(returncode, _tail(data, tail_lines), timed_out=timed_out, stderr=data.decode("utf-8", "replace"))


class Streaming:
    """A child started by :func:`stream`: read its output from ``stdout``;
    ``result`` is set once the ``with`` block has ended without an error."""

    def __init__(self, proc: subprocess.Popen, timed_out: threading.Event):
        # stdout=PIPE with Popen's default buffering: a BufferedReader (readinto).
        assert isinstance(proc.stdout, io.BufferedReader)
        self.stdout = proc.stdout
        self.result: ChildResult | None = None
        self.timed_out = timed_out


@contextlib.contextmanager
def stream(
    argv: Sequence[str],
    cwd: Path | None = None,
    timeout: float | None = None,
    tail_lines: int = STDERR_TAIL_LINES,
    processes: Processes | None = None,
) -> Iterator[Streaming]:
    """Run a child (ffmpeg) with its stdout as a pipe that the ``with`` block reads.

    The guarantees of :func:`run`: its own process group, registered
    with ``processes``, killed with its group ``timeout`` seconds after the start
    (the block's reads then end early and ``result.timed_out`` is set) or as
    soon as the block raises, and never alive after the block.  stderr goes
    to an unnamed temp file, not a pipe, so a damaged video that prints
    thousands of errors cannot stall ffmpeg while the block waits on stdout."""
    with tempfile.TemporaryFile() as stderr:
        child = _watched(argv, cwd, timeout or None, processes, subprocess.DEVNULL, subprocess.PIPE, stderr)
        with child as (proc, expired):
            running = Streaming(proc, expired)
            try:
                yield running
                # Closing our end first: a block that stopped reading early must
                # not leave the child blocked on a full pipe while we wait for it.
                running.stdout.close()
                proc.wait()
            finally:
                running.stdout.close()
        running.result = _result(stderr, proc.returncode, tail_lines, expired.is_set())


class Feeding:
    """A child started by :func:`feed`: write its input to ``stdin``;
    ``result`` is set once the ``with`` block has ended without an error."""

    def __init__(self, proc: subprocess.Popen, timed_out: threading.Event):
        # stdin=PIPE with Popen's default buffering: a BufferedWriter.
        assert isinstance(proc.stdin, io.BufferedWriter)
        self.stdin = proc.stdin
        self.result: ChildResult | None = None
        self.timed_out = timed_out

    def close(self) -> None:
        """End the input; a child that has stopped reading is no error here
        (its exit code and output say why)."""
        with contextlib.suppress(BrokenPipeError):
            self.stdin.close()


@contextlib.contextmanager
def feed(
    argv: Sequence[str],
    cwd: Path | None = None,
    timeout: float | None = None,
    tail_lines: int = STDERR_TAIL_LINES,
    processes: Processes | None = None,
) -> Iterator[Feeding]:
    """Run a child with its stdin as a pipe that the ``with`` block writes
    (``sqfstar`` reading a tar stream), with the guarantees of :func:`stream`.
    When the block ends the input is closed and the child waited for; its
    stdout and stderr, in the order written, go to an unnamed temp file and
    come back as ``result.stderr``."""
    with tempfile.TemporaryFile() as log:
        with _watched(argv, cwd, timeout, processes, subprocess.PIPE, log, log) as (proc, expired):
            feeding = Feeding(proc, expired)
            try:
                yield feeding
            except BaseException:
                # Killed before its input is closed: closing flushes, and a
                # flush into a child that has stopped reading would block.
                _kill_group(proc)
                raise
            finally:
                feeding.close()
            proc.wait()
        feeding.result = _result(log, proc.returncode, tail_lines, expired.is_set())


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
