"""Instructions per frame for each encoder, counted by valgrind's callgrind.

Wall and CPU seconds on a shared machine move with the neighbours; the
number of instructions a path executes does not.  For one K400-like clip
(k400 corpus, 456x256 at 25 fps, 250 frames) this counts, in user space:

* ``decode``: ffmpeg with k400frames's exact input and filters, frames thrown
  away (``-f null``);
* ``ffmpeg encoder``: k400frames's exact ffmpeg command writing its JPEGs;
* ``turbo``: the same ffmpeg writing the frames as y4m (to a file here, not
  a pipe) plus Python reading them and encoding and writing each with
  libjpeg-turbo, minus the interpreter's start-up and imports (counted
  alone and subtracted: a worker pays them once, not per clip);
* ``opencv``: the OpenCV contender's loop for the clip (read every frame,
  resize, imwrite at quality 95), minus its start-up and imports.

Kernel work (creating files, copying through the pipe) is not counted: the
files are the same for every path, the pipe is turbo's own extra cost, and
`bench/cpu_split.py` measures it.  Needs valgrind (``apt install valgrind``);
takes a few minutes.

    python bench/instructions.py
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402
import cpu_split  # noqa: E402

from k400frames import ffmpeg  # noqa: E402

CLIP = "class_1/clip01_000007_000017.mp4"  # 456x256, 25 fps, 250 frames

_TURBO = """
import sys
sys.path.insert(0, {root!r})
from k400frames.clip import turbo
import simplejpeg
if len(sys.argv) > 1:
    quality = turbo.LIBJPEG_QUALITY[2]
    with open(sys.argv[1], "rb") as frames:
        for i, (y, u, v) in enumerate(turbo.Y4MReader(frames), 1):
            turbo._write_new(f"{{sys.argv[2]}}/{{i:05d}}.jpg", simplejpeg.encode_jpeg_yuv_planes(y, u, v, quality))
"""

_OPENCV = """
import sys
sys.path.insert(0, {bench!r})
import cv2, cpu_split
from pathlib import Path
if len(sys.argv) > 1:
    cpu_split._opencv(Path(sys.argv[1]), 300, 340, 256, sys.argv[2])
"""


def count(argv: list[str], work: Path) -> int:
    """Instructions executed by ``argv`` (all its threads), by callgrind."""
    out = work / "callgrind.out"
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    found = re.findall(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not found:
        raise RuntimeError(f"valgrind failed: {proc.stderr[-2000:]}")
    out.unlink(missing_ok=True)
    return sum(map(int, found))


def main() -> int:
    if not shutil.which("valgrind"):
        print("valgrind is not installed (apt install valgrind)")
        return 1
    exe = ffmpeg.find_ffmpeg()
    clip = corpus.build(HERE.parent / ".bench-cache", "k400") / CLIP
    work = Path(tempfile.mkdtemp(prefix="k400frames-instructions-"))
    try:
        raw = ffmpeg.extract_command(exe, clip, 301, size=(340, 256), raw_frames=True)
        jpeg = ffmpeg.extract_command(exe, clip, 301, frame_name="{:05d}.jpg", size=(340, 256))
        null = cpu_split._to_null(raw)
        frames, out = work / "frames.y4m", work / "out"
        out.mkdir()
        script = work / "turbo.py"
        script.write_text(_TURBO.format(root=str(HERE.parent)))
        cv_script = work / "opencv.py"
        cv_script.write_text(_OPENCV.format(bench=str(HERE)))
        figures = {"decode": count(null, work)}
        figures["ffmpeg encoder"] = count([*jpeg[:-1], str(out / "%05d.jpg")], work)  # not ./, not cwd
        frame_count = len(list(out.iterdir()))
        shutil.rmtree(out)
        out.mkdir()
        y4m = count([*raw[:-1], str(frames)], work)  # the pipe swapped for a file
        py_base = count([sys.executable, str(script)], work)
        figures["turbo"] = y4m + count([sys.executable, str(script), str(frames), str(out)], work) - py_base
        shutil.rmtree(out)
        out.mkdir()
        cv_base = count([sys.executable, str(cv_script)], work)
        figures["opencv"] = count([sys.executable, str(cv_script), str(clip), str(out)], work) - cv_base
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"instructions per frame (user space, callgrind), {CLIP}, {frame_count} frames")
    for name, total in figures.items():
        print(f"  {name:<16} {total / frame_count / 1e6:6.2f} M   {total / figures['opencv']:5.2f}x OpenCV's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
