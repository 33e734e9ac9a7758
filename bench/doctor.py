"""``make bench`` (doctor): files per second that ``k400frames doctor`` checks.

A flat download like the CVDF tarballs' (``<youtube_id>_<start>_<end>.mp4``,
no class folders) of ``--files`` files, each a hard link to one of the k400
corpus's real 10 s H.264 clips (bench/corpus.py), and its Kinetics CSV.  The
doctor reconciles the two and reads every file's MP4 index, with 2 workers
(the issue's 2 cores).  The files stay in the page cache after the first
round, so this times the doctor's own work, not a disk: on a cold network
filesystem the reads' latency comes on top.

For scale, the same number of headers read by ``ffmpeg -i`` (what the
doctor falls back to for other containers) is timed on a sample.  Exits 1
when the doctor checks fewer than 300 files/s (the goal), unless --no-gate.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402  (bench/ is a folder of scripts, not a package)

from k400frames.ffmpeg import find_ffmpeg, probe_header  # noqa: E402
from k400frames.sources.kinetics import Row, write_kinetics_csv  # noqa: E402
from k400frames.tools.doctor import diagnose  # noqa: E402

GOAL = 300.0  # files/s on 2 cores
WORKERS = 2


def flat_download(root: Path, work: Path, files: int) -> Path:
    """``files`` hard links named as Kinetics clips in one folder; their CSV."""
    clips = corpus.clips(root)
    folder = work / "train"
    folder.mkdir()
    rows = []
    for i in range(files):
        row = Row(f"class {i % 400:03d}", f"id{i:07d}-x_", 10, 20)
        rows.append(row)
        os.link(clips[i % len(clips)], folder / f"{row.clip_name}.mp4")
    return write_kinetics_csv(work / "train.csv", rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=4000, help="files in the download (default 4000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds; the median is reported (default 5)")
    parser.add_argument("--probe-sample", type=int, default=100, help="headers read by ffmpeg for scale (default 100)")
    parser.add_argument("--cache", type=Path, default=HERE.parent / ".bench-cache", help="where the corpus is built")
    parser.add_argument("--no-gate", action="store_true", help="exit 0 even below the goal")
    args = parser.parse_args(argv)

    root = corpus.build(args.cache, "k400")
    work = Path(tempfile.mkdtemp(prefix="k400frames-bench-doctor-", dir=args.cache))
    try:
        table = flat_download(root, work, args.files)
        load = os.getloadavg()[0]
        print(
            f"\n== doctor: {args.files} files (hard links to the {len(corpus.clips(root))} 10 s clips of {root.name}), "
            f"{WORKERS} workers, load average {load:.1f}"
        )
        seconds = []
        for round_no in range(args.rounds):
            started = time.perf_counter()
            report = diagnose(work / "train", table, extensions=(".mp4",), workers=WORKERS)
            seconds.append(time.perf_counter() - started)
            assert report.ok and report.files == args.files, report.findings[:3]
            print(
                f"  round {round_no + 1}/{args.rounds}  {seconds[-1]:6.2f} s  {args.files / seconds[-1]:7.0f} files/s"
            )
        exe = find_ffmpeg()
        sample = sorted((work / "train").iterdir())[: args.probe_sample]
        started = time.perf_counter()
        with cf.ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(lambda p: probe_header(exe, p), sample))
        probe_rate = len(sample) / (time.perf_counter() - started)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    median = statistics.median(seconds)
    rate = args.files / median
    print(
        f"\ndoctor: median of {args.rounds} rounds {median:.2f} s for {args.files} files: {rate:.0f} files/s "
        f"(goal {GOAL:.0f}); ffmpeg -i on {len(sample)} of them: {probe_rate:.0f} files/s "
        f"({rate / probe_rate:.0f}x slower than the MP4 index)"
    )
    if rate < GOAL and not args.no_gate:
        print(f"FAIL: below the goal of {GOAL:.0f} files/s")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
