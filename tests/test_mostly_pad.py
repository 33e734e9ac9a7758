"""Mostly-pad clips named (the run's summary and the card), min_decoded, and
the bounds on num_frames, workers and a source tree's symlink loops."""

from __future__ import annotations

import json
import os

import pytest

from k400frames.config import MAX_NUM_FRAMES, MAX_WORKERS_PER_CPU, make_config, usable_cpus
from k400frames.errors import ConfigError
from k400frames.run import dryrun
from k400frames.run.dryrun import dry_run
from k400frames.run.records import read_records
from k400frames.run.runner import format_summary, run_extract

from helpers import run_main, set_args


def test_summary_and_card_count_and_name_mostly_pad_clips(make_clip, config):
    for i in range(11):  # 9 real frames of 30: mostly pads
        make_clip(f"abseiling/short{i:02d}_000000_000010.mp4", seconds=0.3)
    make_clip("abseiling/half_000000_000010.mp4", seconds=0.5)  # 15 of 30: not under half
    make_clip("zumba/long_000000_000010.mp4", seconds=1.5)  # cut
    make_clip("zumba/equal_000000_000010.mp4", seconds=1.2, fps=25)  # exactly 30
    summary = run_extract(config(num_frames=30))
    assert summary.exit_code == 0 and summary.done == 14
    rows = {row["rel"]: row for row in read_records([summary.manifest])}
    assert [rows[f"zumba/{n}_000000_000010"][k] for n in ("long", "equal") for k in ("decoded", "padded", "cut")] == [
        30,
        0,
        True,
        30,
        0,
        False,
    ]
    assert summary.mostly_pad == 11 and len(summary.mostly_pad_clips) == 10
    assert all(real == 9 and rel.startswith("abseiling/short") for rel, real in summary.mostly_pad_clips)
    text = format_summary(summary)
    assert "mostly pads: 11 clips with under half of num_frames (30) real:" in text
    assert "(9 real)" in text and "and 1 more" in text and "half_000000_000010" not in text
    card = json.loads(summary.card.read_text())
    assert card["mostly_pad_clips"] == 11
    assert card["mostly_pad_named"] == [f"abseiling/short{i:02d}_000000_000010" for i in range(10)]
    assert "mostly pads: 11 clips" in summary.card.with_suffix(".md").read_text()


def test_min_decoded_fails_short_clips_with_a_reason(make_clip, tmp_path, capfd):
    make_clip("abseiling/short_000000_000010.mp4", seconds=0.3)  # 9 frames
    make_clip("abseiling/enough_000000_000010.mp4", seconds=0.5, fps=25)  # 12 frames
    target = tmp_path / "out" / "train"
    args = set_args(f"source={tmp_path / 'src'}", f"target={target}", "num_frames=30", "min_decoded=10")
    out = run_main(capfd, "extract", *args, "-q")
    assert out.returncode == 1
    assert sorted(p.name for p in (target / "abseiling").iterdir()) == ["enough_000000_000010"]
    (failure,) = read_records([tmp_path / "out" / "train.failures.jsonl"])
    assert failure["rel"] == "abseiling/short_000000_000010" and failure["stage"] == "short"
    assert "only 9 real frames, fewer than min_decoded: 10" in failure["reason"]
    assert "21 of its 30 frames would be copies" in failure["reason"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"min_decoded": 0.5}, "min_decoded: expected a whole number of real frames"),
        ({"min_decoded": 0}, "min_decoded: must be 1 or more"),
        ({"min_decoded": 301}, "min_decoded: 301 is more than num_frames: 300"),
        ({"num_frames": 1_000_000_000}, f"num_frames: at most {MAX_NUM_FRAMES:,} frames a clip"),
        ({"num_frames": "many"}, r"num_frames: expected an integer \(frames a clip\) or 'all'"),
    ],
)
def test_bad_values_are_config_errors(raw, message):
    with pytest.raises(ConfigError, match=message):
        make_config({"source": "/x/src", "target": "/x/out/train", **raw})


