"""``make bench``: k400frames against its yardsticks, side by side, in one run.

Two corpora (bench/corpus.py), four contenders (bench/contenders.py), run in
alternation for ``--rounds`` rounds so that a noisy neighbour hurts them all
alike.  Prints the median wall seconds, frames/s, output MB and how many times
faster k400frames is than each, then the memory figure, then the goals.
Exits 1 when a goal fails (``--no-gate`` to only report).

Goals (issue 3), as ratios in this one run:
  (a) k400frames >= 1.0x the bare bound (plain ffmpeg x cores, -frames:v N)
  (b) k400frames >= 1.0x the mmaction2 OpenCV path in frames/s, with output
      bytes no larger than OpenCV's
  (c) k400frames >= 5x the seed's procedure on long videos, > 1x on K400-like
  (d) the planning pass's peak RSS < 150 MB for 100 and for 100,000 clips
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import contenders as field  # noqa: E402  (bench/ is a folder of scripts, not a package)
import corpus  # noqa: E402
import memory  # noqa: E402

MEMORY_LIMIT_MB = 150


@dataclasses.dataclass
class Row:
    key: str
    label: str
    seconds: list[float] = dataclasses.field(default_factory=list)
    frames: int = 0
    bytes: int = 0

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def fps(self) -> float:
        return self.frames / self.median


def tree_bytes(root: Path) -> int:
    """Bytes under ``root``, each inode once (hardlinked pads count once)."""
    seen, total = set(), 0
    for folder, _, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            if st.st_ino not in seen and name.endswith(".jpg"):
                seen.add(st.st_ino)
                total += st.st_size
    return total


def run_corpus(name: str, root: Path, entrants: list[field.Contender], settings: field.Settings,
               rounds: int, work: Path) -> dict[str, Row]:
    clips = corpus.clips(root)
    rows = {c.key: Row(c.key, c.label) for c in entrants}
    print(f"\n== corpus {name!r}: {len(clips)} clips from {root}", flush=True)
    for round_no in range(rounds):
        # Rotate the order each round so no contender always runs first (cold cache) or last.
        order = entrants[round_no % len(entrants):] + entrants[:round_no % len(entrants)]
        for contender in order:
            out = work / f"{name}-{contender.key}"
            shutil.rmtree(out, ignore_errors=True)
            out.mkdir(parents=True)
            started = time.perf_counter()
            frames = contender.run(clips, root, out, settings)
            seconds = time.perf_counter() - started
            row = rows[contender.key]
            row.seconds.append(seconds)
            row.frames, row.bytes = frames, tree_bytes(out)
            shutil.rmtree(out, ignore_errors=True)
            print(f"  round {round_no + 1}/{rounds}  {contender.key:<12} {seconds:7.2f} s", flush=True)
    return rows


def print_table(name: str, rows: dict[str, Row]) -> None:
    ours = rows["k400frames"]
    print(f"\n{name}: median of {len(ours.seconds)} rounds")
    print(f"  {'contender':<36} {'seconds':>8} {'frames':>7} {'frames/s':>9} {'out MB':>8} {'k400frames is':>14}")
    for row in rows.values():
        speedup = row.median / ours.median
        print(f"  {row.label:<36} {row.median:8.2f} {row.frames:7d} {row.fps:9.0f} {row.bytes / 1e6:8.1f} "
              f"{speedup:13.2f}x")


def check_goals(results: dict[str, dict[str, Row]], mem: list[tuple[str, int, float]]) -> list[tuple[str, bool, str]]:
    goals = []
    for name, rows in results.items():
        ours = rows["k400frames"]
        if "bound" in rows:
            bound = rows["bound"]
            ratio = bound.median / ours.median
            overhead = (ours.median - bound.median) / bound.median * 100
            goals.append((f"(a) {name}: >= 1.0x the bare bound", ratio >= 1.0,
                          f"{ratio:.2f}x; k400frames costs {overhead:+.1f}% of the bound's wall time"))
        if "same-argv" in rows:
            # The same ffmpeg commands without us: the rest is our own cost.
            same = rows["same-argv"]
            overhead = (ours.median - same.median) / same.median * 100
            goals.append((f"(a) {name}: orchestration + post-processing + padding <= 5% of ffmpeg's time",
                          overhead <= 5.0, f"{overhead:+.1f}% over the same argv run bare"))
        if "opencv" in rows:
            cv = rows["opencv"]
            ratio = ours.fps / cv.fps
            goals.append((f"(b) {name}: >= 1.0x OpenCV frames/s, bytes <= OpenCV", ratio >= 1.0 and ours.bytes <= cv.bytes,
                          f"{ratio:.2f}x frames/s; {ours.bytes / 1e6:.1f} MB vs {cv.bytes / 1e6:.1f} MB"))
        if "seed" in rows:
            need = 5.0 if name == "long" else 1.0
            ratio = rows["seed"].median / ours.median
            ok = ratio >= need if name == "long" else ratio > need
            goals.append((f"(c) {name}: {'>= 5x' if name == 'long' else '> 1x'} the seed procedure", ok,
                          f"{ratio:.2f}x"))
    if mem:
        worst = max(mb for _, _, mb in mem)
        goals.append((f"(d) planning peak RSS < {MEMORY_LIMIT_MB} MB at 100 and 100k clips", worst < MEMORY_LIMIT_MB,
                      f"max {worst:.1f} MB"))
    return goals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds per corpus; medians are reported (default 5)")
    parser.add_argument("--corpus", default="k400,long", help="comma list of corpora: k400, long")
    parser.add_argument("--only", default="", help="comma list of contender keys to run (k400frames always runs)")
    parser.add_argument("--cache", type=Path, default=HERE.parent / ".bench-cache",
                        help="where corpora and the placeholder tree are built once")
    parser.add_argument("--workers", type=int, default=0, help="k400frames workers (default 0: its own default)")
    parser.add_argument("--pad", default="copy", choices=("copy", "hardlink"), help="k400frames pad method")
    parser.add_argument("--skip-memory", action="store_true", help="skip goal (d)")
    parser.add_argument("--no-gate", action="store_true", help="report only; exit 0 even when a goal fails")
    args = parser.parse_args(argv)

    settings = field.Settings(workers=args.workers, pad=args.pad)
    entrants = field.contenders()
    if args.only:
        keep = {"k400frames", *args.only.split(",")}
        entrants = [c for c in entrants if c.key in keep]
    if not field.opencv_available():
        print("note: OpenCV is not installed (pip install -e '.[bench]'); goal (b) is not measured")

    print(f"k400frames bench: {os.cpu_count()} CPUs, {args.rounds} rounds, "
          f"{settings.width}x{settings.height} q:v {settings.quality}, {settings.num_frames} frames per clip")
    roots = {name: corpus.build(args.cache, name) for name in args.corpus.split(",")}
    work = Path(tempfile.mkdtemp(prefix="k400frames-bench-", dir=args.cache))
    results = {}
    try:
        for name, root in roots.items():
            results[name] = run_corpus(name, root, entrants, settings, args.rounds, work)
        mem = [] if args.skip_memory else memory.measure_fresh(args.cache, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for name, rows in results.items():
        print_table(name, rows)
    if mem:
        print("\norchestrator peak RSS (child process, ru_maxrss)")
        for how, clips, mb in mem:
            print(f"  {how:<30} {clips:>7} clips {mb:7.1f} MB")

    goals = check_goals(results, mem)
    print("\ngoals")
    for text, ok, detail in goals:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}: {detail}")
    failed = [g for g in goals if not g[1]]
    return 1 if failed and not args.no_gate else 0


if __name__ == "__main__":
    sys.exit(main())
