"""The MP4 box walker (k400frames.ffmpeg.mp4) on files built box by box:
whole files in either order, 32-bit, 64-bit and to-the-end box sizes, and
each way a file can be cut, lie or hold junk.  No ffmpeg runs here."""

from __future__ import annotations

import struct

import pytest

from k400frames.ffmpeg.header import Header
from k400frames.ffmpeg.mp4 import (
    EMPTY,
    MP4_CODEC_NAMES,
    NO_VIDEO,
    NOT_MP4,
    TRUNCATED,
    UNREADABLE,
    BadVideo,
    frames_written,
    mp4_video_frames,
    mp4_video_track,
    video_frames_of,
)


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full(kind: bytes, *payload: bytes, version: int = 0) -> bytes:
    """A full box: version and flags before its fields."""
    return box(kind, struct.pack(">B3x", version), *payload)


FTYP = box(b"ftyp", b"isom", struct.pack(">I", 512), b"isomiso2avc1mp41")
MDAT = box(b"mdat", bytes(64))


def hdlr(handler: bytes) -> bytes:
    return full(b"hdlr", bytes(4), handler, bytes(12), b"VideoHandler\0")


def mdhd(timescale: int, duration: int, version: int = 0) -> bytes:
    if version == 1:
        return full(b"mdhd", struct.pack(">QQIQ", 0, 0, timescale, duration), bytes(4), version=1)
    return full(b"mdhd", struct.pack(">IIII", 0, 0, timescale, duration), bytes(4))


def stsd(codec: bytes, width: int, height: int) -> bytes:
    entry = box(codec, bytes(24), struct.pack(">HH", width, height), bytes(50))
    return full(b"stsd", struct.pack(">I", 1), entry)


def stts(*entries: tuple[int, int]) -> bytes:
    return full(b"stts", struct.pack(">I", len(entries)), *(struct.pack(">II", c, d) for c, d in entries))


def stsz(frames: int) -> bytes:
    return full(b"stsz", struct.pack(">II", 0, frames), bytes(4 * frames))


def stco(*offsets: int) -> bytes:
    return full(b"stco", struct.pack(">I", len(offsets)), *(struct.pack(">I", o) for o in offsets))


def co64(*offsets: int) -> bytes:
    return full(b"co64", struct.pack(">I", len(offsets)), *(struct.pack(">Q", o) for o in offsets))


def trak(handler: bytes = b"vide", *, header: bytes | None = None, table: list[bytes] | None = None) -> bytes:
    if table is None:
        table = [stsd(b"avc1", 64, 48), stts((10, 1024)), stsz(10), stco(48)]
    media = [mdhd(10240, 10240) if header is None else header, hdlr(handler)] if header != b"" else [hdlr(handler)]
    return box(b"trak", box(b"mdia", *media, box(b"minf", box(b"stbl", *table))))


def moov(*traks: bytes) -> bytes:
    return box(b"moov", full(b"mvhd", bytes(96)), *(traks or (trak(),)))


def VideoTrack(frames, duration, fps, codec, width, height) -> Header:  # noqa: N802 - reads as the table's rows
    """The header the index walk gives: the codec under ffmpeg's name."""
    return Header(duration, fps, codec=MP4_CODEC_NAMES.get(codec, codec), width=width, height=height, frames=frames)


WHOLE = VideoTrack(frames=10, duration=1.0, fps=10.0, codec="avc1", width=64, height=48)


def track_of(tmp_path, data: bytes) -> Header | None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    return mp4_video_track(path)


