"""A run owns its state: two runs in one process (a notebook's two threads)
never stop or kill each other's clips."""

from __future__ import annotations

import threading
import time

from k400frames import ffmpeg
from k400frames.clip.context import RunContext
from k400frames.run.runner import run_extract
from k400frames.tools.verify import verify_tree

from helpers import gated, open_gate, started, tree_bytes, wait_for


def test_stopping_one_run_leaves_another_in_the_same_process_whole(make_clip, config, wrap_ffmpeg, tmp_path):
    for i in range(8):
        make_clip(f"c{i % 2}/clip{i}_000000_000002.mp4", seconds=1 + i / 10, fps=20)
    # Each run does one clip, then its ffmpeg waits at a gate: both runs are
    # mid-way when the first stops, and the second goes on only after that.
    gates = {name: tmp_path / f"gate-{name}" for name in ("first", "second")}
    wrappers = {name: wrap_ffmpeg(gated(gate, free=1), name=f"ffmpeg-{name}") for name, gate in gates.items()}
    first = config(num_frames=16, workers=1, ffmpeg=wrappers["first"], target=str(tmp_path / "first" / "train"))
    second = config(num_frames=16, workers=1, ffmpeg=wrappers["second"], target=str(tmp_path / "second" / "train"))
    stop = threading.Event()
    results: dict[str, object] = {}
    finished_at: dict[str, float] = {}

    def run(name, cfg, **kwargs):
        results[name] = run_extract(cfg, **kwargs)
        finished_at[name] = time.monotonic()

    threads = [
        threading.Thread(target=run, args=("first", first), kwargs={"stop": stop}),
        threading.Thread(target=run, args=("second", second)),
    ]
    for thread in threads:
        thread.start()
    # Stop the first run once both have finished a clip and wait at their gates.
    assert wait_for(lambda: all(started(gate) >= 2 for gate in gates.values()), timeout=60)
    stop.set()
    threads[0].join(timeout=120)
    assert "first" in results and "second" not in finished_at  # the second was still working
    open_gate(gates["second"])
    threads[1].join(timeout=120)
    open_gate(gates["first"])
    assert results["first"].interrupted and results["first"].done == 1
    assert not results["second"].interrupted and results["second"].done == 8

    solo = config(num_frames=16, workers=1, target=str(tmp_path / "solo" / "train"))
    assert run_extract(solo).done == 8
    assert tree_bytes(second.target) == tree_bytes(solo.target)

    # A run started afterwards in the same process is whole: it resumes the stopped one.
    again = run_extract(config(num_frames=16, workers=1, target=str(first.target)))
    assert not again.interrupted and again.done + again.skipped == 8 and again.failed == 0
    assert verify_tree(first.target, 16).ok
    assert tree_bytes(first.target) == tree_bytes(solo.target)


def test_a_stopped_context_kills_ffmpegs_that_start_later(ffmpeg_exe):
    ctx = RunContext()
    ctx.stop()
    argv = ffmpeg.command(ffmpeg_exe, "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30", "-f", "null", "-")
    began = time.monotonic()
    result = ffmpeg.run(argv, timeout=60, processes=ctx.processes)
    assert time.monotonic() - began < 10 and result.returncode != 0  # killed at once, not after the timeout
    assert not result.timed_out and len(ctx.processes) == 0


def test_stopping_one_context_spares_another(ffmpeg_exe):
    mine, other = RunContext(), RunContext()
    # -re: read at the native rate, so the 2 s source takes 2 s.
    argv = ffmpeg.command(
        ffmpeg_exe, "-re", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30:duration=2", "-f", "null", "-"
    )
    outcome = {}
    thread = threading.Thread(target=lambda: outcome.update(r=ffmpeg.run(argv, timeout=60, processes=other.processes)))
    thread.start()
    assert wait_for(lambda: len(other.processes) == 1, timeout=30)
    mine.stop()
    thread.join(timeout=60)
    assert outcome["r"].returncode == 0  # ran its full 2 s
