"""``make bench`` (segments): spans of long videos -> frames, one step against two.

The corpus is bench/corpus.py's ``long`` one (real footage, 60-75 s, 640x360
and 1280x720); a segments CSV takes three 10 s spans of each video, spread
from its start to its end.  Contenders, same output settings (340x256, q:v 2,
300 frames, native rate), run in alternation:

* ``k400frames``: ``segments:`` in the config: each span is decoded straight
  to frames (input -ss to the span, -t to its end).
* ``two-step``: cut each span into its own clip with ffmpeg, then extract
  the cut clips with k400frames.  The cut is the fast one (input -ss, so it
  seeks; x264 ultrafast; one ffmpeg per core): the strongest two-step route.
* ``kinetics-cut`` (``--kinetics-cut``; slow): the same with the cut the
  official Kinetics tooling makes (kinetics-dataset's download.py: ``-i
  video -ss S -t D -c:v libx264 -threads 1``, so every cut decodes the video
  from its start, at x264's default preset).

Prints the median wall seconds, frames/s and k400frames' speed-up on each.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402  (bench/ is a folder of scripts, not a package)

from k400frames.config import make_config  # noqa: E402
from k400frames.ffmpeg import find_ffmpeg, probe_duration  # noqa: E402
from k400frames.run.runner import run_extract  # noqa: E402

SPAN_S = 10
SPANS_PER_VIDEO = 3
SETTINGS = {"num_frames": 300, "size": "340x256", "jpeg_quality": 2}


def write_segments(root: Path, csv_path: Path) -> list[tuple[str, str, int, int]]:
    """Three 10 s spans per video of ``root``: at its start, middle and end."""
    exe = find_ffmpeg()
    rows = []
    for video in corpus.clips(root):
        length = int(probe_duration(exe, video) or 60)
        last = length - SPAN_S - 1
        for k in range(SPANS_PER_VIDEO):
            start = k * last // (SPANS_PER_VIDEO - 1)
            rows.append((video.parent.name, video.stem, start, start + SPAN_S))
    with open(csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("label", "youtube_id", "time_start", "time_end"))
        writer.writerows(rows)
    return rows


def run_segments(root: Path, segments: Path, out: Path) -> int:
    cfg = make_config({"source": str(root), "target": str(out / "train"), "segments": str(segments), **SETTINGS})
    summary = run_extract(cfg)
    if summary.exit_code:
        raise RuntimeError(f"k400frames failed on the segments: {summary}")
    return summary.frames


def _cut(exe: str, video: Path, start: int, out: Path, fast: bool) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    if fast:
        argv = [
            exe,
            "-nostdin",
            "-loglevel",
            "error",
            "-ss",
            str(start),
            "-t",
            str(SPAN_S),
            "-i",
            str(video),
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-threads",
            "1",
            "-an",
            str(out),
        ]
    else:
        argv = [
            exe,
            "-nostdin",
            "-loglevel",
            "error",
            "-i",
            str(video),
            "-ss",
            str(start),
            "-t",
            str(SPAN_S),
            "-c:v",
            "libx264",
            "-threads",
            "1",
            "-an",
            str(out),
        ]
    subprocess.run(argv, check=True)


def run_two_step(root: Path, rows, out: Path, fast: bool) -> int:
    exe = find_ffmpeg()
    clips = out / "clips"
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        jobs = [
            pool.submit(
                _cut, exe, root / label / f"{vid}.mp4", start, clips / label / f"{vid}_{start:06d}_{end:06d}.mp4", fast
            )
            for label, vid, start, end in rows
        ]
        for job in jobs:
            job.result()
    cfg = make_config({"source": str(clips), "target": str(out / "train"), **SETTINGS})
    summary = run_extract(cfg)
    if summary.exit_code:
        raise RuntimeError(f"k400frames failed on the cut clips: {summary}")
    return summary.frames


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds; medians are reported (default 3)")
    parser.add_argument(
        "--cache", type=Path, default=HERE.parent / ".bench-cache", help="where the long corpus is built once"
    )
    parser.add_argument(
        "--kinetics-cut",
        action="store_true",
        help="also time the official Kinetics cut (output-side -ss; minutes per round)",
    )
    args = parser.parse_args(argv)

    root = corpus.build(args.cache, "long")
    work = Path(tempfile.mkdtemp(prefix="k400frames-bench-segments-", dir=args.cache))
    try:
        rows = write_segments(root, work / "segments.csv")
        contenders = {
            "k400frames": (
                "k400frames, segments: (one step)",
                lambda out: run_segments(root, work / "segments.csv", out),
            ),
            "two-step": ("fast cut (input -ss) + extract", lambda out: run_two_step(root, rows, out, True)),
        }
        if args.kinetics_cut:
            contenders["kinetics-cut"] = (
                "Kinetics' cut (output -ss) + extract",
                lambda out: run_two_step(root, rows, out, False),
            )
        seconds = {key: [] for key in contenders}
        frames = {}
        print(f"\n== segments: {len(rows)} spans of {SPAN_S} s from {len(corpus.clips(root))} long videos ({root})")
        keys = list(contenders)
        for round_no in range(args.rounds):
            order = keys[round_no % len(keys) :] + keys[: round_no % len(keys)]
            for key in order:
                out = work / key
                shutil.rmtree(out, ignore_errors=True)
                started = time.perf_counter()
                frames[key] = contenders[key][1](out)
                seconds[key].append(time.perf_counter() - started)
                shutil.rmtree(out, ignore_errors=True)
                print(f"  round {round_no + 1}/{args.rounds}  {key:<14} {seconds[key][-1]:7.2f} s", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    if len(set(frames.values())) != 1:
        print(f"WARNING: the contenders wrote different frame counts: {frames}")
    ours = statistics.median(seconds["k400frames"])
    print(f"\nsegments: median of {args.rounds} rounds, {frames['k400frames']} frames each")
    print(f"  {'contender':<40} {'seconds':>8} {'frames/s':>9} {'k400frames is':>14}")
    for key, (label, _) in contenders.items():
        median = statistics.median(seconds[key])
        print(f"  {label:<40} {median:8.2f} {frames[key] / median:9.0f} {median / ours:13.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
