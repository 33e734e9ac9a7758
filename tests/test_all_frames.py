"""num_frames: all: every decoded frame, no cut and no pads; each clip's
count is its record's, and resume, verify, lists, the card and the dry run use it."""

from __future__ import annotations

import json

import pytest

from k400frames.config import make_config
from k400frames.errors import ConfigError
from k400frames.run import dryrun
from k400frames.run.dryrun import dry_run
from k400frames.run.records import read_records
from k400frames.run.runner import run_extract
from k400frames.tools.lists import list_path

from helpers import decode_reference, run_main, set_args, write_config

# (class/name, seconds, fps) -> frames at the native rate
CLIPS = {
    "abseiling/short_000000_000010.mp4": (0.5, 30, 15),
    "abseiling/mid_000000_000010.mp4": (1.0, 25, 25),
    "zumba/long_000000_000010.mp4": (2.0, 30, 60),
}


@pytest.fixture
def clips(make_clip):
    return {rel: make_clip(rel, seconds=s, fps=fps) for rel, (s, fps, _) in CLIPS.items()}


def rel_of(name: str) -> str:
    return name.rsplit(".", 1)[0]


def test_every_frame_no_cut_no_pad_same_bytes_as_ffmpeg(clips, config, ffmpeg_exe, tmp_path):
    cfg = config(num_frames="all")
    summary = run_extract(cfg)
    assert summary.exit_code == 0 and summary.done == 3
    rows = {row["rel"]: row for row in read_records([summary.manifest])}
    for rel, (_, _, frames) in CLIPS.items():
        folder = cfg.target / rel_of(rel)
        names = sorted(p.name for p in folder.iterdir())
        assert names == [f"frame_{i:05d}.jpg" for i in range(1, frames + 1)]
        row = rows[rel_of(rel)]
        assert (row["decoded"], row["padded"], row["cut"]) == (frames, 0, False)
        # Every frame is ffmpeg's own, in order, none left out at the end.
        reference = decode_reference(ffmpeg_exe, clips[rel], tmp_path / "ref" / rel_of(rel), frames + 5)
        assert [(folder / n).read_bytes() for n in names] == reference
    assert summary.split_pads is None and summary.mostly_pad == 0
    card = json.loads(summary.card.read_text())
    assert card["frames"] == 100 and card["pad_frames"] == 0 and card["mostly_pad_clips"] == 0
    assert card["config"]["num_frames"] == "all"


def test_resume_verify_and_lists_use_the_records_count(clips, config, tmp_path, capfd):
    cfg = config(num_frames="all")
    config_file = write_config(tmp_path / "cfg.yaml", source=cfg.source, target=cfg.target, num_frames="all")
    assert run_main(capfd, "extract", "--config", str(config_file), "-q").returncode == 0
    again = run_main(capfd, "extract", "--config", str(config_file), "-q")
    assert again.returncode == 0 and "0 extracted" in again.stdout and "3 already done" in again.stdout

    out = run_main(capfd, "verify", "--config", str(config_file))
    assert out.returncode == 0, out.stdout + out.stderr

    out = run_main(capfd, "lists", "--config", str(config_file), "--format", "mmaction2")
    assert out.returncode == 0, out.stderr
    listed = list_path(cfg.target, "mmaction2").read_text().split("\n")
    counts = {line.split()[0]: int(line.split()[1]) for line in listed if line}
    assert counts == {f"train/{rel_of(rel)}": frames for rel, (_, _, frames) in CLIPS.items()}

    # A clip that lost its last frame is frames 1..59 without a gap: only its record says it is short.
    (cfg.target / "zumba/long_000000_000010/frame_00060.jpg").unlink()
    out = run_main(capfd, "verify", "--config", str(config_file))
    assert out.returncode == 1
    assert "zumba/long_000000_000010" in out.stdout and "1 of 60 frames missing" in out.stdout


def test_an_int_keeps_todays_fingerprint():
    # Measured on main before num_frames could be "all": existing trees still resume.
    assert make_config({"source": "/x/src", "target": "/x/out/train"}).output_hash() == "c9e111d1d646ac3b"
    uniform = make_config({"source": "/x/src", "target": "/x/out/train", "num_frames": 64, "sampling": "uniform"})
    assert uniform.output_hash() == "6b9d942d3e5f2a6b"
    assert make_config({"source": "/x/src", "target": "/x/out/train", "num_frames": "all"}).output_hash() not in (
        "c9e111d1d646ac3b",
        "6b9d942d3e5f2a6b",
    )


def test_uniform_is_refused_naming_both_keys(clips, tmp_path, capfd):
    with pytest.raises(ConfigError, match="num_frames: all and sampling: uniform"):
        make_config({"source": "/x/src", "target": "/x/out/train", "num_frames": "all", "sampling": "uniform"})
    args = set_args(f"source={tmp_path / 'src'}", f"target={tmp_path / 'out/train'}", "num_frames=all")
    out = run_main(capfd, "extract", *args, "--set", "sampling=uniform")
    assert out.returncode == 2 and "num_frames: all and sampling: uniform" in out.stderr


def test_dry_run_estimates_from_durations(clips, config, monkeypatch):
    # Samples hold at most SAMPLE_FRAMES frames; here fewer than the clips have,
    # so the estimate must come from each header's duration x rate.
    monkeypatch.setattr(dryrun, "SAMPLE_FRAMES", 10)
    cfg = config(num_frames="all")
    report = dry_run(cfg)
    assert "header duration" in report.estimate_source
    assert report.inodes_per_clip_high == 60 + 1
    assert report.inodes_per_clip == pytest.approx((15 + 25 + 60) / 3 + 1)
    real = run_extract(cfg)
    rows = list(read_records([real.manifest]))
    mean = sum(row["bytes"] for row in rows) / len(rows)
    assert report.bytes_per_clip == pytest.approx(mean, rel=0.15)


def test_a_clip_found_without_its_line_is_adopted_with_its_count(clips, config):
    cfg = config(num_frames="all")
    first = run_extract(cfg)
    card = json.loads(first.card.read_text())
    # As if the run died after publishing the clip and before its line: the line and the journal are gone.
    lines = first.manifest.read_text().splitlines(keepends=True)
    first.manifest.write_text("".join(line for line in lines if "zumba/long" not in line))
    again = run_extract(cfg)
    assert again.done == 0 and again.skipped == 3
    (adopted,) = [row for row in read_records([again.manifest]) if row.get("adopted")]
    # No record travelled with it (the journal of a finished run is gone): the card counts the clip itself.
    assert adopted["rel"] == "zumba/long_000000_000010" and "decoded" not in adopted
    card_again = json.loads(again.card.read_text())
    assert card["frames"] == card_again["frames"] == 100
    assert card_again["fingerprint"] == card["fingerprint"]


def test_all_frames_in_an_lmdb_store(clips, config, tmp_path, capfd):
    pytest.importorskip("lmdb")
    cfg = config(num_frames="all", store="lmdb")
    summary = run_extract(cfg)
    assert summary.exit_code == 0 and summary.done == 3
    assert json.loads(summary.card.read_text())["frames"] == 100
    config_file = write_config(
        tmp_path / "cfg.yaml", source=cfg.source, target=cfg.target, num_frames="all", store="lmdb"
    )
    out = run_main(capfd, "verify", "--config", str(config_file))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "100 frames" in out.stdout
