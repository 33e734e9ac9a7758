"""The YUV4MPEG2 reader of the turbo path on streams built byte by byte: the
header, the frame markers, odd sizes, a stream cut anywhere.  No ffmpeg."""

from __future__ import annotations

import io

import pytest

from k400frames.clip.turbo import Y4MReader

# ffmpeg's header for -pix_fmt yuvj420p -f yuv4mpegpipe, with the size swapped in
HEADER = b"YUV4MPEG2 W%d H%d F10:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=FULL\n"


def frame(width: int, height: int, seed: int) -> tuple[bytes, bytes, bytes]:
    chroma = ((width + 1) // 2) * ((height + 1) // 2)
    y = bytes((seed + i) % 256 for i in range(width * height))
    u = bytes((seed * 3 + i) % 256 for i in range(chroma))
    v = bytes((seed * 7 + 100 + i) % 256 for i in range(chroma))
    return y, u, v


def stream(width: int, height: int, count: int, header: bytes | None = None) -> tuple[bytes, list[tuple]]:
    frames = [frame(width, height, seed) for seed in range(count)]
    data = (HEADER % (width, height) if header is None else header) + b"".join(b"FRAME\n" + b"".join(f) for f in frames)
    return data, frames


class Trickle(io.RawIOBase):
    """A pipe that hands out at most ``step`` bytes a read, as a slow ffmpeg does."""

    def __init__(self, data: bytes, step: int):
        self.data, self.pos, self.step = data, 0, step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self.data[self.pos : self.pos + min(self.step, len(buffer))]
        buffer[: len(chunk)] = chunk
        self.pos += len(chunk)
        return len(chunk)


def read_all(pipe) -> tuple[list[tuple[bytes, bytes, bytes]], int, bool, list[tuple]]:
    """(planes of each frame as bytes, count, cut_short, plane shapes)."""
    reader = Y4MReader(pipe)
    planes, shapes = [], []
    for y, u, v in reader:  # views of one buffer: copy each before the next
        planes.append((y.tobytes(), u.tobytes(), v.tobytes()))
        shapes.append((y.shape, u.shape, v.shape))
    return planes, reader.count, reader.cut_short, shapes


@pytest.mark.parametrize(
    "width, height, count, shape",
    [
        (4, 2, 1, ((2, 4), (1, 2), (1, 2))),
        (4, 2, 3, ((2, 4), (1, 2), (1, 2))),
        (5, 3, 2, ((3, 5), (2, 3), (2, 3))),  # odd sizes round the chroma planes up
        (1, 1, 2, ((1, 1), (1, 1), (1, 1))),
        (64, 48, 2, ((48, 64), (24, 32), (24, 32))),
    ],
)
@pytest.mark.parametrize("step", [None, 1, 7])
def test_whole_streams(width, height, count, shape, step):
    data, frames = stream(width, height, count)
    pipe = io.BytesIO(data) if step is None else Trickle(data, step)
    assert read_all(pipe) == (frames, count, False, [shape] * count)


@pytest.mark.parametrize(
    "header",
    [
        b"YUV4MPEG2 W4 H2 XCOLORRANGE=FULL\n",  # no C tag: 4:2:0 is the default
        b"YUV4MPEG2 W4 H2 F30000:1001 It A0:0 C420mpeg2 XYSCSS=420MPEG2 XCOLORRANGE=FULL\n",
        b"YUV4MPEG2 XCOLORRANGE=FULL C420 H2 W4\n",  # tags in any order
    ],
)
def test_header_variants(header):
    data, frames = stream(4, 2, 2, header)
    assert read_all(io.BytesIO(data))[:3] == (frames, 2, False)


WHOLE, FRAMES = stream(4, 2, 3)
FRAME_BYTES = len(b"FRAME\n") + 8 + 2 + 2
HEADER_BYTES = len(HEADER % (4, 2))


@pytest.mark.parametrize(
    "cut, frames, cut_short",
    [
        pytest.param(0, 0, False, id="nothing at all"),
        pytest.param(10, 0, True, id="inside the header"),
        pytest.param(HEADER_BYTES, 0, False, id="header only: no frame decoded"),
        pytest.param(HEADER_BYTES + 3, 0, True, id="inside the first marker"),
        pytest.param(HEADER_BYTES + 6, 0, True, id="after the first marker"),
        pytest.param(HEADER_BYTES + FRAME_BYTES - 1, 0, True, id="one byte short of frame 1"),
        pytest.param(HEADER_BYTES + FRAME_BYTES, 1, False, id="after frame 1"),
        pytest.param(HEADER_BYTES + 2 * FRAME_BYTES + 9, 2, True, id="inside frame 3's luma"),
        pytest.param(len(WHOLE) - 1, 2, True, id="one byte short of the end"),
    ],
)
def test_cut_streams(cut, frames, cut_short):
    planes, count, short, _ = read_all(io.BytesIO(WHOLE[:cut]))
    assert (planes, count, short) == (FRAMES[:frames], frames, cut_short)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"RIFF\x00\x00WAVEfmt \n", "not a YUV4MPEG2 stream: b'RIFF\\x00\\x00WAVEfmt \\n'"),
        (b"\n", "not a YUV4MPEG2 stream: b'\\n'"),
        (
            b"YUV4MPEG2 W4 H2 C422 XCOLORRANGE=FULL\n",
            "expected full-range 4:2:0 frames, ffmpeg sent: YUV4MPEG2 W4 H2 C422 XCOLORRANGE=FULL",
        ),
        (
            b"YUV4MPEG2 W4 H2 C420jpeg XYSCSS=420JPEG\n",
            "expected full-range 4:2:0 frames, ffmpeg sent: YUV4MPEG2 W4 H2 C420jpeg XYSCSS=420JPEG",
        ),
        (
            b"YUV4MPEG2 W4 H2 C420 XCOLORRANGE=LIMITED\n",
            "expected full-range 4:2:0 frames, ffmpeg sent: YUV4MPEG2 W4 H2 C420 XCOLORRANGE=LIMITED",
        ),
    ],
)
def test_refused_headers(data, message):
    with pytest.raises(ValueError) as caught:
        read_all(io.BytesIO(data + bytes(100)))
    assert str(caught.value) == message


@pytest.mark.parametrize(
    "damage, after",
    [
        pytest.param(lambda d: d[:HEADER_BYTES] + b"FRAMX" + d[HEADER_BYTES + 5 :], 0, id="first marker"),
        pytest.param(
            lambda d: d[: HEADER_BYTES + FRAME_BYTES] + b"JUNK!!" + d[HEADER_BYTES + FRAME_BYTES + 6 :],
            1,
            id="second marker",
        ),
        pytest.param(
            lambda d: d[: HEADER_BYTES + FRAME_BYTES] + b"\x00" + d[HEADER_BYTES + FRAME_BYTES :],
            1,
            id="one byte too many in frame 1: out of step",
        ),
    ],
)
def test_a_reader_out_of_step_stops_at_once(damage, after):
    data = damage(WHOLE)
    reader = Y4MReader(io.BytesIO(data))
    got = []
    with pytest.raises(ValueError) as caught:
        for y, _, _ in reader:
            got.append(y.tobytes())
    start = HEADER_BYTES + after * FRAME_BYTES
    assert str(caught.value) == f"not a YUV4MPEG2 frame marker after frame {after}: {data[start : start + 16]!r}"
    assert (got, reader.count) == ([f[0] for f in FRAMES[:after]], after)
