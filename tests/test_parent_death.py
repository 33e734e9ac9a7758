"""An ffmpeg never outlives the process that started it, even one killed
with SIGKILL (no ``finally`` runs): the kernel's parent-death signal, set
through ``setpriv`` where util-linux has it, else through a preexec hook."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from k400frames import ffmpeg
from k400frames.ffmpeg import process

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")

# A process that starts an endless ffmpeg through ffmpeg.run and waits on it.
STARTER = """
import sys
from k400frames import ffmpeg
from k400frames import ffmpeg
from k400frames.ffmpeg import process
if sys.argv[1] == "hook":
    process._setpriv = lambda: None
exe = ffmpeg.find_ffmpeg()
ffmpeg.run([exe, "-nostdin", "-hide_banner", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=30", "-f", "null", "-"])
"""


def is_the_endless_ffmpeg(proc) -> bool:
    """Not find_ffmpeg's -version check, nor setpriv before its exec."""
    import psutil

    try:
        return proc.name().startswith("ffmpeg") and any("testsrc2" in arg for arg in proc.cmdline())
    except psutil.Error:
        return False


@pytest.mark.parametrize("way", ["setpriv", "hook"])
def test_ffmpeg_dies_with_a_process_killed_outright(way):
    psutil = pytest.importorskip("psutil")
    if way == "setpriv" and process._setpriv() is None:
        pytest.skip("no setpriv with --pdeathsig here")
    starter = subprocess.Popen([sys.executable, "-c", STARTER, way])
    try:
        end, found = time.monotonic() + 30, []
        while not found and time.monotonic() < end:
            found = [p for p in psutil.Process(starter.pid).children() if is_the_endless_ffmpeg(p)]
            time.sleep(0.02)
        assert found, "ffmpeg did not start"
        child = found[0]
        if way == "setpriv":
            assert child.cmdline()[0] == ffmpeg.find_ffmpeg()  # setpriv exec'd into ffmpeg itself
        os.kill(starter.pid, signal.SIGKILL)
        starter.wait()
        gone, alive = psutil.wait_procs([child], timeout=2)
        if alive:  # an orphan reaped by nobody shows as a zombie: dead too
            alive = [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
        assert not alive, f"ffmpeg outlived its parent ({way})"
    finally:
        if starter.poll() is None:
            starter.kill()
            starter.wait()
        for proc in psutil.Process().children(recursive=True):
            if proc.pid != starter.pid:
                proc.kill()
