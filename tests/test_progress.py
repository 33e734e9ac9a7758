"""Progress reporting: status lines for logs, the free-space warning."""

import ast
import io
import itertools
import logging
import shutil
from collections import namedtuple
from pathlib import Path

from k400frames.run.progress import BarProgress, LineProgress, Tally
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


def _download(make_clip, tmp_path):
    """A Kinetics download of two files, one of them cut short, and its CSV."""
    from k400frames.sources.kinetics import Row, write_kinetics_csv

    whole = make_clip("a/whole_000000_000001.mp4", seconds=0.3, fps=10)
    data = whole.read_bytes()
    (whole.parent / "cut_000000_000001.mp4").write_bytes(data[: len(data) - 100])
    rows = [Row("a", "whole", 0, 1), Row("a", "cut", 0, 1)]
    return whole.parent.parent, write_kinetics_csv(tmp_path / "train.csv", rows)


def test_doctor_reports_to_the_same_progress(make_clip, tmp_path, caplog):
    from k400frames.tools.doctor import diagnose

    source, table = _download(make_clip, tmp_path)
    caplog.set_level(logging.INFO, logger="k400frames")
    ticks = itertools.count(0, 1.0)
    progress = LineProgress(interval=0, clock=lambda: next(ticks), unit="file", frames=False)
    report = diagnose(source, table, extensions=(".mp4",), workers=1, progress=progress)
    assert not report.ok
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress:")]
    # Files in name order: cut (a fault: failed) at t=2, whole at t=3; no frames are made, so no frame rate.
    assert lines == [
        "progress: 1/2 files, 1.0 files/s, 1 failed, ETA 0:00:01",
        "progress: 2/2 files, 1.0 files/s, 1 failed, ETA 0:00:00",
    ]


def test_bar_for_every_command_from_one_function(make_clip, tmp_path, monkeypatch, capsys):
    """cli.py makes each command's display with make_progress: the doctor's
    bar counts files and no frames, and --json keeps stderr free of it."""
    from k400frames import cli
    from k400frames.run import progress

    source, table = _download(make_clip, tmp_path)
    made = []

    def spy(*args, **kwargs):
        made.append(kwargs)
        return progress.BarProgress(stream=io.StringIO(), unit=kwargs["unit"], frames=kwargs["frames"])

    monkeypatch.setattr(progress, "make_progress", spy)
    assert cli.main(["doctor", "--set", f"source={source}", "--csv", str(table)]) == 1
    assert made == [{"quiet": False, "unit": "file", "frames": False, "desc": "headers"}]
    assert cli.main(["doctor", "--set", f"source={source}", "--csv", str(table), "--json"]) == 1
    assert made[-1]["quiet"] is True
    assert "progress" not in capsys.readouterr().err


def test_bar_without_frames_shows_no_frame_rate():
    out = io.StringIO()
    bar = BarProgress(stream=out, unit="file", frames=False)
    bar.start(2)
    bar.update("x.mp4", Tally(failed=1))
    assert bar.bar.postfix == "1 failed"
    bar.close()
    assert "file" in out.getvalue()


def test_only_run_progress_makes_a_tqdm_bar():
    """One progress protocol: no other module draws its own tqdm bar."""
    package = Path(__file__).resolve().parent.parent / "k400frames"
    makers = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", "")) == "tqdm":
                makers.append(path.relative_to(package).as_posix())
    assert makers == ["run/progress.py"]
