"""The one tar walk the WebDataset store and its reader share: fixed headers
read field by field, from a file by offset or from a stream in order, and
each DataLoader worker drawing its own frames."""

from __future__ import annotations

import io
import tarfile

import pytest

from k400frames.errors import StoreError
from k400frames.stores.tar import read_tar, walk_tar
from k400frames.tools import wds_reader


def make_tar(members: list[tuple[str, bytes]], fmt=tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


MEMBERS = [
    ("abseiling/clip.frame_00001.jpg", b"\xff\xd8one\xff\xd9"),
    ("abseiling/clip.cls", b"0"),
    ("tai_chi/" + "x" * 120 + ".frame_00001.jpg", b"a long name needs a PAX path record"),
    ("caf\u00e9/clip.json", b"{}"),
    ("empty/clip.cls", b""),
    ("big/clip.bin", bytes(range(256)) * 9),
]


@pytest.mark.parametrize("fmt", [tarfile.PAX_FORMAT, tarfile.GNU_FORMAT, tarfile.USTAR_FORMAT])
def test_a_stream_and_a_file_read_the_members_tarfile_wrote(fmt):
    members = [m for m in MEMBERS if fmt != tarfile.USTAR_FORMAT or len(m[0]) < 100 and m[0].isascii()]
    data = make_tar(members, fmt)
    assert list(read_tar(io.BytesIO(data), "t.tar")) == members
    handle = io.BytesIO(data)
    assert [(n, data[o : o + s]) for n, o, s in walk_tar(handle, 0, len(data), "t.tar")] == members


class Trickle(io.RawIOBase):
    """A pipe that hands out a few bytes a read, as curl's does."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        chunk = self.data[self.pos : self.pos + min(size if size >= 0 else 7, 7)]
        self.pos += len(chunk)
        return chunk


def test_a_slow_pipe_gives_the_same_members():
    assert list(read_tar(Trickle(make_tar(MEMBERS)), "pipe")) == MEMBERS


def test_a_stream_cut_inside_a_header_or_a_damaged_header_is_a_store_error():
    data = make_tar(MEMBERS)
    with pytest.raises(StoreError, match="cut inside the member at byte 0"):
        list(read_tar(io.BytesIO(data[:515]), "cut.tar"))  # the first member's data is cut
    with pytest.raises(StoreError, match="cut at byte 1024"):
        list(read_tar(io.BytesIO(data[:1100]), "cut.tar"))  # the second header is cut
    broken = bytearray(data)
    broken[130] ^= 0x01  # a size digit: the checksum no longer adds up
    with pytest.raises(StoreError, match="bad checksum"):
        list(read_tar(io.BytesIO(bytes(broken)), "bad.tar"))


def test_each_worker_draws_its_own_frames_and_a_seed_repeats_them(monkeypatch):
    picks = {}
    for worker in (0, 1):
        monkeypatch.setattr(wds_reader, "_worker_id", lambda w=worker: w)
        rng = wds_reader.WorkerRandom(seed=7)
        picks[worker] = [wds_reader.frame_indices(300, 8, "segments", rng=rng) for _ in range(3)]
        again = wds_reader.WorkerRandom(seed=7)
        assert [wds_reader.frame_indices(300, 8, "segments", rng=again) for _ in range(3)] == picks[worker]
    assert picks[0] != picks[1]


def test_a_forked_worker_reseeds(monkeypatch):
    rng = wds_reader.WorkerRandom(seed=None)
    first = rng.random()
    monkeypatch.setattr(wds_reader.os, "getpid", lambda: -1)  # as a forked worker sees itself
    assert rng._here() is not None and rng.random() != first


def test_a_header_with_an_old_signed_checksum_is_read():
    data = bytearray(make_tar([("caf\u00e9/clip.cls", b"1")], tarfile.GNU_FORMAT))
    header = data[:512]
    signed = sum(b - 256 if b > 127 else b for b in header[:148] + header[156:]) + 8 * 32
    assert signed != sum(header[:148]) + sum(header[156:]) + 8 * 32  # the name has bytes over 127
    data[148:156] = b"%06o\0 " % signed
    assert list(read_tar(io.BytesIO(bytes(data)), "old.tar")) == [("caf\u00e9/clip.cls", b"1")]
