"""annotate: a <class>/<clip> tree -> Kinetics CSVs; the split is stratified and reproducible."""

from __future__ import annotations

import csv
import shutil
from dataclasses import astuple

import pytest

from k400frames.sources.kinetics import KINETICS_HEADER, AnnotationError, parse_clip_stem, read_kinetics_csv
from k400frames.tools.annotate import annotate, write_annotations

from helpers import PROJECT, run_main

TINY_TRAIN = PROJECT / "annotations" / "tiny_train.csv"


def tiny_rows(count: int):
    """Rows of the real Tiny-K400 CSV whose ids are hard to parse: '_' and '-' inside."""
    rows = read_kinetics_csv(TINY_TRAIN)
    awkward = [r for r in rows if ("_" in r.youtube_id[1:] or "-" in r.youtube_id) and " " in r.label]
    plain = [r for r in rows if r not in awkward]
    picked = awkward[: count - 1] + plain[:1]
    assert len(picked) == count
    return picked


@pytest.fixture
def one_video(make_clip):
    """A real clip to copy under many names (decoding is not what is tested here)."""
    return make_clip("_seed/seed.mp4", seconds=0.2)


def populate(root, names, video):
    for rel in names:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(video, root / rel)


def test_parse_clip_stem_from_the_right():
    assert parse_clip_stem("--uWuXty1jw_000010_000020") == ("--uWuXty1jw", 10, 20)
    assert parse_clip_stem("a_b_000001_000002_000030_000040") == ("a_b_000001_000002", 30, 40)
    assert parse_clip_stem("my holiday") is None
    assert parse_clip_stem("x_000020_000010") is None  # times backwards: not Kinetics-named


def test_round_trip_of_tiny_kinetics_names(tmp_path, one_video):
    originals = tiny_rows(6)
    source = tmp_path / "videos"
    populate(source, [f"{r.label}/{r.clip_name}.mp4" for r in originals], one_video)
    result = write_annotations(annotate(source, val_fraction=0), tmp_path / "ann")
    assert not result.val and not result.too_small and not result.skipped
    # label, id, times, split=train, is_cc=0
    assert sorted(map(astuple, result.train)) == sorted(map(astuple, originals))
    assert read_kinetics_csv(result.train_csv) == result.train
    text = result.train_csv.read_text()
    assert text.splitlines()[0] == TINY_TRAIN.read_text().splitlines()[0] == ",".join(KINETICS_HEADER)
    # Quoting is the csv module's own, byte for byte.
    with open(result.train_csv, newline="") as handle:
        assert list(csv.reader(handle))[1:] == [row.as_csv() for row in result.train]
    assert read_kinetics_csv(result.val_csv) == []


def test_plain_stems_get_time_zero_and_the_duration_rounded_up(make_clip, tmp_path):
    make_clip("cooking/my holiday, day 2.mp4", seconds=1.4)
    [row] = annotate(tmp_path / "src", val_fraction=0).train
    assert (row.label, row.youtube_id, row.time_start, row.time_end) == ("cooking", "my holiday, day 2", 0, 2)


def split_of(result):
    return {r.clip_name for r in result.val}


def test_split_is_stratified_and_deterministic(tmp_path, one_video):
    source = tmp_path / "videos"
    names = [f"big class/v{i}_{i:06d}_{i + 10:06d}.mp4" for i in range(10)]
    names += [f"small/s{i}_000000_000010.mp4" for i in range(5)]
    populate(source, names, one_video)
    first = annotate(source, val_fraction=0.2, seed=0)
    again = annotate(source, val_fraction=0.2, seed=0)
    assert first.train == again.train and first.val == again.val
    per_class = {label: sum(r.label == label for r in first.val) for label in ("big class", "small")}
    assert per_class == {"big class": 2, "small": 1}
    assert len(first.train) == 12 and all(r.split == "val" for r in first.val)
    assert {r.clip_name for r in first.train} | split_of(first) == {n.split("/")[1][:-4] for n in names}
    others = {frozenset(split_of(annotate(source, val_fraction=0.2, seed=s))) for s in range(1, 6)}
    assert len(others | {frozenset(split_of(first))}) > 1, "the seed must change the split"


def test_a_class_too_small_to_split_goes_to_train_and_is_reported(tmp_path, one_video, capfd):
    source = tmp_path / "videos"
    populate(source, ["lonely/a_000000_000010.mp4", "pair/b_000000_000010.mp4", "pair/c_000000_000010.mp4"], one_video)
    result = annotate(source, val_fraction=0.2)
    assert result.too_small == {"lonely": 1}
    assert [r.youtube_id for r in result.train if r.label == "lonely"] == ["a"]
    assert sum(r.label == "pair" for r in result.val) == 1

    out = run_main(capfd, "annotate", str(source), "--out-dir", str(tmp_path / "ann"))
    assert out.returncode == 0, out.stderr
    assert "lonely" in out.stdout and "too few to split" in out.stderr
    assert str(tmp_path / "ann" / "train.csv") in out.stdout and str(tmp_path / "ann" / "val.csv") in out.stdout
    assert [r.label for r in read_kinetics_csv(tmp_path / "ann" / "val.csv")] == ["pair"]


def test_class_name_policy_sets_labels(tmp_path, one_video):
    source = tmp_path / "videos"
    populate(source, ["air drumming/x_000000_000010.mp4"], one_video)
    assert annotate(source, class_names="underscore").train[0].label == "air_drumming"
    assert annotate(source, class_names="keep").train[0].label == "air drumming"


def test_unreadable_video_is_skipped_and_reported(make_clip, tmp_path, capfd):
    make_clip("cooking/good.mp4", seconds=0.3)
    (tmp_path / "src" / "cooking" / "junk.mp4").write_bytes(b"not a video")
    result = annotate(tmp_path / "src", val_fraction=0)
    assert [r.youtube_id for r in result.train] == ["good"]
    assert result.skipped and result.skipped[0][0] == "cooking/junk"
    out = run_main(capfd, "annotate", str(tmp_path / "src"), "--out-dir", str(tmp_path / "ann"), "--val-fraction", "0")
    assert out.returncode == 1 and "cooking/junk" in out.stderr


def test_bad_options_are_one_line_errors(tmp_path, capfd):
    with pytest.raises(AnnotationError, match="val_fraction"):
        annotate(tmp_path, val_fraction=1.5)
    out = run_main(capfd, "annotate", str(tmp_path / "nope"), "--out-dir", str(tmp_path / "ann"))
    assert out.returncode == 2 and "does not exist" in out.stderr and "Traceback" not in out.stderr
