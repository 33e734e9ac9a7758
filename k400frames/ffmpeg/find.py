"""Find a working ffmpeg: config key, $K400FRAMES_FFMPEG, PATH, then the
binary bundled by imageio-ffmpeg; checked with ``-version`` once and cached.
Nothing is looked up at import time."""

from __future__ import annotations

import functools
import os
import shutil

from ..errors import FFmpegNotFound
from .process import ChildResult, run

ENV_VAR = "K400FRAMES_FFMPEG"


def _bundled_ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - any failure just means "no bundled binary"
        return None


def _version_check(exe: str) -> ChildResult | None:
    """``exe -version`` run through the door (its stdout kept), None when it cannot start."""
    try:
        return run([exe, "-hide_banner", "-version"], timeout=30, capture_stdout=True)
    except OSError:
        return None


def _works(exe: str) -> bool:
    # The candidate is not yet known to be ffmpeg: it must say it is.
    result = _version_check(exe)
    return (
        result is not None
        and result.returncode == 0
        and not result.timed_out
        and result.stdout.startswith(b"ffmpeg version")
    )


@functools.cache
def ffmpeg_version(exe: str) -> str:
    """``exe -version``'s first line without its copyright (``ffmpeg version
    7.0.2-static``), "" when it cannot be read; cached."""
    result = _version_check(exe)
    if result is None:
        return ""
    first = result.stdout.decode("utf-8", "replace").partition("\n")[0]
    return first.partition(" Copyright")[0].strip()


@functools.cache
def find_ffmpeg(configured: str | None = None) -> str:
    """Return a working ffmpeg: config key, then $K400FRAMES_FFMPEG, then PATH,
    then imageio-ffmpeg's bundled binary.  Checked with ``-version`` once and
    cached.  A candidate that was named explicitly and fails is an error, not
    something to silently skip past."""
    tried: list[str] = []
    for origin, candidate in (("config key 'ffmpeg'", configured), (f"${ENV_VAR}", os.environ.get(ENV_VAR))):
        if candidate:
            exe = shutil.which(candidate) or candidate
            if _works(exe):
                return exe
            raise FFmpegNotFound(f"ffmpeg from {origin} ({candidate}) does not run; fix the path or unset it")
    on_path = shutil.which("ffmpeg")
    if on_path:
        if _works(on_path):
            return on_path
        tried.append(f"PATH ({on_path}: does not run)")
    else:
        tried.append("PATH (none)")
    bundled = _bundled_ffmpeg()
    if bundled and _works(bundled):
        return bundled
    tried.append("imageio-ffmpeg (not installed or broken)")
    raise FFmpegNotFound(
        "no working ffmpeg; tried "
        + ", ".join(tried)
        + f". Install one (pip install imageio-ffmpeg, or apt install ffmpeg) or set ${ENV_VAR}"
    )
