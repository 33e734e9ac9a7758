"""The contenders ``make bench`` runs side by side.

Each contender is a function ``run(clips, source_root, out, settings)`` that
writes frame folders under ``out`` and returns the number of frames it wrote.
The bench times the call, measures ``out`` and removes it.  Add a contender by
writing such a function and appending a :class:`Contender` to
:func:`contenders`.  (Dask's 1-vs-2-worker speedup has its own script,
``bench/dask_scaling.py``, run by ``make bench-dask``.)

Output settings are the same for everyone: 340x256 JPEGs at ffmpeg ``-q:v 2``
(OpenCV at its default quality 95, as mmaction2 writes), 300 frames per clip.
k400frames, the bare bound and the OpenCV path keep the native frame rate; the
seed's procedure resamples to 30 fps, because that is what the seed did.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from k400frames import ffmpeg as kff
from k400frames.clip import codec
from k400frames.config import Config, make_config
from k400frames.run.runner import run_extract

# k400frames's frame names, for the contenders that run its exact command.
FRAME_NAME: str = Config.__dataclass_fields__["frame_name"].default


@dataclasses.dataclass(frozen=True)
class Settings:
    num_frames: int = 300
    width: int = 340
    height: int = 256
    quality: int = 2  # ffmpeg -q:v
    workers: int = 0  # k400frames workers (0 = its own default)
    pad: str = "copy"  # k400frames pad method
    cores: int = os.cpu_count() or 1


@dataclasses.dataclass(frozen=True)
class Contender:
    key: str
    label: str
    run: Callable[[list[Path], Path, Path, Settings], int]
    # Where its frame ``k`` (1-based) of clip number ``index`` lies under its
    # output folder; the bench reads frames there for the quality figures.
    frame_path: Callable[[Path, Path, int, int], Path] | None = None


# ----------------------------------------------------------------------------
# k400frames itself, in-process, exactly as `k400frames extract` runs it
# ----------------------------------------------------------------------------


def run_k400frames(
    clips: list[Path],
    source: Path,
    out: Path,
    s: Settings,
    encoder: str = "ffmpeg",
    durable: bool = False,
    store: str = "files",
) -> int:
    cfg = make_config(
        {
            "source": str(source),
            "target": str(out / "train"),
            "num_frames": s.num_frames,
            "size": f"{s.width}x{s.height}",
            "jpeg_quality": s.quality,
            "fps": None,
            "workers": s.workers,
            "pad": s.pad,
            "encoder": encoder,
            "durable": durable,
            "store": store,
        }
    )
    summary = run_extract(cfg)
    if summary.failed or summary.done != len(clips):
        raise RuntimeError(f"k400frames failed on the bench corpus: {summary}")
    return summary.frames


def k400frames_frame(out: Path, clip_rel: Path, index: int, k: int) -> Path:
    return out / "train" / clip_rel.parent / clip_rel.stem / f"frame_{k:05d}.jpg"


# ----------------------------------------------------------------------------
# the bare bound: plain ffmpeg, one per clip, `cores` at a time, -frames:v N
# ----------------------------------------------------------------------------


def bound_argv(exe: str, clip: Path, s: Settings) -> list[str]:
    """Plain ffmpeg with k400frames's output flags (scaler, quality, encoder
    options) but ffmpeg's own defaults for everything else (threads)."""
    scale = f"scale={s.width}:{s.height}"
    if kff.SCALER_FLAGS:
        scale += f":flags={kff.SCALER_FLAGS}"
    encoder = [arg for key, value in codec.FFMPEG_ENCODER_OPTIONS.items() for arg in (f"-{key}", str(value))]
    return [
        exe,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-i",
        f"file:{clip}",
        "-vf",
        scale,
        "-frames:v",
        str(s.num_frames),
        "-q:v",
        str(s.quality),
        *encoder,
        "%06d.jpg",
    ]


def same_argv(exe: str, clip: Path, s: Settings, piped: bool = False) -> list[str]:
    """Exactly the command k400frames runs for a clip (threads, scaler,
    encoder, safety flags), asking for N + 1 frames: what is left between this and
    k400frames is our orchestration, post-processing and padding.  With
    ``piped``, the JPEGs go to stdout, as ``store: lmdb`` runs it."""
    return kff.extract_command(
        exe,
        clip,
        s.num_frames + 1,  # as k400frames asks: one more, to tell a cut clip from one of exactly N
        frame_name=FRAME_NAME,
        size=(s.width, s.height),
        encoder_options=codec.ffmpeg_output_options(s.quality),
        piped=piped,
    )


