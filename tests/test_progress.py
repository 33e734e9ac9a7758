"""Progress reporting: status lines for logs, the free-space warning."""

import io
import itertools
import logging
import shutil
from collections import namedtuple

from k400frames.run.progress import BarProgress, LineProgress
from k400frames.run.runner import run_extract


def half_done_tree(make_clip, config):
    """Six clips of which an earlier run extracted the first three."""
    for i in range(3):
        make_clip(f"a/{i}.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=4, workers=1)
    run_extract(cfg)
    for i in range(3):
        make_clip(f"b/{i}.mp4", seconds=0.3, fps=10)
    return cfg


def test_resumed_run_rate_and_eta_count_only_this_runs_clips(make_clip, config, caplog):
    cfg = half_done_tree(make_clip, config)
    ticks = itertools.count(0, 2.0)  # every look at the clock: 2 s later
    caplog.set_level(logging.INFO, logger="k400frames")
    summary = run_extract(cfg, progress=LineProgress(interval=0, clock=lambda: next(ticks)))
    assert (summary.skipped, summary.done) == (3, 3)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress:")]
    # start at t=2; the new clips finish at t=4, 6, 8: 3 clips in 6 s, not 6.
    assert lines[0] == "progress: 3/6 clips already done, 3 to do"
    assert lines[1].startswith("progress: 4/6 clips, 0.5 clips/s,") and lines[1].endswith("ETA 0:00:04")
    assert lines[2].startswith("progress: 5/6 clips, 0.5 clips/s,") and lines[2].endswith("ETA 0:00:02")
    assert lines[3].startswith("progress: 6/6 clips, 0.5 clips/s, 2 frames/s, 0 failed")
    assert len(lines) == 4


def test_resumed_bar_starts_at_the_finished_clips(make_clip, config):
    from tqdm import tqdm

    cfg = half_done_tree(make_clip, config)
    out = io.StringIO()
    progress = BarProgress(stream=out)
    run_extract(cfg, progress=progress)
    first = out.getvalue().split("\r")[1]
    assert " 3/6 " in first  # drawn before any clip of this run finished
    meter = progress.bar.format_dict
    assert (meter["n"], meter["initial"]) == (6, 3)
    # tqdm's rate is (n - initial) / elapsed: the 3 clips of this run in 1.5 s, not 6.
    assert "2.00clip/s" in tqdm.format_meter(**{**meter, "elapsed": 1.5, "rate": None})


def test_line_progress_reports_periodically(make_clip, config, caplog):
    for i in range(3):
        make_clip(f"a/{i}.mp4", seconds=0.3, fps=10)
    caplog.set_level(logging.INFO, logger="k400frames")
    summary = run_extract(config(num_frames=4), progress=LineProgress(interval=0))
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress:")]
    assert len(lines) == 3
    assert lines[-1].startswith("progress: 3/3 clips") and "frames/s" in lines[-1] and "ETA" in lines[-1]
    assert summary.done == 3


def test_warns_when_the_run_will_not_fit(make_clip, config, caplog, monkeypatch):
    for i in range(3):
        make_clip(f"a/{i}.mp4", seconds=0.3, fps=10)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 10, 10))
    caplog.set_level(logging.WARNING)
    run_extract(config(num_frames=4, workers=1))
    assert any("only 0.0 GB are free" in r.getMessage() for r in caplog.records)


def test_resumed_run_warns_before_any_work(make_clip, config, caplog, monkeypatch):
    for i in range(3):
        make_clip(f"a/{i}.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=4, workers=1)
    run_extract(cfg)
    make_clip("a/new.mp4", seconds=0.3, fps=10)
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 10, 10))
    caplog.set_level(logging.WARNING)
    warned_at = []
    from k400frames.run import executors

    real = executors.extract_clip
    monkeypatch.setattr(executors, "extract_clip", lambda *a: warned_at.append(len(caplog.records)) or real(*a))
    run_extract(cfg)
    assert warned_at and warned_at[0] >= 1  # the warning came before the first clip started
    assert "the remaining 1 clip needs about" in caplog.records[0].getMessage()


def test_verify_deep_reports_progress_like_extract(make_clip, config, caplog, capfd):
    from k400frames.tools.verify import verify_tree

    from helpers import run_main

    for i in range(3):
        make_clip(f"a/{i}.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=4)
    run_extract(cfg)
    frame = cfg.target / "a" / "1" / "frame_00002.jpg"
    frame.write_bytes(frame.read_bytes()[:-2])  # no EOI: a problem for this clip
    caplog.set_level(logging.INFO, logger="k400frames")
    ticks = itertools.count(0, 1.0)
    report = verify_tree(cfg.target, 4, deep=True, progress=LineProgress(interval=0, clock=lambda: next(ticks)))
    assert report.bad_clips == 1
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress:")]
    assert [line.split(",")[0] for line in lines] == [f"progress: {k}/3 clips" for k in (1, 2, 3)]
    # t=1 at start, clips at t=2, 3, 4: 12 frames checked in 3 s; the damaged clip counts as failed.
    assert lines[-1] == "progress: 3/3 clips, 1.0 clips/s, 4 frames/s, 1 failed, ETA 0:00:00"
    proc = run_main(capfd, "verify", "--deep", "--frames", str(cfg.target), "--num-frames", "4")
    assert proc.returncode == 1
    assert proc.stderr.count("progress: 3/3 clips") == 1 and "1 failed" in proc.stderr


def test_resumed_cli_run_says_what_was_done_before(make_clip, config, capfd):
    from helpers import run_main

    cfg = half_done_tree(make_clip, config)
    proc = run_main(
        capfd, "extract", "--set", f"source={cfg.source}", "--set", f"target={cfg.target}", "--set", "num_frames=4"
    )
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("k400frames: progress:")]
    assert lines[0] == "k400frames: progress: 3/6 clips already done, 3 to do"
    assert lines[-1].startswith("k400frames: progress: 6/6 clips,")
    assert "3 extracted" in proc.stdout and "3 already done" in proc.stdout
