"""split_jpegs on mpjpeg streams built part by part: lengths cut the stream,
never a search through a frame's bytes; a stream cut anywhere or holding
junk keeps its whole frames and says where it went wrong.  No ffmpeg (the
test of ffmpeg's own stream is in test_store.py)."""

from __future__ import annotations

import pytest

from k400frames.clip.codec import split_jpegs
from k400frames.ffmpeg import PIPE_BOUNDARY

BOUNDARY = b"--" + PIPE_BOUNDARY.encode() + b"\r\n"


def jpeg(seed: int, size: int = 40) -> bytes:
    return b"\xff\xd8" + bytes((seed + i) % 251 for i in range(size)) + b"\xff\xd9"


def part(data: bytes, head: bytes | None = None) -> bytes:
    """One MIME part as ffmpeg's mpjpeg muxer writes it."""
    if head is None:
        head = b"Content-type: image/jpeg\r\nContent-length: %d\r\n\r\n" % len(data)
    return BOUNDARY + head + data + b"\r\n"


A, B, C = jpeg(1), jpeg(2, 300), jpeg(3, 7)
# a frame whose own bytes hold a whole part (boundary line, headers) inside a comment segment
FAKE_PART = b"\r\n" + part(b"\xff\xd8xx\xff\xd9")
TRICKY = b"\xff\xd8\xff\xfe" + (len(FAKE_PART) + 2).to_bytes(2, "big") + FAKE_PART + b"\xff\xd9"
STREAM = part(A) + part(B) + part(C) + BOUNDARY
FIRST = len(part(A))  # where part 2 starts


@pytest.mark.parametrize(
    "data, frames, problem",
    [
        pytest.param(b"", [], "", id="empty: ffmpeg wrote nothing"),
        pytest.param(BOUNDARY, [], "", id="the closing boundary alone"),
        pytest.param(part(A) + BOUNDARY, [A], "", id="one frame"),
        pytest.param(STREAM, [A, B, C], "", id="three frames"),
        pytest.param(part(A) + part(B), [A, B], "", id="no closing boundary: ffmpeg killed after its last frame"),
        pytest.param(
            part(A, b"Content-Length: %d\r\n\r\n" % len(A)) + part(B, b"CONTENT-LENGTH: %d\r\n\r\n" % len(B)),
            [A, B],
            "",
            id="header names in any case",
        ),
        pytest.param(
            part(A, b"X-Timestamp: 0.000\r\nContent-length: %d\r\nContent-type: image/jpeg\r\n\r\n" % len(A)),
            [A],
            "",
            id="other headers around the length",
        ),
        pytest.param(part(TRICKY) + part(A) + BOUNDARY, [TRICKY, A], "", id="a frame holding a part of its own"),
        pytest.param(
            part(b"\xff\xd8" + BOUNDARY + b"\xff\xd9") + BOUNDARY,
            [b"\xff\xd8" + BOUNDARY + b"\xff\xd9"],
            "",
            id="a frame holding a boundary line",
        ),
    ],
)
def test_whole_streams(data, frames, problem):
    assert split_jpegs(data) == (frames, problem)


@pytest.mark.parametrize(
    "data, frames, problem",
    [
        pytest.param(b"junk", [], "frame 1: no part boundary at byte 0", id="junk"),
        pytest.param(b"\xff\xd8" + A, [], "frame 1: no part boundary at byte 0", id="bare JPEG"),
        pytest.param(
            part(A) + b"garbage" + part(B),
            [A],
            f"frame 2: no part boundary at byte {FIRST}",
            id="junk between frames",
        ),
        pytest.param(STREAM[:5], [], "frame 1: no part boundary at byte 0", id="cut inside the first boundary"),
        pytest.param(
            STREAM[: FIRST + len(BOUNDARY) + 10],
            [A],
            f"frame 2: its part header is cut short or gives no length (byte {FIRST + len(BOUNDARY)})",
            id="cut inside a part header",
        ),
        pytest.param(
            part(A, b"Content-type: image/jpeg\r\n\r\n"),
            [],
            f"frame 1: its part header is cut short or gives no length (byte {len(BOUNDARY)})",
            id="no length",
        ),
        pytest.param(
            part(A, b"X-Pad: " + b"p" * 300 + b"\r\nContent-length: %d\r\n\r\n" % len(A)),
            [],
            f"frame 1: its part header is cut short or gives no length (byte {len(BOUNDARY)})",
            id="a part header far longer than ffmpeg writes",
        ),
        pytest.param(STREAM[: FIRST + 100], [A], "frame 2 is cut short", id="cut mid-frame"),
        pytest.param(STREAM[: FIRST - 2], [], "frame 1 is cut short", id="cut before a frame's line end"),
        pytest.param(
            part(A) + part(B, b"Content-length: %d\r\n\r\n" % (len(B) + 9)),
            [A],
            "frame 2 is cut short",
            id="a length longer than the rest of the stream",
        ),
        pytest.param(
            part(A, b"Content-length: %d\r\n\r\n" % (len(A) - 1)),
            [],
            "frame 1: truncated JPEG (no EOI marker FFD9 at the end)",
            id="a length one short",
        ),
        pytest.param(
            part(A) + part(b"\x00\x00" + B[2:]),
            [A],
            "frame 2: not a JPEG (no SOI marker FFD8 at the start)",
            id="not a JPEG",
        ),
        pytest.param(
            part(A) + part(B) + part(C[:-2] + b"\x00\x00"),
            [A, B],
            "frame 3: truncated JPEG (no EOI marker FFD9 at the end)",
            id="a frame without its end marker",
        ),
        pytest.param(part(b""), [], "frame 1: empty value", id="an empty part"),
        pytest.param(part(b"\xff\xd8\xff"), [], "frame 1: only 3 bytes", id="three bytes"),
        pytest.param(part(A)[:-2] + b"XX" + BOUNDARY, [], "frame 1: no line end after it", id="no line end"),
    ],
)
def test_broken_streams(data, frames, problem):
    assert split_jpegs(data) == (frames, problem)


def test_every_cut_of_a_stream_keeps_exactly_the_frames_before_it():
    ends = [len(part(A)), len(part(A) + part(B)), len(part(A) + part(B) + part(C))]
    for cut in range(len(STREAM) + 1):
        whole, problem = split_jpegs(STREAM[:cut])
        complete = sum(1 for end in ends if end <= cut)
        assert whole == [A, B, C][:complete], cut
        # a boundary line after a whole part reads as the closing one
        at_a_part_end = cut in (0, *ends, *(end + len(BOUNDARY) for end in (0, *ends)))
        assert (problem == "") == at_a_part_end, (cut, problem)
