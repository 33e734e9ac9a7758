"""find_damage, damage_reason and describe_failure on ffmpeg's own words:
the stderr lines below have the shapes ffmpeg 7 prints at ``-loglevel error``
(taken from runs on cut and corrupted files).  No ffmpeg runs here."""

from __future__ import annotations

import pytest

from k400frames.clip.damage import damage_reason, describe_failure, disk_full, find_damage
from k400frames.ffmpeg.process import FFmpegResult

H264 = "[h264 @ 0x563dc7978840]"
MOV = "[in#0/mov,mp4,m4a,3gp,3g2,mj2 @ 0x563dc7977080]"
MKV = "[in#0/matroska,webm @ 0x5570a1b2c3d0]"
MPEG4 = "[mpeg4 @ 0x55c7b4c65480]"
VIST = "[vist#0:0/h264 @ 0x563dc799ddc0] [dec:h264 @ 0x563dc799f740]"


def lines(*rows: str) -> str:
    return "".join(row + "\n" for row in rows)


@pytest.mark.parametrize(
    "stderr, expected",
    [
        pytest.param("", ("", 0, ""), id="clean run prints nothing"),
        pytest.param("\n  \n", ("", 0, ""), id="blank lines"),
        pytest.param(
            lines(f"{H264} mmco: unref short failure", f"{H264} co located POCs unavailable"),
            ("", 0, ""),
            id="open-GOP cut words are harmless",
        ),
        pytest.param(
            lines(f"{H264} Missing reference picture", "    Last message repeated 5 times"),
            ("", 0, ""),
            id="repeats of a harmless line are not counted",
        ),
        pytest.param(
            lines(
                "[vost#0:0/mjpeg @ 0x55d0] [enc:mjpeg @ 0x55d1] Error submitting a packet to the muxer",
                "[image2 @ 0x55d2] Could not open file : /out/frame_00001.jpg",
                "[out#0/image2 @ 0x55d3] Error muxing a packet",
                "[vf#0:0 @ 0x55d4] Error while filtering: Cannot allocate memory",
                "[fc#0 @ 0x55d5] Error reinitializing filters!",
                "[Parsed_scale_0 @ 0x55d6] Failed to configure output pad",
            ),
            ("", 0, ""),
            id="our own side of the pipeline is not the source's damage",
        ),
        pytest.param(
            lines(
                f"{MPEG4} ac-tex damaged at 0 0",
                f"{MPEG4} Error at MB: 0",
                "[mpeg4 @ 0x55c7b4c68140] header damaged",
            ),
            ("decode", 3, "ac-tex damaged at 0 0"),
            id="decode errors",
        ),
        pytest.param(
            lines(
                f"{H264} error while decoding MB 3 2, bytestream -5",
                f"{H264} concealing 120 DC, 120 AC, 120 MV errors in P frame",
            ),
            ("decode", 2, "error while decoding MB 3 2, bytestream -5"),
            id="concealment",
        ),
        pytest.param(
            lines(
                f"{H264} concealing 12 DC, 12 AC, 12 MV errors in B frame",
                "    Last message repeated 4 times",
                f"{H264} mmco: unref short failure",
                "    Last message repeated 9 times",
            ),
            ("decode", 5, "concealing 12 DC, 12 AC, 12 MV errors in B frame"),
            id="repeats count for the damage line before them only",
        ),
        pytest.param(
            lines(f"{VIST} Decoding error: Invalid data found when processing input"),
            ("decode", 1, "Decoding error: Invalid data found when processing input"),
            id="every bracketed prefix is dropped",
        ),
        pytest.param(
            lines(
                f"{H264} Invalid NAL unit size (1091 > 710).",
                f"{H264} missing picture in access unit with size 1390",
                f"{MOV} stream 0, offset 0xb34: partial file",
                f"{MOV} stream 0, offset 0xb85: partial file",
                f"{H264} Error splitting the input into NAL units.",
            ),
            ("truncated", 5, "stream 0, offset 0xb34: partial file"),
            id="truncated mp4: the demuxer's word wins over an earlier decoder line",
        ),
        pytest.param(
            lines(f"{MKV} File ended prematurely at pos. 31407 (0x7aaf)"),
            ("truncated", 1, "File ended prematurely at pos. 31407 (0x7aaf)"),
            id="truncated matroska",
        ),
        pytest.param(
            lines("[in#0/avi @ 0x55e0] Truncating packet of size 4116 to 1033", "    Last message repeated 2 times"),
            ("truncated", 3, "Truncating packet of size 4116 to 1033"),
            id="truncated packet, repeated",
        ),
        pytest.param(
            lines("[in#0/mpegts @ 0x55e1] EOF inside a packet"),
            ("truncated", 1, "EOF inside a packet"),
            id="eof inside",
        ),
        pytest.param(
            lines("  Error while decoding stream #0:0: Invalid data found when processing input  "),
            ("decode", 1, "Error while decoding stream #0:0: Invalid data found when processing input"),
            id="a line without a prefix, stripped",
        ),
    ],
)
def test_find_damage(stderr, expected):
    assert find_damage(stderr) == expected


