"""extract --dry-run: plans like the real run, measures its estimate, writes nothing."""

from __future__ import annotations

import hashlib
import os

import pytest

from k400frames.errors import K400Error
from k400frames.files import tree_bytes as folder_bytes
from k400frames.run.dryrun import SAMPLES, _EvenSample, dry_run, format_dry_run
from k400frames.run.lock import TargetLock
from k400frames.run.runner import run_extract

from helpers import run_cli, run_main, write_config


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


def config_file_of(tmp_path, cfg):
    return write_config(tmp_path / "cfg.yaml", source=cfg.source, target=cfg.target, num_frames=cfg.num_frames)


def test_dry_run_writes_nothing_and_measures_samples(make_clip, config, tmp_path, capfd):
    make_clip("abseiling/a_000000_000010.mp4", seconds=0.5)
    make_clip("abseiling/b_000000_000010.mp4", seconds=0.5, size="32x24")
    make_clip("zumba/c_000000_000010.mp4", seconds=0.5, size="96x72")
    cfg = config(num_frames=10)
    config_file = config_file_of(tmp_path, cfg)
    before = tree_state(tmp_path)
    out = run_main(capfd, "extract", "--config", str(config_file), "--dry-run")
    assert out.returncode == 0, out.stderr
    assert tree_state(tmp_path) == before  # not even the target folder or a record file
    assert "3 in 2 classes: 0 already done, 3 to do" in out.stdout
    assert "abseiling: 2 clips, 0 done, 2 to do" in out.stdout
    assert "3 sample clips" in out.stdout and "fits: yes" in out.stdout

    report = dry_run(cfg)
    assert tree_state(tmp_path) == before
    assert sorted(report.samples) == ["abseiling/a_000000_000010", "abseiling/b_000000_000010", "zumba/c_000000_000010"]
    # The samples are real extractions: they weigh what the real clips weigh.
    run_extract(cfg)
    real = [folder_bytes(p) for p in sorted(cfg.target.glob("*/*"))]
    assert (report.bytes_per_clip_low, report.bytes_per_clip_high) == (min(real), max(real))
    assert report.bytes_per_clip == sum(real) / 3
    assert report.inodes_per_clip == report.inodes_per_clip_high == cfg.num_frames + 1
    # On disk each frame takes whole blocks, so the needs are at least the bytes.
    assert 3 * min(real) <= report.need_bytes_low <= report.need_bytes
    assert report.need_bytes >= 3 * max(real)
    assert report.need_inodes == 3 * (cfg.num_frames + 1) + 2  # + 2 class dirs
    stats = os.statvfs(tmp_path)
    assert abs(report.free_bytes - stats.f_bavail * stats.f_frsize) < 50_000_000


def test_samples_spread_over_the_classes(make_clip, config):
    # 12 clips in 6 classes; the clips of the last class are much bigger.
    for cls in "abcdef":
        for i in range(2):
            make_clip(f"{cls}/{cls}{i}.mp4", seconds=0.2, size="160x120" if cls == "f" else "32x24")
    report = dry_run(config(num_frames=4))
    classes = {rel.split("/")[0] for rel in report.samples}
    assert len(report.samples) == SAMPLES and len(classes) == SAMPLES  # one per class, not 5 of class a
    assert "f" in classes  # so the big clips shape the upper end
    assert report.bytes_per_clip_high > 2 * report.bytes_per_clip_low


def test_even_sample_over_a_long_stream():
    sampler = _EvenSample(20)
    for index in range(1000):
        sampler.offer(index)
    chosen, spares = sampler.pick(5)
    assert len(chosen) == 5 and len(spares) == len(sampler.items) - 5 and len(sampler.items) <= 20
    gaps = [b - a for a, b in zip([0, *chosen], [*chosen, 1000], strict=True)]
    assert max(gaps) < 2 * min(gaps[1:-1])  # evenly spread, from start to end


def test_dry_run_counts_done_clips_and_uses_the_manifest(make_clip, config, tmp_path):
    for i in range(SAMPLES):
        make_clip(f"abseiling/a{i}_000000_000010.mp4", seconds=0.2 + 0.1 * i)
    cfg = config(num_frames=10)
    summary = run_extract(cfg)
    make_clip("abseiling/new_000000_000010.mp4", seconds=0.3)
    before = tree_state(tmp_path)
    report = dry_run(cfg)
    assert tree_state(tmp_path) == before
    assert (report.clips, report.done, report.todo) == (SAMPLES + 1, SAMPLES, 1)
    assert report.bytes_per_clip == summary.bytes / SAMPLES
    assert report.bytes_per_clip_low < report.bytes_per_clip < report.bytes_per_clip_high
    assert "manifest" in report.estimate_source and not report.samples
    assert report.need_inodes == cfg.num_frames + 1  # the class folder exists already

    # --overwrite plans every clip again, as the real run would.
    assert dry_run(cfg, overwrite=True).todo == SAMPLES + 1


