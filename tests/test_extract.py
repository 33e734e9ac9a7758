"""Extraction on real clips: counts, pixels, padding, rates, sizes, names, audio."""

import json
import re
import subprocess

import pytest

from k400frames.run.runner import run_extract

from helpers import decode_reference, frame_files, jpeg_size, record_file

N = 10


def frames_of(cfg, rel):
    folder = cfg.target / rel
    return [(folder / cfg.frame_name.format(i)).read_bytes() for i in range(1, cfg.num_frames + 1)]


@pytest.mark.parametrize("source_frames", [4, N, N + 7])
def test_exact_count_and_pixels(make_clip, config, ffmpeg_exe, tmp_path, source_frames):
    video = make_clip("cls/clip_000000_000001.mp4", seconds=source_frames / 10, fps=10)
    cfg = config(num_frames=N)
    summary = run_extract(cfg)
    assert (summary.done, summary.failed) == (1, 0)

    folder = cfg.target / "cls" / "clip_000000_000001"
    assert frame_files(folder) == [f"frame_{i:05d}.jpg" for i in range(1, N + 1)]
    got = frames_of(cfg, "cls/clip_000000_000001")
    reference = decode_reference(ffmpeg_exe, video, tmp_path / "ref", source_frames)
    assert len(reference) == source_frames
    real = min(source_frames, N)
    # Frame k is ffmpeg's own k-th decoded frame, byte for byte.
    assert got[:real] == reference[:real]
    # Pads are byte-identical copies of the TRUE last frame (the seed copied N-1).
    assert all(frame == reference[real - 1] for frame in got[real:])
    if source_frames < N:
        assert reference[real - 1] != reference[real - 2]  # the check above can tell them apart
    assert summary.padded == (source_frames < N)
    assert summary.cut == (source_frames > N)

    row = json.loads(record_file(cfg.target, "manifest").read_text())
    assert row["decoded"] == real and row["padded"] == N - real and row["cut"] == (source_frames > N)


def test_neighbouring_frames_differ(make_clip, config):
    # Guards the pixel tests: testsrc2 changes every frame, so an off-by-one shows.
    make_clip("cls/a.mp4", seconds=1, fps=10)
    cfg = config(num_frames=N)
    run_extract(cfg)
    frames = frames_of(cfg, "cls/a")
    assert len(set(frames)) == N


