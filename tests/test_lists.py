"""lists: each format read back the way its framework reads it."""
from __future__ import annotations

import os

import pytest

from k400frames.lists import LIST_FORMATS, ListFormatError, list_path, write_lists
from k400frames.runner import run_extract

from helpers import run_cli

CLIPS = ("air drumming/-a_b_000001_000011.mp4", "air drumming/c_000000_000010.mp4", "abseiling/d_000000_000010.mp4",
         "zumba/e_000000_000010.mp4")


@pytest.fixture
def split(make_clip, config):
    def build(**overrides):
        for rel in CLIPS:
            make_clip(rel, seconds=0.2)
        cfg = config(**{"num_frames": 8, "class_names": "underscore", **overrides})
        assert run_extract(cfg).done == len(CLIPS)
        return cfg
    return build


# Readers that behave like the frameworks' own loaders.

def read_rawframes(path, prefix):
    """mmaction2 RawframeDataset / PaddleVideo FrameDataset: whitespace split, 3 fields."""
    items = []
    for line in path.read_text().splitlines():
        frame_dir, total_frames, label = line.strip().split()
        items.append((os.path.join(prefix, frame_dir), int(total_frames), int(label)))
    return items


def read_path_label(path, prefix):
    """VideoMAE (space-delimited CSV) and SlowFast (split on one space): exactly 2 fields."""
    items = []
    for line in path.read_text().splitlines():
        fields = line.split(" ")
        assert len(fields) == 2, line
        items.append((os.path.join(prefix, fields[0]), int(fields[1])))
    return items


def labels_of(cfg):
    return (cfg.target.parent / "labels.txt").read_text().splitlines()


def test_every_format_reads_back(split):
    cfg = split(frame_name="img_{:05d}.jpg")
    result = write_lists(cfg, LIST_FORMATS)
    labels = labels_of(cfg)
    assert labels == ["abseiling", "air_drumming", "zumba"] == sorted(labels)
    expected = {("air_drumming/-a_b_000001_000011", 1), ("air_drumming/c_000000_000010", 1),
                ("abseiling/d_000000_000010", 0), ("zumba/e_000000_000010", 2)}
    for fmt in ("mmaction2", "paddlevideo"):
        path = cfg.target.parent / f"train.{fmt}.txt"
        assert result.lists[fmt] == path == list_path(cfg.target, fmt)
        items = read_rawframes(path, str(cfg.target))
        assert {(os.path.relpath(d, cfg.target), label) for d, _, label in items} == expected
        for frame_dir, total, label in items:
            # The loader reads frames 1..total by its template: all must exist.
            assert total == 8 == len(os.listdir(frame_dir))
            assert all(os.path.isfile(os.path.join(frame_dir, f"img_{i:05d}.jpg")) for i in range(1, total + 1))
            assert labels[label] == os.path.basename(os.path.dirname(frame_dir))
    for fmt in ("videomae", "slowfast"):
        items = read_path_label(cfg.target.parent / f"train.{fmt}.txt", str(cfg.target))
        assert {(os.path.relpath(p, cfg.target), label) for p, label in items} == expected
        assert all(os.path.isdir(p) for p, _ in items)
    leftovers = [n for n in os.listdir(cfg.target.parent) if n.startswith(".")]
    assert leftovers == []  # temp files of the atomic writes are gone


def test_total_frames_come_from_disk(split):
    cfg = split()
    (cfg.target / "zumba" / "e_000000_000010" / "frame_00008.jpg").unlink()
    result = write_lists(cfg, ["mmaction2"])
    totals = {os.path.relpath(d, cfg.target): n for d, n, _ in read_rawframes(result.lists["mmaction2"], str(cfg.target))}
    assert totals["zumba/e_000000_000010"] == 7 and totals["abseiling/d_000000_000010"] == 8
    assert result.short == [("zumba/e_000000_000010", 7)]


def test_spaces_in_class_names_are_refused_naming_the_key(split, tmp_path):
    cfg = split(class_names="keep")
    assert (cfg.target / "air drumming").is_dir()
    with pytest.raises(ListFormatError, match="class_names"):
        write_lists(cfg, ["slowfast"])
    config_file = tmp_path / "cfg.yaml"
    config_file.write_text(f"source: {cfg.source}\ntarget: {cfg.target}\nnum_frames: 8\n")
    out = run_cli("lists", "--config", str(config_file), "--format", "all")
    assert out.returncode == 2 and "class_names" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert not any(n.endswith(".txt") for n in os.listdir(cfg.target.parent))


def test_labels_are_shared_by_splits(make_clip, config, tmp_path):
    for rel in CLIPS:
        make_clip(rel, seconds=0.1)
    train = config(num_frames=4, class_names="underscore")
    run_extract(train)
    write_lists(train, ["videomae"])
    # A val split that lacks a class must keep train's indices.
    val = config(num_frames=4, class_names="underscore", target=str(train.target.parent / "val"))
    run_extract(val)
    for clip in (val.target / "abseiling").iterdir():
        for frame in clip.iterdir():
            frame.unlink()
        clip.rmdir()
    (val.target / "abseiling").rmdir()
    write_lists(val, ["videomae"])
    assert labels_of(val) == ["abseiling", "air_drumming", "zumba"]
    val_labels = {p.split("/")[0]: int(label) for p, label in
                  (line.split(" ") for line in (val.target.parent / "val.videomae.txt").read_text().splitlines())}
    assert val_labels == {"air_drumming": 1, "zumba": 2}


def test_cli_writes_all_formats(split, tmp_path):
    cfg = split()
    config_file = tmp_path / "cfg.yaml"
    config_file.write_text(f"source: {cfg.source}\ntarget: {cfg.target}\nnum_frames: 8\nclass_names: underscore\n")
    out = run_cli("lists", "--config", str(config_file), "--format", "all")
    assert out.returncode == 0, out.stderr
    for fmt in LIST_FORMATS:
        assert str(cfg.target.parent / f"train.{fmt}.txt") in out.stdout
        assert len((cfg.target.parent / f"train.{fmt}.txt").read_text().splitlines()) == len(CLIPS)
    assert str(cfg.target.parent / "labels.txt") in out.stdout
