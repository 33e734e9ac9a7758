"""lists: each format's lines as its framework reads them, the label rule,
video splits and the config keys to paste (lists.md).

These read the files back the way the frameworks' loaders parse them (their
parsing rules are restated in each reader); `make test-loaders` runs the
frameworks' own code on the same lines."""

from __future__ import annotations

import csv
import dataclasses
import os
import shutil

import pytest

from k400frames.cli import build_parser
from k400frames.run.runner import run_extract
from k400frames.tools.lists import LIST_FORMATS, ListFormatError, list_path, write_lists
from k400frames.tools.synth import make_video

from helpers import PROJECT, run_main

CLIPS = (
    "air drumming/-a_b_000001_000011.mp4",
    "air drumming/c_000000_000010.mp4",
    "abseiling/d_000000_000010.mp4",
    "zumba/e_000000_000010.mp4",
)
EXPECTED = {
    ("train/air_drumming/-a_b_000001_000011", 1),
    ("train/air_drumming/c_000000_000010", 1),
    ("train/abseiling/d_000000_000010", 0),
    ("train/zumba/e_000000_000010", 2),
}
TINY_TRAIN = PROJECT / "annotations" / "tiny_train.csv"


@pytest.fixture
def split(make_clip, config):
    def build(**overrides):
        for rel in CLIPS:
            make_clip(rel, seconds=0.2)
        cfg = config(**{"num_frames": 8, "class_names": "underscore", **overrides})
        assert run_extract(cfg).done == len(CLIPS)
        return cfg

    return build


# Readers that parse the way the frameworks' loaders do.


def read_fields(path, count):
    """Split each line on whitespace (mmaction2, PaddleVideo; pytorchvideo
    rsplits once) and on single spaces (VideoMAE's pandas delimiter=' ',
    SlowFast's PATH_LABEL_SEPARATOR): both must give ``count`` fields."""
    rows = []
    for line in path.read_text().splitlines():
        fields = line.split()
        assert line.split(" ") == fields and len(fields) == count, line
        rows.append(fields)
    return rows


def labels_of(cfg):
    return (cfg.target.parent / "labels.txt").read_text().splitlines()


def remove_class(target, name):
    shutil.rmtree(target / name)


def test_every_frame_format_reads_back(split):
    cfg = split()
    root = cfg.target.parent
    result = write_lists(cfg, ["all"])
    assert result.kind == "frames" and result.skipped_formats == ["slowfast"]
    labels = labels_of(cfg)
    assert labels == ["abseiling", "air_drumming", "zumba"]
    assert set(result.lists) == {"mmaction2", "paddlevideo", "videomae", "videomae-pretrain", "pytorchvideo"}
    assert result.lists["mmaction2"] == root / "train.mmaction2.txt" == list_path(cfg.target, "mmaction2")
    assert result.lists["videomae"] == root / "videomae" / "train.csv"  # VideoMAEv2: <data_path>/train.csv
    assert result.lists["pytorchvideo"] == root / "pytorchvideo" / "train.csv"  # SlowFast: <DIR>/<mode>.csv
    for fmt in ("mmaction2", "paddlevideo", "videomae"):
        rows = read_fields(result.lists[fmt], 3)
        assert {(path, int(label)) for path, _, label in rows} == EXPECTED
        for path, total, label in rows:
            # path total label: the loader reads frames 1..total by the template.
            folder = root / path
            assert int(total) == 8 == len(os.listdir(folder))
            assert all((folder / cfg.frame_name.format(i)).is_file() for i in range(1, int(total) + 1))
            assert labels[int(label)] == folder.parent.name
    pretrain = read_fields(result.lists["videomae-pretrain"], 3)
    assert {(path, int(start), int(total)) for path, start, total in pretrain} == {
        (path, 1, 8) for path, _ in EXPECTED
    }  # path start_index total_frames
    pairs = read_fields(result.lists["pytorchvideo"], 2)
    assert {(path, int(label)) for path, label in pairs} == EXPECTED
    assert all((root / path).is_dir() for path, _ in pairs)
    assert not (root / "slowfast").exists()
    assert [n for n in os.listdir(root) if n.startswith(".")] == []  # the atomic writes' temp files are gone


def test_slowfast_is_refused_for_frames(split):
    cfg = split()
    with pytest.raises(ListFormatError, match="opens every path as a video.*pytorchvideo"):
        write_lists(cfg, ["slowfast"])
    assert not list_path(cfg.target, "slowfast").exists()


def test_total_frames_come_from_disk(split):
    cfg = split()
    (cfg.target / "zumba" / "e_000000_000010" / "frame_00008.jpg").unlink()
    result = write_lists(cfg, ["mmaction2"])
    totals = {path: int(total) for path, total, _ in read_fields(result.lists["mmaction2"], 3)}
    assert totals["train/zumba/e_000000_000010"] == 7 and totals["train/abseiling/d_000000_000010"] == 8
    assert result.short == [("zumba/e_000000_000010", 7)]