def test_hardlink_pad(make_clip, config):
    make_clip("cls/a.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=N, pad="hardlink")
    run_extract(cfg)
    folder = cfg.target / "cls" / "a"
    inodes = {(folder / cfg.frame_name.format(i)).stat().st_ino for i in range(3, N + 1)}
    assert len(inodes) == 1
    assert (folder / cfg.frame_name.format(2)).stat().st_ino not in inodes


def test_decoding_stops_early(make_clip, config, wrap_ffmpeg, tmp_path):
    # A 300-frame clip, 10 wanted: ffmpeg's own statistics (at verbose level)
    # must show it decoded about N frames, not the whole clip.
    make_clip("cls/long.mp4", seconds=30, fps=10)
    log = tmp_path / "ffmpeg.log"
    wrapper = wrap_ffmpeg(f'args=("$@"); args=("${{args[@]/#error/verbose}}")\n"$REAL" "${{args[@]}}" 2>>"{log}"')
    cfg = config(num_frames=N, ffmpeg=wrapper)
    summary = run_extract(cfg)
    assert summary.done == 1 and summary.cut == 1
    decoded = [int(n) for n in re.findall(r"(\d+) frames decoded", log.read_text())]
    assert decoded, log.read_text()[-2000:]
    assert max(decoded) < 60  # N + 1 plus the decoder's look-ahead, far from 300


@pytest.mark.parametrize("fps", [25, 30])
def test_native_rate(make_clip, config, ffmpeg_exe, tmp_path, fps):
    video = make_clip("cls/a.mp4", seconds=0.6, fps=fps)
    cfg = config(num_frames=30)
    run_extract(cfg)
    row = json.loads(record_file(cfg.target, "manifest").read_text())
    assert row["decoded"] == round(0.6 * fps)  # every source frame, none invented
    reference = decode_reference(ffmpeg_exe, video, tmp_path / "ref", 30)
    assert frames_of(cfg, "cls/a")[: len(reference)] == reference


def test_fps_resamples(make_clip, config):
    make_clip("cls/a.mp4", seconds=2, fps=30)
    cfg = config(num_frames=100, fps=10)
    run_extract(cfg)
    row = json.loads(record_file(cfg.target, "manifest").read_text())
    assert row["decoded"] == 20 and row["padded"] == 80


def test_size(make_clip, config):
    make_clip("cls/a.mp4", seconds=0.5)
    cfg = config(num_frames=N, size="32x20")
    run_extract(cfg)
    assert {jpeg_size(f) for f in frames_of(cfg, "cls/a")} == {(32, 20)}


@pytest.mark.parametrize("source_size, expected", [("64x48", (32, 24)), ("48x64", (24, 32))])
def test_short_side_keeps_aspect(make_clip, config, source_size, expected):
    make_clip("cls/a.mp4", seconds=0.5, size=source_size)
    cfg = config(num_frames=N, short_side=24)
    run_extract(cfg)
    assert {jpeg_size(f) for f in frames_of(cfg, "cls/a")} == {expected}


def test_audio_is_ignored(make_clip, config, ffmpeg_exe, tmp_path):
    video = make_clip("cls/a.mp4", seconds=1, fps=10, audio=True)
    streams = subprocess.run([ffmpeg_exe, "-hide_banner", "-i", str(video)], capture_output=True, text=True).stderr
    assert "Audio:" in streams
    cfg = config(num_frames=N)
    summary = run_extract(cfg)
    assert summary.done == 1
    assert frames_of(cfg, "cls/a") == decode_reference(ffmpeg_exe, video, tmp_path / "ref", N)


AWKWARD = [
    ("tai chi", "--uWuXty1jw_000010_000020.mp4"),
    ("playing (guitar)", "100%_real.v2_000001_000011.mp4"),
    ("o'clock", "o'brien's clip.mp4"),
    ("café", "ünïcödé 字幕_000001_000002.mp4"),
    ("spaces  twice", "-leading dash (1).webm"),
    ("percent%d", "%05d.mp4"),
]


def test_awkward_names(make_clip, config):
    for cls, name in AWKWARD:
        codec = "libvpx" if name.endswith(".webm") else "libx264"
        make_clip(f"{cls}/{name}", seconds=0.3, fps=10, codec=codec)
    cfg = config(num_frames=4)
    summary = run_extract(cfg)
    assert (summary.done, summary.failed) == (len(AWKWARD), 0)
    for cls, name in AWKWARD:
        stem = name.rsplit(".", 1)[0]  # only the last extension goes
        assert frame_files(cfg.target / cls / stem) == [f"frame_{i:05d}.jpg" for i in range(1, 5)]


def test_split_folder_holds_only_class_folders(make_clip, config, tmp_path):
    make_clip("a/x.mp4", seconds=0.3, fps=10)
    make_clip("b/y.mp4", seconds=0.3, fps=10)
    (tmp_path / "src" / "b" / "broken.mp4").write_text("not a video")
    cfg = config(num_frames=4)
    run_extract(cfg)
    assert sorted(p.name for p in cfg.target.iterdir()) == ["a", "b"]
    assert all(p.is_dir() for p in cfg.target.iterdir())
    # Records and the card sit beside the split folder; no temp area is left behind.
    assert sorted(p.name for p in cfg.target.parent.iterdir()) == [
        "train",
        "train.card.json",
        "train.card.md",
        "train.failures.jsonl",
        "train.manifest.jsonl",
    ]
    (tmp_path / "src" / "b" / "broken.mp4").unlink()
    run_extract(cfg)  # a clean run leaves no empty failures file
    assert sorted(p.name for p in cfg.target.parent.iterdir()) == [
        "train",
        "train.card.json",
        "train.card.md",
        "train.manifest.jsonl",
    ]


def test_frame_name_template(make_clip, config):
    make_clip("a/x.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=4, frame_name="img_{:05d}.jpg")
    run_extract(cfg)
    assert frame_files(cfg.target / "a" / "x") == [f"img_{i:05d}.jpg" for i in range(1, 5)]


def test_class_names_underscore(make_clip, config):
    make_clip("tai chi/x.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=4, class_names="underscore")
    run_extract(cfg)
    assert (cfg.target / "tai_chi" / "x").is_dir()


def test_annotations_copied_beside_split(make_clip, config, tmp_path):
    make_clip("a/x.mp4", seconds=0.3, fps=10)
    csv = tmp_path / "tiny_train.csv"
    csv.write_text("label,youtube_id,time_start,time_end,split,is_cc\n")
    cfg = config(num_frames=4, annotations=str(csv))
    run_extract(cfg)
    assert (cfg.target.parent / "tiny_train.csv").read_text() == csv.read_text()


def test_frame_name_with_percent_and_leading_dash(make_clip, config, ffmpeg_exe, tmp_path):
    video = make_clip("a/x.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=5, frame_name="-100%_{:03d}.jpg")
    assert run_extract(cfg).done == 1
    assert frame_files(cfg.target / "a" / "x") == [f"-100%_{i:03d}.jpg" for i in range(1, 6)]
    reference = decode_reference(ffmpeg_exe, video, tmp_path / "ref", 3)
    assert frames_of(cfg, "a/x")[:3] == reference


def test_a_refused_clip_name_fails_at_input_not_internal(make_clip, config, tmp_path):
    """A name that would leave the target (names come from listings and CSVs) is
    the clip's input refused, not a bug of ours: recorded under stage input."""
    from k400frames.clip.extract import extract_clip
    from k400frames.sources.tree import Clip

    video = make_clip("a/x.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=4)
    (tmp_path / "tmp").mkdir()
    result = extract_clip(Clip(video, "a", "..", "x"), cfg, tmp_path / "tmp")
    assert (result.ok, result.stage) == (False, "input")
    assert result.reason == f"refusing a clip whose output would leave the target: {video}"
    assert not (cfg.target.parent / "x").exists()
