"""Segments: labelled spans of own long videos -> Kinetics clips (frames or
video), on real ffmpeg clips; plus sampling: uniform and annotate --segments."""

from __future__ import annotations

import csv
import json
import resource
import subprocess
from decimal import Decimal

import pytest

from k400frames import ffmpeg
from k400frames.clip.decode import uniform_indices
from k400frames.clip.extract import extract_clip
from k400frames.clip.video import mp4_video_frames
from k400frames.config import make_config
from k400frames.errors import ConfigError
from k400frames.run.preflight import plan
from k400frames.run.runner import run_extract
from k400frames.sources.segments import span_name
from k400frames.tools.synth import make_video
from k400frames.tools.verify import verify_tree

from helpers import decode_reference, record_file, run_main, write_csv

SIZE = "160x120"  # testsrc2 repeats pictures at smaller sizes: pixel checks need this much


SEG_HEADER = ("label", "youtube_id", "time_start", "time_end", "split")


@pytest.fixture
def late_video(tmp_path, ffmpeg_exe):
    """6 s at 30 fps whose video starts 0.5 s after its audio (and the file)."""
    plain = make_video(tmp_path / "plain.mp4", seconds=6, fps=30, size=SIZE, audio=True, ffmpeg_exe=ffmpeg_exe)
    late = tmp_path / "src" / "deep" / "down" / "walk1.mp4"
    late.parent.mkdir(parents=True)
    subprocess.run(
        [
            ffmpeg_exe,
            "-nostdin",
            "-loglevel",
            "error",
            "-itsoffset",
            "0.5",
            "-i",
            str(plain),
            "-i",
            str(plain),
            "-map",
            "0:v",
            "-map",
            "1:a",
            "-c",
            "copy",
            str(late),
        ],
        check=True,
    )
    return late


def span_reference(ffmpeg_exe, video, out_dir, start, end, fps=None):
    """Every frame of [start, end) after the first video frame, by decoding the
    whole file and trimming (no seeking at all): the yardstick."""
    chain = f"setpts=PTS-STARTPTS,trim=start={start}:end={end},setpts=PTS-STARTPTS"
    if fps:
        chain += f",fps={fps}:eof_action=pass"
    return decode_reference(ffmpeg_exe, video, out_dir, 100000, vf=chain)


def seg_config(tmp_path, rows, **overrides):
    raw = {
        "source": str(tmp_path / "src"),
        "target": str(tmp_path / "out" / "train"),
        "workers": 2,
        "segments": str(write_csv(tmp_path / "segs.csv", rows, SEG_HEADER)),
    }
    raw.update(overrides)
    return make_config(raw)


def frames(cfg, rel):
    folder = cfg.target / rel
    return [(folder / cfg.frame_name.format(i)).read_bytes() for i in range(1, cfg.num_frames + 1)]


def manifest(cfg):
    return {r["rel"]: r for r in map(json.loads, record_file(cfg.target, "manifest").read_text().splitlines())}


def test_header_gives_the_video_streams_own_start(late_video, ffmpeg_exe):
    header = ffmpeg.probe_header(ffmpeg_exe, late_video)
    assert header.start == 0.0 and header.video_start == pytest.approx(0.5)
    assert header.video_offset == pytest.approx(0.5)


def test_span_frames_are_the_accurate_decode_of_the_span(late_video, tmp_path, ffmpeg_exe):
    # The video starts 0.5 s into the file: time 2 s is 2 s after its first
    # frame, so a seek that forgot the offset would be 15 frames early.
    cfg = seg_config(tmp_path, [("street walk", "walk1", 2, 4)], num_frames=60, class_names="underscore")
    assert run_extract(cfg).exit_code == 0
    got = frames(cfg, "street_walk/walk1_000002_000004")
    reference = span_reference(ffmpeg_exe, late_video, tmp_path / "ref", 2, 4)
    assert len(reference) == 60
    for index in (0, 29, 59):  # first, middle, last
        assert got[index] == reference[index]
    assert got[0] != reference[1] and got[59] != reference[58]  # neighbours differ: the check can fail
    assert manifest(cfg)["street_walk/walk1_000002_000004"]["decoded"] == 60