# Bytes each floor run read from its ffmpegs' pipes, by output folder (the
# floor leaves no files for the bench to count).
PIPED: dict[str, int] = {}


def run_floor(clips: list[Path], source: Path, out: Path, s: Settings) -> int:
    """Our exact decode and encode (the store's piped ``mpjpeg`` command),
    as many at once as cores, each JPEG stream read through its pipe and
    thrown away: no file, no store, no Python per frame.  No way of keeping
    the frames can be faster than this, so it is the ceiling of any store
    (issue 19).  The pipe carries the very bytes the store reads; its bytes
    go to :data:`PIPED`.  Returns the frames a store keeps: each clip's
    decoded frames, trimmed to N, plus its pads (copies of its last frame)."""
    exe = kff.find_ffmpeg()
    line = f"--{kff.PIPE_BOUNDARY}\r\n".encode("ascii")  # opens every part, and closes the stream

    def one(clip: Path) -> tuple[int, int]:
        proc = subprocess.Popen(
            same_argv(exe, clip, s, piped=True), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, bufsize=0
        )
        assert proc.stdout is not None
        buffer, total, lines, tail, keep = bytearray(1 << 20), 0, 0, b"", len(line) - 1
        with proc.stdout:
            while got := proc.stdout.readinto(buffer):
                # The lines inside this read, and one that began in the read before.
                seam = tail + bytes(buffer[: min(got, keep)])
                lines += buffer.count(line, 0, got) + seam.count(line)
                tail = seam[-keep:] if got < keep else bytes(buffer[got - keep : got])
                total += got
        if proc.wait():
            raise subprocess.CalledProcessError(proc.returncode, proc.args)
        return max(0, lines - 1), total

    with ThreadPoolExecutor(max_workers=s.cores) as pool:
        done = list(pool.map(one, clips))
    PIPED[str(out)] = sum(piped for _, piped in done)
    if any(decoded == 0 for decoded, _ in done):
        raise RuntimeError("the floor's ffmpeg piped no frame for a clip")
    return len(clips) * s.num_frames  # trimmed or padded to N, as a store keeps them


def run_bound(clips: list[Path], source: Path, out: Path, s: Settings, argv=bound_argv, name="{:06d}.jpg") -> int:
    """One ffmpeg per clip, as many at once as cores, then the clip trimmed
    and padded to N the way k400frames does it (``s.pad``: copies of the
    last frame, or hardlinks), so it leaves the same count of files."""
    exe = kff.find_ffmpeg()
    place = os.link if s.pad == "hardlink" else shutil.copyfile

    def one(index_clip: tuple[int, Path]) -> int:
        index, clip = index_clip
        folder = out / f"{index:05d}"
        folder.mkdir(parents=True)
        subprocess.run(argv(exe, clip, s), cwd=folder, check=True, stdin=subprocess.DEVNULL)
        return _trim_and_pad(folder, name, s.num_frames, place)

    with ThreadPoolExecutor(max_workers=s.cores) as pool:
        return sum(pool.map(one, enumerate(clips)))


# ----------------------------------------------------------------------------
# the seed's procedure: sequential, whole clip at 30 fps, trim and pad after
# ----------------------------------------------------------------------------


def run_seed(clips: list[Path], source: Path, out: Path, s: Settings) -> int:
    exe = kff.find_ffmpeg()
    frames = 0
    for index, clip in enumerate(clips):
        folder = out / f"{index:05d}"
        folder.mkdir(parents=True)
        subprocess.run(
            [
                exe,
                "-nostdin",
                "-loglevel",
                "error",
                "-i",
                f"file:{clip}",
                "-filter:v",
                "fps=fps=30",
                "-s",
                f"{s.width}x{s.height}",
                "-q:v",
                str(s.quality),
                str(folder / "%05d.jpg"),
            ],
            check=True,
        )
        frames += _trim_and_pad(folder, "{:05d}.jpg", s.num_frames)
    return frames


def _trim_and_pad(folder: Path, name: str, n: int, place=shutil.copyfile) -> int:
    """Trim ``folder``'s frames 1..count to ``n``, or pad them to ``n`` by
    ``place`` (copying, or linking) the last one."""
    count = len(os.listdir(folder))
    if count == 0:
        raise RuntimeError(f"no frame in {folder}")
    for index in range(n + 1, count + 1):
        os.remove(folder / name.format(index))
    for index in range(count + 1, n + 1):
        place(folder / name.format(count), folder / name.format(index))
    return n


