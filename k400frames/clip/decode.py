"""How ffmpeg reads one clip: where to seek, how long, which frames to keep.

A whole clip with ``sampling: first`` needs nothing: ffmpeg decodes from the
first video frame and stops after N.  A span of a segment seeks to its start,
measured from the video's first frame (audio or an edit list may start
earlier), and stops at its end.  ``sampling: uniform`` keeps ``num_frames``
frames spread evenly over the clip or span, with one ``select`` expression.
"""

from __future__ import annotations

import dataclasses
import math

from .. import ffmpeg
from ..sources.tree import Clip

# ffmpeg prints start times to the microsecond, so a frame exactly at
# time_start may sit a hair before the computed seek point.  Both span ends
# move this much earlier, which keeps that frame and still drops the frame
# exactly at time_end; 0.5 ms is far below any frame period.
SEEK_TOLERANCE_S = 0.0005


class SpanError(Exception):
    """This row's span cannot be cut from its video (a failure of that row only)."""


@dataclasses.dataclass(frozen=True)
class DecodePlan:
    """How ffmpeg reads one clip: where to seek, how long, which frames to keep."""

    seek: float | None = None  # input -ss, seconds (ffmpeg adds the container's start itself)
    duration: float | None = None  # input -t
    select: str | None = None  # ffmpeg select expression (sampling: uniform)
    frames: int | None = None  # frames the select expression assumes the clip has


def uniform_indices(total: int, wanted: int) -> list[int]:
    """``wanted`` 0-based frame indices spread evenly over ``total`` frames:
    the first, the last, and distinct whenever ``total >= wanted``."""
    if wanted <= 1 or total <= 1:
        return [0]
    return [k * (total - 1) // (wanted - 1) for k in range(wanted)]


def uniform_select(total: int, wanted: int) -> str:
    """An ffmpeg ``select`` expression that keeps exactly the frames of
    :func:`uniform_indices`: frame n is kept when the pick closest above it,
    k = ceil(n*(wanted-1)/(total-1)), lands on n.  Integer arithmetic in
    doubles, exact for any real frame count, and the same few operations per
    frame whatever ``wanted`` is (a sum of 300 eq() terms would not be)."""
    if wanted <= 1 or total <= 1:
        return "eq(n,0)"
    a, b = wanted - 1, total - 1
    return f"eq(floor(floor((n*{a}+{b - 1})/{b})*{b}/{a}),n)"


def decode_plan(clip: Clip, num_frames: int | None, fps: float | None, sampling: str, exe: str) -> DecodePlan:
    """How to decode ``clip``: a whole clip with ``sampling: first`` needs no
    probe; a span seeks to its start (measured from the first video frame)
    and stops at its end; ``uniform`` picks ``num_frames`` frames spread over
    the frames the span (or clip) has at ``fps`` or the native rate
    (``num_frames`` None: every frame, so no picks).

    Raises :class:`SpanError` when the span starts after the video ends."""
    if clip.start is None and sampling == "first":
        return DecodePlan()
    header = ffmpeg.probe(exe, clip.source)
    length = header.duration - header.video_offset if header.duration else None
    seek = duration = None
    span = length
    if clip.start is not None and clip.end is not None:
        if length is not None and clip.start >= length:
            raise SpanError(
                f"{clip.stem}: span {clip.start:g}-{clip.end:g} s lies outside the video "
                f"{clip.source.name} (its video lasts {length:.3f} s)"
            )
        seek = max(header.video_offset + clip.start - SEEK_TOLERANCE_S, 0.0)
        duration = clip.end - clip.start
        span = min(clip.end, length) - clip.start if length is not None else duration
    if sampling != "uniform" or num_frames is None:
        return DecodePlan(seek, duration)
    rate = fps or header.fps
    if not rate or not span:
        return DecodePlan(seek, duration)  # nothing to plan from: the first N frames
    # floor, not round: a count one too low only moves the last pick one frame
    # earlier; one too high would ask for a frame that is not there.
    total = math.floor(span * rate + 1e-6)
    return plan_uniform(seek, duration, total, num_frames)


def plan_uniform(seek: float | None, duration: float | None, total: int, wanted: int) -> DecodePlan:
    """A plan keeping ``wanted`` of ``total`` frames, or all when there are no more."""
    if total <= wanted:
        return DecodePlan(seek, duration)
    return DecodePlan(seek, duration, uniform_select(total, wanted), total)


def replan_short(plan: DecodePlan, decoded: int, wanted: int) -> DecodePlan | None:
    """When ``uniform`` kept fewer frames than planned, the clip had fewer
    frames than its header promised (audio longer than the video, say): the
    picks that came out tell how many it has, at least
    ``index[decoded - 1] + 1``.  The plan for a second decode with that
    count, or None when the first one was fine."""
    if plan.select is None or plan.frames is None or decoded >= wanted or decoded == 0:
        return None
    total = uniform_indices(plan.frames, wanted)[decoded - 1] + 1
    return plan_uniform(plan.seek, plan.duration, total, wanted)