def test_spaces_in_class_names_are_refused_naming_the_key(split, tmp_path, capfd):
    cfg = split(class_names="keep")
    assert (cfg.target / "air drumming").is_dir()
    with pytest.raises(ListFormatError, match="class_names"):
        write_lists(cfg, ["pytorchvideo"])
    config_file = tmp_path / "cfg.yaml"
    config_file.write_text(f"source: {cfg.source}\ntarget: {cfg.target}\nnum_frames: 8\n")
    out = run_main(capfd, "lists", "--config", str(config_file), "--format", "all")
    assert out.returncode == 2 and "class_names" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert not any(n.endswith(".txt") or n == "lists.md" for n in os.listdir(cfg.target.parent))


def mmaction2_numbering(csv_path):
    """How mmaction2's tools/data/build_file_list.py numbers Kinetics classes
    (parse_kinetics_splits): the sorted set of the CSV's labels with '"'
    removed and spaces as underscores."""
    with open(csv_path, newline="") as handle:
        labels = {row["label"].replace('"', "").replace(" ", "_") for row in csv.DictReader(handle)}
    return {label: i for i, label in enumerate(sorted(labels))}


def test_labels_come_from_the_csv_and_a_missing_class_shifts_nothing(split):
    # Tiny-K400's 400-class CSV with only three classes extracted; then one
    # of them vanishes from disk: no other class may change its index.
    cfg = split(annotations=str(TINY_TRAIN))
    expected = mmaction2_numbering(TINY_TRAIN)
    result = write_lists(cfg, ["mmaction2"])
    labels = labels_of(cfg)
    assert len(labels) == 400 == result.classes and labels == sorted(expected)
    got = {path.split("/")[1]: int(label) for path, _, label in read_fields(result.lists["mmaction2"], 3)}
    assert got == {name: expected[name] for name in ("abseiling", "air_drumming", "zumba")}
    assert got["zumba"] == 399  # not 2, as numbering the class folders would give

    remove_class(cfg.target, "abseiling")
    result = write_lists(cfg, ["mmaction2"])
    again = {path.split("/")[1]: int(label) for path, _, label in read_fields(result.lists["mmaction2"], 3)}
    assert again == {"air_drumming": expected["air_drumming"], "zumba": 399}
    assert labels_of(cfg) == labels and result.labels_grew == []


def test_csv_labels_under_keep_match_underscored_folders(split, tmp_path):
    # class_names: keep leaves "air drumming" as the CSV spells it in
    # labels.txt, while Tiny-K400's folders say air_drumming: they still join.
    cfg = split(annotations=str(TINY_TRAIN))
    keep = dataclasses.replace(cfg, class_names="keep")
    result = write_lists(keep, ["videomae"])
    labels = labels_of(keep)
    assert "air drumming" in labels and "tai chi" in labels and "air_drumming" not in labels
    got = {path.split("/")[1]: int(label) for path, _, label in read_fields(result.lists["videomae"], 3)}
    assert labels[got["air_drumming"]] == "air drumming"
    assert got == {name: i for name, i in mmaction2_numbering(TINY_TRAIN).items() if name in got}


def test_class_folder_without_a_csv_label_is_not_listed(split, tmp_path):
    csv_path = tmp_path / "two.csv"
    csv_path.write_text(
        "label,youtube_id,time_start,time_end,split,is_cc\nzumba,e,0,10,train,0\nabseiling,d,0,10,train,0\n"
    )
    cfg = split(annotations=str(csv_path))
    result = write_lists(cfg, ["pytorchvideo"])
    assert labels_of(cfg) == ["abseiling", "zumba"] and result.unlabelled == ["air_drumming"]
    assert {tuple(r) for r in read_fields(result.lists["pytorchvideo"], 2)} == {
        ("train/abseiling/d_000000_000010", "0"),
        ("train/zumba/e_000000_000010", "1"),
    }


def test_without_a_csv_labels_are_the_class_folders_shared_by_splits(make_clip, config):
    for rel in CLIPS:
        make_clip(rel, seconds=0.1)
    train = config(num_frames=4, class_names="underscore")
    run_extract(train)
    write_lists(train, ["videomae"])
    # A val split that lacks a class keeps train's indices (labels.txt is shared).
    val = config(num_frames=4, class_names="underscore", target=str(train.target.parent / "val"))
    run_extract(val)
    remove_class(val.target, "abseiling")
    result = write_lists(val, ["videomae"])
    assert labels_of(val) == ["abseiling", "air_drumming", "zumba"]
    assert {path.split("/")[1]: int(label) for path, _, label in read_fields(result.lists["videomae"], 3)} == {
        "air_drumming": 1,
        "zumba": 2,
    }
    assert result.lists["videomae"] == train.target.parent / "videomae" / "val.csv"


@pytest.fixture
def video_split(tmp_path, ffmpeg_exe, config):
    """A split of <class>/<clip>.mp4 files, the layout of `output: video`."""
    target = tmp_path / "out" / "train"
    for rel in ("abseiling/d_000000_000010.mp4", "zumba/e_000000_000010.mp4", "zumba/f_000000_000010.mp4"):
        make_video(target / rel, seconds=0.2, fps=30, size="64x48", ffmpeg_exe=ffmpeg_exe)
    return config(num_frames=8, target=str(target), source=str(tmp_path / "videos-src"))


