"""``executor: dask`` against a real cluster: a ``dask scheduler`` and two
``dask worker`` processes started with Dask's own command line, talking TCP
on 127.0.0.1, as on a cluster of machines (here all on one).

The cluster lives for this module and is shut down at its end; the fixture
then checks that none of its processes (scheduler, nannies, workers, ffmpeg)
is left.  Real ffmpeg, real kills, real Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")
psutil = pytest.importorskip("psutil")

from k400frames.run.dask import dask_environment  # noqa: E402
from k400frames.run.runner import run_extract  # noqa: E402

from helpers import ended_within, tree_bytes  # noqa: E402

pytestmark = pytest.mark.slow

DASK_CLI = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
NUM_FRAMES = 12


def wait_for_workers(address: str, n: int, timeout: float = 60) -> None:
    with distributed.Client(address, timeout=timeout) as client:
        client.wait_for_workers(n, timeout=timeout)


class CliCluster:
    """``dask scheduler`` and ``dask worker`` processes, each in its own
    session so a Ctrl-C meant for the client never reaches them."""

    def __init__(self, folder: Path, workers: int = 2):
        self.folder = folder
        self.scheduler_file = folder / "scheduler.json"
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self._start(
            [
                DASK_CLI,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(self.scheduler_file),
            ],
            "scheduler",
        )
        end = time.monotonic() + 60
        while not self.scheduler_file.is_file() and time.monotonic() < end:
            time.sleep(0.05)
        self.address = json.loads(self.scheduler_file.read_text())["address"]
        assert self.address.startswith("tcp://127.0.0.1:"), self.address
        for i in range(workers):
            self.workers.append(
                self._start(
                    [
                        DASK_CLI,
                        "worker",
                        "--scheduler-file",
                        str(self.scheduler_file),
                        "--nthreads",
                        "1",
                        "--host",
                        "127.0.0.1",
                        "--no-dashboard",
                        "--name",
                        f"w{i}",
                    ],
                    f"worker{i}",
                )
            )
        wait_for_workers(self.address, workers)

    def _start(self, argv: list[str], name: str) -> subprocess.Popen:
        log = open(self.folder / f"{name}.log", "wb")
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, **dask_environment()},
        )
        log.close()
        self.procs.append(proc)
        return proc

    def family(self) -> list:
        """Every live process of the cluster: the CLIs and all they started."""
        found = []
        for proc in self.procs:
            try:
                top = psutil.Process(proc.pid)
                found += [top, *top.children(recursive=True)]
            except psutil.NoSuchProcess:
                continue
        return found

    def ffmpegs(self) -> list:
        """Live ffmpeg processes on the workers."""
        out = []
        for proc in self.family():
            try:
                if proc.name().startswith("ffmpeg") and proc.status() != psutil.STATUS_ZOMBIE:
                    out.append(proc)
            except psutil.Error:
                continue
        return out

    def close(self) -> list:
        """Stop everything (workers first); returns what was still alive after."""
        family = self.family()
        for proc in self.workers + [p for p in self.procs if p not in self.workers]:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _, alive = psutil.wait_procs(family, timeout=5)
        for proc in alive:  # by pid, only what this cluster started
            with contextlib.suppress(psutil.Error):
                proc.kill()
        return [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if DASK_CLI is None:
        pytest.skip("the dask command line is not installed (pip install -e '.[test]')")
    started = CliCluster(tmp_path_factory.mktemp("dask-cluster"))
    try:
        yield started
    finally:
        left = started.close()
        assert not left, f"cluster processes outlived the tests: {left}"


# Cheap to make, slow to extract: a tiny clip scaled up to big JPEGs keeps
# one ffmpeg busy for seconds (JPEG encoding is the cost), so a test can tell
# an ffmpeg that was killed from one that just finished.
SLOW_OUTPUT = {"num_frames": 150, "jpeg_quality": 31}


def slow_clips(make_clip, n: int) -> list[str]:
    for i in range(n):
        make_clip(f"cls/slow_{i}.mp4", seconds=5, fps=30)
    return [f"cls/slow_{i}" for i in range(n)]


def wait_for_clip_ffmpeg(cluster: CliCluster, needle: str, seconds: float = 120):
    """The first worker ffmpeg whose argv names ``needle`` (not a -version check)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for proc in cluster.ffmpegs():
            try:
                if any(needle in arg for arg in proc.cmdline()):
                    return proc
            except psutil.Error:
                continue
        time.sleep(0.01)
    return None


def assert_complete(target: Path, num_frames: int, rels: list[str]) -> None:
    assert sorted(f"{p.parent.name}/{p.name}" for p in target.glob("*/*")) == sorted(rels)
    for rel in rels:
        names = sorted(p.name for p in (target / rel).iterdir())
        assert names == [f"frame_{i:05d}.jpg" for i in range(1, num_frames + 1)], rel


