"""``k400frames demo``: the main job end to end on a synthetic dataset."""
from __future__ import annotations

import shutil
from pathlib import Path
from typing import Callable

from .config import make_config
from .runner import run_extract
from .synth import DEMO_BROKEN, DEMO_CLIPS, make_demo_dataset


def run_demo(root: Path, quiet: bool = False, report: Callable[[str], None] = print) -> int:
    """Synthesize (once) a small Kinetics-layout dataset under ``root/videos``,
    extract it into ``root/frames/train``, check it and report.  Returns an
    exit code: 0 when everything came out as expected (only the deliberately
    broken file failed)."""
    from .cli import format_summary
    from .progress import make_progress

    root = Path(root).absolute()
    videos, frames_root = root / "videos", root / "frames"
    if not (videos / DEMO_BROKEN[0] / DEMO_BROKEN[1]).exists():
        report(f"making {len(DEMO_CLIPS) + 1} demo clips in {videos} ...")
        make_demo_dataset(videos)
    shutil.rmtree(frames_root, ignore_errors=True)  # a fresh extraction every time
    cfg = make_config({"source": str(videos), "target": str(frames_root / "train")})
    summary = run_extract(cfg, progress=make_progress(quiet))
    report(format_summary(summary))
    expected_failures = 1
    ok = summary.done == len(DEMO_CLIPS) and summary.failed == expected_failures
    report(f"demo {'OK' if ok else 'FAILED'}: {summary.done}/{len(DEMO_CLIPS)} good clips extracted with "
           f"{cfg.num_frames} frames each; the deliberately broken file was "
           f"{'reported' if summary.failed == expected_failures else 'NOT reported as expected'} "
           f"(see {summary.failures})")
    return 0 if ok else 1