@pytest.mark.parametrize(
    "args, expected",
    [
        (
            ("truncated", 3, "partial file", 40, 90),
            "truncated: 40 of the 90 frames its header promises decoded (ffmpeg: partial file)",
        ),
        (
            ("truncated", 3, "partial file", 40, None),
            "truncated: the file ends early after 40 frames (ffmpeg: partial file)",
        ),
        (
            ("truncated", 1, "partial file", 8, 90, True),
            "truncated: the file ends before its header says; sampling: uniform picked 8 frames "
            "from the part that decodes (ffmpeg: partial file)",
        ),
        (("decode", 7, "ac-tex damaged at 0 0", 32, 32), "decode errors: 7, first: ac-tex damaged at 0 0"),
    ],
)
def test_damage_reason(args, expected):
    assert damage_reason(*args) == expected


@pytest.mark.parametrize(
    "tail, returncode, frames, expected",
    [
        (
            "[in#0 @ 0x55] Error opening input: Protocol 'http' not on whitelist 'file'!",
            1,
            0,
            "refused: not a plain video container (a playlist, script or other format that could read other files)",
        ),
        ("[in#0 @ 0x55] moov atom not found", 1, 0, "truncated or incomplete MP4 (moov atom not found)"),
        ("Stream map '0:v:0' matches no streams.", 1, 0, "no video stream (audio-only or not a video)"),
        (
            "[out#0/image2 @ 0x55] Nothing was written into output file, because at least one of its streams "
            "received no packets.",
            0,
            0,
            "no frame could be decoded (corrupt video data)",
        ),
        (
            "Error opening input files: Invalid data found when processing input",
            1,
            0,
            "not a readable video (invalid data)",
        ),
        ("file:/src/a.mp4: No such file or directory", 1, 0, "source file disappeared"),
        ("file:/src/a.mp4: Permission denied", 1, 0, "permission denied"),
        ("", 0, 0, "ffmpeg decoded 0 frames"),
        ("", -9, 0, "ffmpeg exited with code -9: no error message"),
        ("first line\nConversion failed!", 187, 3, "ffmpeg exited with code 187: Conversion failed!"),
    ],
)
def test_describe_failure(tmp_path, tail, returncode, frames, expected):
    source = tmp_path / "a.mp4"
    source.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(12))  # an MP4 header, so moov's words are believed
    result = FFmpegResult(returncode, tail, stderr=tail)
    assert describe_failure(result, frames, source) == expected


@pytest.mark.parametrize("content", [b"", b"<html>not a video</html>", None])
def test_a_missing_moov_in_a_file_without_an_mp4_header_is_not_a_video(tmp_path, content):
    source = tmp_path / "a.mp4"
    if content is not None:
        source.write_bytes(content)
    result = FFmpegResult(1, "[in#0 @ 0x55] moov atom not found")
    assert describe_failure(result, 0, source) == (
        "not a video file (no MP4 header; text or another format named like a video)"
    )


@pytest.mark.parametrize(
    "stderr, full",
    [
        ("[image2 @ 0x55] Could not write: No space left on device", True),
        ("av_interleaved_write_frame(): Disk quota exceeded", True),
        ("[image2 @ 0x55] Could not open file : Permission denied", False),
        ("", False),
    ],
)
def test_disk_full(stderr, full):
    assert disk_full(FFmpegResult(1, "", stderr=stderr)) is full
