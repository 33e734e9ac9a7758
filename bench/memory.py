"""Goal (d): the orchestrator's peak memory does not grow with the tree.

A tree of empty placeholder clips (``<class>/<clip>.mp4``, 0 bytes) is made
once in the cache.  A child process then runs the planning pass over it, and
its peak RSS is read from the kernel's rusage for that child (``os.wait4``,
the per-child form of ``RUSAGE_CHILDREN``), for 100 and for 100,000 clips.

The kernel counts a child's memory from before its ``exec`` too, so the
children must be started by a small process, not by the bench (which holds
OpenCV and numpy): :func:`measure_fresh` runs this file as that launcher.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

CLASSES = 400

# The library's planning pass: what `extract` does before the first clip
# (resume records, then the lazy walk, counted).
_PLAN_SNIPPET = """
import sys
from k400frames.config import make_config
from k400frames.run.preflight import Resume, plan
cfg = make_config({"source": sys.argv[1], "target": sys.argv[2]})
Resume.load(cfg)
print(sum(1 for _ in plan(cfg, None)))
"""


def placeholder_tree(cache: Path, clips: int) -> Path:
    root = cache / f"placeholders-{clips}"
    stamp = cache / f".placeholders-{clips}.complete"
    if stamp.is_file():
        return root
    classes = min(CLASSES, clips)
    for index in range(clips):
        folder = root / f"class {index % classes:03d}"
        if index < classes:
            folder.mkdir(parents=True, exist_ok=True)
        # Kinetics-like names: <youtube id>_<start>_<end>.mp4
        (folder / f"-id{index:08d}_{index % 300:06d}_{index % 300 + 10:06d}.mp4").touch()
    stamp.touch()
    return root


def peak_rss_mb(argv: list[str]) -> tuple[float, str]:
    """Run ``argv`` and return (its peak RSS in MB, its stdout's last line)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}: {err.decode(errors='replace')[-500:]}")
    lines = out.decode(errors="replace").strip().splitlines()
    return usage.ru_maxrss / 1024, (lines[-1] if lines else "")  # ru_maxrss is in KiB on Linux


def has_dry_run() -> bool:
    return importlib.util.find_spec("k400frames.run.dryrun") is not None


def measure(cache: Path, sizes=(100, 100_000), work: Path | None = None) -> list[tuple[str, int, float]]:
    """[(how, clips, peak MB)] for the planning pass and, when present, ``extract --dry-run``."""
    work = work or cache
    rows = []
    for size in sizes:
        source = placeholder_tree(cache, size)
        target = work / f"placeholders-out-{size}" / "train"
        rows.append(
            (
                "planning pass (library)",
                size,
                peak_rss_mb([sys.executable, "-c", _PLAN_SNIPPET, str(source), str(target)])[0],
            )
        )
        if has_dry_run():
            rows.append(
                (
                    "k400frames extract --dry-run",
                    size,
                    peak_rss_mb(
                        [
                            sys.executable,
                            "-m",
                            "k400frames",
                            "extract",
                            "--dry-run",
                            "--set",
                            f"source={source}",
                            "--set",
                            f"target={target}",
                        ]
                    )[0],
                )
            )
    return rows


def measure_fresh(cache: Path, work: Path) -> list[tuple[str, int, float]]:
    """:func:`measure`, run from a fresh small launcher process."""
    proc = subprocess.run([sys.executable, __file__, str(cache), str(work)], capture_output=True, text=True, check=True)
    return [tuple(row) for row in json.loads(proc.stdout)]


if __name__ == "__main__":
    print(json.dumps(measure(Path(sys.argv[1]), work=Path(sys.argv[2]))))
