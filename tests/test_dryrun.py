"""extract --dry-run: plans like the real run, measures its estimate, writes nothing."""
from __future__ import annotations

import hashlib
import os

from k400frames.dryrun import dry_run
from k400frames.postprocess import folder_bytes
from k400frames.runner import run_extract

from helpers import run_cli


def tree_state(root):
    """Every path under ``root`` with its content hash (folders as None)."""
    state = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            state[os.path.relpath(os.path.join(folder, name), root)] = None
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as handle:
                state[os.path.relpath(path, root)] = hashlib.sha1(handle.read()).hexdigest()
    return state


def write_config(tmp_path, cfg):
    path = tmp_path / "cfg.yaml"
    path.write_text(f"source: {cfg.source}\ntarget: {cfg.target}\nnum_frames: {cfg.num_frames}\n")
    return path


def test_dry_run_writes_nothing_and_measures_a_sample(make_clip, config, tmp_path):
    make_clip("abseiling/a_000000_000010.mp4", seconds=0.5)
    make_clip("abseiling/b_000000_000010.mp4", seconds=0.5)
    make_clip("zumba/c_000000_000010.mp4", seconds=0.5)
    cfg = config(num_frames=10)
    config_file = write_config(tmp_path, cfg)
    before = tree_state(tmp_path)
    out = run_cli("extract", "--config", str(config_file), "--dry-run")
    assert out.returncode == 0, out.stderr
    assert tree_state(tmp_path) == before  # not even the target folder or a record file
    assert "3 in 2 classes: 0 already done, 3 to do" in out.stdout
    assert "abseiling: 2 clips, 0 done, 2 to do" in out.stdout
    assert "one sample clip" in out.stdout and "fits: yes" in out.stdout

    report = dry_run(cfg)
    assert tree_state(tmp_path) == before
    # The sample is a real extraction: it weighs what the real clip will weigh.
    run_extract(cfg)
    real = folder_bytes(cfg.target / "abseiling" / "a_000000_000010")
    assert report.bytes_per_clip == real
    assert report.inodes_per_clip == cfg.num_frames + 1
    assert report.need_bytes >= 3 * real and report.need_inodes == 3 * (cfg.num_frames + 1) + 2  # + 2 class dirs
    stats = os.statvfs(tmp_path)
    assert abs(report.free_bytes - stats.f_bavail * stats.f_frsize) < 50_000_000


def test_dry_run_counts_done_clips_and_uses_the_manifest(make_clip, config, tmp_path):
    make_clip("abseiling/a_000000_000010.mp4", seconds=0.2)
    make_clip("abseiling/b_000000_000010.mp4", seconds=0.4)
    cfg = config(num_frames=10)
    summary = run_extract(cfg)
    make_clip("abseiling/new_000000_000010.mp4", seconds=0.3)
    before = tree_state(tmp_path)
    report = dry_run(cfg)
    assert tree_state(tmp_path) == before
    assert (report.clips, report.done, report.todo) == (3, 2, 1)
    assert report.bytes_per_clip == summary.bytes / 2
    assert "manifest" in report.estimate_source
    assert report.need_inodes == cfg.num_frames + 1  # the class folder exists already

    # --overwrite plans every clip again, as the real run would.
    assert dry_run(cfg, overwrite=True).todo == 3


def test_dry_run_reports_a_run_that_does_not_fit(make_clip, config, tmp_path):
    make_clip("abseiling/a_000000_000010.mp4", seconds=0.2)
    cfg = config(num_frames=10)
    report = dry_run(cfg)
    assert report.fits_bytes is True
    # A plan of 10^9 such clips cannot fit on the test filesystem.
    report.need_bytes = int(report.bytes_per_clip * 1e9)
    assert report.fits_bytes is False
    from k400frames.dryrun import format_dry_run
    assert "WARNING: not enough space" in format_dry_run(report)


def test_dry_run_of_a_missing_source_is_a_usage_error(config, tmp_path):
    cfg = config(num_frames=10)
    out = run_cli("extract", "--config", str(write_config(tmp_path, cfg)), "--dry-run")
    assert out.returncode == 2 and "source folder does not exist" in out.stderr
