"""``k400frames demo``: the main job end to end on a synthetic dataset."""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path

from ..config import make_config
from ..run.progress import make_progress
from ..run.runner import format_summary, run_extract
from ..sources.tree import output_class_name, output_clip_name
from .preview import make_preview
from .synth import DEMO_BROKEN, DEMO_CLIPS, make_demo_dataset
from .verify import format_report, verify_tree

# The clip the demo previews: 4 s at 30 fps, so 120 real frames padded to 300.
DEMO_SHORT = ("abseiling", "short clip_000000_000004")

# The demo's source keeps the awkward names Kinetics has (spaces, quotes,
# parentheses); its frames tree is written the way training lists need it,
# with whitespace as "_" in class and clip names.
DEMO_SETTINGS = {"class_names": "underscore", "clip_names": "underscore"}


def run_demo(root: Path, report: Callable[[str], None], quiet: bool = False) -> int:
    """Synthesize (once) a small Kinetics-layout dataset under ``root/videos``,
    extract it into ``root/frames/train``, verify the tree, draw a preview
    of the padded short clip and report.  Returns an
    exit code: 0 when everything came out as expected (only the deliberately
    broken file failed)."""
    root = Path(root).absolute()
    videos, frames_root = root / "videos", root / "frames"
    if not (videos / DEMO_BROKEN[0] / DEMO_BROKEN[1]).exists():
        report(f"making {len(DEMO_CLIPS) + 1} demo clips in {videos} ...")
        make_demo_dataset(videos)
    shutil.rmtree(frames_root, ignore_errors=True)  # a fresh extraction every time
    cfg = make_config({"source": str(videos), "target": str(frames_root / "train"), **DEMO_SETTINGS})
    summary = run_extract(cfg, progress=make_progress(quiet))
    report(format_summary(summary))
    expected_failures = 1
    ok = summary.done == len(DEMO_CLIPS) and summary.failed == expected_failures
    # The demo ends the way a user should: check the tree, then look at a clip.
    report("verify: the split is complete only if every clip is there, so the broken download shows as failed")
    checked = verify_tree(cfg.target, cfg.num_frames, cfg.frame_name)
    report(format_report(checked))
    short_rel = f"{_underscored(DEMO_SHORT[0])}/{_underscored(DEMO_SHORT[1])}"
    sheet = make_preview(cfg.target / short_rel, root / f"preview_{_underscored(DEMO_SHORT[1])}.jpg")
    report(
        f"preview of {short_rel} ({sheet.real_frames} real frames padded to "
        f"{sheet.total_frames}, padding framed in red): {sheet.path}"
    )
    if sheet.note:
        report(f"preview note: {sheet.note}")
    # verify lists the broken file as failed in the run: that, and only that, is expected.
    broken = f"{_underscored(DEMO_BROKEN[0])}/{_underscored(DEMO_BROKEN[1].rsplit('.', 1)[0])}"
    only_the_broken = dataclasses.replace(checked, failed=[f for f in checked.failed if f[0] != broken])
    ok = ok and only_the_broken.ok and [rel for rel, _ in checked.failed] == [broken] and sheet.path.is_file()
    report(
        f"demo {'OK' if ok else 'FAILED'}: {summary.done}/{len(DEMO_CLIPS)} good clips extracted with "
        f"{cfg.num_frames} frames each; the deliberately broken file was "
        f"{'reported' if summary.failed == expected_failures else 'NOT reported as expected'} "
        f"(see {summary.failures})"
    )
    return 0 if ok else 1


def _underscored(name: str) -> str:
    """A demo name as the demo's settings write it (:data:`DEMO_SETTINGS`)."""
    return output_clip_name(output_class_name(name, DEMO_SETTINGS["class_names"]), DEMO_SETTINGS["clip_names"])
