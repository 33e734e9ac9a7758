"""One stop, however it is delivered (issue 20): ``timeout`` and Slurm signal
the process and its process group, so one stop arrives twice; SIGTERM stops
like Ctrl-C (summary, temp area removed, lock released, exit 143); only a
signal more than a second after the first forces the exit, and the next run
still starts without help.  Real signals on real runs."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import pytest

from k400frames.run.runner import run_extract

from helpers import alive, gated, live_processes_mentioning, set_args, started, wait_for


@pytest.fixture
def hung_run(make_clip, config, wrap_ffmpeg, tmp_path):
    """(argv of an extract whose third clip's ffmpeg hangs, its config, the file that says it hangs)."""
    for i, cls in enumerate(["a", "a", "b", "b"]):
        make_clip(f"{cls}/clip{i}_000000_000001.mp4", seconds=0.4, fps=10)
    started = tmp_path / "slow-started"
    hang = wrap_ffmpeg(f'case "$*" in *clip2_*) touch "{started}"; sleep 60;; esac\nexec "$REAL" "$@"')
    cfg = config(num_frames=4)
    argv = [
        sys.executable,
        "-m",
        "k400frames",
        "extract",
        *set_args(f"source={cfg.source}", f"target={cfg.target}", "num_frames=4", "workers=1", f"ffmpeg={hang}"),
    ]
    return argv, cfg, started


def _assert_orderly(proc_out: str, err: str, cfg, tmp_path) -> None:
    assert "Traceback" not in err, err
    assert "clips:" in proc_out and "interrupted: rerun the same command to resume" in proc_out, proc_out
    assert not (cfg.target.parent / ".train.tmp").exists()
    assert not (cfg.target.parent / ".train.lock").exists()
    assert live_processes_mentioning(str(tmp_path)) == []
    summary = run_extract(cfg)  # the next run finishes the job without help
    assert summary.failed == 0 and summary.done + summary.skipped == 4


@pytest.mark.parametrize(("sig", "code"), [("INT", 130), ("TERM", 143)])
def test_timeout_command_stops_like_one_ctrl_c(hung_run, tmp_path, sig, code):
    argv, cfg, started = hung_run
    # coreutils timeout signals the child, then its whole process group: two deliveries.
    proc = subprocess.run(
        ["timeout", "--preserve-status", "-s", sig, "4", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert started.exists()  # the run was under way when the signal came
    assert proc.returncode == code, proc.stderr
    _assert_orderly(proc.stdout, proc.stderr, cfg, tmp_path)


def test_two_sigints_a_tenth_of_a_second_apart_are_one_stop(hung_run, tmp_path):
    argv, cfg, started = hung_run
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(started.exists)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "stopped at once" not in err
    _assert_orderly(out, err, cfg, tmp_path)


def test_the_exit_codes_reference_names_130_and_143():
    from helpers import PROJECT

    table = (PROJECT / "docs" / "reference" / "exit-codes.md").read_text()
    assert "| 130 | interrupted (SIGINT" in table and "| 143 | terminated (SIGTERM" in table


def test_no_ffmpeg_outlives_a_sigkill_of_the_runs_process_group_mid_stop(make_clip, config, wrap_ffmpeg, tmp_path):
    """A scheduler stops a job with TERM, then KILLs its whole process group.
    The ffmpegs run in groups of their own (a Ctrl-C is the run's to handle),
    so the group KILL reaches them only through the parent-death signal: none
    may be alive a second after it."""
    for i in range(4):
        make_clip(f"c/clip{i}.mp4", seconds=0.4, fps=10)
    gate = tmp_path / "gate"
    cfg = config(num_frames=4)
    argv = [
        sys.executable,
        "-m",
        "k400frames",
        "extract",
        *set_args(
            f"source={cfg.source}",
            f"target={cfg.target}",
            "num_frames=4",
            "workers=2",
            f"ffmpeg={wrap_ffmpeg(gated(gate))}",
        ),
    ]
    run = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        assert wait_for(lambda: started(gate) >= 2, 60), "the ffmpegs did not start"
        pids = [int(p.name.split(".")[1]) for p in gate.glob("started.*")]
        os.kill(run.pid, signal.SIGTERM)  # the orderly stop begins ...
        os.killpg(run.pid, signal.SIGKILL)  # ... and the scheduler does not wait for it
        run.wait(10)
        assert wait_for(lambda: not any(alive(pid) for pid in pids), 1.0), "an ffmpeg outlived the group kill"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, signal.SIGKILL)
        run.wait(10)