@pytest.mark.parametrize("fps, expected", [(None, 75), (12, 30), (25, 63)])
def test_span_frame_count_at_native_rate_and_fps(late_video, tmp_path, ffmpeg_exe, fps, expected):
    # 2.5 s: 75 frames at 30 fps; at 25 fps the frames at 0, 0.04 ... 2.48 s.
    cfg = seg_config(tmp_path, [("a", "walk1", "1", "3.5")], num_frames=100, fps=fps)
    run_extract(cfg)
    row = manifest(cfg)["a/walk1_000001_000003.5"]
    assert (row["decoded"], row["padded"]) == (expected, 100 - expected)
    if fps:
        reference = span_reference(ffmpeg_exe, late_video, tmp_path / "ref", 1, 3.5, fps)
        assert len(reference) == expected
        assert frames(cfg, "a/walk1_000001_000003.5")[expected - 1] == reference[-1]


def test_bad_rows_are_failures_naming_the_row_and_the_rest_is_done(late_video, tmp_path, capfd):
    rows = [
        ("a", "walk1", 0, 1),
        ("a", "nowhere", 0, 2),
        ("a", "walk1", "soon", 2),
        ("a", "walk1", 30, 40),
        ("b", "walk1", 1, 2),
        ("b", "walk1", "1.0", "2"),
    ]
    config = tmp_path / "cfg.yaml"
    config.write_text(
        f"source: {tmp_path / 'src'}\ntarget: {tmp_path / 'out' / 'train'}\n"
        f"segments: {write_csv(tmp_path / 'segs.csv', rows, SEG_HEADER)}\nnum_frames: 5\n"
    )
    proc = run_main(capfd, "-q", "extract", "--config", str(config))
    assert proc.returncode == 1, proc.stderr
    failures = {
        r["rel"]: r for r in map(json.loads, (tmp_path / "out" / "train.failures.jsonl").read_text().splitlines())
    }
    assert sorted(failures) == [
        "a/nowhere_000000_000002",
        "a/walk1_000030_000040",
        "a/walk1_soon_2",
        "b/walk1_000001_000002",
    ]
    assert "'nowhere'" in failures["a/nowhere_000000_000002"]["reason"]
    assert "video not found" in failures["a/nowhere_000000_000002"]["reason"]
    assert "row 4 (youtube_id 'walk1', time_start 'soon'" in failures["a/walk1_soon_2"]["reason"]
    assert "outside the video" in failures["a/walk1_000030_000040"]["reason"]
    assert failures["b/walk1_000001_000002"]["stage"] == "collision"  # 1 and 1.0: one folder
    assert len(list((tmp_path / "out" / "train" / "a" / "walk1_000000_000001").iterdir())) == 5

    # The missing video turns up: --retry-failed does that row and nothing else.
    (tmp_path / "src" / "nowhere.mkv").write_bytes(late_video.read_bytes())
    proc = run_main(capfd, "-q", "extract", "--config", str(config), "--retry-failed")
    assert proc.returncode == 1 and "3 failed" in proc.stdout and "1 extracted" in proc.stdout, proc.stdout
    assert (tmp_path / "out" / "train" / "a" / "nowhere_000000_000002").is_dir()


def test_rows_shard_resume_and_dry_run(late_video, tmp_path):
    rows = [("a", "walk1", i, i + 1) for i in range(5)]
    cfg = seg_config(tmp_path, rows, num_frames=3)
    shards = [{c.rel for c in plan(cfg, (k, 2))} for k in (0, 1)]
    assert shards[0] | shards[1] == {f"a/{span_name('walk1', Decimal(i), Decimal(i + 1))}" for i in range(5)}
    assert not shards[0] & shards[1]
    from k400frames.run.dryrun import dry_run

    report = dry_run(cfg, sample=False)
    assert (report.clips, report.todo) == (5, 5)
    first = run_extract(cfg, shard=(0, 2))
    assert first.done == len(shards[0])
    again = run_extract(cfg)
    assert (again.skipped, again.done) == (len(shards[0]), len(shards[1]))
    assert dry_run(cfg, sample=False).done == 5


