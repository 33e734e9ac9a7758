"""Shared fixtures: real ffmpeg, real clips made with lavfi in tmp_path."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from k400frames.config import make_config
from k400frames.ffmpeg import find_ffmpeg
from k400frames.synth import make_video

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def ffmpeg_exe() -> str:
    return find_ffmpeg()


@pytest.fixture
def make_clip(tmp_path, ffmpeg_exe):
    """make_clip("class/name.mp4", seconds=2, fps=30, ...) -> path under tmp_path/src."""
    def make(rel: str, seconds: float = 1.0, fps: float = 30, **kwargs) -> Path:
        return make_video(tmp_path / "src" / rel, seconds=seconds, fps=fps, ffmpeg_exe=ffmpeg_exe,
                          **{"size": "64x48", **kwargs})
    return make


@pytest.fixture
def config(tmp_path):
    """config(num_frames=10, ...) -> Config reading tmp_path/src, writing tmp_path/out/train."""
    def build(**overrides):
        raw = {"source": str(tmp_path / "src"), "target": str(tmp_path / "out" / "train"), "workers": 2}
        raw.update(overrides)
        return make_config(raw)
    return build


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300,
            **popen) -> subprocess.CompletedProcess:
    """Run ``python -m k400frames ARGS`` as a user would, capturing output."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "k400frames", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout, **popen)


def decode_reference(ffmpeg_exe: str, video: Path, out_dir: Path, frames: int, vf: str | None = None) -> list[bytes]:
    """ffmpeg's own decode of the first ``frames`` frames, as JPEG bytes, with
    the same encoder settings k400frames uses: the yardstick for pixel tests."""
    from k400frames.ffmpeg import JPEG_ENCODER_OPTIONS
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = [ffmpeg_exe, "-nostdin", "-loglevel", "error", "-i", f"file:{video}", "-map", "0:v:0"]
    if vf:
        argv += ["-vf", vf]
    argv += ["-frames:v", str(frames), "-q:v", "2"]
    for key, value in JPEG_ENCODER_OPTIONS.items():
        argv += [f"-{key}", str(value)]
    argv += ["-f", "image2", str(out_dir / "%06d.jpg")]
    subprocess.run(argv, check=True)
    return [p.read_bytes() for p in sorted(out_dir.glob("*.jpg"))]


def jpeg_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a JPEG's start-of-frame marker."""
    i = 2
    while i < len(data):
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = int.from_bytes(data[i + 5:i + 7], "big"), int.from_bytes(data[i + 7:i + 9], "big")
            return width, height
        i += 2 + length
    raise ValueError("no SOF marker")


def frame_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def wrap_ffmpeg(tmp_path, ffmpeg_exe):
    """wrap_ffmpeg(shell) -> path of an executable named by the `ffmpeg` config
    key.  ``-version`` checks go to the real ffmpeg; otherwise ``shell`` runs
    with $REAL set and the original arguments in "$@"."""
    import stat

    def make(shell: str, name: str = "ffmpeg-wrapper") -> str:
        path = tmp_path / name
        path.write_text(f'#!/bin/bash\nREAL="{ffmpeg_exe}"\n'
                        'if [ "$2" = "-version" ]; then exec "$REAL" "$@"; fi\n' + shell + "\n")
        path.chmod(path.stat().st_mode | stat.S_IEXEC)
        return str(path)
    return make