def test_tcp_cluster_writes_the_same_bytes_as_a_local_run(make_clip, config, tmp_path, cluster):
    specs = [
        ("abseiling", "--uWuXty1jw_000010_000020.mp4", 0.6, 30),
        ("abseiling", "short_000000_000001.mp4", 0.2, 30),
        ("air drumming", "pal_000000_000010.mp4", 0.5, 25),
        ("playing (guitar)", "café_000000_000010.mp4", 0.4, 30),
    ]
    for cls, name, seconds, fps in specs:
        make_clip(f"{cls}/{name}", seconds=seconds, fps=fps)
    local = config(num_frames=NUM_FRAMES, target=str(tmp_path / "local" / "train"))
    on_dask = config(
        num_frames=NUM_FRAMES,
        target=str(tmp_path / "dask" / "train"),
        executor="dask",
        dask={"scheduler": cluster.address},
    )
    by_local, by_dask = run_extract(local), run_extract(on_dask)
    assert by_local.exit_code == by_dask.exit_code == 0
    assert by_dask.done == len(specs) and by_dask.padded >= 1
    assert tree_bytes(on_dask.target) == tree_bytes(local.target)
    assert len(tree_bytes(on_dask.target)) == len(specs) * NUM_FRAMES
    rows = [json.loads(line) for line in (on_dask.target.parent / "train.manifest.jsonl").read_text().splitlines()]
    assert sorted(row["rel"] for row in rows) == sorted(f"{c}/{n.rsplit('.', 1)[0]}" for c, n, _, _ in specs)
    assert not (on_dask.target.parent / ".train.tmp").exists()


def test_tcp_worker_killed_mid_clip_loses_nothing(make_clip, config, tmp_path, cluster):
    rels = slow_clips(make_clip, 2)
    settings = {**SLOW_OUTPUT, "num_frames": 90, "size": "1920x1080"}  # about 1 s of ffmpeg per clip
    on_dask = config(**settings, executor="dask", dask={"scheduler": cluster.address})
    found: dict = {}

    def kill_a_worker() -> None:
        ffmpeg = wait_for_clip_ffmpeg(cluster, "slow_")
        if ffmpeg is None:
            return
        try:
            worker = ffmpeg.parent()
            found["worker"] = worker.pid
            os.kill(worker.pid, signal.SIGKILL)  # as the OOM killer would
        except (psutil.Error, ProcessLookupError):
            return
        found["ffmpeg_gone"] = ended_within(ffmpeg, 0.3)  # it had most of a second of work left

    killer = threading.Thread(target=kill_a_worker, daemon=True)
    killer.start()
    first = run_extract(on_dask)
    killer.join(10)
    assert "worker" in found, "no clip's ffmpeg was seen on a worker"
    assert found["ffmpeg_gone"], "ffmpeg outlived the worker that started it"
    # The scheduler ran the lost clip again elsewhere; nothing is half-written.
    assert first.exit_code == 0, first
    assert not (on_dask.target.parent / ".train.tmp").exists()

    # The nanny restarts the worker; a rerun finds everything done and the
    # tree equals a local run's, byte for byte.
    wait_for_workers(cluster.address, 2)
    again = run_extract(on_dask)
    assert (again.exit_code, again.skipped, again.done, again.failed) == (0, len(rels), 0, 0)
    local = config(**settings, target=str(tmp_path / "local" / "train"))
    assert run_extract(local).exit_code == 0
    assert_complete(on_dask.target, 90, rels)
    assert tree_bytes(on_dask.target) == tree_bytes(local.target)


def test_ctrl_c_on_the_client_leaves_no_ffmpeg_on_any_worker(make_clip, tmp_path, cluster):
    slow_clips(make_clip, 3)
    target = tmp_path / "out" / "train"
    # About 5 s of ffmpeg per clip: only a kill ends one within the test's second.
    settings = [f"{key}={value}" for key, value in SLOW_OUTPUT.items()] + ["size=3840x2160"]
    client = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "k400frames",
            "extract",
            "--set",
            f"source={tmp_path / 'src'}",
            "--set",
            f"target={target}",
            *[arg for kv in settings for arg in ("--set", kv)],
            "--executor",
            "dask",
            "--set",
            f"dask.scheduler={cluster.address}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        running = wait_for_clip_ffmpeg(cluster, str(tmp_path / "src"))
        assert running is not None, "no clip started on the workers"
        client.send_signal(signal.SIGINT)  # the client alone, as Ctrl-C in its terminal
        out, err = client.communicate(timeout=60)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    assert client.returncode == 130, err
    assert "Traceback" not in err, err
    assert "interrupted" in out
    assert ended_within(running, 1.0), "ffmpeg still running on a worker after Ctrl-C"
    assert not cluster.ffmpegs()
    assert all(proc.poll() is None for proc in cluster.workers)  # the shared cluster keeps running
    wait_for_workers(cluster.address, 2, timeout=10)
    assert not (target.parent / ".train.tmp").exists()
    assert not list(target.glob("*/*")), "a clip finished although every one needed seconds more"


def test_a_clip_of_a_stopped_run_never_starts_on_the_worker(make_clip, config, tmp_path):
    """What a worker does with a clip the scheduler handed it just before the
    client stopped: nothing, and another run on the same worker goes on."""
    from k400frames.run import dask as dask_executor
    from k400frames.sources.tree import iter_source

    make_clip("cls/a.mp4", seconds=0.2)
    cfg = config(num_frames=4)
    clip = next(iter(iter_source(cfg.source, cfg.extensions, cfg.class_names)))
    (tmp_path / "tmp").mkdir()
    dask_executor._stop_run("stopped-run")
    skipped = dask_executor._run_clip("stopped-run", clip, cfg, tmp_path / "tmp")
    assert skipped.interrupted and not skipped.ok
    assert not cfg.target.exists()
    done = dask_executor._run_clip("other-run", clip, cfg, tmp_path / "tmp")
    assert done.ok and len(list((cfg.target / "cls" / "a").iterdir())) == 4
    dask_executor._end_run("other-run")
    assert "other-run" not in dask_executor._contexts  # a run that ended is forgotten