@pytest.mark.parametrize(
    "data, expected",
    [
        pytest.param(FTYP + MDAT + moov(), WHOLE, id="mdat then moov"),
        pytest.param(FTYP + moov() + MDAT, WHOLE, id="faststart: moov then mdat"),
        pytest.param(FTYP + moov() + box(b"free") + MDAT, WHOLE, id="with a free box"),
        pytest.param(FTYP + moov() + struct.pack(">I4s", 0, b"mdat") + bytes(500), WHOLE, id="size 0: to the end"),
        pytest.param(
            FTYP + moov() + struct.pack(">I4sQ", 1, b"mdat", 16 + 300) + bytes(300), WHOLE, id="size 1: 64-bit size"
        ),
        pytest.param(
            FTYP + MDAT + moov(trak(header=mdhd(10240, 10240, version=1))), WHOLE, id="version 1 media header"
        ),
        pytest.param(
            FTYP + MDAT + moov(trak(b"soun", table=[stsd(b"mp4a", 0, 0), stsz(43), stco(48)]), trak()),
            WHOLE,
            id="sound track first",
        ),
        pytest.param(
            FTYP
            + MDAT
            + moov(trak(header=mdhd(600, 1200), table=[stsd(b"hev1", 320, 240), stts((9, 60), (1, 660)), stsz(10)])),
            VideoTrack(10, 2.0, 5.0, "hev1", 320, 240),
            id="variable frame durations: rate from the duration",
        ),
        pytest.param(
            FTYP + MDAT + moov(trak(header=mdhd(90000, 0), table=[stsd(b"vp09", 8, 6), stsz(7)])),
            VideoTrack(7, None, None, "vp09", 8, 6),
            id="no duration, no stts",
        ),
        pytest.param(
            FTYP + MDAT + moov(trak(header=mdhd(90000, 0), table=[stsd(b"av01", 8, 6), stts((7, 3000)), stsz(7)])),
            VideoTrack(7, None, 30.0, "av01", 8, 6),
            id="no duration, one stts entry",
        ),
        pytest.param(
            FTYP + MDAT + moov(trak(table=[stsd(b"avc1", 64, 48), stts((10, 1024)), stsz(10), co64(40, 100)])),
            WHOLE,
            id="64-bit chunk offsets",
        ),
        pytest.param(FTYP + box(b"moof", bytes(16)) + MDAT, None, id="fragmented: moof without moov"),
        pytest.param(
            FTYP + box(b"moov", box(b"mvex", bytes(8)), trak()) + MDAT, None, id="fragmented: mvex in the moov"
        ),
    ],
)
def test_mp4_video_track(tmp_path, data, expected):
    assert track_of(tmp_path, data) == expected


HUGE_32 = struct.pack(">I4s", 0xFFFFFFF0, b"mdat") + bytes(100)
HUGE_64 = struct.pack(">I4sQ", 1, b"mdat", 1 << 62) + bytes(100)


@pytest.mark.parametrize(
    "data, kind, message",
    [
        pytest.param(b"", EMPTY, "empty file", id="empty"),
        pytest.param(b"ftyp", NOT_MP4, "not an MP4 (no ftyp box first)", id="4 bytes"),
        pytest.param(b"<!DOCTYPE html><html>404</html>", NOT_MP4, "not an MP4 (no ftyp box first)", id="text"),
        pytest.param(MDAT + FTYP + moov(), NOT_MP4, "not an MP4 (no ftyp box first)", id="ftyp not first"),
        pytest.param(
            (FTYP + MDAT + moov())[:-40],
            TRUNCATED,
            "box 'moov' runs past the end of the file (truncated)",
            id="cut inside the moov",
        ),
        pytest.param(
            (FTYP + moov() + MDAT)[:-1],
            TRUNCATED,
            "box 'mdat' runs past the end of the file (truncated)",
            id="cut inside the mdat",
        ),
        pytest.param(
            FTYP + MDAT + moov() + b"\0\0\0",
            TRUNCATED,
            "3 stray bytes after the last box (truncated)",
            id="stray bytes at the end",
        ),
        pytest.param(
            FTYP + moov() + HUGE_32, TRUNCATED, "box 'mdat' runs past the end of the file (truncated)", id="huge size"
        ),
        pytest.param(
            FTYP + moov() + HUGE_64,
            TRUNCATED,
            "box 'mdat' runs past the end of the file (truncated)",
            id="huge 64-bit size",
        ),
        pytest.param(
            FTYP + moov() + struct.pack(">I4s", 4, b"free") + bytes(8),
            UNREADABLE,
            "box 'free' has an impossible size 4",
            id="size smaller than a box header",
        ),
        pytest.param(
            FTYP + moov() + struct.pack(">I4sQ", 1, b"mdat", 12) + bytes(8),
            UNREADABLE,
            "box 'mdat' has an impossible size 12",
            id="64-bit size smaller than its header",
        ),
        pytest.param(
            FTYP + struct.pack(">I4s", 16, b"\x00\x01\xfe\xff") + bytes(8) + moov() + MDAT,
            UNREADABLE,
            "garbage where a box should start (type b'\\x00\\x01\\xfe\\xff')",
            id="junk between boxes",
        ),
        pytest.param(
            FTYP + MDAT, UNREADABLE, "no moov box (the index): moov atom not found", id="no moov (download cut early)"
        ),
        pytest.param(FTYP + MDAT + moov(trak(b"soun")), NO_VIDEO, "no video stream", id="sound only"),
        pytest.param(
            FTYP + MDAT + moov(trak(header=b"")),
            UNREADABLE,
            "video track without a media header",
            id="no mdhd",
        ),
        pytest.param(
            FTYP + MDAT + moov(trak(table=[stsd(b"avc1", 64, 48)])),
            UNREADABLE,
            "video track without a sample table",
            id="no stsz",
        ),
        pytest.param(
            FTYP + MDAT + moov(trak(table=[stsd(b"avc1", 64, 48), stts((10, 1024)), stsz(10), stco(48, 5000)])),
            TRUNCATED,
            "the index places video at byte 5000 of a {size}-byte file (truncated)",
            id="a chunk past the end",
        ),
        pytest.param(
            FTYP + MDAT + moov(trak(table=[stsd(b"avc1", 64, 48), stsz(10), co64(1 << 40)])),
            TRUNCATED,
            f"the index places video at byte {1 << 40} of a {{size}}-byte file (truncated)",
            id="a 64-bit chunk past the end",
        ),
        pytest.param(
            FTYP + MDAT + moov(trak(table=[stsd(b"avc1", 64, 48), box(b"stsz")])),
            TRUNCATED,
            "a box is shorter than its fields (truncated)",
            id="fields cut at the end of the file",
        ),
    ],
)
def test_mp4_video_track_refuses(tmp_path, data, kind, message):
    with pytest.raises(BadVideo) as caught:
        track_of(tmp_path, data)
    assert (caught.value.fault, str(caught.value)) == (kind, message.format(size=len(data)))


