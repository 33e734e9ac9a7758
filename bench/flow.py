"""``make bench-flow``: what optical flow costs per frame pair, k400frames
against a bare loop over the same OpenCV function and against mmaction2's way.

Clips are made with ffmpeg's lavfi sources that move (``mandelbrot`` zooms,
``testsrc2`` with noise), at 340x256 and 25 fps.  Every contender runs on one
core (workers 1, OpenCV on one thread), in alternation, for each algorithm:

* ``k400frames``: ``extract`` with ``flow: <algorithm>`` minus the same
  extract without flow: what flow adds to a run, per pair;
* ``bare``: a loop that decodes the very frame JPEGs that run wrote to
  grayscale, calls the same OpenCV function on each pair, quantises as
  k400frames does and encodes the two JPEGs in memory: the algorithm's own cost;
* ``mmaction2``: mmaction2's CPU route (``tools/misc/flow_extraction.py``):
  ``cv2.VideoCapture`` reads each frame, ``cv2.resize`` to 340x256, grayscale,
  the same function, the same quantisation, ``cv2.imwrite`` of each image.

Prints the median seconds per pair of each, and k400frames' flow cost over
the bare loop's (the issue's bar: at most 1.10).  Options: ``--rounds``,
``--algorithms``, ``--frames`` (per clip), ``--tvl1-frames``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from k400frames.clip import flow  # noqa: E402
from k400frames.config import make_config  # noqa: E402
from k400frames.ffmpeg import command, file_url, find_ffmpeg, run_checked  # noqa: E402
from k400frames.run.runner import run_extract  # noqa: E402

WIDTH, HEIGHT = 340, 256
PATTERNS = ("mandelbrot", "testsrc2")


def make_clips(root: Path, frames: int, count: int) -> list[Path]:
    """``count`` clips of ``frames`` frames: mandelbrot zooms (it has no
    duration option: -frames:v cuts it) and testsrc2 with noise, in turn."""
    exe = find_ffmpeg()
    clips = []
    for index in range(count):
        pattern = PATTERNS[index % len(PATTERNS)]
        path = root / "src" / "c" / f"{pattern}{index}.mp4"
        path.parent.mkdir(parents=True, exist_ok=True)
        source = f"{pattern}=size={WIDTH}x{HEIGHT}:rate=25"
        noise = ["-vf", "noise=alls=12:allf=t"] if pattern == "testsrc2" else []
        argv = ["-f", "lavfi", "-i", source, *noise, "-frames:v", str(frames), "-c:v", "libx264"]
        argv += ["-preset", "veryfast", "-pix_fmt", "yuv420p", file_url(path)]
        run_checked(command(exe, *argv), f"making {path}")
        clips.append(path)
    return clips


def extract(root: Path, name: str, num_frames: int, algorithm: str) -> float:
    target = root / name / "train"
    shutil.rmtree(target.parent, ignore_errors=True)
    cfg = make_config(
        {
            "source": str(root / "src"),
            "target": str(target),
            "num_frames": num_frames,
            "size": f"{WIDTH}x{HEIGHT}",
            "workers": 1,
            "flow": algorithm,
        }
    )
    started = time.perf_counter()
    summary = run_extract(cfg)
    seconds = time.perf_counter() - started
    assert summary.failed == 0, summary
    return seconds


def _quantised_jpegs(values, params) -> list[bytes]:
    q = flow.quantise(values, 20.0)
    return [cv2.imencode(".jpg", np.ascontiguousarray(q[..., axis]), params)[1].tobytes() for axis in (0, 1)]


def bare(folders: list[Path], num_frames: int, algorithm: str) -> float:
    calc = flow.Calculator(cv2, algorithm)
    params = [cv2.IMWRITE_JPEG_QUALITY, flow.libjpeg_quality(2)]
    started = time.perf_counter()
    for folder in folders:
        frames = [(folder / f"frame_{k:05d}.jpg").read_bytes() for k in range(1, num_frames + 1)]
        previous = None
        for data in frames:
            gray = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
            if previous is not None:
                _quantised_jpegs(calc(previous, gray), params)
            previous = gray
    return time.perf_counter() - started


def mmaction2_style(clips: list[Path], out: Path, num_frames: int, algorithm: str) -> float:
    calc = flow.Calculator(cv2, algorithm)
    started = time.perf_counter()
    for clip in clips:
        folder = out / clip.stem
        folder.mkdir(parents=True, exist_ok=True)
        capture = cv2.VideoCapture(str(clip))
        previous, index = None, 0
        while index < num_frames:
            ok, frame = capture.read()
            if not ok:
                break
            gray = cv2.cvtColor(cv2.resize(frame, (WIDTH, HEIGHT)), cv2.COLOR_BGR2GRAY)
            if previous is not None:
                q = flow.quantise(calc(previous, gray), 20.0)
                cv2.imwrite(str(folder / f"x_{index:05d}.jpg"), q[..., 0])
                cv2.imwrite(str(folder / f"y_{index:05d}.jpg"), q[..., 1])
            previous, index = gray, index + 1
        capture.release()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--algorithms", default="dis,farneback,tvl1")
    parser.add_argument("--frames", type=int, default=50, help="frames per clip (dis, farneback)")
    parser.add_argument("--clips", type=int, default=4)
    parser.add_argument("--tvl1-frames", type=int, default=4, help="frames of the one clip tvl1 runs on")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    print(f"OpenCV {cv2.__version__}, one core per contender, {WIDTH}x{HEIGHT}, medians of {args.rounds} rounds")
    heads = f"{'k400frames s/pair':>18} {'bare s/pair':>12} {'ratio':>6} {'mmaction2 s/pair':>17}"
    print(f"{'algorithm':10} {'pairs':>6} {heads}")
    for algorithm in args.algorithms.split(","):
        tvl1 = algorithm == "tvl1"
        frames, count = (args.tvl1_frames, 1) if tvl1 else (args.frames, args.clips)
        rounds = 1 if tvl1 else args.rounds
        root = Path(tempfile.mkdtemp(prefix="k400frames-bench-flow-"))
        try:
            clips = make_clips(root, frames + 1, count)  # one frame past N: every flow has its next frame
            pairs = frames * count
            ours, base, theirs = [], [], []
            for _ in range(rounds):
                plain = extract(root, "plain", frames, "none")
                with_flow = extract(root, "flow", frames, algorithm)
                ours.append((with_flow - plain) / pairs)
                folders = sorted((root / "plain" / "train" / "c").iterdir())
                # frames 1..N+1 of each clip: N pairs, as the run computes them
                extract(root, "plain", frames + 1, "none")
                base.append(bare(folders, frames + 1, algorithm) / pairs)
                theirs.append(mmaction2_style(clips, root / "mm", frames + 1, algorithm) / pairs)
            a, b, c = (statistics.median(v) for v in (ours, base, theirs))
            print(f"{algorithm:10} {pairs:6d} {a:18.4f} {b:12.4f} {a / b:6.2f} {c:17.4f}", flush=True)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
