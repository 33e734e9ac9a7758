"""Progress reporting: status lines for logs, the free-space warning."""
import logging
import shutil
from collections import namedtuple

from k400frames.progress import LineProgress
from k400frames.runner import run_extract


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
    from k400frames import runner
    real = runner.extract_clip
    monkeypatch.setattr(runner, "extract_clip", lambda *a: warned_at.append(len(caplog.records)) or real(*a))
    run_extract(cfg)
    assert warned_at and warned_at[0] >= 1  # the warning came before the first clip started
    assert "the remaining 1 clips need about" in caplog.records[0].getMessage()
