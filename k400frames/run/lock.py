"""One owner per target and shard: advisory locks on small files beside the
split folder, so that two runs never work on the same clips at once.

``<root>/.<split>.lock``
    held by every run: exclusively by an unsharded run, shared by a shard
    run.  So shards of one target run side by side, and an unsharded run
    never runs beside any shard (it would do their clips too).
``<root>/.<split>.shard-K-of-N.lock``
    held exclusively by the run of shard K/N.

The run that holds a file exclusively writes one JSON line into it (host,
pid, start time, shard), read back to name it when another run is refused.
The locks are ``flock`` locks: the kernel drops them when their process
dies, ``kill -9`` included, so a lock is never stale and never needs
removing by hand.  A run that ends removes the files no other run holds
(the one left by a killed run is reused by the next); a run that locked a
file which was removed meanwhile sees that and takes the new one.  Locks
bind across hosts only where the filesystem passes them on (NFS does;
Lustre with the ``flock`` mount option); see docs/guides/resume-and-failures.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import json
import logging
import math
import os
import socket
import threading
import time
from pathlib import Path

from ..errors import RunInProgress
from ..files import open_own
from ..layout import Layout

log = logging.getLogger(__name__)

# A probe by `verify`, `lists` or a dry run holds a shared lock for a moment;
# a run that meets one waits this long before it calls the target taken.
_ACQUIRE_PATIENCE_S = 1.0


def shards_overlap(a: tuple[int, int] | None, b: tuple[int, int] | None) -> bool:
    """Whether two runs' clips can overlap.  A clip is in shard K/N when its
    hash is K mod N, so K1/N1 and K2/N2 share clips exactly when K1 and K2
    agree modulo gcd(N1, N2); an unsharded run overlaps every shard."""
    if a is None or b is None:
        return True
    return a[0] % math.gcd(a[1], b[1]) == b[0] % math.gcd(a[1], b[1])


@dataclasses.dataclass(frozen=True)
class Holder:
    """A run that holds a target (or one of its shards)."""

    shard: tuple[int, int] | None
    host: str = ""
    pid: int | None = None
    started: str = ""

    def describe(self) -> str:
        what = f"shard {self.shard[0]}/{self.shard[1]}" if self.shard else "the whole target"
        if self.pid is None:  # it has the lock but has not written its name yet
            return f"{what}, a run that is just starting"
        return f"{what}, pid {self.pid} on {self.host}, started {self.started}"


def _read_holder(path: Path, shard: tuple[int, int] | None) -> Holder:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        info = {}
    if not isinstance(info, dict):
        info = {}
    pid = info.get("pid")
    return Holder(shard, str(info.get("host", "")), pid if isinstance(pid, int) else None, str(info.get("started", "")))


# The lock files this process holds, with the modes (True: exclusive).  On NFS,
# Linux emulates flock with POSIX locks, which belong to the process and drop
# when it closes *any* descriptor of the file: so this process never probes
# or retakes a file it holds, and two runs inside one process still exclude
# each other there as they do on a local disk.
_held_here: dict[str, list[bool]] = {}
_held_here_lock = threading.Lock()


def _is_held(path: Path) -> bool:
    """Whether a run holds ``path`` exclusively.  A probe: a shared lock taken
    and dropped at once, which fails only while a run holds it exclusively.  Opened read-only, so a probe
    never creates a lock file (and works on a read-only target)."""
    with _held_here_lock:
        modes = _held_here.get(os.path.abspath(path))
    if modes:
        return any(modes)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False  # no file: no run has ever held it
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    except OSError:
        return False  # locks not supported here: we cannot tell
    finally:
        os.close(fd)


def live_holders(target: Path) -> list[Holder]:
    """Every run holding ``target`` now (unsharded or any shard), without
    taking any lock for longer than a probe."""
    holders = []
    layout = Layout(target)
    common = layout.lock()
    if _is_held(common):
        holders.append(_read_holder(common, None))
    try:
        names = os.listdir(layout.root)
    except OSError:
        names = []
    for name in sorted(names):
        shard = layout.shard_of_lock(name)
        if shard is not None and _is_held(layout.root / name):
            holders.append(_read_holder(layout.root / name, shard))
    return holders


def conflicting_holders(target: Path, shard: tuple[int, int] | None) -> list[Holder]:
    """The live runs that a run of ``shard`` (None: unsharded) would collide with."""
    return [h for h in live_holders(target) if shards_overlap(h.shard, shard)]


def in_progress_error(target: Path, holders: list[Holder]) -> RunInProgress:
    """The one-line refusal that names who holds ``target``."""
    first = holders[0] if holders else Holder(None)
    where = f" (kill {first.pid} on {first.host})" if first.pid is not None else ""
    more = f" and {len(holders) - 1} more" if len(holders) > 1 else ""
    return RunInProgress(
        f"another run is extracting into {target}: {first.describe()}{more}; wait for it to finish, "
        f"or stop it{where} and start again: the new run resumes where it stopped"
    )


class TargetLock:
    """Held by a run from before its first write to its end.  Use as a
    context manager or with :meth:`acquire` / :meth:`release`."""

    def __init__(self, target: Path, shard: tuple[int, int] | None = None):
        self.target, self.shard = target, shard
        self._fds: list[int] = []
        self._keys: list[tuple[str, bool]] = []  # (path, exclusive) of each of _fds

    def acquire(self) -> TargetLock:
        """Take the locks, or raise :class:`RunInProgress` naming the holder."""
        try:
            self._take(Layout(self.target).lock(), exclusive=self.shard is None)
            if self.shard is not None:
                self._take(Layout(self.target).lock(self.shard), exclusive=True)
                # Shards of another count (3/8 beside 1/4) may share clips.
                others = [h for h in conflicting_holders(self.target, self.shard) if h.shard != self.shard]
                if others:
                    raise in_progress_error(self.target, others)
        except BaseException:
            self.release()
            raise
        self._write_holder()
        return self

    def _take(self, path: Path, exclusive: bool) -> None:
        key = os.path.abspath(path)
        with _held_here_lock:
            modes = _held_here.get(key, [])
            taken_here = bool(modes) and (exclusive or any(modes))
            if not taken_here:  # reserve it against other runs inside this process
                _held_here.setdefault(key, []).append(exclusive)
        if taken_here:
            raise in_progress_error(self.target, conflicting_holders(self.target, self.shard))
        try:
            deadline = time.monotonic() + _ACQUIRE_PATIENCE_S
            while True:
                fd = open_own(path, os.O_RDWR | os.O_CREAT)  # never through a planted link
                try:
                    locked = self._flock(fd, path, exclusive, deadline)
                except BaseException:
                    os.close(fd)
                    raise
                if not locked or _same_file(fd, path):
                    break
                # The run before us removed the file between our open and our
                # lock: what we hold is gone from the folder, so take the new one.
                os.close(fd)
        except BaseException:
            _unreserve(key, exclusive)
            raise
        self._fds.append(fd)
        self._keys.append((key, exclusive))

    def _flock(self, fd: int, path: Path, exclusive: bool, deadline: float) -> bool:
        """Lock ``fd``, waiting out a probe; False where the filesystem has no locks."""
        mode = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB
        while True:
            try:
                fcntl.flock(fd, mode)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise in_progress_error(self.target, conflicting_holders(self.target, self.shard)) from None
                time.sleep(0.05)
            except OSError as exc:
                if exc.errno in (errno.ENOLCK, errno.ENOSYS, errno.EOPNOTSUPP):
                    # A filesystem without locks (Lustre mounted without flock):
                    # run unguarded rather than not at all, as before locks existed.
                    log.warning(
                        "the filesystem of %s does not support locks (%s): this run is not "
                        "protected against a second run on the same target",
                        path,
                        exc.strerror,
                    )
                    return False
                raise

    def _write_holder(self) -> None:
        info = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "shard": f"{self.shard[0]}/{self.shard[1]}" if self.shard else None,
        }
        fd = self._fds[-1]  # the file this run holds exclusively
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)

    def release(self) -> None:
        """Drop the locks (the kernel does it too if the process dies) and
        remove the files no other run holds, so a finished target is left
        as clean as it was."""
        while self._fds:
            fd = self._fds.pop()
            key, exclusive = self._keys.pop()
            try:
                with _held_here_lock:
                    alone_here = _held_here.get(key) == [exclusive]
                # Only a sole holder may remove a lock file: anyone who opened
                # it meanwhile finds it gone once they hold it, and starts over.
                if alone_here and (exclusive or _try_exclusive(fd)):
                    with contextlib.suppress(OSError):
                        os.unlink(key)
            finally:
                os.close(fd)
                _unreserve(key, exclusive)

    def __enter__(self) -> TargetLock:
        return self.acquire()

    def __exit__(self, *exc_info) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _try_exclusive(fd: int) -> bool:
    """Turn our shared lock exclusive if no other run shares it (the last
    shard to finish removes the common file)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:
        return False


def _unreserve(key: str, exclusive: bool) -> None:
    with _held_here_lock:
        modes = _held_here.get(key, [])
        if exclusive in modes:
            modes.remove(exclusive)
        if not modes:
            _held_here.pop(key, None)