# ----------------------------------------------------------------------------
# the mmaction2 OpenCV path: process pool, read every frame, resize, imwrite
# ----------------------------------------------------------------------------


def _opencv_clip(job: tuple[str, str, int, int, int]) -> int:
    import cv2

    clip, folder, n, width, height = job
    os.makedirs(folder)
    capture = cv2.VideoCapture(clip)
    written = 0
    while True:
        ok, frame = capture.read()  # every frame, to the end, as mmaction2 does
        if not ok:
            break
        if written < n:
            written += 1
            cv2.imwrite(os.path.join(folder, f"img_{written:05d}.jpg"), cv2.resize(frame, (width, height)))
    capture.release()
    if written == 0:
        raise RuntimeError(f"OpenCV read no frame from {clip}")
    return _trim_and_pad(Path(folder), "img_{:05d}.jpg", n)


def run_opencv(clips: list[Path], source: Path, out: Path, s: Settings) -> int:
    jobs = [(str(clip), str(out / f"{i:05d}"), s.num_frames, s.width, s.height) for i, clip in enumerate(clips)]
    with multiprocessing.get_context("fork").Pool(s.cores) as pool:
        return sum(pool.map(_opencv_clip, jobs, chunksize=1))


def opencv_available() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


# ----------------------------------------------------------------------------

K400FRAMES = Contender("k400frames", "k400frames, encoder: ffmpeg", run_k400frames, k400frames_frame)
TURBO = Contender(
    "turbo",
    "k400frames, encoder: turbo",
    lambda clips, source, out, s: run_k400frames(clips, source, out, s, encoder="turbo"),
    k400frames_frame,
)
# The cost of `durable: true` (every clip flushed to disk before its manifest row).
DURABLE = Contender(
    "k400frames-durable",
    "k400frames, durable: true",
    lambda clips, source, out, s: run_k400frames(clips, source, out, s, durable=True),
    k400frames_frame,
)
# The same decode and encode, every clip into one LMDB (one transaction per clip, no frame files).
STORE = Contender(
    "store",
    "k400frames, store: lmdb",
    lambda clips, source, out, s: run_k400frames(clips, source, out, s, store="lmdb"),
)
# store: lmdb with libjpeg-turbo encoding: the fastest way to a store that
# we have (its JPEGs are about 16% larger at the same luma PSNR).
STORE_TURBO = Contender(
    "store-turbo",
    "k400frames, store: lmdb, encoder: turbo",
    lambda clips, source, out, s: run_k400frames(clips, source, out, s, encoder="turbo", store="lmdb"),
)
FLOOR = Contender("floor", "floor: our exact argv piped, thrown away", run_floor)
BOUND = Contender(
    "bound",
    "bare bound (plain ffmpeg x cores)",
    run_bound,
    lambda out, rel, index, k: out / f"{index:05d}" / f"{k:06d}.jpg",
)
SAME_ARGV = Contender(
    "same-argv",
    "our exact ffmpeg argv x cores, no Python",
    lambda clips, source, out, s: run_bound(clips, source, out, s, argv=same_argv, name=FRAME_NAME),
)
OPENCV = Contender(
    "opencv", "mmaction2 OpenCV path", run_opencv, lambda out, rel, index, k: out / f"{index:05d}" / f"img_{k:05d}.jpg"
)
SEED = Contender("seed", "seed procedure", run_seed)

# The two k400frames encoders; the config's default one is held to the goals.
OURS = ("k400frames", "turbo")


def contenders() -> list[Contender]:
    """The standard field (a contender whose library is missing is left out)."""
    field = [K400FRAMES]
    if turbo_available():
        field.append(TURBO)
    if lmdb_available():
        field.append(STORE)
        if turbo_available():
            field.append(STORE_TURBO)
    field += [DURABLE, BOUND, SAME_ARGV, FLOOR]
    if opencv_available():
        field.append(OPENCV)
    field.append(SEED)
    return field


def lmdb_available() -> bool:
    try:
        import lmdb  # noqa: F401
    except ImportError:
        return False
    return True


def turbo_available() -> bool:
    try:
        import simplejpeg  # noqa: F401
    except ImportError:
        return False
    return True
