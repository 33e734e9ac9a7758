"""Synthesize small videos with ffmpeg's lavfi sources.

Used by ``k400frames demo``, the test-suite and the benchmark, so all three
make clips the same way.  ``testsrc2`` shows a frame counter and moves every
frame, so neighbouring frames differ and a frame-order bug shows up in pixels.
"""

from __future__ import annotations

from pathlib import Path

from .. import ffmpeg
from ..errors import FFmpegFailed


def make_video(
    path: Path,
    *,
    seconds: float,
    fps: float = 30,
    size: str = "320x240",
    audio: bool = False,
    pattern: str = "testsrc2",
    codec: str = "libx264",
    ffmpeg_exe: str | None = None,
    timeout: float = 300.0,
) -> Path:
    """Write a clip of ``seconds`` at ``fps`` to ``path`` (any awkward name).
    Raises :class:`~k400frames.errors.FFmpegFailed`, with ffmpeg's stderr
    tail, when ffmpeg cannot make it; no partial file is left behind."""
    exe = ffmpeg_exe or ffmpeg.find_ffmpeg()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    args = ["-y", "-f", "lavfi", "-i", f"{pattern}=size={size}:rate={fps:g}:duration={seconds:g}"]
    if audio:
        args += ["-protocol_whitelist", "file", "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds:g}"]
    args += ["-c:v", codec, "-pix_fmt", "yuv420p"]
    if codec == "libx264":
        args += ["-preset", "ultrafast", "-g", "30"]
    if audio:
        args += ["-c:a", "aac", "-shortest"]
    args.append(ffmpeg.file_url(path))
    try:
        ffmpeg.run_checked(ffmpeg.command(exe, *args), f"making {path}", timeout=timeout)
    except FFmpegFailed:
        path.unlink(missing_ok=True)
        raise
    return path


def truncate_copy(good: Path, broken: Path, keep_bytes: int = 2048) -> Path:
    """A copy of ``good`` cut after ``keep_bytes``: the moov atom (written at
    the end by default) is lost, as in a half-finished download."""
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(good.read_bytes()[:keep_bytes])
    return broken


# (class folder, file name, seconds, fps, audio) for the demo dataset: under,
# equal to and over 300 frames, 25 fps, audio, and the names Kinetics has.
DEMO_CLIPS = (
    ("abseiling", "--uWuXty1jw_000010_000020.mp4", 10, 30, False),
    ("abseiling", "short clip_000000_000004.mp4", 4, 30, False),
    ("air drumming", "long_000000_000012.mp4", 12, 30, False),
    ("air drumming", "pal 25fps_000000_000010.mp4", 10, 25, False),
    ("air drumming", "with audio_000000_000010.mp4", 10, 30, True),
    ("playing (guitar)", "o'brien_000000_000010.mp4", 10, 30, False),
    ("playing (guitar)", "100%_real.v2_000001_000011.mp4", 10, 30, False),
    ("playing (guitar)", "café_000000_000010.mp4", 10, 30, False),
)
DEMO_BROKEN = ("playing (guitar)", "broken_000000_000010.mp4")


def make_demo_dataset(root: Path, size: str = "320x240") -> list[Path]:
    """Build the demo's Kinetics-layout folder under ``root``; returns the clips."""
    made = [
        make_video(root / cls / name, seconds=sec, fps=fps, audio=audio, size=size)
        for cls, name, sec, fps, audio in DEMO_CLIPS
    ]
    made.append(truncate_copy(made[0], root.joinpath(*DEMO_BROKEN)))
    (root / "abseiling" / ".DS_Store").write_bytes(b"\0")  # clutter to skip
    (root / "abseiling" / "._--uWuXty1jw_000010_000020.mp4").write_bytes(b"\0")
    (root / "README.txt").write_text("demo dataset made by k400frames\n")
    return made
