"""An MP4's own index, read in Python: the cheap half of probing.

An ISO-BMFF file (``.mp4``, ``.m4v``, most ``.mov``) is a list of boxes; the
``moov`` box holds the index: per track its handler (video or sound), time
scale and duration, sample entry (the codec and coded size) and sample table.
Reading it takes a few hundred bytes and no process, which is what lets
``verify`` check video outputs and ``doctor`` check a whole download at
thousands of files a second; ffmpeg (:mod:`.probe`) is asked only where this
is not enough (another container, a fragmented file).

A file whose boxes run past its end was cut short: its header promises more
than it holds.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

from .header import MP4_CODEC_NAMES, Header

# What a damaged file is, for those who sort faults (doctor's findings).
EMPTY = "empty"
TRUNCATED = "truncated"
UNREADABLE = "unreadable"
NO_VIDEO = "no_video"
NOT_MP4 = "not_mp4"  # another container (or none): ask ffmpeg


class BadVideo(Exception):
    """An .mp4 that is not a complete, playable file; ``fault`` says how."""

    def __init__(self, message: str, fault: str = UNREADABLE) -> None:
        super().__init__(message)
        self.fault = fault


def _printable(box_type: bytes) -> bool:
    return all(32 <= c < 127 for c in box_type)


def _boxes(handle, start: int, end: int):
    """(type, payload start, box end) of each ISO-BMFF box in [start, end)."""
    pos = start
    while pos < end:
        if end - pos < 8:
            raise BadVideo(f"{end - pos} stray bytes after the last box (truncated)", TRUNCATED)
        handle.seek(pos)
        size, box_type = struct.unpack(">I4s", handle.read(8))
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", handle.read(8))[0], 16
        elif size == 0:
            size = end - pos
        if size < header:
            raise BadVideo(f"box {box_type.decode('latin-1')!r} has an impossible size {size}", UNREADABLE)
        if pos + size > end:
            raise BadVideo(f"box {box_type.decode('latin-1')!r} runs past the end of the file (truncated)", TRUNCATED)
        yield box_type, pos + header, pos + size
        pos += size


def _child(handle, start: int, end: int, box_type: bytes) -> tuple[int, int] | None:
    for k, payload, box_end in _boxes(handle, start, end):
        if k == box_type:
            return payload, box_end
    return None


def _read(handle, at: int, fmt: str) -> tuple:
    handle.seek(at)
    size = struct.calcsize(fmt)
    data = handle.read(size)
    if len(data) < size:
        raise BadVideo("a box is shorter than its fields (truncated)", TRUNCATED)
    return struct.unpack(fmt, data)


def _top_boxes(handle, size: int) -> dict[bytes, tuple[int, int]]:
    """The top-level boxes by type (first of each).  A file whose first box
    is not ``ftyp`` is :data:`NOT_MP4` (text, a WebM, an old QuickTime file):
    checked before walking, so that a text file is not taken for a cut one."""
    if size == 0:
        raise BadVideo("empty file", EMPTY)
    first = _read(handle, 0, ">I4s") if size >= 8 else (0, b"")
    if first[1] != b"ftyp":
        raise BadVideo("not an MP4 (no ftyp box first)", NOT_MP4)
    boxes_at: dict[bytes, tuple[int, int]] = {}
    for box_type, payload, end in _boxes(handle, 0, size):
        if not _printable(box_type):
            raise BadVideo(f"garbage where a box should start (type {box_type!r})", UNREADABLE)
        boxes_at.setdefault(box_type, (payload, end))
    return boxes_at


def _video_trak(handle, moov: tuple[int, int]) -> tuple[int, int, tuple[int, int]] | None:
    """(payload, end) of the first video ``trak`` and its ``mdia``, or None."""
    for box_type, payload, end in _boxes(handle, *moov):
        if box_type != b"trak":
            continue
        mdia = _child(handle, payload, end, b"mdia")
        hdlr = _child(handle, *mdia, b"hdlr") if mdia else None
        if mdia is None or hdlr is None:
            continue
        if _read(handle, hdlr[0] + 8, ">4s")[0] == b"vide":
            return payload, end, mdia
    return None


def _stbl(handle, mdia: tuple[int, int]) -> tuple[int, int]:
    minf = _child(handle, *mdia, b"minf")
    stbl = _child(handle, *minf, b"stbl") if minf else None
    if stbl is None:
        raise BadVideo("video track without a sample table", UNREADABLE)
    return stbl


def _open(path: Path):
    try:
        return open(path, "rb")
    except OSError as exc:
        raise BadVideo(f"unreadable ({exc.strerror or exc})", UNREADABLE) from None


def mp4_video_frames(path: Path) -> int:
    """Frames in the first video track of the .mp4 at ``path``, from its
    sample table; raises :class:`BadVideo` for a file that is cut short, has
    no index (moov), no video track, or an index spread over the file
    (fragmented: its frames are not counted in one table).  Reads a few
    hundred bytes."""
    with _open(path) as handle:
        return _frames(_walk(handle, os.fstat(handle.fileno()).st_size))


def video_frames_of(data: bytes) -> int:
    """:func:`mp4_video_frames` of an .mp4 held in memory (a value in a store)."""
    return _frames(_walk(io.BytesIO(data), len(data)))


def _frames(header: Header | None) -> int:
    if header is None or header.frames is None:
        raise BadVideo("fragmented MP4: its index counts no frames", UNREADABLE)
    return header.frames


def mp4_video_track(path: Path) -> Header | None:
    """The first video track of the MP4 at ``path`` as its index describes
    it, having checked that the file holds what the index promises (every
    box within the file, the last chunk of video inside it).  Raises
    :class:`BadVideo` with its ``fault``; returns None for a fragmented file,
    whose index is spread over the file (ask ffmpeg)."""
    with _open(path) as handle:
        return _walk(handle, os.fstat(handle.fileno()).st_size)


def _walk(handle, size: int) -> Header | None:
    """The one walk of an MP4's boxes: its first video track's
    :class:`~.header.Header` (the codec under ffmpeg's name), or None for a
    fragmented file; :class:`BadVideo` for a file that does not hold what its
    index promises."""
    boxes_at = _top_boxes(handle, size)
    if b"moov" not in boxes_at:
        if b"moof" in boxes_at:
            return None
        raise BadVideo("no moov box (the index): moov atom not found", UNREADABLE)
    moov = boxes_at[b"moov"]
    if _child(handle, *moov, b"mvex") is not None:
        return None  # fragmented: samples live in moof boxes
    trak = _video_trak(handle, moov)
    if trak is None:
        raise BadVideo("no video stream", NO_VIDEO)
    mdia = trak[2]
    mdhd = _child(handle, *mdia, b"mdhd")
    if mdhd is None:
        raise BadVideo("video track without a media header", UNREADABLE)
    version = _read(handle, mdhd[0], ">B")[0]
    if version == 1:
        timescale, duration = _read(handle, mdhd[0] + 20, ">IQ")
    else:
        timescale, duration = _read(handle, mdhd[0] + 12, ">II")
    stbl = _stbl(handle, mdia)
    boxes = {box_type: (payload, end) for box_type, payload, end in _boxes(handle, *stbl)}
    if b"stsz" not in boxes or b"stsd" not in boxes:
        raise BadVideo("video track without a sample table", UNREADABLE)
    frames = _read(handle, boxes[b"stsz"][0] + 8, ">I")[0]
    # The sample entry: 8 bytes of stsd fields, its own box header, then
    # 24 bytes of reserved fields before the coded width and height.
    entry = boxes[b"stsd"][0] + 8
    codec = _read(handle, entry + 4, ">4s")[0].decode("latin-1")
    width, height = _read(handle, entry + 8 + 24, ">HH")
    _check_chunks(handle, boxes, size)
    # After the chunks: a file cut before its media is truncated, not merely without it.
    if b"mdat" not in boxes_at:
        raise BadVideo("no mdat box: no media data", UNREADABLE)
    seconds = duration / timescale if timescale and duration else None
    fps = None
    stts = boxes.get(b"stts")
    if stts is not None and timescale:
        count = _read(handle, stts[0] + 4, ">I")[0]
        if count == 1:  # one frame duration for every frame: the exact rate
            delta = _read(handle, stts[0] + 12, ">I")[0]
            fps = timescale / delta if delta else None
    if fps is None and seconds:
        fps = frames / seconds
    return Header(seconds, fps, codec=MP4_CODEC_NAMES.get(codec, codec), width=width, height=height, frames=frames)


def _check_chunks(handle, boxes: dict[bytes, tuple[int, int]], size: int) -> None:
    """The last video chunk must start inside the file (a file cut inside an
    ``mdat`` whose size field says "to the end" passes the box walk)."""
    for box_type, width in ((b"stco", 4), (b"co64", 8)):
        if box_type in boxes:
            payload = boxes[box_type][0]
            count = _read(handle, payload + 4, ">I")[0]
            if count:
                last = _read(handle, payload + 8 + (count - 1) * width, ">I" if width == 4 else ">Q")[0]
                if last >= size:
                    raise BadVideo(
                        f"the index places video at byte {last} of a {size}-byte file (truncated)", TRUNCATED
                    )
            return


def frames_written(path: Path) -> int:
    """Frames ffmpeg wrote into the .mp4 at ``path``; 0 when it is missing or
    unfinished (a zero exit code alone is not success)."""
    try:
        return mp4_video_frames(path)
    except BadVideo:
        return 0
