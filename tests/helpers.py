"""Helpers the test modules share (fixtures live in conftest.py)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent


def run_cli(
    *args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300, **popen
) -> subprocess.CompletedProcess:
    """Run ``python -m k400frames ARGS`` as a user would, capturing output."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "k400frames", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by its relative POSIX path, with its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def write_csv(path: Path, rows, header=("label", "youtube_id", "time_start", "time_end")) -> Path:
    """An annotations CSV: ``header``, then ``rows``, as the csv module writes them."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_config(path: Path, **keys) -> Path:
    """A YAML config file with ``keys`` (paths as strings; JSON values are YAML)."""
    path.write_text("".join(f"{k}: {json.dumps(str(v) if isinstance(v, Path) else v)}\n" for k, v in keys.items()))
    return path


def run_main(capture, *args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """``k400frames ARGS`` in this process, through ``cli.main(argv)``: the
    exit code and what it printed, read from ``capture`` (pytest's ``capfd``
    or ``capsys``), as :func:`run_cli` gives them.  For every test where no
    process boundary (a signal, a lock held by another process, parent
    death) is under test.  ``cwd`` and ``env`` hold for the call only."""
    import logging
    from unittest import mock

    from k400frames import cli
    from k400frames.ffmpeg import find

    logger = logging.getLogger("k400frames")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    capture.readouterr()  # what the test printed so far stays out of the result
    here = Path.cwd()
    try:
        with mock.patch.dict(os.environ, env or {}):
            if env:
                find.find_ffmpeg.cache_clear()  # it read the environment once
            if cwd is not None:
                os.chdir(cwd)
            try:
                code = cli.main(list(args))
            except SystemExit as exc:  # argparse's usage errors and --version
                code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1  # as Python exits
    finally:
        os.chdir(here)
        if env:
            find.find_ffmpeg.cache_clear()
        logger.handlers[:], logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])
    out, err = capture.readouterr()
    return subprocess.CompletedProcess(["k400frames", *args], code, out, err)


def set_args(*settings: str) -> list[str]:
    """``--set KEY=VALUE`` for each of ``settings``, as the CLI takes them."""
    return [arg for setting in settings for arg in ("--set", setting)]


def decode_reference(
    ffmpeg_exe: str, video: Path, out_dir: Path, frames: int, vf: str | None = None, extra: list[str] | None = None
) -> list[bytes]:
    """ffmpeg's own decode of the first ``frames`` frames, as JPEG bytes, with
    the same encoder settings k400frames uses: the yardstick for pixel tests."""
    from k400frames.clip.codec import FFMPEG_ENCODER_OPTIONS as JPEG_ENCODER_OPTIONS

    out_dir.mkdir(parents=True, exist_ok=True)
    argv = [ffmpeg_exe, "-nostdin", "-loglevel", "error", "-i", f"file:{video}", "-map", "0:v:0"]
    if vf:
        argv += ["-vf", vf]
    argv += extra or []
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
        marker, length = data[i + 1], int.from_bytes(data[i + 2 : i + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = int.from_bytes(data[i + 5 : i + 7], "big"), int.from_bytes(data[i + 7 : i + 9], "big")
            return width, height
        i += 2 + length
    raise ValueError("no SOF marker")


def frame_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def wait_for(predicate, timeout: float = 30.0) -> bool:
    """Poll ``predicate`` until it is true (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def gated(gate: Path, free: int = 0, deadline_s: int = 120) -> str:
    """Shell for conftest's ``wrap_ffmpeg``: every ffmpeg leaves a file
    ``started.PID`` in the folder ``gate``; all but the first ``free`` then
    wait until ``gate/open`` exists before running (after ``deadline_s``
    they fail instead; a run killed while they wait takes them with it).
    A test sees where a run is with :func:`started` and lets it go on with
    :func:`open_gate`: no fixed delays."""
    return (
        f'mkdir -p "{gate}"; touch "{gate}/started.$$"\n'
        f'if [ "$(ls "{gate}" | grep -c "^started")" -gt {free} ]; then\n'
        f'  for i in $(seq {deadline_s * 20}); do [ -e "{gate}/open" ] && break; sleep 0.05; done\n'
        f'  [ -e "{gate}/open" ] || exit 1\n'
        'fi\nexec "$REAL" "$@"'
    )


def started(gate: Path) -> int:
    """How many ffmpegs behind :func:`gated` ``gate`` have started."""
    return len(list(gate.glob("started.*"))) if gate.is_dir() else 0


def open_gate(gate: Path) -> None:
    gate.mkdir(parents=True, exist_ok=True)
    (gate / "open").touch()


def ended_within(proc, seconds: float) -> bool:
    """True once the psutil.Process ``proc`` is gone or a zombie (an orphan
    waits for its reaper) within ``seconds``."""
    import psutil  # comes with the test extra's dask[distributed]

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
        except psutil.NoSuchProcess:
            return True
        time.sleep(0.01)
    return False


def live_processes_mentioning(text: str) -> list[int]:
    """PIDs (not zombies) whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """True for a running process (a zombie awaiting its reaper counts as dead)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def record_file(target: Path, kind: str, shard: tuple[int, int] | None = None) -> Path:
    """The run record ``kind`` ("manifest", "failures") of split ``target``."""
    from k400frames.layout import Layout

    return Layout(target, shard).record(kind)


SQUASHFS_TOOLS = ("sqfstar", "unsquashfs")


def need_tools(*tools: str, package: str) -> None:
    """Install ``package`` with apt-get where a tool is missing and we may
    (root, apt-get present, as on CI); skip with one line otherwise."""
    if all(shutil.which(t) for t in tools):
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", package], capture_output=True, timeout=600)
    missing = [t for t in tools if not shutil.which(t)]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing and {package} cannot be installed here")
