"""Resume at scale: finished clips are looked up in one listing per class
folder (no stat per clip), and that listing trusts no more than a stat did."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from k400frames import ffmpeg
from k400frames.layout import Layout
from k400frames.run import preflight
from k400frames.run.runner import run_extract
from k400frames.stores import ClipKey
from k400frames.stores.folder import FolderStore

from helpers import frame_files, record_file

N = 4


def test_resume_redoes_deleted_and_half_clips_and_adopts_whole_ones(make_clip, config, monkeypatch):
    for name in ("a/one", "a/two", "b/three", "b/four", "b/five"):
        make_clip(f"{name}.mp4", seconds=0.3)
    cfg = config(num_frames=N)
    first = run_extract(cfg)
    assert first.done == 5
    rows = {json.loads(line)["rel"]: line for line in record_file(cfg.target, "manifest").read_text().splitlines()}
    # a/one: recorded, but its folder was deleted since -> redone.
    shutil.rmtree(cfg.target / "a" / "one")
    # b/four: a half folder without a record (a run died mid-publish) -> never trusted, redone.
    # b/five: a whole folder without a record (died between publish and record) -> adopted.
    for rel in ("b/four", "b/five"):
        del rows[rel]
    record_file(cfg.target, "manifest").write_text("".join(line + "\n" for line in rows.values()))
    os.unlink(cfg.target / "b" / "four" / f"frame_{N:05d}.jpg")
    # b/three: recorded, but a file stands where its folder should be -> redone.
    shutil.rmtree(cfg.target / "b" / "three")
    (cfg.target / "b" / "three").write_bytes(b"not a clip")

    scans = []
    real_scandir = os.scandir
    monkeypatch.setattr(preflight.os, "scandir", lambda path: scans.append(str(path)) or real_scandir(path))
    again = run_extract(cfg)
    assert (again.done, again.skipped, again.failed) == (3, 2, 0)
    for rel in ("a/one", "b/three", "b/four"):
        assert frame_files(cfg.target / rel) == [f"frame_{i:05d}.jpg" for i in range(1, N + 1)]
    adopted = [json.loads(line) for line in record_file(cfg.target, "manifest").read_text().splitlines()]
    assert {"rel": "b/five", "adopted": True, "config": cfg.output_hash()} in adopted
    # One listing per class folder, not one per clip, and one pass: the preflight's plan serves the run.
    class_scans = [path for path in scans if os.path.dirname(path) == str(cfg.target)]
    assert sorted(class_scans) == sorted([str(cfg.target / "a"), str(cfg.target / "b")])


def test_the_folder_store_tells_folders_from_files(tmp_path):
    (tmp_path / "c" / "clip").mkdir(parents=True)
    (tmp_path / "c" / "video.mp4").write_bytes(b"x")
    os.symlink(tmp_path / "c" / "clip", tmp_path / "c" / "linked")
    store = FolderStore(Layout(tmp_path))
    assert store.has(ClipKey("c", "clip", folder=True))
    assert not store.has(ClipKey("c", "clip", folder=False))
    assert store.has(ClipKey("c", "video.mp4", folder=False))
    assert not store.has(ClipKey("c", "video.mp4", folder=True))
    assert store.has(ClipKey("c", "linked", folder=True))  # follows symlinks, as is_dir() did
    assert not store.has(ClipKey("c", "absent", folder=True))
    assert not store.has(ClipKey("no-class", "clip", folder=True))
    with pytest.raises(ValueError):  # only entries of the class folder
        store.has(ClipKey("c", "../c/clip", folder=True))


def test_cached_commands_differ_only_in_their_input(tmp_path, ffmpeg_exe):
    one = ffmpeg.extract_command(ffmpeg_exe, tmp_path / "a b.mp4", 5, encoder_options={"q:v": 2})
    two = ffmpeg.extract_command(ffmpeg_exe, tmp_path / "-x%.mp4", 5, encoder_options={"q:v": 2})
    assert ffmpeg.file_url(tmp_path / "a b.mp4") in one and ffmpeg.file_url(tmp_path / "-x%.mp4") in two
    assert ffmpeg.INPUT_STAND_IN not in one + two
    assert [a for a in one if "a b" not in a] == [a for a in two if "-x%" not in a]
    other = ffmpeg.extract_command(ffmpeg_exe, tmp_path / "a b.mp4", 7, encoder_options={"q:v": 2})
    assert "7" in other and other != one  # another setting, another command
