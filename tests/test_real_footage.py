"""The footage people really have (issue 9): video that starts late, damaged
files, non-square pixels, tiny clips, odd names and extensions.

Every clip is made with ffmpeg the way such files come about in the wild
(``-itsoffset`` + ``-c copy`` for a late video start, a copy cut of an
open-GOP stream, bytes scribbled over or cut off, a SAR set on the stream),
and the checks compare pixels with ffmpeg's own decode of the source.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from k400frames.run.runner import format_summary, run_extract
from k400frames.tools.verify import format_report, verify_tree

from helpers import decode_reference, frame_files, jpeg_size, run_main

# testsrc2 moves every frame at this size (at 64x48 neighbouring frames repeat),
# so a frame-order or a leading-copy bug shows in the bytes.
SIZE = "160x120"


def ff(exe: str, *args: str) -> None:
    subprocess.run([exe, "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def source_frames(exe: str, video: Path, out: Path, count: int, vf: str | None = None) -> list[bytes]:
    """The first ``count`` decoded video frames of ``video``, each exactly once
    (passthrough: no duplicates for a late start), as JPEGs with our encoder settings."""
    return decode_reference(exe, video, out, count, vf=vf, extra=["-fps_mode", "passthrough"])


def clip_frames(cfg, rel: str) -> list[bytes]:
    folder = cfg.target / rel
    return [(folder / name).read_bytes() for name in frame_files(folder)]


@pytest.fixture
def late_start(tmp_path, make_clip, ffmpeg_exe):
    """A clip whose video starts 0.5 s after its audio (the stream's start_time
    is 0.5), as a camera, an edit list or a re-mux leaves it."""
    base = make_clip("_base/base.mp4", seconds=2, size=SIZE, audio=True)
    late = tmp_path / "src" / "late" / "late start.mp4"
    late.parent.mkdir(parents=True)
    ff(
        ffmpeg_exe,
        "-itsoffset",
        "0.5",
        "-i",
        str(base),
        "-i",
        str(base),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c",
        "copy",
        str(late),
    )
    os.remove(base)
    os.rmdir(base.parent)
    return late


@pytest.mark.parametrize("fps", [None, 10])
def test_frame_one_is_the_first_video_frame_of_a_late_start(late_start, config, tmp_path, ffmpeg_exe, fps):
    cfg = config(num_frames=20, fps=fps)
    summary = run_extract(cfg)
    assert summary.done == 1 and summary.failed == 0
    got = clip_frames(cfg, "late/late start")
    vf = "setpts=PTS-STARTPTS,fps=10" if fps else None
    want = source_frames(ffmpeg_exe, late_start, tmp_path / "ref", 20, vf=vf)
    assert got[0] == want[0]  # frame 1 = the first decoded video frame
    assert got[1] != got[0]  # no leading copies of it
    assert got[: len(want)] == want  # and frame k is the video (k-1)/rate after it


def test_open_gop_copy_cut_starts_on_its_first_frame_and_is_not_damaged(tmp_path, config, ffmpeg_exe):
    """A clip cut with -c copy from an open-GOP source: an edit list hides
    leading frames, and the decoder complains about missing references."""
    source = tmp_path / "long.mp4"
    ff(
        ffmpeg_exe,
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={SIZE}:rate=30:duration=4",
        "-f",
        "lavfi",
        "-i",
        "sine=duration=4",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-x264-params",
        "open-gop=1:keyint=30:bframes=3",
        "-c:a",
        "aac",
        str(source),
    )
    cut = tmp_path / "src" / "cut" / "copy_cut.mp4"
    cut.parent.mkdir(parents=True)
    ff(ffmpeg_exe, "-ss", "1.3", "-i", str(source), "-t", "2", "-c", "copy", str(cut))
    cfg = config(num_frames=10)
    summary = run_extract(cfg)
    assert summary.done == 1 and summary.failed == 0 and summary.damaged_kept == 0
    got = clip_frames(cfg, "cut/copy_cut")
    want = source_frames(ffmpeg_exe, cut, tmp_path / "ref", 10)
    assert got == want and got[0] != got[1]


def test_one_frame_clip_gives_its_frame_at_any_fps(tmp_path, config, ffmpeg_exe):
    one = tmp_path / "src" / "tiny" / "one.mp4"
    one.parent.mkdir(parents=True)
    ff(
        ffmpeg_exe,
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={SIZE}:rate=30",
        "-frames:v",
        "1",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(one),
    )
    three = one.with_name("three.mp4")  # 0.1 s: shorter than one period at fps 2
    ff(
        ffmpeg_exe,
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={SIZE}:rate=30",
        "-frames:v",
        "3",
        "-c:v",
        "libx264",
        "-pix_fmt",
        "yuv420p",
        str(three),
    )
    for fps in (10, 2):
        cfg = config(num_frames=5, fps=fps, target=str(tmp_path / f"out{fps}" / "train"))
        summary = run_extract(cfg)
        assert (summary.done, summary.failed, summary.pad_frames) == (2, 0, 8), format_summary(summary)
        first = source_frames(ffmpeg_exe, one, tmp_path / f"ref{fps}", 1)[0]
        frames = clip_frames(cfg, "tiny/one")
        assert len(frames) == 5 and frames[0] == first and set(frames) == {first}


def _jfif_density(jpeg: bytes) -> tuple[int, int]:
    assert jpeg[6:11] == b"JFIF\0"
    return int.from_bytes(jpeg[14:16], "big"), int.from_bytes(jpeg[16:18], "big")


@pytest.mark.parametrize(
    "storage, sar, square, short",
    [
        ("720x576", "64/45", (1024, 576), (456, 256)),  # PAL 16:9
        ("480x360", "4/3", (640, 360), (456, 256)),
    ],
)
def test_non_square_pixels_come_out_square(tmp_path, config, ffmpeg_exe, storage, sar, square, short):
    video = tmp_path / "src" / "sar" / "anamorphic.mp4"
    video.parent.mkdir(parents=True)
    ff(
        ffmpeg_exe,
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={storage}:rate=25:duration=0.2",
        "-vf",
        f"setsar={sar}",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        str(video),
    )
    sizes = {}
    for name, extra in (("square", {}), ("short", {"short_side": 256}), ("storage", {"square_pixels": False})):
        cfg = config(num_frames=2, target=str(tmp_path / name / "train"), **extra)
        assert run_extract(cfg).done == 1
        frame = clip_frames(cfg, "sar/anamorphic")[0]
        sizes[name] = (jpeg_size(frame), _jfif_density(frame))
    assert sizes["square"] == (square, (1, 1))  # display aspect, and the JPEG says 1:1
    assert sizes["short"] == (short, (1, 1))
    width, height = (int(v) for v in storage.split("x"))
    num, den = (int(v) for v in sar.split("/"))
    assert sizes["storage"][0] == (width, height)  # square_pixels: false keeps storage pixels
    assert sizes["storage"][1][0] * den == sizes["storage"][1][1] * num  # and says their SAR


def test_rotation_and_10_bit_still_come_out_upright_and_8_bit(tmp_path, config, ffmpeg_exe):
    base = tmp_path / "base.mp4"
    ff(
        ffmpeg_exe,
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={SIZE}:rate=30:duration=0.2",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p10le",
        str(base),
    )
    rotated = tmp_path / "src" / "phone" / "portrait.mp4"
    rotated.parent.mkdir(parents=True)
    ff(ffmpeg_exe, "-display_rotation", "90", "-i", str(base), "-c", "copy", str(rotated))
    cfg = config(num_frames=2)
    assert run_extract(cfg).done == 1
    frame = clip_frames(cfg, "phone/portrait")[0]
    assert jpeg_size(frame) == (120, 160)  # the stored 160x120, turned upright
    # 4:2:0 baseline 8-bit JPEG (SOF0, precision 8), not a 10/12-bit one.
    sof = frame.index(b"\xff\xc0")
    assert frame[sof + 4] == 8


# ---------------------------------------------------------------------------
# damaged files
# ---------------------------------------------------------------------------


@pytest.fixture
def good_and_damaged(tmp_path, ffmpeg_exe):
    """A healthy 8 s clip (moov first, as web downloads are), the same with
    bytes scribbled over its middle, and the same cut off at 40%."""
    good = tmp_path / "src" / "videos" / "good.mp4"
    good.parent.mkdir(parents=True)
    ff(
        ffmpeg_exe,
        "-f",
        "lavfi",
        "-i",
        "testsrc2=size=320x240:rate=30:duration=8",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "30",
        "-movflags",
        "+faststart",
        str(good),
    )
    data = bytearray(good.read_bytes())
    scribble = random.Random(1)
    for _ in range(30):
        at = scribble.randrange(len(data) // 4, 3 * len(data) // 4)
        data[at : at + 40] = bytes(scribble.randrange(256) for _ in range(40))
    (good.parent / "corrupt.mp4").write_bytes(bytes(data))
    (good.parent / "truncated.mp4").write_bytes(good.read_bytes()[: int(len(data) * 0.4)])
    return good


def test_damaged_videos_fail_with_an_actionable_reason(good_and_damaged, config):
    cfg = config(num_frames=300)
    summary = run_extract(cfg)
    assert (summary.done, summary.failed, summary.damaged_failed) == (1, 2, 2)
    failures = {row["rel"]: row for row in map(json.loads, summary.failures.read_text().splitlines())}
    assert failures["videos/corrupt"]["stage"] == "damaged"
    assert failures["videos/corrupt"]["reason"].startswith("decode errors: ")
    truncated = failures["videos/truncated"]["reason"]
    assert truncated.startswith("truncated: ") and "of the 240 frames its header promises decoded" in truncated
    assert "partial file" in truncated
    # Nothing of a damaged clip is published.
    assert sorted(p.name for p in (cfg.target / "videos").iterdir()) == ["good"]
    assert "damaged videos (decode errors or truncated): 2 failed" in format_summary(summary)


def test_damaged_keep_publishes_and_marks_them(good_and_damaged, config):
    cfg = config(num_frames=300, damaged="keep")
    summary = run_extract(cfg)
    assert (summary.done, summary.failed, summary.damaged_kept) == (3, 0, 2)
    rows = {row["rel"]: row for row in map(json.loads, summary.manifest.read_text().splitlines())}
    assert "damaged" not in rows["videos/good"]
    assert rows["videos/corrupt"]["damaged"].startswith("decode errors: ")
    assert rows["videos/truncated"]["damaged"].startswith("truncated: ")
    report = verify_tree(cfg.target, 300, cfg.frame_name)
    assert report.ok  # kept on purpose: listed, not a verify failure
    assert sorted(rel for rel, _ in report.damaged) == ["videos/corrupt", "videos/truncated"]
    assert "damaged (kept): 2" in format_report(report)


def test_healthy_clips_with_odd_timing_are_never_flagged(tmp_path, config, ffmpeg_exe):
    """Container durations that are a little off must not look like damage."""
    folder = tmp_path / "src" / "healthy"
    folder.mkdir(parents=True)
    lavfi = ["-f", "lavfi", "-i", f"testsrc2=size={SIZE}:rate=30:duration=2"]
    x264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    # Variable frame rate: frame times jitter around 30 fps.
    ff(
        ffmpeg_exe,
        *lavfi,
        "-vf",
        "setpts='N/30/TB+if(mod(N,3),0.011/TB,0)'",
        "-fps_mode",
        "vfr",
        *x264,
        str(folder / "vfr.mp4"),
    )
    # Audio runs a second past the video: the container says 3 s.
    ff(
        ffmpeg_exe,
        *lavfi,
        "-f",
        "lavfi",
        "-i",
        "sine=duration=3",
        *x264,
        "-c:a",
        "aac",
        str(folder / "audio longer.mp4"),
    )
    # A last frame shorter than the others (cut at 1.99 s) and a rate that rounds (29.97).
    ff(
        ffmpeg_exe,
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={SIZE}:rate=30000/1001:duration=1.99",
        *x264,
        str(folder / "ntsc.mkv"),
    )
    cfg = config(num_frames=100)
    summary = run_extract(cfg)
    assert (summary.done, summary.failed, summary.damaged_kept, summary.damaged_failed) == (3, 0, 0, 0), (
        summary.failures.read_text() if summary.failures.exists() else ""
    )


# ---------------------------------------------------------------------------
# every file accounted for
# ---------------------------------------------------------------------------


def test_name_that_is_not_utf8_is_extracted_under_its_bytes(tmp_path, make_clip, capfd):
    good = make_clip("cls/fine.mp4", seconds=0.2)
    odd = os.fsdecode(bytes(good.parent) + b"/caf\xe9 \xff.mp4")  # Latin-1 bytes, as old cameras write
    os.link(good, odd)
    args = (
        "-q",
        "extract",
        "--set",
        f"source={tmp_path / 'src'}",
        "--set",
        f"target={tmp_path / 'out' / 'train'}",
        "--set",
        "num_frames=4",
    )
    first = run_main(capfd, *args)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr
    folder = os.fsencode(tmp_path / "out" / "train" / "cls")
    assert sorted(os.listdir(folder)) == [b"caf\xe9 \xff", b"fine"]
    manifest = (tmp_path / "out" / "train.manifest.jsonl").read_bytes()
    rels = {json.loads(line.decode("utf-8"))["rel"] for line in manifest.splitlines()}  # strict UTF-8 JSON
    assert rels == {"cls/fine", os.fsdecode(b"cls/caf\xe9 \xff")}
    again = run_main(capfd, *args)
    assert again.returncode == 0 and "0 extracted" in again.stdout and "2 already done" in again.stdout


def test_an_unexpected_error_fails_its_clip_not_the_run(make_clip, config, monkeypatch):
    for name in ("a", "boom", "c"):
        make_clip(f"cls/{name}.mp4", seconds=0.2)
    from k400frames.clip.frames import FramesOutput

    real = FramesOutput.members

    def members(self, made, cfg, key):  # a bug in our own code, for one clip only
        if key.name == "boom":
            raise RuntimeError("injected bug")
        return real(self, made, cfg, key)

    monkeypatch.setattr(FramesOutput, "members", members)
    cfg = config(num_frames=4, workers=1)
    summary = run_extract(cfg)
    assert (summary.done, summary.failed) == (2, 1)
    row = json.loads(summary.failures.read_text())
    assert row["rel"] == "cls/boom" and row["stage"] == "internal"
    assert row["reason"] == "unexpected error: RuntimeError: injected bug"


def test_common_video_extensions_are_read_and_other_files_reported(tmp_path, make_clip, config, ffmpeg_exe):
    base = make_clip("cam/base.mp4", seconds=0.3)
    ff(ffmpeg_exe, "-i", str(base), "-c", "copy", "-f", "mpegts", str(base.with_name("00001.mts")))
    ff(ffmpeg_exe, "-i", str(base), "-c", "copy", "-f", "mpegts", str(base.with_name("broadcast.ts")))
    for junk in ("notes.txt", "todo.txt", "broadcast.srt"):
        (base.parent / junk).write_text("not a video\n")
    (base.parent / ".DS_Store").write_bytes(b"\0")
    cfg = config(num_frames=4)
    summary = run_extract(cfg)
    assert (summary.done, summary.failed) == (3, 0)
    assert sorted(p.name for p in (cfg.target / "cam").iterdir()) == ["00001", "base", "broadcast"]
    assert dict(summary.skipped_files) == {".txt": 2, ".srt": 1, "dotfiles": 1}
    assert "skipped 4 files (.srt 1, .txt 2, dotfiles 1)" in format_summary(summary)


@pytest.mark.parametrize("split", ["train", "val"])
def test_tiny_k400_configs_resample_to_30_fps_like_the_seed(split):
    from k400frames.config import load_config

    from helpers import PROJECT

    cfg = load_config(PROJECT / "configs" / f"tiny_k400_{split}.yaml")
    assert cfg.fps == 30 and cfg.num_frames == 300
    assert cfg.target.parent.name == "kinetics400_30fps_frames"


@pytest.mark.parametrize(
    "range_args", [["-pix_fmt", "yuv420p", "-color_range", "tv"], ["-pix_fmt", "yuvj420p", "-color_range", "pc"]]
)
def test_limited_and_full_range_colours_come_out_right(tmp_path, config, ffmpeg_exe, range_args):
    video = tmp_path / "src" / "colour" / "solid.mp4"
    video.parent.mkdir(parents=True)
    want = (48, 96, 160)
    ff(
        ffmpeg_exe,
        "-f",
        "lavfi",
        "-i",
        f"color=c=0x{bytes(want).hex()}:size=64x64:rate=10:duration=0.3",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        *range_args,
        str(video),
    )
    cfg = config(num_frames=2)
    assert run_extract(cfg).done == 1
    frame = cfg.target / "colour" / "solid" / cfg.frame_name.format(1)
    rgb = subprocess.run(
        [ffmpeg_exe, "-nostdin", "-loglevel", "error", "-i", str(frame), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True,
        capture_output=True,
    ).stdout
    centre = rgb[(32 * 64 + 32) * 3 : (32 * 64 + 32) * 3 + 3]
    assert all(abs(a - b) <= 4 for a, b in zip(centre, want, strict=True)), (tuple(centre), want)
