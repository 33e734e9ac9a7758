"""Dask against the local executor on the same cores: ``make bench-dask``.

A real cluster, as users run one: a ``dask scheduler`` and N ``dask worker
--nthreads 1`` processes started with Dask's own command line, on 127.0.0.1,
with the environment examples/dask_cluster.md recommends (quieter ticks).
The runs use ``executor: dask`` with ``dask.scheduler``; the yardstick is the
local executor with ``workers: N`` on the same machine.  Same corpus and
output settings as ``make bench`` (bench/corpus.py, the K400-like clips).

The two run in alternation, round after round, because the machine may be
shared: the result is the median of the per-round ratios, with the load
average printed beside each round.  Each Dask run's time is split into

* start-up, paid once per run whatever its size: connecting to the
  scheduler, warming up the workers and closing (timed around the executor);
  plus importing Dask in the client, timed in a fresh interpreter;
* per clip: the rest divided by the number of clips.

so the time for a split of any size can be projected: start-up + clips x
per-clip.  Starting the cluster itself is reported apart (a real cluster is
started once for many runs).  Needs the dask extra: pip install -e '.[dask]'.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import build, clips  # noqa: E402  (bench/ is a folder of scripts, not a package)

from k400frames.config import make_config  # noqa: E402
from k400frames.run import runner  # noqa: E402
from k400frames.run.dask import dask_environment  # noqa: E402

KINETICS = {"Kinetics-400": 254_380, "Kinetics-700": 650_000}


class CliCluster:
    """``dask scheduler`` and ``workers`` single-thread ``dask worker`` processes."""

    def __init__(self, folder: Path, workers: int):
        dask_cli = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
        if dask_cli is None:
            raise SystemExit("bench-dask needs the dask command line: pip install -e '.[dask]'")
        self.procs: list[subprocess.Popen] = []
        scheduler_file = folder / "scheduler.json"
        started = time.perf_counter()
        self._start(
            [
                dask_cli,
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--dashboard-address",
                "127.0.0.1:0",
                "--scheduler-file",
                str(scheduler_file),
            ]
        )
        while not scheduler_file.is_file():
            time.sleep(0.05)
        self.address = json.loads(scheduler_file.read_text())["address"]
        for _ in range(workers):
            self._start(
                [
                    dask_cli,
                    "worker",
                    "--scheduler-file",
                    str(scheduler_file),
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                ]
            )
        import distributed

        with distributed.Client(self.address) as client:
            client.wait_for_workers(workers, timeout=120)
        self.startup = time.perf_counter() - started

    def _start(self, argv: list[str]) -> None:
        # With the quieter ticks examples/dask_cluster.md recommends.
        env = {**os.environ, **dask_environment()}
        self.procs.append(
            subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                env=env,
            )
        )

    def close(self) -> None:
        for proc in reversed(self.procs):  # workers first
            proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class ExecutorClock:
    """Times the executor's set-up and close inside run_extract: a run's
    fixed start-up cost (for the local executor, making a thread pool)."""

    def __init__(self):
        self.seconds = 0.0
        self._make = runner.make_executor

    def __enter__(self):
        def timed_make(cfg, ctx):
            started = time.perf_counter()
            executor = self._make(cfg, ctx)
            self.seconds += time.perf_counter() - started
            close = executor.close

            def timed_close():
                began = time.perf_counter()
                try:
                    close()
                finally:
                    self.seconds += time.perf_counter() - began

            executor.close = timed_close
            return executor

        runner.make_executor = timed_make
        return self

    def __exit__(self, *exc):
        runner.make_executor = self._make


CPU_PARTS = ("ffmpeg", "client", "workers", "scheduler")


def cpu_seconds(cluster: CliCluster) -> dict[str, float]:
    """CPU seconds used so far, by part: ffmpeg (children the client or a
    worker has reaped), the client (this process), the worker processes
    (Dask and our Python code around ffmpeg) and the scheduler."""
    import psutil

    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = {
        "ffmpeg": kids.ru_utime + kids.ru_stime,
        "client": me.ru_utime + me.ru_stime,
        "workers": 0.0,
        "scheduler": 0.0,
    }
    for i, proc in enumerate(cluster.procs):
        try:
            top = psutil.Process(proc.pid)
            tree = [top, *top.children(recursive=True)]
        except psutil.Error:
            continue
        for member in tree:
            try:
                times = member.cpu_times()
            except psutil.Error:
                continue
            out["scheduler" if i == 0 else "workers"] += times.user + times.system
            if i:  # a worker's reaped children are its ffmpegs
                out["ffmpeg"] += times.children_user + times.children_system
    return out


def timed_run(raw: dict, work: Path, cluster: CliCluster) -> tuple[float, float, dict[str, float]]:
    """One full extraction into a fresh target: (seconds, executor start-up
    seconds, CPU seconds by part)."""
    shutil.rmtree(work / "out", ignore_errors=True)
    cfg = make_config({**raw, "target": str(work / "out" / "train")})
    before = cpu_seconds(cluster)
    with ExecutorClock() as clock:
        started = time.perf_counter()
        summary = runner.run_extract(cfg)
        seconds = time.perf_counter() - started
    after = cpu_seconds(cluster)
    if summary.exit_code != 0 or summary.failed:
        raise SystemExit(f"benchmark run failed: {summary}")
    shutil.rmtree(work / "out", ignore_errors=True)
    return seconds, clock.seconds, {part: after[part] - before[part] for part in CPU_PARTS}


def import_seconds(module: str, repeat: int = 3) -> float:
    """Median time a fresh interpreter takes to import ``module``, beyond starting."""

    def once(code: str) -> float:
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - started

    return max(statistics.median(once(f"import {module}") - once("pass") for _ in range(repeat)), 0.0)


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="Dask worker processes and local threads (default 2)")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds; medians are reported")
    parser.add_argument("--corpus", default="k400", choices=("k400", "long"))
    parser.add_argument(
        "--cache",
        type=Path,
        default=HERE.parent / ".bench-cache",
        help="where the corpus is built once (shared with make bench)",
    )
    parser.add_argument("--num-frames", type=int, default=300)
    args = parser.parse_args(argv)

    try:
        import distributed  # noqa: F401
    except ImportError:
        print("bench-dask needs Dask: pip install -e '.[dask]'", file=sys.stderr)
        return 2
    logging.getLogger("distributed").setLevel(logging.ERROR)

    root = build(args.cache, args.corpus)
    n_clips = len(clips(root))
    work = Path(tempfile.mkdtemp(prefix="k400frames-bench-dask-"))
    base = {"source": str(root), "num_frames": args.num_frames}
    print(
        f"corpus {args.corpus!r}: {n_clips} clips, num_frames={args.num_frames}, {os.cpu_count()} CPUs, "
        f"{args.workers} single-thread Dask workers against {args.workers} local workers, "
        f"{args.rounds} alternating rounds; load average {load()} at the start",
        flush=True,
    )
    client_import = import_seconds("distributed")
    cluster = CliCluster(work, args.workers)
    print(
        f"cluster start-up (dask scheduler + {args.workers} dask workers, once per cluster): {cluster.startup:.1f} s",
        flush=True,
    )
    local_raw = {**base, "workers": args.workers}
    dask_raw = {**base, "executor": "dask", "dask": {"scheduler": cluster.address}}
    rounds, cpus = [], []
    try:
        for i in range(args.rounds):
            # Alternate which goes first, so neither always runs on a warmer cache.
            order = (("local", local_raw), ("dask", dask_raw))[:: 1 if i % 2 == 0 else -1]
            got = {name: timed_run(raw, work, cluster) for name, raw in order}
            (local_s, local_fixed, local_cpu), (dask_s, dask_fixed, dask_cpu) = got["local"], got["dask"]
            per_clip_local, per_clip_dask = (local_s - local_fixed) / n_clips, (dask_s - dask_fixed) / n_clips
            # The idle cluster's own CPU during the local run is not the local executor's.
            local_cpu = {**local_cpu, "workers": 0.0, "scheduler": 0.0}
            rounds.append(
                (
                    local_s,
                    dask_s,
                    dask_fixed,
                    per_clip_local,
                    per_clip_dask,
                    sum(local_cpu.values()),
                    sum(dask_cpu.values()),
                )
            )
            cpus.append((local_cpu, dask_cpu))
            print(
                f"  round {i + 1}: local {local_s:6.2f} s, dask {dask_s:6.2f} s (start-up {dask_fixed:.2f} s); "
                f"local/dask {local_s / dask_s:.2f}, per clip {per_clip_local / per_clip_dask:.2f}, "
                f"CPU {rounds[-1][5] / rounds[-1][6]:.2f}; load {load()}",
                flush=True,
            )
    finally:
        cluster.close()
        shutil.rmtree(work, ignore_errors=True)

    def median(column: int) -> float:
        return statistics.median(r[column] for r in rounds)

    whole = statistics.median(r[0] / r[1] for r in rounds)
    per_clip = statistics.median(r[3] / r[4] for r in rounds)
    startup = median(2) + client_import
    print()
    print(f"{'':34} {'local':>9} {'dask':>9}")
    print(f"{'whole run, s (median)':34} {median(0):9.2f} {median(1):9.2f}")
    print(
        f"{'start-up per run, s':34} {0.0:9.2f} {startup:9.2f}   (executor {median(2):.2f} "
        f"+ import distributed {client_import:.2f})"
    )
    print(f"{'per clip, ms':34} {median(3) * 1000:9.1f} {median(4) * 1000:9.1f}")
    print(f"{'CPU per clip, ms (median)':34} {median(5) / n_clips * 1000:9.1f} {median(6) / n_clips * 1000:9.1f}")
    for part in CPU_PARTS:
        print(
            f"{'  of which ' + part:34} {statistics.median(c[0][part] for c in cpus) / n_clips * 1000:9.1f} "
            f"{statistics.median(c[1][part] for c in cpus) / n_clips * 1000:9.1f}"
        )
    print()
    print(f"Dask/local speed, whole run of {n_clips} clips: {whole:.2f}x  (median of per-round ratios)")
    print(f"Dask/local speed, per clip (start-up apart): {per_clip:.2f}x  (the figure for a large split)")
    print(
        f"Dask/local CPU per clip: {statistics.median(r[5] / r[6] for r in rounds):.2f}x  "
        f"(least moved by other jobs on the machine)"
    )
    for name, n in KINETICS.items():
        local_h = n * median(3) / 3600
        dask_h = (startup + n * median(3) / per_clip) / 3600
        print(
            f"  projected for {name} ({n:,} clips like these) on this machine: local {local_h:.1f} h, "
            f"dask {dask_h:.1f} h"
        )
    print(f"load average at the end {load()} (other jobs on the machine slow both sides alike)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
