"""sampling: uniform's arithmetic: which frames are picked, the ffmpeg select
expression that picks them, and the second plan for a clip shorter than its
header said.  No ffmpeg runs here: the select expression is evaluated in
Python, with the same double arithmetic ffmpeg's evaluator uses."""

from __future__ import annotations

import math

import pytest

from k400frames.clip.decode import DecodePlan, plan_uniform, replan_short, uniform_indices, uniform_select


def kept_by(expression: str, total: int) -> list[int]:
    """The frame numbers n in [0, total) for which ffmpeg's select keeps a frame."""
    code = compile(expression, "select", "eval")
    names = {"__builtins__": {}, "eq": lambda x, y: float(x == y), "floor": math.floor}
    return [n for n in range(total) if eval(code, names, {"n": n})]


@pytest.mark.parametrize(
    "total, wanted, indices",
    [
        (1, 1, [0]),  # one frame, one wanted
        (10, 1, [0]),  # N=1 keeps the first frame
        (1, 5, [0]),  # a one-frame clip
        (0, 5, [0]),
        (3, 5, [0, 0, 1, 1, 2]),  # fewer frames than N: picks repeat
        (5, 5, [0, 1, 2, 3, 4]),  # exactly N: every frame
        (6, 5, [0, 1, 2, 3, 5]),
        (10, 4, [0, 3, 6, 9]),
        (60, 5, [0, 14, 29, 44, 59]),
        (300, 2, [0, 299]),
    ],
)
def test_uniform_indices(total, wanted, indices):
    assert uniform_indices(total, wanted) == indices


@pytest.mark.parametrize(
    "total, wanted, expression",
    [
        (1, 1, "eq(n,0)"),
        (10, 1, "eq(n,0)"),
        (1, 5, "eq(n,0)"),
        (10, 4, "eq(floor(floor((n*3+8)/9)*9/3),n)"),
        (60, 5, "eq(floor(floor((n*4+58)/59)*59/4),n)"),
    ],
)
def test_uniform_select_text(total, wanted, expression):
    assert uniform_select(total, wanted) == expression


@pytest.mark.parametrize(
    "total, wanted",
    [(2, 2), (5, 5), (6, 5), (10, 4), (60, 5), (61, 32), (250, 16), (300, 32), (301, 300), (9000, 32), (10, 1)],
)
def test_uniform_select_keeps_exactly_the_uniform_indices(total, wanted):
    assert kept_by(uniform_select(total, wanted), total) == uniform_indices(total, wanted)


@pytest.mark.parametrize(
    "total, wanted, expected",
    [
        (3, 5, DecodePlan(1.5, 2.0)),  # fewer frames than N: all of them (the pads come later)
        (5, 5, DecodePlan(1.5, 2.0)),  # exactly N: all of them
        (6, 5, DecodePlan(1.5, 2.0, "eq(floor(floor((n*4+4)/5)*5/4),n)", 6)),
        (60, 5, DecodePlan(1.5, 2.0, "eq(floor(floor((n*4+58)/59)*59/4),n)", 60)),
    ],
)
def test_plan_uniform(total, wanted, expected):
    assert plan_uniform(1.5, 2.0, total, wanted) == expected


UNIFORM_90 = plan_uniform(None, None, 90, 5)  # picks 0, 22, 44, 66, 89


@pytest.mark.parametrize(
    "plan, decoded, wanted, expected",
    [
        pytest.param(DecodePlan(), 3, 5, None, id="no select: nothing to replan"),
        pytest.param(DecodePlan(1.0, 2.0), 3, 5, None, id="seek only"),
        pytest.param(UNIFORM_90, 5, 5, None, id="all picks came out"),
        pytest.param(UNIFORM_90, 0, 5, None, id="nothing decoded: a failure, not a short clip"),
        pytest.param(
            UNIFORM_90,
            3,
            5,
            DecodePlan(None, None, "eq(floor(floor((n*4+43)/44)*44/4),n)", 45),
            id="three picks: at least 45 frames",
        ),
        pytest.param(UNIFORM_90, 1, 5, DecodePlan(None, None), id="one pick: all frames"),
        pytest.param(
            plan_uniform(0.25, 10.0, 6, 5), 4, 5, DecodePlan(0.25, 10.0), id="keeps seek and duration, 4 <= 5 frames"
        ),
        pytest.param(
            plan_uniform(None, None, 300, 2), 1, 2, DecodePlan(None, None), id="N=2, only the first pick came out"
        ),
    ],
)
def test_replan_short(plan, decoded, wanted, expected):
    assert replan_short(plan, decoded, wanted) == expected


def test_a_replanned_clip_picks_spread_over_the_frames_it_has():
    plan = replan_short(UNIFORM_90, 3, 5)
    assert plan is not None and plan.frames is not None
    assert kept_by(plan.select, plan.frames) == [0, 11, 22, 33, 44]