def test_min_decoded_with_all_frames_is_allowed():
    cfg = make_config({"source": "/x/src", "target": "/x/out/train", "num_frames": "all", "min_decoded": 1000})
    assert cfg.min_decoded == 1000 and cfg.frame_cap is None


def test_huge_num_frames_is_refused_on_the_command_line(make_clip, tmp_path, capfd):
    make_clip("abseiling/a_000000_000010.mp4", seconds=0.3)
    args = set_args(f"source={tmp_path / 'src'}", f"target={tmp_path / 'out/train'}", "num_frames=1000000000")
    out = run_main(capfd, "extract", *args, "--dry-run")
    assert out.returncode == 2 and "at most 100,000 frames" in out.stderr and "num_frames: all" in out.stderr
    assert not (tmp_path / "out").exists()


def test_dry_run_samples_are_bounded_whatever_num_frames(make_clip, config, monkeypatch):
    make_clip("abseiling/a_000000_000010.mp4", seconds=0.5)  # 15 frames
    make_clip("zumba/b_000000_000010.mp4", seconds=1.0)  # 30 frames
    seen = []
    real_extract = dryrun.extract_clip

    def spy(clip, cfg, tmp_root, ctx):
        seen.append(cfg.num_frames)
        return real_extract(clip, cfg, tmp_root, ctx)

    monkeypatch.setattr(dryrun, "extract_clip", spy)
    monkeypatch.setattr(dryrun, "SAMPLE_FRAMES", 20)
    cfg = config(num_frames=MAX_NUM_FRAMES)
    report = dry_run(cfg)
    assert seen == [20, 20]
    # Every clip has num_frames files: the estimate says so, from a bounded sample.
    assert report.inodes_per_clip == report.inodes_per_clip_high == MAX_NUM_FRAMES + 1
    # Against a real run at a size that can be made here: pads are copies of the last frame.
    cfg = config(num_frames=200)
    report = dry_run(cfg)
    assert seen[-2:] == [20, 20] and report.inodes_per_clip == 201
    summary = run_extract(cfg)
    rows = list(read_records([summary.manifest]))
    assert report.bytes_per_clip == pytest.approx(sum(r["bytes"] for r in rows) / 2, rel=0.15)


def test_absurd_workers_warns_and_is_capped(make_clip, tmp_path, capfd):
    make_clip("abseiling/a_000000_000010.mp4", seconds=0.3)
    cap = MAX_WORKERS_PER_CPU * usable_cpus()
    cfg = make_config({"source": str(tmp_path / "src"), "target": str(tmp_path / "out/train"), "workers": 100000})
    assert cfg.worker_count == cap
    args = set_args(f"source={tmp_path / 'src'}", f"target={tmp_path / 'out/train'}", "workers=100000")
    out = run_main(capfd, "extract", *args, "-q")
    assert out.returncode == 0, out.stderr
    assert f"workers: 100000 is more than {MAX_WORKERS_PER_CPU} per CPU" in out.stderr
    assert f"running {cap} clips at a time" in out.stderr


def test_a_class_folder_that_is_a_symlink_loop_is_one_skipped_entry(make_clip, tmp_path, capfd):
    make_clip("abseiling/a_000000_000010.mp4", seconds=0.3)
    os.symlink("loop", tmp_path / "src" / "loop")  # points at itself
    os.symlink(tmp_path / "src", tmp_path / "src" / "abseiling" / "up")  # a cycle a walk must not follow
    args = set_args(f"source={tmp_path / 'src'}", f"target={tmp_path / 'out/train'}", "num_frames=4")
    out = run_main(capfd, "extract", *args, "-q")
    assert out.returncode == 0, out.stderr
    assert "skipped" in out.stderr and "loop: symlink loop" in out.stderr
    assert "1 extracted" in out.stdout and "symlink loop 1" in out.stdout
    assert (tmp_path / "out/train/abseiling/a_000000_000010/frame_00004.jpg").is_file()
