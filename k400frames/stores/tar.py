"""Tar, written and read the one way: the fixed member headers WebDataset
shards use (the same bytes anywhere), and one walk of headers for a shard
file (by offset) or a stream (a pipe, curl), without ``tarfile``'s
per-member cost."""

from __future__ import annotations

import tarfile
from collections.abc import Callable, Iterator
from typing import BinaryIO

from ..errors import StoreError

BLOCK = 512
END_OF_ARCHIVE = b"\0" * (2 * BLOCK)
COPY_CHUNK = 1 << 20


def tar_member(name: str, size: int) -> bytes:
    """The header of a regular member ``name`` of ``size`` bytes, fixed so
    that the same members give the same bytes anywhere: mode 0644, uid and gid
    0, no user or group names, mtime 0; a name that ustar cannot hold gets a
    PAX ``path`` record."""
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.type = tarfile.REGTYPE
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)


def _pax_records(data: bytes) -> dict[str, str]:
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        space = data.index(b" ", pos)
        length = int(data[pos:space])
        key, _, value = data[space + 1 : pos + length - 1].partition(b"=")
        records[key.decode("utf-8")] = value.decode("utf-8", "surrogateescape")
        pos += length
    return records


def _header(block: bytes, where: object, pos: int) -> tuple[str, bytes, int]:
    """``(name, type flag, size)`` of one tar header block, read from its
    fields: name, size (octal, or base-256 for huge members), type, and the
    ustar prefix.  Much cheaper than ``tarfile`` for the 300 members of a clip."""
    stored = _octal(block[148:156], where, pos)
    unsigned = sum(block[:148]) + 8 * 32 + sum(block[156:])  # the checksum field counts as eight spaces
    if stored != unsigned:  # some old tars summed signed bytes: each byte over 127 counts 256 less
        high = len(block) - len(block.translate(None, _HIGH))
        if stored != unsigned - 256 * high:
            raise StoreError(f"{where}: a damaged tar header at byte {pos} (bad checksum)")
    name = block[:100].split(b"\0", 1)[0]
    if block[257:262] == b"ustar" and block[345] != 0:
        name = block[345:500].split(b"\0", 1)[0] + b"/" + name
    raw = block[124:136]
    size = int.from_bytes(raw[1:], "big") if raw[0] & 0x80 else _octal(raw, where, pos)
    return name.decode("utf-8", "surrogateescape"), block[156:157], size


def _octal(field: bytes, where: object, pos: int) -> int:
    try:
        return int(field.split(b"\0", 1)[0].strip() or b"0", 8)
    except ValueError:
        raise StoreError(f"{where}: a damaged tar header at byte {pos}") from None


_HIGH = bytes(range(128, 256))
_PAX, _LONGNAME, _REGULAR = b"x", b"L", (b"0", b"\0", b"7")


def _members(read: Callable[[int, int], bytes], start: int, end: int | None, where: object):
    """The one walk of tar headers: yields ``(name, data offset, size)`` for
    each regular member of the tar bytes from ``start`` (to ``end``, or to
    the end-of-archive blocks), honouring PAX ``path`` and ``size`` records
    and GNU long names; ``read(offset, size)`` gives bytes of the tar (a
    stream reads them in order)."""
    pos, long_name = start, None
    pax: dict[str, str] = {}
    while end is None or pos + BLOCK <= end:
        block = read(pos, BLOCK)
        if not block and end is None:
            return  # a stream that ends without its end-of-archive blocks
        if len(block) < BLOCK:
            raise StoreError(f"{where}: the tar is cut at byte {pos}")
        if block == b"\0" * BLOCK:
            return
        name, flag, size = _header(block, where, pos)
        data = pos + BLOCK
        if flag not in (_PAX, _LONGNAME):
            size = int(pax.get("size", size))
        pos = data + size + (-size % BLOCK)
        if end is not None and pos > end:
            raise StoreError(f"{where}: the tar is cut inside the member at byte {data - BLOCK}")
        if flag in (_PAX, _LONGNAME):
            raw = read(data, size + (-size % BLOCK))[:size]
            if len(raw) < size:
                raise StoreError(f"{where}: the tar is cut inside the member at byte {data - BLOCK}")
            if flag == _PAX:
                pax = _pax_records(raw)
            else:
                long_name = raw.rstrip(b"\0").decode("utf-8", "surrogateescape")
            continue
        yield pax.get("path") or long_name or name, data, size, flag in _REGULAR
        pax, long_name = {}, None


def walk_tar(handle: BinaryIO, start: int, end: int, where: object) -> Iterator[tuple[str, int, int]]:
    """``(name, data offset, size)`` of each regular member of the tar bytes
    ``[start, end)`` of ``handle``, reading headers only (data is skipped by
    seeking).  :class:`StoreError` for a damaged or cut header."""

    def read(offset: int, size: int) -> bytes:
        handle.seek(offset)
        return handle.read(size)

    for name, data, size, regular in _members(read, start, end, where):
        if regular:
            yield name, data, size


def read_tar(stream: BinaryIO, where: object) -> Iterator[tuple[str, bytes]]:
    """``(name, bytes)`` of each regular member of a tar read as a stream
    (a shard from a file, a pipe or ``curl``), in order, each read once."""
    at = 0

    def read(offset: int, size: int) -> bytes:
        nonlocal at
        if offset > at:  # a member's data the caller did not take: skip it
            _skip(stream, offset - at)
            at = offset
        data = _read_exactly(stream, size)
        at += len(data)
        return data

    for name, data, size, regular in _members(read, 0, None, where):
        if regular:
            payload = read(data, size + (-size % BLOCK))
            if len(payload) < size:
                raise StoreError(f"{where}: the tar is cut inside the member at byte {data - BLOCK}")
            yield name, payload[:size]


def _read_exactly(stream: BinaryIO, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _skip(stream: BinaryIO, size: int) -> None:
    while size:
        chunk = stream.read(min(size, COPY_CHUNK))
        if not chunk:
            return
        size -= len(chunk)


def split_member(name: str) -> tuple[str, str] | None:
    """``(key, suffix)`` as the ``webdataset`` loader splits a member name:
    the key up to the first dot of the basename, the rest lowercased."""
    folder, _, base = name.rpartition("/")
    stem, dot, suffix = base.partition(".")
    if not dot or not stem:
        return None
    return (f"{folder}/{stem}" if folder else stem), suffix.lower()
