"""The official download as it is: a flat (or nested) folder of
``<youtube_id>_<start>_<end>.mp4`` files plus an annotations CSV, and a
replacements folder, on real clips."""

from __future__ import annotations

import json

import pytest

from k400frames.config import make_config
from k400frames.errors import ConfigError, PreflightError
from k400frames.run.preflight import plan, preflight
from k400frames.run.runner import run_extract
from k400frames.sources.flat import NO_ROW
from k400frames.sources.kinetics import Row, write_kinetics_csv
from k400frames.sources.tree import Clip, Collision

from helpers import frame_files, record_file, run_main

ROWS = [
    Row("tai chi", "--uWuXty1jw", 10, 20),
    Row("abseiling", "a_b-c", 0, 10),
    Row("abseiling", "gone1234567", 5, 15),  # no file anywhere
]


def flat_tree(tmp_path, make_clip, nested: bool = False):
    folder = "part_0/deeper/" if nested else ""
    make_clip(f"{folder}--uWuXty1jw_000010_000020.mp4", seconds=0.2, fps=10)  # 2 frames
    make_clip("a_b-c_000000_000010.mp4", seconds=0.5, fps=10)  # 5 frames
    make_clip("not_in_the_csv_000001_000011.mp4", seconds=0.2, fps=10)
    (tmp_path / "src" / "README.txt").write_text("notes")
    return write_kinetics_csv(tmp_path / "train.csv", ROWS)


def test_flat_source_takes_each_class_from_its_row(tmp_path, make_clip, config):
    csv = flat_tree(tmp_path, make_clip)
    cfg = config(num_frames=4, annotations=str(csv), class_names="underscore")
    summary = run_extract(cfg)
    out = tmp_path / "out" / "train"
    assert sorted(p.relative_to(out).as_posix() for p in out.glob("*/*")) == [
        "abseiling/a_b-c_000000_000010",
        "tai_chi/--uWuXty1jw_000010_000020",
    ]
    assert frame_files(out / "tai_chi" / "--uWuXty1jw_000010_000020") == [f"frame_{i:05d}.jpg" for i in range(1, 5)]
    # The row without a file is a recorded failure that names it; the file
    # without a row is counted, not guessed into a class.
    assert (summary.done, summary.failed, summary.exit_code) == (2, 1, 1)
    failures = [json.loads(line) for line in record_file(out, "failures").read_text().splitlines()]
    assert [f["rel"] for f in failures] == ["abseiling/gone1234567_000005_000015"]
    assert "no file gone1234567_000005_000015.<ext>" in failures[0]["reason"]
    assert summary.skipped_files[NO_ROW] == 1 and summary.skipped_files[".txt"] == 1

    # Its file arrives: --retry-failed makes only that clip.
    make_clip("gone1234567_000005_000015.mp4", seconds=0.3, fps=10)
    again = run_extract(cfg, retry_failed=True)
    assert (again.done, again.failed, again.total) == (1, 0, 1)
    assert len(frame_files(out / "abseiling" / "gone1234567_000005_000015")) == 4
    # Resume: a plain rerun finds all three finished.
    third = run_extract(cfg)
    assert (third.total, third.skipped, third.done, third.failed) == (3, 3, 0, 0)


def test_any_depth_and_shards_split_the_same_clips(tmp_path, make_clip, config):
    csv = flat_tree(tmp_path, make_clip, nested=True)
    cfg = config(num_frames=2, annotations=str(csv))
    whole = [item.rel for item in plan(cfg, None)]
    assert whole == sorted(whole) and len(whole) == 3
    assert "tai chi/--uWuXty1jw_000010_000020" in whole
    shards = [item.rel for k in range(2) for item in plan(cfg, (k, 2))]
    assert sorted(shards) == whole


def test_replacements_override_and_dry_run_plans_the_same(tmp_path, make_clip, config, capfd):
    csv = flat_tree(tmp_path, make_clip)
    replacement = make_clip("../replacements/a_b-c_000000_000010.mp4", seconds=0.2, fps=10).resolve()
    cfg = config(num_frames=10, annotations=str(csv), replacements=str(replacement.parent))
    clips = {item.rel: item for item in plan(cfg, None)}
    assert clips["abseiling/a_b-c_000000_000010"].source == replacement
    config_file = tmp_path / "c.yaml"
    config_file.write_text(
        f"source: {tmp_path / 'src'}\ntarget: {tmp_path / 'out' / 'train'}\nnum_frames: 10\n"
        f"annotations: {csv}\nreplacements: {replacement.parent}\n"
    )
    dry = run_main(capfd, "extract", "--config", str(config_file), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "clips: 3 in 2 classes" in dry.stdout and not (tmp_path / "out").exists()
    assert "1 annotation row would fail" in dry.stdout
    assert "1 file under the source matches no row" in dry.stdout
    run_extract(cfg)
    # The replacement (2 frames, padded to 10) was used, not the 5-frame original.
    manifest = [
        json.loads(line) for line in record_file(tmp_path / "out" / "train", "manifest").read_text().splitlines()
    ]
    decoded = {row["rel"]: row.get("decoded") for row in manifest}
    assert decoded["abseiling/a_b-c_000000_000010"] == 2


def test_two_files_for_one_row_collide_and_conflicting_labels_fail(tmp_path, make_clip, config):
    make_clip("a/a_b-c_000000_000010.mp4", seconds=0.2)
    make_clip("b/a_b-c_000000_000010.mkv", seconds=0.2)
    make_clip("x_000001_000002.mp4", seconds=0.2)
    csv = write_kinetics_csv(
        tmp_path / "t.csv",
        [Row("abseiling", "a_b-c", 0, 10), Row("archery", "x", 1, 2), Row("bowling", "x", 1, 2), Row("", "y", 0, 1)],
    )
    items = {item.rel: item for item in plan(config(annotations=str(csv)), None)}
    assert isinstance(items["abseiling/a_b-c_000000_000010"], Collision)
    assert len(items["abseiling/a_b-c_000000_000010"].sources) == 2
    for rel in ("archery/x_000001_000002", "bowling/x_000001_000002"):
        clip = items[rel]
        assert isinstance(clip, Clip) and clip.problem and "2 labels ('archery', 'bowling')" in clip.problem[1]
    assert items["_/y_000000_000001"].problem == ("source", "the row has no label")


def test_replacements_need_annotations(tmp_path):
    with pytest.raises(ConfigError, match="replacements: needs 'annotations'"):
        make_config({"source": str(tmp_path / "s"), "target": str(tmp_path / "t"), "replacements": str(tmp_path)})


def test_a_class_tree_with_annotations_is_walked_as_before(tmp_path, make_clip, config):
    # Folders named as the CSV's labels (either spelling): the class tree
    # decides, and a clip the CSV does not list is still taken (as before).
    make_clip("tai_chi/--uWuXty1jw_000010_000020.mp4", seconds=0.2)
    make_clip("tai_chi/own_clip.mp4", seconds=0.2)
    csv = write_kinetics_csv(tmp_path / "t.csv", ROWS)
    assert [item.rel for item in plan(config(annotations=str(csv)), None)] == [
        "tai_chi/--uWuXty1jw_000010_000020",
        "tai_chi/own_clip",
    ]


def test_an_empty_source_with_annotations_finds_no_clips(tmp_path, config):
    (tmp_path / "src").mkdir()
    csv = write_kinetics_csv(tmp_path / "t.csv", ROWS)
    with pytest.raises(PreflightError, match="no clips found .* or any layout with 'annotations'"):
        preflight(config(annotations=str(csv)))