def test_video_split_gets_path_label_lines(video_split):
    cfg = video_split
    root = cfg.target.parent
    result = write_lists(cfg, ["all"])
    assert result.kind == "videos" and set(result.skipped_formats) == {"paddlevideo", "videomae-pretrain"}
    assert set(result.lists) == {"mmaction2", "videomae", "pytorchvideo", "slowfast"}
    assert result.lists["slowfast"] == root / "slowfast" / "train.csv"
    expected = {
        ("train/abseiling/d_000000_000010.mp4", "0"),
        ("train/zumba/e_000000_000010.mp4", "1"),
        ("train/zumba/f_000000_000010.mp4", "1"),
    }
    for fmt, path in result.lists.items():
        rows = {tuple(r) for r in read_fields(path, 2)}
        assert rows == expected, fmt
        assert all((root / p).is_file() for p, _ in rows)
    assert labels_of(cfg) == ["abseiling", "zumba"]
    assert "VideoDataset" in result.snippet_text and "RawframeDataset" not in result.snippet_text
    with pytest.raises(ListFormatError, match="paddlevideo.*frame folders"):
        write_lists(cfg, ["paddlevideo"])


def test_empty_video_is_not_listed(video_split):
    (video_split.target / "zumba" / "f_000000_000010.mp4").write_bytes(b"")
    result = write_lists(video_split, ["slowfast"])
    assert result.empty == ["zumba/f_000000_000010.mp4"] and result.clips == 2


def test_a_split_of_frames_and_videos_is_refused(video_split):
    (video_split.target / "zumba" / "g_000000_000010").mkdir()
    with pytest.raises(ListFormatError, match="clips of more than one kind: video .*; frames"):
        write_lists(video_split, ["mmaction2"])


def test_snippet_names_every_key_for_our_frame_names(split):
    cfg = split()
    root = cfg.target.parent
    result = write_lists(cfg, ["all"])
    text = (root / "lists.md").read_text()
    assert text == result.snippet_text
    for needle in (
        f"ann_file='{root}/train.mmaction2.txt'",
        f"data_prefix=dict(img='{root}')",
        "filename_tmpl='frame_{:05d}.jpg', start_index=1",  # mmaction2
        f'data_prefix: "{root}"',
        "suffix: 'frame_{:05d}.jpg'",  # PaddleVideo
        f"--data_path {root}/videomae --data_root {root}",
        "--fname_tmpl 'frame_{:05d}.jpg' --start_idx 1 --nb_classes 3",  # VideoMAEv2
        f"--data_path {root}/train.videomae-pretrain.txt",
        "DATASET: ptvkinetics",
        f"PATH_TO_DATA_DIR: {root}/pytorchvideo",
        f"PATH_PREFIX: {root}",
        "NUM_CLASSES: 3",
        "num_classes=3",
    ):
        assert needle in text, needle
    assert "With `frame_name: img_{:05d}.jpg` mmaction2 needs neither key" in text
    assert "With `frame_name: img_{:05d}.jpg` PaddleVideo needs no `suffix`" in text


def test_snippet_with_mmaction2s_own_frame_names(split):
    cfg = split(frame_name="img_{:05d}.jpg")
    text = write_lists(cfg, ["mmaction2", "paddlevideo"]).snippet_text
    assert "mmaction2's default: no key is needed" in text and "PaddleVideo's default" in text
    assert "## videomae" not in text


def test_cli_writes_all_formats_and_points_to_the_keys(split, tmp_path, capfd):
    cfg = split()
    config_file = tmp_path / "cfg.yaml"
    config_file.write_text(f"source: {cfg.source}\ntarget: {cfg.target}\nnum_frames: 8\nclass_names: underscore\n")
    out = run_main(capfd, "lists", "--config", str(config_file), "--format", "all")
    assert out.returncode == 0, out.stderr
    for fmt in ("mmaction2", "paddlevideo", "videomae", "videomae-pretrain", "pytorchvideo"):
        path = list_path(cfg.target, fmt)
        assert f"{fmt}: {path}" in out.stdout
        assert len(path.read_text().splitlines()) == len(CLIPS)
    assert str(cfg.target.parent / "labels.txt") in out.stdout
    # lists.md holds the keys; the command names it instead of printing all of it every time.
    snippet = (cfg.target.parent / "lists.md").read_text()
    assert "filename_tmpl='frame_{:05d}.jpg'" in snippet and "DATASET: ptvkinetics" in snippet
    assert f"config keys to paste: {cfg.target.parent / 'lists.md'}" in out.stdout
    assert "filename_tmpl" not in out.stdout and len(out.stdout.splitlines()) <= 10
    assert "not written for frames: slowfast" in out.stderr


def test_cli_offers_exactly_the_library_formats():
    lists_parser = build_parser()._subparsers._group_actions[0].choices["lists"]
    choices = next(a.choices for a in lists_parser._actions if a.dest == "format")
    assert tuple(choices) == (*LIST_FORMATS, "all")
