"""The Python API: a cheap import, every exported name real, the README example runs and prints nothing."""

from __future__ import annotations

import pkgutil
import re
import subprocess
import sys

import pytest

import k400frames

from helpers import PROJECT


def test_import_loads_nothing_heavy_and_finds_no_ffmpeg():
    code = (
        "import sys, k400frames\n"
        "ours = sorted(m for m in sys.modules if m.startswith('k400frames.'))\n"
        "assert not ours, ours\n"
        "heavy = [m for m in ('ffmpeg', 'tqdm', 'yaml', 'distributed', 'dask', 'imageio_ffmpeg', 'subprocess')\n"
        "         if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        # Names resolve on use, and even then nobody has looked for ffmpeg yet.
        "k400frames.run_extract, k400frames.verify_tree, k400frames.make_preview\n"
        "from k400frames.ffmpeg import find_ffmpeg\n"
        "assert find_ffmpeg.cache_info().currsize == 0, 'ffmpeg looked up'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_every_exported_name_resolves_and_none_shadows_a_submodule():
    submodules = {m.name for m in pkgutil.iter_modules(k400frames.__path__)}
    assert not submodules & set(k400frames.__all__), "importing that submodule would replace the export"
    for name in k400frames.__all__:
        assert getattr(k400frames, name) is not None, name
        assert name in dir(k400frames)
    assert issubclass(k400frames.PreviewError, k400frames.K400Error)
    assert k400frames.annotate_videos.__name__ == "annotate"
    with pytest.raises(AttributeError, match="no_such_thing"):
        _ = k400frames.no_such_thing


def readme_example() -> str:
    text = (PROJECT / "README.md").read_text()
    section = text[text.index("## Python API") :]
    return re.search(r"```python\n(.*?)```", section, re.S)[1]


def test_readme_example_runs_and_prints_nothing(make_clip, tmp_path):
    make_clip("videos/walking/a_000001_000011.mp4", seconds=0.5, fps=10)
    make_clip("videos/running/b_000002_000012.mp4", seconds=0.5, fps=10)
    (tmp_path / "src" / "videos" / "running" / "broken.mp4").write_text("not a video")
    code = readme_example()
    assert len(code.strip().splitlines()) <= 6
    check = (
        "\nfrom pathlib import Path\ntmp = Path.cwd()\nassert (summary.done, summary.failed) == (2, 1), summary\n"
        # A complete split needs the broken download too: verify lists it as failed in the run (issue 20).
        "assert [rel for rel, _ in report.failed] == ['running/broken'] and not report.ok\n"
        "assert report.clips == 2 and report.frames_checked == 2 * cfg.num_frames and not report.problems\n"
        "assert lists.clips == 2 and (tmp / 'frames/train.mmaction2.txt').is_file()\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code + check], cwd=tmp_path / "src", capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    # The library reports through return values: not a line on the terminal, not even the failure's warning.
    assert (proc.stdout, proc.stderr) == ("", "")