@pytest.mark.parametrize(
    "data, frames",
    [
        (FTYP + MDAT + moov(), 10),
        (FTYP + moov() + MDAT, 10),
        (FTYP + moov(trak(table=[stsd(b"avc1", 8, 8), stsz(300)])) + struct.pack(">I4s", 0, b"mdat"), 300),
        (
            FTYP
            + moov(trak(b"soun", table=[stsd(b"mp4a", 0, 0), stsz(43)]), trak(table=[stsd(b"avc1", 8, 8), stsz(12)]))
            + MDAT,
            12,
        ),
    ],
)
def test_video_frames(tmp_path, data, frames):
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    assert (video_frames_of(data), mp4_video_frames(path), frames_written(path)) == (frames, frames, frames)


@pytest.mark.parametrize(
    "data, kind, message",
    [
        (FTYP + MDAT, UNREADABLE, "no moov box (the index): moov atom not found"),
        (FTYP + moov(), UNREADABLE, "no mdat box: no media data"),
        (FTYP + MDAT + moov(trak(b"soun")), NO_VIDEO, "no video stream"),
        (FTYP + MDAT + moov(trak(table=[stsd(b"avc1", 8, 8)])), UNREADABLE, "video track without a sample table"),
        (
            FTYP + MDAT + box(b"moov", box(b"trak", box(b"mdia", hdlr(b"vide")))),
            UNREADABLE,
            "video track without a media header",
        ),
        ((FTYP + MDAT + moov())[:-3], TRUNCATED, "box 'moov' runs past the end of the file (truncated)"),
        (b"", EMPTY, "empty file"),
    ],
)
def test_video_frames_refuses(tmp_path, data, kind, message):
    with pytest.raises(BadVideo) as caught:
        video_frames_of(data)
    assert (caught.value.fault, str(caught.value)) == (kind, message)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)
    assert frames_written(path) == 0


def test_a_missing_or_unreadable_file(tmp_path):
    assert frames_written(tmp_path / "gone.mp4") == 0
    with pytest.raises(BadVideo) as caught:
        mp4_video_track(tmp_path / "gone.mp4")
    assert (caught.value.fault, str(caught.value)) == (UNREADABLE, "unreadable (No such file or directory)")
