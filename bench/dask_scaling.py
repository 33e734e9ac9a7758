"""How k400frames scales from 1 to 2 (or more) Dask workers: ``make bench-dask``.

Same corpus as ``make bench`` (bench/corpus.py, the K400-like clips), same
output settings, one real LocalCluster per worker count with one thread per
worker process, exactly as ``executor: dask`` runs without a scheduler
address.  The cluster is started before the clock starts and the run talks
to it through ``dask.scheduler``, so the times are extraction only; cluster
start-up is reported on its own line.  The local thread-pool executor with
the largest worker count runs too, as the yardstick for Dask's overhead.

Prints a table of times and ratios; absolute times depend on the machine,
the ratios are the result.  Needs the dask extra: pip install -e '.[dask]'.
"""
from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import build, clips  # noqa: E402  (bench/ is a folder of scripts, not a package)

from k400frames.config import make_config  # noqa: E402
from k400frames.runner import run_extract  # noqa: E402


def timed_run(raw: dict, work: Path) -> float:
    """One full extraction into a fresh target; seconds it took."""
    target = work / "out" / "train"
    shutil.rmtree(work / "out", ignore_errors=True)
    cfg = make_config({**raw, "target": str(target)})
    started = time.perf_counter()
    summary = run_extract(cfg)
    seconds = time.perf_counter() - started
    if summary.exit_code != 0 or summary.failed:
        raise SystemExit(f"benchmark run failed: {summary}")
    shutil.rmtree(work / "out", ignore_errors=True)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", default="1,2", help="Dask worker counts to compare (default 1,2)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting; the median is reported")
    parser.add_argument("--corpus", default="k400", choices=("k400", "long"))
    parser.add_argument("--cache", type=Path, default=HERE.parent / ".bench-cache",
                        help="where the corpus is built once (shared with make bench)")
    parser.add_argument("--num-frames", type=int, default=300)
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",")]

    try:
        import distributed
    except ImportError:
        print("bench-dask needs Dask: pip install -e '.[dask]'", file=sys.stderr)
        return 2
    logging.getLogger("distributed").setLevel(logging.ERROR)

    root = build(args.cache, args.corpus)
    n_clips = len(clips(root))
    work = Path(tempfile.mkdtemp(prefix="k400frames-bench-dask-"))
    base = {"source": str(root), "num_frames": args.num_frames}
    print(f"corpus {args.corpus!r}: {n_clips} clips, num_frames={args.num_frames}, "
          f"{os.cpu_count()} CPUs, median of {args.repeat} runs")
    rows: list[tuple[str, float]] = []
    try:
        for n in counts:
            started = time.perf_counter()
            with distributed.LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                          dashboard_address=None, silence_logs=logging.ERROR,
                                          scheduler_kwargs={"dashboard": False,
                                                            "dashboard_address": "127.0.0.1:0"}) as cluster:
                startup = time.perf_counter() - started
                raw = {**base, "executor": "dask", "dask": {"scheduler": cluster.scheduler_address}}
                times = [timed_run(raw, work) for _ in range(args.repeat)]
            rows.append((f"dask, {n} worker{'s' if n > 1 else ''}", statistics.median(times)))
            print(f"  dask, {n} worker(s): {statistics.median(times):7.2f} s  (cluster start-up {startup:.1f} s, "
                  f"runs: {', '.join(f'{t:.2f}' for t in times)})", flush=True)
        most = max(counts)
        local = [timed_run({**base, "workers": most}, work) for _ in range(args.repeat)]
        rows.append((f"local threads, {most} workers", statistics.median(local)))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    baseline = rows[0][1]
    frames = n_clips * args.num_frames
    print()
    print(f"{'setting':<26} {'seconds':>8} {'frames/s':>9} {'speedup vs ' + rows[0][0]:>24}")
    for name, seconds in rows:
        print(f"{name:<26} {seconds:8.2f} {frames / seconds:9.0f} {baseline / seconds:23.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
