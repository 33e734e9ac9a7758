"""Shared fixtures: real ffmpeg, real clips made with lavfi in tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from k400frames.config import make_config
from k400frames.ffmpeg import find_ffmpeg
from k400frames.tools.synth import make_video


@pytest.fixture(scope="session")
def ffmpeg_exe() -> str:
    return find_ffmpeg()


@pytest.fixture
def make_clip(tmp_path, ffmpeg_exe):
    """make_clip("class/name.mp4", seconds=2, fps=30, ...) -> path under tmp_path/src."""

    def make(rel: str, seconds: float = 1.0, fps: float = 30, **kwargs) -> Path:
        return make_video(
            tmp_path / "src" / rel, seconds=seconds, fps=fps, ffmpeg_exe=ffmpeg_exe, **{"size": "64x48", **kwargs}
        )

    return make


@pytest.fixture
def config(tmp_path):
    """config(num_frames=10, ...) -> Config reading tmp_path/src, writing tmp_path/out/train."""

    def build(**overrides):
        raw = {"source": str(tmp_path / "src"), "target": str(tmp_path / "out" / "train"), "workers": 2}
        raw.update(overrides)
        return make_config(raw)

    return build


@pytest.fixture
def wrap_ffmpeg(tmp_path, ffmpeg_exe):
    """wrap_ffmpeg(shell) -> path of an executable named by the `ffmpeg` config
    key.  ``-version`` checks go to the real ffmpeg; otherwise ``shell`` runs
    with $REAL set and the original arguments in "$@"."""
    import stat

    def make(shell: str, name: str = "ffmpeg-wrapper") -> str:
        path = tmp_path / name
        path.write_text(
            f'#!/bin/bash\nREAL="{ffmpeg_exe}"\nif [ "$2" = "-version" ]; then exec "$REAL" "$@"; fi\n' + shell + "\n"
        )
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
        return str(path)

    return make
