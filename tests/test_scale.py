"""Scale-out: shards for job arrays, and the Dask executor.

Real ffmpeg, real worker processes, real kills.  The Dask tests share one
LocalCluster of two worker processes (module scope) through the config key
``dask.scheduler``; they skip cleanly when Dask is not installed.  Those
that need a cluster or a scheduler are marked ``slow``: ``make test`` runs
them, ``pytest -m "not slow"`` leaves them out while you work.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from k400frames.errors import PreflightError
from k400frames.run.runner import run_extract
from k400frames.sources.tree import in_shard, shard_of
from k400frames.tools.synth import make_video

from helpers import ended_within, record_file, tree_bytes

NUM_FRAMES = 12


def manifest_rels(path: Path) -> list[str]:
    return [json.loads(line)["rel"] for line in path.read_text().splitlines()]


@pytest.fixture
def small_tree(make_clip):
    """Eight clips in three classes: cut, padded, 25 fps, and names Kinetics has."""
    specs = [
        ("abseiling", "--uWuXty1jw_000010_000020.mp4", 1.0, 30),
        ("abseiling", "short_000000_000001.mp4", 0.2, 30),
        ("air drumming", "pal_000000_000010.mp4", 0.8, 25),
        ("air drumming", "o'brien_000000_000010.mp4", 0.6, 30),
        ("playing (guitar)", "100%_real.v2_000001_000011.mp4", 0.5, 30),
        ("playing (guitar)", "café_000000_000010.mp4", 0.5, 30),
        ("playing (guitar)", "c_000000_000010.mp4", 0.3, 20),
        ("zumba", "d_000000_000010.mp4", 0.5, 30),
    ]
    for cls, name, seconds, fps in specs:
        make_clip(f"{cls}/{name}", seconds=seconds, fps=fps)
    return [f"{cls}/{name.rsplit('.', 1)[0]}" for cls, name, _, _ in specs]


# ----------------------------------------------------------------------------
# shard assignment
# ----------------------------------------------------------------------------


def test_shards_are_a_stable_partition():
    rng = random.Random(5)
    rels = [f"class {c}/{rng.randrange(10**9):09d}_{s:06d}_{s + 10:06d}" for c in range(40) for s in range(25)]
    for n in (1, 2, 3, 8):
        shards = [{rel for rel in rels if in_shard(rel, (k, n))} for k in range(n)]
        assert set().union(*shards) == set(rels)
        assert sum(len(s) for s in shards) == len(rels)  # pairwise disjoint
        # Roughly even: no shard holds more than 1.5 times its fair share.
        assert max(len(s) for s in shards) <= 1.5 * len(rels) / n
        before = {rel: shard_of(rel, n) for rel in rels}
        shuffled = rels[:]
        rng.shuffle(shuffled)
        assert {rel: shard_of(rel, n) for rel in shuffled} == before
        grown = shuffled + [f"new class/{i:011d}_000000_000010" for i in range(300)]
        assert {rel: shard_of(rel, n) for rel in grown if rel in before} == before


def test_shard_depends_on_the_clip_name_only(make_clip, config):
    """The same clip lands in the same shard whatever else is in the tree."""
    make_clip("cls/a.mp4", seconds=0.2)
    shard_alone = shard_of("cls/a", 4)
    for i in range(20):
        make_clip(f"other/{i}.mp4", seconds=0.1)
    cfg = config(num_frames=2)
    from k400frames.run.preflight import plan

    assert [c.rel for c in plan(cfg, (shard_alone, 4)) if c.rel.startswith("cls/")] == ["cls/a"]


# ----------------------------------------------------------------------------
# shards run in turn == one run
# ----------------------------------------------------------------------------


def test_two_shards_in_turn_equal_one_unsharded_run(small_tree, config, tmp_path):
    assert {shard_of(rel, 2) for rel in small_tree} == {0, 1}  # both shards have work
    sharded = config(num_frames=NUM_FRAMES, target=str(tmp_path / "sharded" / "train"))
    whole = config(num_frames=NUM_FRAMES, target=str(tmp_path / "whole" / "train"))

    summaries = [run_extract(sharded, shard=(k, 2)) for k in range(2)]
    reference = run_extract(whole)

    assert [s.exit_code for s in summaries] == [0, 0] and reference.exit_code == 0
    assert sum(s.total for s in summaries) == reference.total == len(small_tree)
    assert tree_bytes(sharded.target) == tree_bytes(whole.target)
    assert len(tree_bytes(whole.target)) == len(small_tree) * NUM_FRAMES

    per_shard = [manifest_rels(record_file(sharded.target, "manifest", (k, 2))) for k in range(2)]
    assert (tmp_path / "sharded" / "train.manifest.shard-0-of-2.jsonl").is_file()
    assert sorted(per_shard[0] + per_shard[1]) == sorted(small_tree)
    assert all(shard_of(rel, 2) == k for k in range(2) for rel in per_shard[k])
    # Nothing but the per-shard records, the card (written by the last shard)
    # and the split folder beside the split (no failures files: nothing failed).
    assert sorted(p.name for p in sharded.target.parent.iterdir()) == [
        "train",
        "train.card.json",
        "train.card.md",
        "train.manifest.shard-0-of-2.jsonl",
        "train.manifest.shard-1-of-2.jsonl",
    ]

    # Resume reads every shard's manifest: an unsharded rerun has nothing to do.
    again = run_extract(sharded)
    assert (again.skipped, again.done, again.failed) == (len(small_tree), 0, 0)
    assert tree_bytes(sharded.target) == tree_bytes(whole.target)


def test_shard_on_the_command_line(small_tree, tmp_path, capfd):
    from helpers import run_main

    target = tmp_path / "out" / "train"
    common = [
        "extract",
        "--set",
        f"source={tmp_path / 'src'}",
        "--set",
        f"target={target}",
        "--set",
        f"num_frames={NUM_FRAMES}",
    ]
    first = run_main(capfd, *common, "--shard", "1/2")
    assert first.returncode == 0, first.stderr
    in_first = sorted(rel for rel in small_tree if shard_of(rel, 2) == 1)
    assert sorted(manifest_rels(tmp_path / "out" / "train.manifest.shard-1-of-2.jsonl")) == in_first
    assert sorted(f"{p.parent.name}/{p.name}" for p in target.glob("*/*")) == in_first
    rest = run_main(capfd, *common)
    assert rest.returncode == 0, rest.stderr
    assert f"{len(small_tree) - len(in_first)} extracted" in rest.stdout
    assert f"{len(in_first)} already done" in rest.stdout
    bad = run_main(capfd, *common, "--shard", "2/2")
    assert bad.returncode == 2 and "--shard" in bad.stderr


# ----------------------------------------------------------------------------
# Dask
# ----------------------------------------------------------------------------


def test_dask_missing_is_one_line_with_the_install_hint(tmp_path, make_clip):
    make_clip("cls/a.mp4", seconds=0.2)
    # sys.modules[name] = None makes `import name` fail, as on a machine without the extra.
    code = (
        "import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None\n"
        "from k400frames.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code,
            "extract",
            "--set",
            f"source={tmp_path / 'src'}",
            "--set",
            f"target={tmp_path / 'out' / 'train'}",
            "--executor",
            "dask",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert "pip install 'k400frames[dask]'" in lines[0]


@pytest.fixture(scope="module")
def dask_cluster():
    """One LocalCluster of two single-thread worker processes for this module."""
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
        silence_logs=40,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    )
    try:
        yield cluster
    finally:
        cluster.close()


@pytest.fixture(scope="module")
def slow_video(tmp_path_factory, ffmpeg_exe):
    """A clip that takes ffmpeg a second or more: 300 full-HD frames."""
    pytest.importorskip("distributed")  # only the Dask tests use it; don't build it to skip
    return make_video(
        tmp_path_factory.mktemp("slow") / "slow.mp4", seconds=10, fps=30, size="1920x1080", ffmpeg_exe=ffmpeg_exe
    )


@pytest.mark.slow
def test_dask_tree_equals_local_tree(small_tree, config, tmp_path, dask_cluster):
    local = config(num_frames=NUM_FRAMES, target=str(tmp_path / "local" / "train"))
    on_dask = config(
        num_frames=NUM_FRAMES,
        target=str(tmp_path / "dask" / "train"),
        executor="dask",
        dask={"scheduler": dask_cluster.scheduler_address},
    )
    by_local, by_dask = run_extract(local), run_extract(on_dask)
    assert by_local.exit_code == by_dask.exit_code == 0
    assert by_dask.done == len(small_tree)
    assert tree_bytes(on_dask.target) == tree_bytes(local.target)
    assert len(tree_bytes(on_dask.target)) == len(small_tree) * NUM_FRAMES
    assert sorted(manifest_rels(on_dask.target.parent / "train.manifest.jsonl")) == sorted(small_tree)
    # Shards and Dask combine: a rerun of one shard on Dask finds its clips done.
    shard = run_extract(on_dask, shard=(0, 2))
    assert shard.done == 0 and shard.skipped == sum(shard_of(rel, 2) == 0 for rel in small_tree)


def ffmpeg_children(pid: int) -> list:
    """Live ffmpeg processes below ``pid``."""
    import psutil

    found = []
    for proc in psutil.Process(pid).children(recursive=True):
        try:
            if proc.name().startswith("ffmpeg") and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.Error:
            continue  # ended while we looked
    return found


def cmdline(proc) -> list[str]:
    import psutil

    try:
        return proc.cmdline()
    except psutil.Error:
        return []


def kill_worker_running(slow_name: str, found: dict, deadline_s: float = 120) -> None:
    """Wait for the ffmpeg reading ``slow_name`` and SIGKILL the worker process
    that started it (as the OOM killer would); record what happened."""
    import psutil

    end = time.monotonic() + deadline_s
    while time.monotonic() < end and not found["stop"].is_set():
        for proc in ffmpeg_children(os.getpid()):
            try:
                if any(slow_name in arg for arg in cmdline(proc)):
                    worker = proc.parent()
                    found["ffmpeg"], found["worker"] = proc, worker.pid
                    os.kill(worker.pid, signal.SIGKILL)
                    found["ffmpeg_died"] = ended_within(proc, 1.0)  # it had a second or more of work left
                    return
            except psutil.Error:
                continue
        time.sleep(0.01)


def assert_no_half_folders(target: Path, num_frames: int) -> None:
    for folder in target.glob("*/*"):
        assert sorted(p.name for p in folder.iterdir()) == [f"frame_{i:05d}.jpg" for i in range(1, num_frames + 1)]


@pytest.fixture
def few_clips(make_clip):
    for rel in ("abseiling/a_000000_000010.mp4", "zumba/b_000000_000010.mp4", "zumba/c_000000_000010.mp4"):
        make_clip(rel, seconds=0.3)
    return ["abseiling/a_000000_000010", "zumba/b_000000_000010", "zumba/c_000000_000010"]


@pytest.mark.slow
def test_dask_worker_killed_mid_clip_loses_nothing(few_clips, slow_video, config, tmp_path, dask_cluster):
    shutil.copyfile(slow_video, tmp_path / "src" / "zumba" / "slow_one.mp4")
    cfg = config(num_frames=300, executor="dask", dask={"scheduler": dask_cluster.scheduler_address})
    found: dict = {"stop": threading.Event()}
    killer = threading.Thread(target=kill_worker_running, args=("slow_one", found), daemon=True)
    killer.start()
    try:
        summary = run_extract(cfg)
    finally:
        found["stop"].set()  # never let it kill a worker of a later test
        killer.join(5)

    assert "worker" in found, "the slow clip's ffmpeg was never seen"
    assert found["ffmpeg_died"], "ffmpeg outlived the worker that started it"
    # The scheduler started the clip again on a live worker: nothing failed.
    assert summary.exit_code == 0 and summary.done == len(few_clips) + 1
    assert_no_half_folders(cfg.target, 300)
    assert not ffmpeg_children(os.getpid())
    assert not (cfg.target.parent / ".train.tmp").exists()
    again = run_extract(cfg)
    assert again.skipped == len(few_clips) + 1 and again.done == again.failed == 0


@pytest.mark.slow
def test_dask_worker_dying_on_every_try_is_a_failed_clip(few_clips, slow_video, config, tmp_path):
    """With no retries allowed, the scheduler gives up (KilledWorker): that clip
    is recorded as failed, the others finish, and a rerun completes it."""
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    shutil.copyfile(slow_video, tmp_path / "src" / "zumba" / "slow_one.mp4")
    cfg = config(num_frames=300, executor="dask", workers=2)  # its own LocalCluster, made by the runner
    found: dict = {"stop": threading.Event()}
    killer = threading.Thread(target=kill_worker_running, args=("slow_one", found), daemon=True)
    killer.start()
    try:
        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            summary = run_extract(cfg)
    finally:
        found["stop"].set()
        killer.join(5)

    assert found.get("ffmpeg_died"), found
    assert summary.exit_code == 1 and (summary.done, summary.failed) == (len(few_clips), 1)
    failure = json.loads((cfg.target.parent / "train.failures.jsonl").read_text())
    assert failure["rel"] == "zumba/slow_one" and failure["stage"] == "worker"
    assert "died" in failure["reason"]
    assert not (cfg.target / "zumba" / "slow_one").exists()
    assert_no_half_folders(cfg.target, 300)
    assert not ffmpeg_children(os.getpid())

    retry = run_extract(cfg, retry_failed=True)
    assert (retry.done, retry.failed) == (1, 0)
    assert_no_half_folders(cfg.target, 300)
    assert len(list(cfg.target.glob("*/*"))) == len(few_clips) + 1


@pytest.mark.slow
def test_dask_ctrl_c_stops_workers_and_ffmpeg(slow_video, make_clip, tmp_path):
    """Ctrl-C in a terminal reaches the whole process group: the client cancels
    the tasks, kills their ffmpegs and closes its local cluster; exit 130."""
    pytest.importorskip("distributed")
    import psutil

    for i in range(4):
        (tmp_path / "src" / "cls").mkdir(parents=True, exist_ok=True)
        shutil.copyfile(slow_video, tmp_path / "src" / "cls" / f"slow_{i}.mp4")
    target = tmp_path / "out" / "train"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "k400frames",
            "extract",
            "--set",
            f"source={tmp_path / 'src'}",
            "--set",
            f"target={target}",
            "--set",
            "workers=2",
            "--executor",
            "dask",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end and proc.poll() is None:
            if any("slow_" in arg for p in ffmpeg_children(proc.pid) for arg in cmdline(p)):
                break  # a clip's ffmpeg, not the -version check
            time.sleep(0.02)
        family = psutil.Process(proc.pid).children(recursive=True)
        assert ffmpeg_children(proc.pid), "no clip started"
        os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err, err
    assert "interrupted" in out
    alive = [p for p in family if not ended_within(p, 5)]
    assert not alive, f"still running after Ctrl-C: {alive}"
    assert_no_half_folders(target, 300)
    assert not (target.parent / ".train.tmp").exists()


@pytest.mark.slow
def test_dask_unreachable_scheduler_is_a_preflight_error(make_clip, config):
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    make_clip("cls/a.mp4", seconds=0.2)
    cfg = config(num_frames=2, executor="dask", dask={"scheduler": "tcp://127.0.0.1:9"})
    cfg.target.parent.mkdir(parents=True)
    earlier = '{"rel": "cls/a", "stage": "decode", "reason": "from the last run"}\n'
    (cfg.target.parent / "train.failures.jsonl").write_text(earlier)
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(PreflightError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
    ):
        run_extract(cfg)
    # Nothing was started: the last run's failures are still there to retry, no temp area.
    assert (cfg.target.parent / "train.failures.jsonl").read_text() == earlier
    assert not (cfg.target.parent / ".train.tmp").exists()


@pytest.mark.slow
def test_dask_scheduler_without_workers_is_a_preflight_error(make_clip, config, monkeypatch):
    distributed = pytest.importorskip("distributed")
    from k400frames.run import dask as dask_executor

    make_clip("cls/a.mp4", seconds=0.2)
    monkeypatch.setattr(dask_executor, "WAIT_FOR_WORKERS_S", 1.0)
    with distributed.LocalCluster(
        n_workers=0,
        dashboard_address=None,
        silence_logs=40,
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
    ) as empty:
        cfg = config(num_frames=2, executor="dask", dask={"scheduler": empty.scheduler_address})
        with pytest.raises(PreflightError, match="no Dask worker joined the scheduler"):
            run_extract(cfg)
