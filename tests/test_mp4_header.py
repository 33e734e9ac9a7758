"""One walk of an MP4's boxes (ffmpeg/mp4.py) and one Header type, whoever read it."""

from __future__ import annotations

import ast
import struct
from pathlib import Path

import pytest

from k400frames import ffmpeg
from k400frames.ffmpeg.header import Header
from k400frames.ffmpeg.mp4 import (
    NO_VIDEO,
    TRUNCATED,
    UNREADABLE,
    BadVideo,
    mp4_video_frames,
    mp4_video_track,
    video_frames_of,
)

PACKAGE = Path(__file__).resolve().parent.parent / "k400frames"


def box(kind: bytes, *payload: bytes) -> bytes:
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def crafted(*, handler=b"vide", fragmented=False, mdat=True, frames=50, timescale=12800, delta=512) -> bytes:
    """A minimal MP4: one track of ``frames`` samples of ``delta`` ticks, 64x48 avc1, one chunk in its mdat."""
    ftyp = box(b"ftyp", b"isom", b"\0\0\0\1", b"isom")
    mdhd = box(b"mdhd", bytes(12), struct.pack(">II", timescale, frames * delta), bytes(4))
    hdlr = box(b"hdlr", bytes(8), handler, bytes(12))
    entry = box(b"avc1", bytes(24), struct.pack(">HH", 64, 48), bytes(50))
    stsd = box(b"stsd", bytes(4), struct.pack(">I", 1), entry)
    stts = box(b"stts", bytes(4), struct.pack(">III", 1, frames, delta))
    stsz = box(b"stsz", bytes(4), struct.pack(">II", 100, frames))
    stco = box(b"stco", bytes(4), struct.pack(">II", 1, 0))  # the offset is patched below
    minf = box(b"minf", box(b"stbl", stsd, stts, stsz, stco))
    trak = box(b"trak", box(b"mdia", mdhd, hdlr, minf))
    moov = box(b"moov", trak, box(b"mvex") if fragmented else b"")
    media = box(b"mdat", bytes(frames * 100)) if mdat else b""
    data = bytearray(ftyp + moov + media)
    at = data.index(b"stco") + 12
    data[at : at + 4] = struct.pack(">I", len(ftyp) + len(moov) + 8)
    return bytes(data)


def fault(call, data: bytes, tmp_path: Path) -> tuple[str, str] | None:
    path = tmp_path / "v.mp4"
    path.write_bytes(data)
    try:
        call(path)
    except BadVideo as exc:
        return exc.fault, str(exc)
    return None


def test_whole_file_one_header(tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(crafted())
    header = mp4_video_track(path)
    assert header == Header(2.0, 25.0, codec="h264", width=64, height=48, frames=50)
    assert mp4_video_frames(path) == video_frames_of(path.read_bytes()) == 50
    # read_header hands on the index's own Header: no second type, no ffmpeg asked.
    assert ffmpeg.read_header(path, lambda: pytest.fail("ffmpeg asked")) == (header, None, "", False)


@pytest.mark.parametrize(
    "data, kind, words",
    [
        (crafted()[:-3], TRUNCATED, "runs past the end"),
        (crafted(mdat=False), TRUNCATED, "places video at byte"),  # cut right before its media
        (crafted(handler=b"soun"), NO_VIDEO, "no video stream"),
        (crafted()[:40], TRUNCATED, "truncated"),
        (b"\0\0\0\x10ftypisom\0\0\0\0" + box(b"free"), UNREADABLE, "moov atom not found"),
    ],
)
def test_faults_alike_for_every_reader(tmp_path, data, kind, words):
    """The frame count (verify, outputs) and the header (doctor, card) come from one walk:
    the same fault, in the same words."""
    found = {fault(call, data, tmp_path) for call in (mp4_video_frames, mp4_video_track)}
    found.add(fault(lambda p: video_frames_of(p.read_bytes()), data, tmp_path))
    assert len(found) == 1
    (got,) = found
    assert got is not None and got[0] == kind and words in got[1]


def test_no_media_at_all(tmp_path):
    # An index whose chunk lies inside the file, but no mdat: no media data, for both readers.
    data = bytearray(crafted(mdat=False)) + box(b"free", bytes(8))
    at = data.index(b"stco") + 12
    data[at : at + 4] = struct.pack(">I", len(data) - 4)
    for call in (mp4_video_frames, mp4_video_track):
        assert fault(call, bytes(data), tmp_path) == (UNREADABLE, "no mdat box: no media data")


def test_fragmented(tmp_path):
    path = tmp_path / "v.mp4"
    path.write_bytes(crafted(fragmented=True))
    assert mp4_video_track(path) is None  # ask ffmpeg
    with pytest.raises(BadVideo, match="fragmented"):
        mp4_video_frames(path)


def test_ffmpeg_reads_the_same_header_type(tmp_path, ffmpeg_exe, make_clip):
    mp4 = make_clip("a/x.mp4", seconds=1, fps=10)
    mkv = make_clip("a/y.mkv", seconds=1, fps=10)
    by_index, _, _, asked = ffmpeg.read_header(mp4, lambda: ffmpeg_exe)
    assert not asked and isinstance(by_index, Header) and by_index.frames == 10
    by_ffmpeg, _, _, asked = ffmpeg.read_header(mkv, lambda: ffmpeg_exe)
    assert asked and isinstance(by_ffmpeg, Header) and by_ffmpeg.frames is None
    assert (by_index.codec, by_index.width, by_index.height, by_index.fps) == (
        by_ffmpeg.codec,
        by_ffmpeg.width,
        by_ffmpeg.height,
        by_ffmpeg.fps,
    )
    assert ffmpeg.probe_header(ffmpeg_exe, mkv).codec == "h264"


def test_one_header_type_and_one_walker():
    """No second header class in the package, and only mp4._walk walks a moov box."""
    classes = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and ("Header" in node.name or "Track" in node.name):
                classes.append(f"{path.relative_to(PACKAGE).as_posix()}:{node.name}")
    assert classes == ["ffmpeg/header.py:Header"]
    source = (PACKAGE / "ffmpeg" / "mp4.py").read_text(encoding="utf-8")
    walkers = [
        node.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef) and 'b"moov"' in ast.get_source_segment(source, node)
    ]
    assert walkers == ["_walk"]
