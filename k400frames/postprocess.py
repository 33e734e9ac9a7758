"""Turn ffmpeg's frames into a finished clip folder, then publish it.

ffmpeg writes frames under their final names (the ``frame_name`` template)
into a temp dir.  Here anything past N is removed, a short clip is padded
with byte-identical copies of its true last frame, and the count is checked.
Only then does one ``rename`` move the folder to its final name, so a folder
at its final name is always complete.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

from . import libc
from .errors import raise_if_disk_full


@dataclasses.dataclass(frozen=True)
class Frames:
    decoded: int   # real frames kept (<= N)
    padded: int    # copies of the last real frame
    cut: bool      # the video had more than N frames


class IncompleteFrames(Exception):
    """ffmpeg's output has gaps; the clip is not trusted."""


def count_frames(folder: Path, frame_name: str) -> int:
    """Number of frames ffmpeg wrote, checking they run 1..k without gaps."""
    names = set(os.listdir(folder))
    count = len(names)
    if names != {frame_name.format(i) for i in range(1, count + 1)}:
        raise IncompleteFrames(f"ffmpeg wrote {count} files that are not frames 1..{count}")
    return count


def finish_frames(folder: Path, num_frames: int, frame_name: str, count: int, pad: str = "copy") -> Frames:
    """Trim and pad ``folder`` (holding frames 1..``count``) to exactly ``num_frames``.

    ``count`` may be ``num_frames + 1``: ffmpeg is asked for one frame more
    than needed so we can tell a cut clip from one of exactly N frames."""
    if count < 1:
        raise ValueError("a clip needs at least one decoded frame")
    kept = min(count, num_frames)
    try:
        for index in range(kept + 1, count + 1):
            os.unlink(folder / frame_name.format(index))
        last = folder / frame_name.format(kept)
        place = os.link if pad == "hardlink" else shutil.copyfile
        for index in range(kept + 1, num_frames + 1):
            place(last, folder / frame_name.format(index))
    except OSError as exc:
        raise_if_disk_full(exc, exc.filename or folder)
        raise
    return Frames(decoded=kept, padded=num_frames - kept, cut=count > num_frames)


def publish(work_clip: Path, final: Path, trash: Path, durable: bool = False) -> None:
    """Move a finished clip folder to its final name in one rename.

    An existing folder (``--overwrite``, or an untrusted leftover) is first
    renamed into ``trash`` so the final name never shows a mix of old and new.
    With ``durable``, the frames and the folder are on disk before the rename
    and the rename is on disk before this returns, so the manifest row the
    caller writes next never outlives a power cut that its frames did not."""
    try:
        if durable:
            sync_folder(work_clip)
        new_class = not final.parent.is_dir()
        final.parent.mkdir(parents=True, exist_ok=True)
        if os.path.lexists(final):
            os.rename(final, trash)
        os.rename(work_clip, final)
        if durable:
            _fsync_path(final.parent)          # the rename
            if new_class:
                _fsync_path(final.parent.parent)  # the class folder's own entry
    except OSError as exc:
        raise_if_disk_full(exc, exc.filename or final)
        raise
    shutil.rmtree(trash, ignore_errors=True)


def _fsync_path(path: Path | str) -> None:
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


def sync_folder(folder: Path) -> None:
    """Put every frame in ``folder`` and the folder itself on disk.

    One ``syncfs`` of the filesystem where Linux has it: measured at about a
    tenth of the cost of an ``fsync`` per frame (each of which waits for its
    own journal commit), because the kernel writes all dirty frames in one
    go.  It also flushes other writers on that filesystem.  Elsewhere, an
    ``fsync`` per file (a hardlinked pad once), then one of the folder.
    ``folder`` may also be a single file (a clip written as video)."""
    if _syncfs(folder):
        return
    if not os.path.isdir(folder):
        _fsync_path(folder)
        return
    seen: set[int] = set()
    with os.scandir(folder) as entries:
        for entry in entries:
            inode = entry.inode()
            if inode not in seen:
                seen.add(inode)
                _fsync_path(entry.path)
    _fsync_path(folder)


def folder_bytes(folder: Path) -> int:
    """Bytes of the files in ``folder`` (hardlinked pads counted once)."""
    seen: set[int] = set()
    total = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
    return total


def looks_complete(folder: Path, num_frames: int, frame_name: str) -> bool:
    """True when ``folder`` holds exactly frames 1..N by the template, each non-empty."""
    try:
        with os.scandir(folder) as entries:
            sizes = {e.name: e.stat().st_size for e in entries}
    except OSError:
        return False
    expected = {frame_name.format(i) for i in range(1, num_frames + 1)}
    return sizes.keys() == expected and all(sizes.values())