def test_dry_run_reports_a_run_that_does_not_fit(make_clip, config, tmp_path):
    make_clip("abseiling/a_000000_000010.mp4", seconds=0.2)
    cfg = config(num_frames=10)
    report = dry_run(cfg)
    assert report.fits_bytes is True
    # A plan of 10^9 such clips cannot fit on the test filesystem.
    report.need_bytes = report.need_bytes_low = int(report.bytes_per_clip * 1e9)
    assert report.fits_bytes is False
    assert "WARNING: not enough space for this run" in format_dry_run(report)
    assert "fits: yes" not in format_dry_run(report)


def test_fits_only_when_the_upper_end_fits(make_clip, config):
    make_clip("a/x.mp4", seconds=0.2)
    make_clip("b/y.mp4", seconds=0.2, size="160x120")
    report = dry_run(config(num_frames=10))
    assert "fits: yes" in format_dry_run(report)
    # Free space between the two ends of the estimate: not "fits".
    report.free_bytes = (report.need_bytes_low + report.need_bytes) // 2
    text = format_dry_run(report)
    assert "fits: yes" not in text and "not enough space for the upper end" in text


def cli_pair(capture, config_file, *args):
    """The dry run's and the real run's (returncode, stdout, stderr), same arguments:
    in this process, read from ``capture``, or with ``capture`` None each in a process of its own."""

    def run(*argv):
        return run_cli(*argv) if capture is None else run_main(capture, *argv)

    dry = run("extract", "--config", str(config_file), *args, "--dry-run")
    real = run("extract", "--config", str(config_file), *args)
    return (dry.returncode, dry.stdout, dry.stderr), (real.returncode, real.stdout, real.stderr)


@pytest.mark.parametrize("case", ["missing source", "empty source", "unwritable target", "changed settings"])
def test_dry_run_fails_where_the_real_run_fails(case, make_clip, config, tmp_path, capfd):
    make_clip("a/x.mp4", seconds=0.2)
    cfg = config(num_frames=10)
    if case == "missing source":
        cfg = config(num_frames=10, source=str(tmp_path / "nowhere"))
    elif case == "empty source":
        (tmp_path / "empty").mkdir()
        cfg = config(num_frames=10, source=str(tmp_path / "empty"))
    elif case == "unwritable target":
        (tmp_path / "out").write_text("a file where the frames root should be")
    else:
        run_extract(config(num_frames=8))
    expected = {
        "missing source": "source folder does not exist",
        "empty source": "no clips found",
        "unwritable target": "target is not writable",
        "changed settings": "other output settings",
    }
    with pytest.raises(K400Error, match=expected[case]) as real:
        run_extract(cfg)
    with pytest.raises(K400Error) as dry:
        dry_run(cfg)
    assert (type(dry.value), str(dry.value)) == (type(real.value), str(real.value))
    assert real.value.exit_code == 2
    if case == "changed settings":  # and on the command line: same line, same exit code
        (dry_code, _, dry_err), (real_code, _, real_err) = cli_pair(capfd, config_file_of(tmp_path, cfg))
        assert (
            (dry_code, dry_err)
            == (real_code, real_err)
            == (2, f"k400frames: error: {real.value} (the option --overwrite)\n")
        )


def test_dry_run_reports_a_run_in_progress(make_clip, config, tmp_path):
    make_clip("a/x.mp4", seconds=0.2)
    cfg = config(num_frames=10)
    config_file = config_file_of(tmp_path, cfg)
    cfg.target.mkdir(parents=True)
    with TargetLock(cfg.target):  # this process is "the run in progress", the CLI another
        dry, real = cli_pair(None, config_file)
    assert real[0] == 2 and f"pid {os.getpid()}" in real[2]
    # Reported, not refused: looking at a running target is what a dry run is for.
    assert dry[0] == 0 and "WARNING: a run is in progress on this target" in dry[1]
    assert f"pid {os.getpid()}" in dry[1]
    assert "a run is in progress" not in format_dry_run(dry_run(cfg))  # the lock went with its holder


def test_dry_run_of_a_missing_source_is_a_usage_error(config, tmp_path, capfd):
    cfg = config(num_frames=10)
    out = run_main(capfd, "extract", "--config", str(config_file_of(tmp_path, cfg)), "--dry-run")
    assert out.returncode == 2 and "source folder does not exist" in out.stderr
    assert not (tmp_path / "out").exists()
