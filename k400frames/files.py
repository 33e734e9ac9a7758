"""Writing files so that a reader never sees half of one: temp name, then one
rename; and, where asked, on disk before anything that points at them."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import PreflightError, raise_if_disk_full
from .ffmpeg import libc


def open_own(path: Path | str, flags: int, mode: int = 0o644) -> int:
    """``os.open`` for a run's own files (its lock, its records), with
    ``O_NOFOLLOW``: they are never symbolic links, so a link planted at their
    name cannot send a write, or a truncation, to a file elsewhere.  A link
    there is a :class:`PreflightError` that names it."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP and os.path.islink(path):  # the link itself, not a loop above it
            raise PreflightError(
                f"refusing to open {path}: it is a symbolic link, and k400frames' own files never are "
                f"(remove the link; nothing was written through it)"
            ) from None
        raise


@contextlib.contextmanager
def replaced_atomically(path: Path) -> Iterator[Path]:
    """Yield a temp path beside ``path`` to write; on success it replaces
    ``path`` in one rename, on failure it is removed.  A reader never sees
    half a file (several shards may write the same CSV at once)."""
    partial = path.with_name(f".{path.stem}.{os.getpid()}.partial{path.suffix}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_new(path: Path | str, data: bytes) -> None:
    """Write ``data`` as the new file ``path`` (never over one: ``O_EXCL``),
    through ``os.write``: no Python file object per frame.  0o666 is narrowed
    by the umask, as ffmpeg's own files are.  A full disk raises
    :class:`~k400frames.errors.DiskFull`."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as exc:
        raise_if_disk_full(exc, path)
        raise


def fsync_path(path: Path | str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _syncfs(folder: Path) -> bool:
    """Flush the whole filesystem that holds ``folder``; False where syncfs is missing."""
    syncfs = libc.function("syncfs")
    if syncfs is None:
        return False
    fd = os.open(folder, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            import ctypes

            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), str(folder))
    finally:
        os.close(fd)
    return True


def sync_tree(path: Path) -> None:
    """Put every file in the folder ``path`` (or the single file ``path``) on disk.

    One ``syncfs`` of the filesystem where Linux has it: measured at about a
    tenth of the cost of an ``fsync`` per frame (each of which waits for its
    own journal commit), because the kernel writes all dirty frames in one
    go.  It also flushes other writers on that filesystem.  Elsewhere, an
    ``fsync`` per file (a hardlinked pad once), then one of the folder."""
    if _syncfs(path):
        return
    if not os.path.isdir(path):
        fsync_path(path)
        return
    seen: set[int] = set()
    with os.scandir(path) as entries:
        for entry in entries:
            inode = entry.inode()
            if inode not in seen:
                seen.add(inode)
                fsync_path(entry.path)
    fsync_path(path)


def tree_bytes(path: Path) -> int:
    """Bytes of the file ``path``, or of the files in the folder ``path``
    (hardlinked pads counted once)."""
    if not os.path.isdir(path):
        return os.path.getsize(path)
    seen: set[int] = set()
    total = 0
    with os.scandir(path) as entries:
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total


def _file_digest(path: str) -> bytes:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.digest()


def measure_tree(path: Path) -> tuple[int, str]:
    """(bytes, content digest) of the file ``path``, or of the files in the
    folder ``path``.  Bytes count a hardlinked pad once, as
    :func:`tree_bytes`; the digest covers every name and every byte, so it is
    the same for the same content whatever the machine, the pad mode (copy or
    hardlink) or the order files were written, and differs when one byte
    differs.  BLAKE2b-128, hex."""
    if not os.path.isdir(path):
        return os.path.getsize(path), _file_digest(str(path)).hex()
    by_inode: dict[int, bytes] = {}
    total = 0
    outer = hashlib.blake2b(digest_size=16)
    with os.scandir(path) as scan:
        entries = sorted(scan, key=lambda e: e.name)
    for entry in entries:
        st = entry.stat(follow_symlinks=False)
        inner = by_inode.get(st.st_ino)
        if inner is None:
            total += st.st_size
            inner = by_inode[st.st_ino] = _file_digest(entry.path)
        outer.update(os.fsencode(entry.name) + b"\0" + st.st_size.to_bytes(8, "big") + inner)
    return total, outer.hexdigest()


def members_digest(members: list[tuple[str, bytes]], folder: bool) -> str:
    """:func:`measure_tree`'s digest of a clip held in memory (a store's
    clip): ``members`` are (name, bytes), a folder's names behind a ``/``.
    Equal content gives an equal digest whether it went to files or a store."""
    if not folder:
        return hashlib.blake2b(members[0][1], digest_size=16).hexdigest()
    outer = hashlib.blake2b(digest_size=16)
    # Pads are the last frame's very bytes object: hash it once, as measure_tree does a hardlinked pad.
    by_object: dict[int, bytes] = {}
    for name, data in sorted((name.lstrip("/"), data) for name, data in members):
        inner = by_object.get(id(data))
        if inner is None:
            inner = by_object[id(data)] = hashlib.blake2b(data, digest_size=16).digest()
        outer.update(os.fsencode(name) + b"\0" + len(data).to_bytes(8, "big") + inner)
    return outer.hexdigest()


def publish(work: Path, final: Path, trash: Path, durable: bool = False) -> None:
    """Move a finished clip (a folder of frames, or one file) to its final
    name in one rename, so a final name always means a finished clip.

    An existing one (``--overwrite``, or an untrusted leftover) is first
    renamed into ``trash`` so the final name never shows a mix of old and new.
    With ``durable``, the clip is on disk before the rename and the rename
    is on disk before this returns, so the manifest row the caller writes
    next never outlives a power cut that its frames did not.  A full disk
    raises :class:`~k400frames.errors.DiskFull`."""
    try:
        if durable:
            sync_tree(work)
        new_class = not final.parent.is_dir()
        final.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(final):
            os.rename(final, trash)
        os.rename(work, final)
        if durable:
            fsync_path(final.parent)  # the rename
            if new_class:
                fsync_path(final.parent.parent)  # the class folder's own entry
    except OSError as exc:
        raise_if_disk_full(exc, exc.filename or final)
        raise
    if os.path.isdir(trash):
        shutil.rmtree(trash, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(trash)
