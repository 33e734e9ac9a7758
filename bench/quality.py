"""Measure the ``turbo`` encoder's quality map (k400frames/turbo.py LIBJPEG_QUALITY).

For each ffmpeg ``-q:v`` (the ``jpeg_quality`` key, 1..31), the mean luma
PSNR of k400frames's ffmpeg-encoded frames against the decoded frames they
were made from; for each libjpeg quality (1..100), the same for libjpeg-turbo
encoding those decoded frames (full-range 4:2:0 planes, exactly what the
``turbo`` encoder gets from ffmpeg).  Prints both, then the map: for each
``-q:v``, the libjpeg quality with the closest PSNR, and the figures that the
rule "within 0.3 dB, bytes per frame at most OpenCV's" is checked with (OpenCV
imwrite at its default quality 95 on the same frames, as BGR).

    python bench/quality.py [--clips 4] [--frames 60]
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import corpus  # noqa: E402
import numpy as np  # noqa: E402
import simplejpeg  # noqa: E402

from k400frames import ffmpeg  # noqa: E402
from k400frames.clip import codec, turbo  # noqa: E402

WIDTH, HEIGHT = 340, 256


def luma_psnr(jpeg: bytes, reference: np.ndarray) -> float:
    # Decoding to GRAY keeps the JPEG's own Y channel, no colour conversion.
    y = simplejpeg.decode_jpeg(jpeg, colorspace="GRAY")[:, :, 0]
    mse = np.mean((y.astype(np.float64) - reference) ** 2)
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def reference_planes(exe: str, clip: Path, frames: int) -> list[tuple[np.ndarray, ...]]:
    """The decoded, scaled frames as full-range planes, through the turbo argv."""
    argv = ffmpeg.extract_command(exe, clip, frames, size=(WIDTH, HEIGHT), raw_frames=True)
    with ffmpeg.stream(argv, timeout=300) as running:
        planes = [tuple(p.copy() for p in frame) for frame in turbo.Y4MReader(running.stdout)]
    if running.result.returncode != 0:
        raise RuntimeError(running.result.stderr_tail)
    return planes


def ffmpeg_jpegs(exe: str, clip: Path, frames: int, q: int) -> list[bytes]:
    """k400frames's ffmpeg-encoder JPEGs of the same frames at ``-q:v q``."""
    with tempfile.TemporaryDirectory() as folder:
        argv = ffmpeg.extract_command(
            exe,
            clip,
            frames,
            frame_name="{:05d}.jpg",
            size=(WIDTH, HEIGHT),
            encoder_options=codec.ffmpeg_output_options(q),
        )
        result = ffmpeg.run(argv, cwd=Path(folder), timeout=300)
        if result.returncode != 0:
            raise RuntimeError(result.stderr_tail)
        return [p.read_bytes() for p in sorted(Path(folder).iterdir())]


def bgr(y: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Full-range BT.601 (JFIF) YCbCr 4:2:0 -> BGR, as OpenCV would be handed a frame."""

    def up(c: np.ndarray) -> np.ndarray:  # a chroma plane at luma size, centred on 0
        return np.repeat(np.repeat(c, 2, 0), 2, 1)[: y.shape[0], : y.shape[1]].astype(np.float32) - 128

    yf, cb, cr = y.astype(np.float32), up(u), up(v)
    rgb = np.stack([yf + 1.402 * cr, yf - 0.344136 * cb - 0.714136 * cr, yf + 1.772 * cb], axis=-1)
    return np.clip(np.rint(rgb[:, :, ::-1]), 0, 255).astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clips", type=int, default=4, help="clips of the k400 corpus, spread over it")
    parser.add_argument("--frames", type=int, default=60, help="frames per clip")
    parser.add_argument("--cache", type=Path, default=HERE.parent / ".bench-cache")
    args = parser.parse_args(argv)

    exe = ffmpeg.find_ffmpeg()
    clips = corpus.clips(corpus.build(args.cache, "k400"))
    clips = clips[:: max(1, len(clips) // args.clips)][: args.clips]
    refs = [reference_planes(exe, clip, args.frames) for clip in clips]
    frames = sum(len(r) for r in refs)
    print(f"{len(clips)} clips, {frames} frames, {WIDTH}x{HEIGHT}")

    ff = {}
    for q in range(1, 32):
        psnr, size = [], 0
        for clip, planes in zip(clips, refs, strict=True):
            for jpeg, (y, _, _) in zip(ffmpeg_jpegs(exe, clip, args.frames, q), planes, strict=False):
                psnr.append(luma_psnr(jpeg, y))
                size += len(jpeg)
        ff[q] = (float(np.mean(psnr)), size / frames)
    lj = {}
    for quality in range(1, 101):
        psnr, size = [], 0
        for planes in refs:
            for y, u, v in planes:
                jpeg = simplejpeg.encode_jpeg_yuv_planes(y, u, v, quality)
                psnr.append(luma_psnr(jpeg, y))
                size += len(jpeg)
        lj[quality] = (float(np.mean(psnr)), size / frames)
    try:
        import cv2

        jpegs = [cv2.imencode(".jpg", bgr(*p))[1].tobytes() for planes in refs for p in planes]
        cv = (
            float(np.mean([luma_psnr(j, p[0]) for j, p in zip(jpegs, [p for r in refs for p in r], strict=False)])),
            sum(map(len, jpegs)) / frames,
        )
    except ImportError:
        cv = None

    print("\nlibjpeg quality -> luma PSNR dB, bytes per frame")
    for quality, (psnr, size) in lj.items():
        print(f"  {quality:3d}  {psnr:6.2f}  {size:8.0f}")
    if cv:
        print(f"\nOpenCV imwrite quality 95: {cv[0]:.2f} dB, {cv[1]:.0f} bytes per frame")
    print("\n -q:v  ffmpeg dB   bytes | libjpeg  dB     bytes   delta dB  map now")
    chosen = {}
    for q, (psnr, size) in ff.items():
        best = min(lj, key=lambda k: (abs(lj[k][0] - psnr), k))
        chosen[q] = best
        print(
            f"  {q:3d}  {psnr:6.2f}  {size:8.0f} | {best:4d}  {lj[best][0]:6.2f}  {lj[best][1]:8.0f}  "
            f"{lj[best][0] - psnr:+6.2f}    {turbo.LIBJPEG_QUALITY[q]}"
        )
    print("\nLIBJPEG_QUALITY =", chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