def test_clip_names_for_decimal_times():
    assert span_name("--x_y", Decimal("10"), Decimal("20")) == "--x_y_000010_000020"
    assert span_name("a", Decimal("12.50"), Decimal("1e2")) == "a_000012.5_000100"


def test_output_video_decodes_to_the_span(late_video, tmp_path, ffmpeg_exe):
    cfg = seg_config(tmp_path, [("a", "walk1", 2, 4)], output="video")
    assert run_extract(cfg).exit_code == 0
    clip = cfg.target / "a" / "walk1_000002_000004.mp4"
    assert mp4_video_frames(clip) == 60
    header = ffmpeg.probe_header(ffmpeg_exe, clip)
    info = subprocess.run([ffmpeg_exe, "-hide_banner", "-i", str(clip)], capture_output=True, text=True).stderr
    assert "h264" in info and "yuv420p" in info and "Audio" not in info and header.fps == 30
    # Lossy, so compare by PSNR against the span's frames, in order.
    trim = "setpts=PTS-STARTPTS,trim=start=2:end=4,setpts=PTS-STARTPTS"
    psnr = subprocess.run(
        [
            ffmpeg_exe,
            "-hide_banner",
            "-i",
            str(clip),
            "-i",
            str(late_video),
            "-filter_complex",
            f"[1:v]{trim}[ref];[0:v][ref]psnr",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    ).stderr
    average = float(psnr.rsplit("average:", 1)[1].split()[0])
    assert average > 35, psnr[-300:]
    # The same check one frame off must fail, or it proves nothing.
    shifted = subprocess.run(
        [
            ffmpeg_exe,
            "-hide_banner",
            "-i",
            str(clip),
            "-i",
            str(late_video),
            "-filter_complex",
            f"[1:v]{trim.replace('start=2', 'start=2.034')}[ref];[0:v][ref]psnr",
            "-f",
            "null",
            "-",
        ],
        capture_output=True,
        text=True,
    ).stderr
    assert float(shifted.rsplit("average:", 1)[1].split()[0]) < average - 5
    assert verify_tree(cfg.target, cfg.num_frames).ok

    # A finished .mp4 is recognised on resume; a cut one is not, and verify says so.
    assert run_extract(cfg).skipped == 1
    clip.write_bytes(clip.read_bytes()[:-500])
    report = verify_tree(cfg.target, cfg.num_frames)
    assert not report.ok and report.problems[0].kind == "bad-video"


def test_output_video_keeps_audio_when_asked(make_clip, tmp_path, ffmpeg_exe):
    make_clip("cls/talk.mp4", seconds=1, audio=True, size=SIZE)
    cfg = make_config(
        {
            "source": str(tmp_path / "src"),
            "target": str(tmp_path / "out" / "train"),
            "output": "video",
            "keep_audio": True,
            "short_side": 64,
        }
    )
    from k400frames.run.dryrun import dry_run

    estimate = dry_run(cfg)  # measured on one sample .mp4: one file, no folder
    assert estimate.inodes_per_clip == 1 and estimate.bytes_per_clip > 1000
    assert run_extract(cfg).exit_code == 0
    info = subprocess.run(
        [ffmpeg_exe, "-hide_banner", "-i", str(cfg.target / "cls" / "talk.mp4")], capture_output=True, text=True
    ).stderr
    assert "Audio: aac" in info and "86x64" in info


def test_uniform_spreads_frames_over_the_span(late_video, tmp_path, ffmpeg_exe):
    cfg = seg_config(tmp_path, [("a", "walk1", 2, 4)], num_frames=5, sampling="uniform")
    run_extract(cfg)
    reference = span_reference(ffmpeg_exe, late_video, tmp_path / "ref", 2, 4)
    picks = uniform_indices(60, 5)
    assert picks == [0, 14, 29, 44, 59]
    assert frames(cfg, "a/walk1_000002_000004") == [reference[i] for i in picks]


def test_uniform_when_the_header_overstates_the_video(tmp_path, ffmpeg_exe):
    # 2 s of video with 3 s of audio: the header says 3 s, so the first plan
    # asks for frames up to 90; the clip is decoded again with what it has.
    video = tmp_path / "src" / "cls" / "long_audio.mp4"
    video.parent.mkdir(parents=True)
    subprocess.run(
        [
            ffmpeg_exe,
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={SIZE}:rate=30:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            str(video),
        ],
        check=True,
    )
    cfg = make_config(
        {
            "source": str(tmp_path / "src"),
            "target": str(tmp_path / "out" / "train"),
            "num_frames": 4,
            "sampling": "uniform",
        }
    )
    run_extract(cfg)
    row = manifest(cfg)["cls/long_audio"]
    assert (row["decoded"], row["padded"]) == (4, 0)
    reference = decode_reference(ffmpeg_exe, video, tmp_path / "ref", 60)
    assert frames(cfg, "cls/long_audio") == [reference[i] for i in (0, 19, 39, 59)]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def test_a_span_at_the_end_of_a_long_video_costs_a_span(tmp_path, ffmpeg_exe):
    # 2 minutes, cheap to make (small, ultrafast); a keyframe every 2 s.
    long = tmp_path / "src" / "long.mp4"
    long.parent.mkdir(parents=True)
    subprocess.run(
        [
            ffmpeg_exe,
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=120",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "50",
            "-pix_fmt",
            "yuv420p",
            str(long),
        ],
        check=True,
    )
    cfg = seg_config(tmp_path, [("a", "long", 0, 10), ("a", "long", 105, 115)], num_frames=250, workers=1)
    clips = list(plan(cfg, None))
    (tmp_path / "tmp").mkdir()
    cost = []
    for clip in clips * 2:  # twice, alternating: the medians of noise
        before = _child_cpu()
        assert extract_clip(clip, cfg, tmp_path / "tmp").ok
        cost.append(_child_cpu() - before)
    at_start, at_end = min(cost[0], cost[2]), min(cost[1], cost[3])
    # What decoding up to the span would cost: the same frames, cut after the decode.
    before = _child_cpu()
    subprocess.run(
        [
            ffmpeg_exe,
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(long),
            "-ss",
            "105",
            "-t",
            "10",
            "-map",
            "0:v:0",
            "-q:v",
            "2",
            "-f",
            "image2",
            str(tmp_path / "tmp" / "%05d.jpg"),
        ],
        check=True,
    )
    whole = _child_cpu() - before
    assert whole > 2 * at_start, (whole, at_start)  # the yardstick tells the two apart
    assert at_end < 1.5 * at_start + 0.1, (at_start, at_end, whole)


def test_segments_config_checks(tmp_path):
    base = {"source": str(tmp_path / "src"), "target": str(tmp_path / "out")}
    with pytest.raises(ConfigError, match="keep_audio"):
        make_config({**base, "keep_audio": True})
    with pytest.raises(ConfigError, match="sampling"):
        make_config({**base, "output": "video", "sampling": "uniform"})
    with pytest.raises(ConfigError, match="output"):
        make_config({**base, "output": "gif"})
    # New keys at their defaults leave the output hash (and so resume) as before.
    assert make_config(base).output_hash() == make_config({**base, "output": "frames"}).output_hash()
    assert make_config(base).output_hash() != make_config({**base, "sampling": "uniform"}).output_hash()


def test_a_csv_without_the_columns_is_one_line_and_exit_2(tmp_path, capfd):
    (tmp_path / "src").mkdir()
    write_csv(tmp_path / "segs.csv", [("a", "x")], header=("label", "id"))
    proc = run_main(
        capfd,
        "extract",
        "--set",
        f"source={tmp_path / 'src'}",
        "--set",
        f"target={tmp_path / 'out'}",
        "--set",
        f"segments={tmp_path / 'segs.csv'}",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("k400frames: error: ") and "youtube_id" in proc.stderr


def test_annotate_segments_splits_by_label_with_a_seed(tmp_path, capfd):
    rows = [(label, f"{label}{i}", i, i + 10.5) for label, n in (("a", 5), ("b", 10), ("c", 1)) for i in range(n)]
    write_csv(tmp_path / "segs.csv", rows, SEG_HEADER)
    outputs = []
    for out in ("one", "two"):
        proc = run_main(
            capfd, "annotate", "--segments", str(tmp_path / "segs.csv"), "--out-dir", str(tmp_path / out), "--seed", "3"
        )
        assert proc.returncode == 0, proc.stderr
        split = {}
        for name in ("train", "val"):
            with open(tmp_path / out / f"{name}.csv", newline="") as handle:
                split[name] = list(csv.DictReader(handle))
        outputs.append(split)
    assert outputs[0] == outputs[1]
    val = outputs[0]["val"]
    assert sorted(r["label"] for r in val) == ["a", "b", "b"]  # 20% of each label, c too small
    assert all(r["split"] == "val" for r in val) and val[0]["time_end"].endswith(".5")
    assert len(outputs[0]["train"]) == 13


def test_segments_on_dask_equal_the_local_run(late_video, tmp_path):
    pytest.importorskip("distributed")
    rows = [("a", "walk1", 0, 1), ("a", "walk1", "1.5", "2.5"), ("a", "nowhere", 0, 1)]
    local = seg_config(tmp_path, rows, num_frames=8)
    on_dask = seg_config(
        tmp_path, rows, num_frames=8, target=str(tmp_path / "dask" / "train"), executor="dask", workers=1
    )
    by_local, by_dask = run_extract(local), run_extract(on_dask)
    assert (by_dask.done, by_dask.failed) == (by_local.done, by_local.failed) == (2, 1)

    def tree(root):
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert tree(on_dask.target) == tree(local.target) and len(tree(local.target)) == 16


def test_videos_are_found_at_any_depth_once_and_twins_collide(tmp_path):
    src = tmp_path / "src"
    for rel in ("a/deep/er/one.MP4", "two.mkv", "x/twin.mp4", "y/twin.webm", "notes.txt", ".hidden/one.mp4"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(b"x")
    (src / "a" / "loop").symlink_to(src / "a")  # a symlink loop must not be walked forever
    rows = [("c", "one", 0, 1), ("c", "two", 0, 1), ("c", "twin", 0, 1)]
    cfg = seg_config(tmp_path, rows)
    clips = {c.stem: c for c in plan(cfg, None)}
    assert clips["one_000000_000001"].source == src / "a" / "deep" / "er" / "one.MP4"
    assert clips["one_000000_000001"].problem is None and clips["two_000000_000001"].problem is None
    stage, reason = clips["twin_000000_000001"].problem
    assert stage == "collision" and "x/twin.mp4" in reason and "y/twin.webm" in reason


def test_a_truncated_video_names_the_frames_its_span_promises(tmp_path, ffmpeg_exe):
    """The promise is the span's, not the whole long video's."""
    good = tmp_path / "whole.mp4"
    subprocess.run(
        [
            ffmpeg_exe,
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=30:duration=20",
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
        ],
        check=True,
    )
    cut = tmp_path / "src" / "long_download.mp4"
    cut.parent.mkdir(parents=True)
    cut.write_bytes(good.read_bytes()[: int(good.stat().st_size * 0.25)])  # about 5 s of 20 survive
    cfg = seg_config(tmp_path, [("walk", "long_download", "2", "8", "train")], num_frames=300)
    summary = run_extract(cfg)
    assert (summary.done, summary.failed, summary.damaged_failed) == (0, 1, 1)
    reason = json.loads(record_file(cfg.target, "failures").read_text())["reason"]
    assert reason.startswith("truncated: ") and "of the 180 frames its header promises decoded" in reason
