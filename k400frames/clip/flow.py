"""Optical flow beside the frames (``flow: tvl1 | farneback | dis``), in
mmaction2's rawframe format: ``flow_x_00001.jpg`` and ``flow_y_00001.jpg``
(the ``flow_name`` template) beside the RGB frames, one grayscale JPEG per
component.

**One flow per RGB frame.**  A clip of N frames gets exactly N flow pairs,
numbered like its frames: flow k is the motion from frame k to frame k+1.
For frame N that is frame N+1 where the source has one (the frames output
already asks ffmpeg for N+1 frames, to tell a cut clip from one of exactly
N), and zero flow where the source ends at frame N; a padded clip's pads get
zero flow too (a pad is the last real frame again: nothing moves).  So the
flow and frame counts match exactly, which the peers' tools do not promise
(mmaction2's ``flow_extraction.py`` and denseflow give N-1 flows for N
frames), and a loader that samples index i reads the RGB frame and the flow
of the same instant.

**Same pixels as the RGB frames, one decode.**  Flow is computed on the
clip's own JPEGs (the frames ffmpeg or libjpeg-turbo just encoded, already
resized), decoded here to grayscale with ``cv2.imdecode``: 0.3 ms a 340x256
frame, against 23 ms a pair for DIS medium, 38 ms for Farneback and over a
second for TV-L1 (``make bench-flow``), so a second raw output of ffmpeg
would save about 1% and double the pipe traffic.  Only two decoded frames are held at a time (the pair in
hand): a clip of 3,000 frames costs no more raw memory than one of 30.

**Quantisation (denseflow's).**  Each component, in pixels of the frame, is
clipped to ``[-flow_bound, flow_bound]`` and mapped linearly onto 0..255,
rounded to nearest (ties to even, as OpenCV's ``saturate_cast`` and numpy's
``rint`` do)::

    v = rint((clip(f, -bound, bound) + bound) * 255 / (2 * bound))

so zero flow is 128 (127.5 rounded) and ``bound`` 20 gives steps of 0.157
pixels.  A loader undoes it with ``f = v * 2 * bound / 255 - bound`` (128
reads as +0.078 px, half a step).  The x component (rightwards positive) is
``flow_x``, y (downwards positive) is ``flow_y``; each is a grayscale JPEG
at the libjpeg quality that matches ``jpeg_quality`` (91 at the default).

**Algorithms** (``opencv-contrib-python-headless``, ``pip install
'k400frames[flow]'``): ``tvl1`` is OpenCV's Dual TV-L1 with its defaults
(denseflow's and mmaction2's choice; seconds a pair on a CPU), ``farneback``
uses the parameters of mmaction2's CPU script (pyramid 0.5, 3 levels,
window 15, 3 iterations, poly_n 5, sigma 1.2), ``dis`` is DIS at its
``medium`` preset.  Each worker runs OpenCV on one thread: the runner
already runs one clip per core.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import MissingExtra
from .damage import StageError
from .outputs import Finished
from .turbo import LIBJPEG_QUALITY

if TYPE_CHECKING:
    from ..config import Config

ALGORITHMS = ("none", "tvl1", "farneback", "dis")
DEFAULT_FLOW_NAME = "flow_{}_{:05d}.jpg"
DEFAULT_BOUND = 20.0
INSTALL_HINT = "pip install 'k400frames[flow]' (or pip install opencv-contrib-python-headless)"
AXES = ("x", "y")

# Seconds of one core per frame pair at 340x256 that flow adds to a run, as
# `make bench-flow` measured them (docs/guides/flow.md; OpenCV 5.1, a shared
# 2-core machine): the dry run's estimate.
SECONDS_PER_PAIR = {"tvl1": 1.2, "farneback": 0.038, "dis": 0.023}
MEASURED_PIXELS = 340 * 256

# Farneback's parameters, as mmaction2's tools/misc/flow_extraction.py passes them.
FARNEBACK = {
    "pyr_scale": 0.5,
    "levels": 3,
    "winsize": 15,
    "iterations": 3,
    "poly_n": 5,
    "poly_sigma": 1.2,
    "flags": 0,
}

_threads_set = threading.Lock()
_one_thread = False


def load_cv2(algorithm: str = "dis") -> Any:
    """The cv2 module, with what ``algorithm`` needs; :class:`MissingExtra`
    with the install line when it is missing (OpenCV without its contrib
    modules has no TV-L1)."""
    global _one_thread
    try:
        import cv2
    except ImportError as exc:
        raise MissingExtra(
            f"flow: {algorithm} needs OpenCV, which is not installed ({exc}); install with {INSTALL_HINT}"
        ) from None
    if algorithm == "tvl1" and not hasattr(getattr(cv2, "optflow", None), "DualTVL1OpticalFlow_create"):
        raise MissingExtra(
            "flow: tvl1 needs OpenCV's contrib modules (cv2.optflow), which this OpenCV lacks; "
            f"uninstall opencv-python(-headless) and install with {INSTALL_HINT}"
        )
    with _threads_set:
        if not _one_thread:
            cv2.setNumThreads(1)  # one clip per core already; OpenCV's own threads would only contend
            _one_thread = True
    return cv2


def check_installed(algorithm: str) -> None:
    """Preflight: refuse a flow config before any work when OpenCV is missing."""
    if algorithm != "none":
        load_cv2(algorithm)


def flow_names(template: str, index: int) -> tuple[str, str]:
    """The member names of flow ``index`` (from 1): (x, y)."""
    return template.format("x", index), template.format("y", index)


def libjpeg_quality(jpeg_quality: int) -> int:
    """The libjpeg quality of flow JPEGs for ``jpeg_quality`` (ffmpeg's -q:v)."""
    return LIBJPEG_QUALITY[jpeg_quality]


def quantise(flow: Any, bound: float) -> Any:
    """``flow`` (H x W x 2, float pixels) as uint8 by the module's mapping."""
    import numpy  # opencv's own dependency; imported here so `import k400frames` stays cheap

    scaled = (numpy.clip(flow, -bound, bound) + bound) * (255.0 / (2.0 * bound))
    return numpy.rint(scaled).astype(numpy.uint8)


def dequantise(values: Any, bound: float) -> Any:
    """What a loader does to undo :func:`quantise`: pixels from 0..255."""
    import numpy  # opencv's own dependency; imported here so `import k400frames` stays cheap

    return numpy.asarray(values, dtype=numpy.float32) * (2.0 * bound / 255.0) - bound


class Calculator:
    """One algorithm's flow between two grayscale frames (one per clip:
    OpenCV's flow objects are not shared between threads)."""

    def __init__(self, cv2: Any, algorithm: str):
        self.cv2 = cv2
        self.algorithm = algorithm
        if algorithm == "tvl1":
            self._engine = cv2.optflow.DualTVL1OpticalFlow_create()
        elif algorithm == "dis":
            self._engine = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        elif algorithm == "farneback":
            self._engine = None
        else:
            raise ValueError(f"unknown flow algorithm {algorithm!r}")

    def __call__(self, first: Any, second: Any) -> Any:
        if self._engine is None:
            return self.cv2.calcOpticalFlowFarneback(first, second, None, *FARNEBACK.values())
        return self._engine.calc(first, second, None)


class FlowError(StageError):
    """The clip's flow could not be made (stage ``flow``): a frame OpenCV
    cannot decode, or an OpenCV error."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "flow")


def gray_frames(cv2: Any, frames: Sequence[bytes], stop: int) -> Iterator[Any]:
    """The first ``stop`` JPEGs of ``frames`` decoded to grayscale, one at a time."""
    import numpy  # opencv's own dependency; imported here so `import k400frames` stays cheap

    for index in range(stop):
        gray = cv2.imdecode(numpy.frombuffer(frames[index], numpy.uint8), cv2.IMREAD_GRAYSCALE)
        if gray is None:
            raise FlowError(f"frame {index + 1} cannot be decoded for flow")
        yield gray


def flow_members(
    frames: Sequence[bytes],
    decoded: int,
    total: int,
    *,
    algorithm: str,
    bound: float = DEFAULT_BOUND,
    template: str = DEFAULT_FLOW_NAME,
    jpeg_quality: int = 2,
) -> list[tuple[str, bytes]]:
    """The clip's flow members, ``total`` pairs named by ``template``: flow k
    (1..``decoded``) from frame k to frame k+1 of ``frames`` (the clip's
    JPEGs before trimming: ``decoded`` real ones, and frame ``decoded + 1``
    when the source has it), zero flow where there is no next frame and for
    the pads (``decoded + 1 .. total``).  Frames are decoded two at a time."""
    cv2 = load_cv2(algorithm)
    calculate = Calculator(cv2, algorithm)
    quality = [cv2.IMWRITE_JPEG_QUALITY, libjpeg_quality(jpeg_quality)]

    def encode(plane: Any) -> bytes:
        ok, data = cv2.imencode(".jpg", plane, quality)
        if not ok:
            raise FlowError("OpenCV could not encode a flow image")
        return data.tobytes()

    members: list[tuple[str, bytes]] = []
    zero: bytes | None = None
    pairs = min(decoded, len(frames) - 1)  # flows with a real next frame
    previous = None
    for index, gray in enumerate(gray_frames(cv2, frames, pairs + 1)):
        if previous is not None:
            if gray.shape != previous.shape:
                raise FlowError(f"frame {index + 1} is {gray.shape[1]}x{gray.shape[0]}, not the clip's size")
            try:
                values = quantise(calculate(previous, gray), bound)
            except cv2.error as exc:
                raise FlowError(f"OpenCV's {algorithm} failed on frames {index} and {index + 1}: {exc}") from exc
            x_name, y_name = flow_names(template, index)
            members.append((x_name, encode(values[..., 0].copy())))
            members.append((y_name, encode(values[..., 1].copy())))
        previous = gray
    for index in range(pairs + 1, total + 1):
        if zero is None:
            import numpy  # opencv's own dependency; imported here so `import k400frames` stays cheap

            assert previous is not None
            zero = encode(numpy.full(previous.shape, 128, numpy.uint8))
        x_name, y_name = flow_names(template, index)
        members.append((x_name, zero))
        members.append((y_name, zero))
    return members


def clip_flow(frames: Sequence[bytes], count: int, finished: Finished, cfg: Config) -> list[tuple[str, bytes]]:
    """The flow members of a frame clip: ``frames`` are its ``count`` JPEGs
    as ffmpeg gave them (before trim and pad), ``finished`` what it holds after."""
    return flow_members(
        frames[:count],
        finished.decoded,
        finished.decoded + finished.padded,
        algorithm=cfg.flow,
        bound=cfg.flow_bound,
        template=cfg.flow_name,
        jpeg_quality=cfg.jpeg_quality,
    )


def members_per_frame(cfg: Config) -> int:
    """Members a frame clip holds per frame: its JPEG (not with
    ``flow_only``) and, with ``flow``, two flow images."""
    return (0 if cfg.flow_only else 1) + (2 if cfg.flow != "none" else 0)


def cost_note(cfg: Config, clips: int, workers: int) -> str | None:
    """The dry run's line on what flow adds: the algorithm's measured cost
    per pair (at 340x256, scaled by the frame area where the config fixes
    it), times the pairs still to do."""
    if cfg.flow == "none" or not clips:
        return None
    if cfg.size:
        area, at = cfg.size[0] * cfg.size[1], f"{cfg.size[0]}x{cfg.size[1]}"
    elif cfg.short_side:
        area, at = cfg.short_side * cfg.short_side * 4 // 3, f"short side {cfg.short_side}, if 4:3"
    else:
        area, at = MEASURED_PIXELS, "340x256; the frames' own size scales it"
    per_pair = SECONDS_PER_PAIR[cfg.flow] * area / MEASURED_PIXELS
    if cfg.frame_cap is None:  # num_frames: all: as many pairs as each clip has frames
        return (
            f"flow: {cfg.flow} costs about {per_pair:.3g} s of one core a frame pair ({at}; measured, "
            f"docs/guides/flow.md), one pair for every frame of each clip"
        )
    pairs = clips * cfg.frame_cap
    hours = pairs * per_pair / 3600
    return (
        f"flow: {cfg.flow} costs about {per_pair:.3g} s of one core a frame pair ({at}; measured, "
        f"docs/guides/flow.md): {pairs:,} pairs, about {hours:,.1f} core-hours, "
        f"{hours / max(workers, 1):,.1f} h on {workers} workers"
    )


def leading_flows(sizes: dict[str, int], template: str) -> int:
    """How many flow pairs 1..k a clip holds, both components non-empty."""
    count = 0
    while all(sizes.get(name) for name in flow_names(template, count + 1)):
        count += 1
    return count


def expected_names(template: str, total: int) -> list[str]:
    """Every flow member name of a clip of ``total`` flow pairs, in order."""
    return [name for index in range(1, total + 1) for name in flow_names(template, index)]
