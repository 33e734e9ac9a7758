"""One owner per target and shard: real CLI runs in subprocesses, real flocks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from k400frames.errors import RunInProgress
from k400frames.layout import Layout
from k400frames.run.lock import TargetLock, shards_overlap
from k400frames.run.runner import run_extract
from k400frames.sources.tree import shard_of

from helpers import frame_files, gated, open_gate, record_file, run_cli, set_args, started, wait_for


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "k400frames", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def holds_lock(path, pid) -> bool:
    try:
        return json.loads(path.read_text() or "{}").get("pid") == pid
    except (OSError, ValueError):
        return False


def cli_args(cfg, ffmpeg=None, *extra):
    settings = [f"source={cfg.source}", f"target={cfg.target}", f"num_frames={cfg.num_frames}", "workers=1"]
    return ["extract", *set_args(*settings, *([f"ffmpeg={ffmpeg}"] if ffmpeg else [])), *extra]


@pytest.fixture
def clips(make_clip):
    return [make_clip(f"{cls}/clip{i}.mp4", seconds=0.3, fps=10) for i, cls in enumerate("aabbcc")]


def test_second_run_on_a_target_exits_2_naming_the_first(clips, config, wrap_ffmpeg, tmp_path):
    gate = tmp_path / "gate"  # the first run's ffmpegs wait until the second run is refused
    cfg = config(num_frames=4)
    first = start_cli(*cli_args(cfg, wrap_ffmpeg(gated(gate))))
    try:
        assert wait_for(lambda: holds_lock(Layout(cfg.target).lock(), first.pid) and started(gate) >= 1)
        t0 = time.monotonic()
        second = run_cli(*cli_args(cfg), timeout=60)
        assert time.monotonic() - t0 < 10
        assert second.returncode == 2, second.stderr
        (line,) = second.stderr.strip().splitlines()
        assert line.startswith("k400frames: error: another run is extracting into")
        assert f"pid {first.pid} on " in line and "started " in line and "wait for it" in line
        assert first.poll() is None  # the refused run touched nothing of the first one
        open_gate(gate)
        out, err = first.communicate(timeout=60)
    finally:
        open_gate(gate)
        first.kill()
    assert first.returncode == 0, err
    assert "6 extracted" in out
    assert all(len(frame_files(p)) == 4 for p in cfg.target.glob("*/*")) and len(list(cfg.target.glob("*/*"))) == 6
    assert not Layout(cfg.target).lock().exists()  # released and removed: the target is left clean


def test_after_kill_9_the_next_run_starts_without_help(clips, config, wrap_ffmpeg, tmp_path):
    gate = tmp_path / "gate"  # one clip goes through; the second waits in its ffmpeg, killed with the run
    cfg = config(num_frames=4)
    proc = start_cli(*cli_args(cfg, wrap_ffmpeg(gated(gate, free=1))))
    assert wait_for(lambda: holds_lock(Layout(cfg.target).lock(), proc.pid))
    assert wait_for(
        lambda: (
            started(gate) >= 2
            and record_file(cfg.target, "manifest").exists()
            and record_file(cfg.target, "manifest").read_text().count("\n") >= 1
        )
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert holds_lock(Layout(cfg.target).lock(), proc.pid)  # its name is still in the file, but not its lock
    rerun = run_cli(*cli_args(cfg), timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert len(list(cfg.target.glob("*/*"))) == 6


def test_two_shards_run_side_by_side(clips, config, wrap_ffmpeg, tmp_path):
    # Each ffmpeg waits (up to 20 s) until ffmpegs of both runs have started:
    # two runs that could not overlap in time would take 20 s.
    met = tmp_path / "met"
    met.mkdir()
    meet = wrap_ffmpeg(
        f'touch "{met}/$PPID"; for i in $(seq 200); do '
        f'[ "$(ls "{met}" | wc -l)" -ge 2 ] && break; sleep 0.1; done\nexec "$REAL" "$@"'
    )
    cfg = config(num_frames=4)
    t0 = time.monotonic()
    runs = [start_cli(*cli_args(cfg, meet, "--shard", f"{k}/2")) for k in (0, 1)]
    results = [run.communicate(timeout=90) for run in runs]
    assert time.monotonic() - t0 < 18
    assert [run.returncode for run in runs] == [0, 0], results
    assert len(list(cfg.target.glob("*/*"))) == 6
    assert not list(cfg.target.parent.glob(".*.lock"))  # the last shard removed the common file too


def test_unsharded_and_sharded_runs_exclude_each_other(clips, config):
    cfg = config(num_frames=4)
    cfg.target.mkdir(parents=True)
    with TargetLock(cfg.target, (0, 2)):  # this process runs shard 0/2
        for args, code in ((["--shard", "0/2"], 2), ([], 2), (["--shard", "2/4"], 2), (["--shard", "1/2"], 0)):
            proc = run_cli(*cli_args(cfg), *args, timeout=60)
            assert proc.returncode == code, (args, proc.stderr)
            if code == 2:
                assert "shard 0/2, pid" in proc.stderr and str(os.getpid()) in proc.stderr
    with TargetLock(cfg.target):  # this process runs the whole target
        with pytest.raises(RunInProgress, match="the whole target"):
            run_extract(cfg, shard=(0, 2))
        # verify and lists still work, and say that a run is in progress.
        for command in (
            ["verify", "--frames", str(cfg.target), "--num-frames", "4"],
            [
                "lists",
                "--config",
                "/dev/null",
                "--set",
                f"source={cfg.source}",
                "--set",
                f"target={cfg.target}",
                "--format",
                "mmaction2",
            ],
        ):
            proc = run_cli(*command, timeout=60)
            assert "a run is in progress on" in proc.stderr, proc.stderr
    assert run_extract(cfg, shard=(0, 2)).failed == 0  # released


def test_shards_overlap_exactly_when_they_share_clips():
    rels = [f"class{i % 7}/clip{i}" for i in range(3000)]
    shards = [(k, n) for n in (2, 3, 4, 6, 8) for k in range(n)]
    members = {(k, n): {r for r in rels if shard_of(r, n) == k} for k, n in shards}
    for a in shards:
        for b in shards:
            assert shards_overlap(a, b) == bool(members[a] & members[b]), (a, b)
    assert shards_overlap(None, (3, 8)) and shards_overlap((3, 8), None)


def test_two_runs_inside_one_process_exclude_each_other(clips, config):
    cfg = config(num_frames=4)
    cfg.target.mkdir(parents=True)
    with TargetLock(cfg.target, (1, 2)):
        with pytest.raises(RunInProgress, match=f"shard 1/2, pid {os.getpid()}"):
            TargetLock(cfg.target, (1, 2)).acquire()
        with pytest.raises(RunInProgress, match="shard 1/2"):
            TargetLock(cfg.target).acquire()
        with TargetLock(cfg.target, (0, 2)):  # another shard, side by side
            pass
    with TargetLock(cfg.target), pytest.raises(RunInProgress, match="the whole target"):
        TargetLock(cfg.target, (0, 2)).acquire()
    TargetLock(cfg.target).acquire().release()  # all released


def test_lock_files_removed_at_release_never_let_two_runs_in(tmp_path):
    """Runs that remove their lock file at the end race with runs opening it;
    four processes taking and dropping one target's lock in a tight loop must
    never hold it at the same time."""
    target = tmp_path / "out" / "train"
    target.parent.mkdir()
    script = (
        "import os, sys\n"
        "from pathlib import Path\n"
        "from k400frames.run.lock import TargetLock\n"
        "from k400frames.errors import RunInProgress\n"
        "target, marker, held = Path(sys.argv[1]), sys.argv[2], 0\n"
        "while held < 40:\n"
        "    try:\n"
        "        lock = TargetLock(target).acquire()\n"
        "    except RunInProgress:\n"
        "        continue\n"
        "    fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)  # fails if another holds it\n"
        "    os.close(fd)\n"
        "    os.unlink(marker)\n"
        "    lock.release()\n"
        "    held += 1\n"
    )
    marker = str(tmp_path / "holder")
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(target), marker], stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    errors = [proc.communicate(timeout=120)[1] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], errors
    assert not Layout(target).lock().exists()
