"""The dataset card: <split>.card.json and .md, written at the end of a run
(or by `k400frames card` for a job array), and its fingerprint."""

from __future__ import annotations

import json
import os
import shutil

import pytest

import k400frames
from k400frames.files import measure_tree
from k400frames.layout import Layout
from k400frames.run.card import write_card
from k400frames.run.lock import TargetLock
from k400frames.run.runner import run_extract
from k400frames.sources.tree import shard_of

from helpers import record_file, run_cli, run_main, set_args

NUM_FRAMES = 10


@pytest.fixture
def tree(make_clip):
    """Five clips in three classes, in both shards of 2: cut, padded, 25 and 30 fps."""
    specs = [
        ("abseiling", "--uWuXty1jw_000010_000020", 0.5, 30),
        ("abseiling", "short_000000_000001", 0.2, 25),
        ("air drumming", "pal_000000_000010", 0.3, 25),
        ("air drumming", "o'brien_000000_000010", 0.4, 30),
        ("zumba", "café_000000_000010", 0.2, 30),
    ]
    for cls, name, seconds, fps in specs:
        make_clip(f"{cls}/{name}.mp4", seconds=seconds, fps=fps)
    rels = [f"{cls}/{name}" for cls, name, _, _ in specs]
    assert {shard_of(rel, 2) for rel in rels} == {0, 1}  # both shards hold clips
    return rels


def card_of(target) -> dict:
    return json.loads(Layout(target).card_json.read_text(encoding="utf-8"))


def test_fingerprint_is_the_content_whatever_the_run(tree, config, tmp_path):
    plain = run_extract(config(num_frames=NUM_FRAMES, workers=1))
    assert plain.card == Layout(plain.target).card_json and plain.fingerprint
    assert card_of(plain.target)["fingerprint"] == plain.fingerprint

    # The same split by two shards of a job array, with three workers each.
    sharded_target = tmp_path / "sharded" / "train"
    sharded = config(num_frames=NUM_FRAMES, workers=3, target=str(sharded_target))
    first = run_extract(sharded, shard=(1, 2))
    assert first.card is None and "shard 0/2 has not run" in first.card_note
    assert not Layout(sharded_target).card_json.exists()
    second = run_extract(sharded, shard=(0, 2))  # the last shard to end writes it
    assert second.card == Layout(sharded_target).card_json
    assert second.fingerprint == plain.fingerprint
    assert card_of(sharded_target)["shards"] == ["0/2", "1/2"]

    # Another worker count, and hardlinked pads instead of copies: same bytes, same fingerprint.
    other = run_extract(config(num_frames=NUM_FRAMES, workers=2, pad="hardlink", target=str(tmp_path / "o" / "train")))
    assert other.fingerprint == plain.fingerprint

    # The same frames in an LMDB store (whose keys are ASCII: those clips
    # only) give the same fingerprint, also for a clip hashed from the store
    # when the card is made.
    ascii_src = tmp_path / "ascii-src"
    shutil.copytree(tmp_path / "src", ascii_src, ignore=lambda _, names: [n for n in names if not n.isascii()])
    in_files = run_extract(config(num_frames=NUM_FRAMES, source=str(ascii_src), target=str(tmp_path / "f" / "train")))
    stored = config(num_frames=NUM_FRAMES, source=str(ascii_src), store="lmdb", target=str(tmp_path / "s" / "train"))
    assert run_extract(stored).fingerprint == in_files.fingerprint != plain.fingerprint
    manifest = Layout(stored.target).record("manifest")
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    rows[0].pop("digest")
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    assert write_card(stored).fingerprint == in_files.fingerprint

    # Other content: another num_frames.
    longer = run_extract(config(num_frames=NUM_FRAMES + 1, target=str(tmp_path / "n" / "train")))
    assert longer.fingerprint != plain.fingerprint


def test_card_fields_and_markdown(tree, make_clip, config, tmp_path, capfd):
    (tmp_path / "src" / "zumba" / "empty_000000_000010.mp4").write_bytes(b"")  # fails: 0 bytes
    cfg = config(num_frames=NUM_FRAMES)
    summary = run_extract(cfg)
    assert summary.failed == 1 and summary.card is not None
    make_clip("zumba/late_000000_000010.mp4", seconds=0.2)  # arrives after the run: missing
    result = run_main(
        capfd, "card", *set_args(f"source={cfg.source}", f"target={cfg.target}", f"num_frames={NUM_FRAMES}")
    )
    assert result.returncode == 0, result.stderr
    card = card_of(cfg.target)
    assert f"fingerprint: {card['fingerprint']}" in result.stdout

    assert card["tool"] == {"name": "k400frames", "version": k400frames.__version__}
    assert card["ffmpeg"].startswith("ffmpeg version ")
    assert card["config"]["num_frames"] == NUM_FRAMES and card["config_hash"] == cfg.output_hash()
    assert card["per_class"] == {"abseiling": 2, "air drumming": 2, "zumba": 1}
    assert card["clips"] == 5 and card["classes"] == 3 and card["planned"] == 7
    assert card["failed"] == 1 and card["failed_clips"][0]["rel"] == "zumba/empty_000000_000010"
    assert card["failed_clips"][0]["stage"] == "input"
    assert card["missing"] == 1 and card["missing_clips"] == ["zumba/late_000000_000010"]

    rows = [json.loads(line) for line in record_file(cfg.target, "manifest").read_text().splitlines()]
    pads = sum(row["padded"] for row in rows)
    assert pads > 0 and card["pad_frames"] == pads
    assert card["padded_clips"] == sum(row["padded"] > 0 for row in rows)
    assert card["pad_share"] == round(pads / (5 * NUM_FRAMES), 6)
    assert card["cut_clips"] == sum(row["cut"] for row in rows) > 0
    files = [p for p in cfg.target.rglob("*") if p.is_file()]
    assert card["files"] == len(files) == 5 * NUM_FRAMES
    assert card["bytes"] == sum(p.stat().st_size for p in files)
    assert card["sources"]["sampled"] == 5 and card["sources"]["fps"] == {"30": 3, "25": 2}
    assert card["sources"]["size"] == {"64x48": 5} and card["sources"]["codec"] == {"h264": 5}
    # Nothing that depends on the machine or the run: no absolute path in the card's content keys.
    assert str(tmp_path) not in json.dumps({k: v for k, v in card.items() if k != "created"})

    md = Layout(cfg.target).card_md.read_text(encoding="utf-8")
    assert card["fingerprint"] in md and "failed 1, missing 1" in md and "fps 30 (3), 25 (2)" in md
    assert len(md.splitlines()) <= 15 and max(map(len, md.splitlines())) < 300


def test_card_refuses_while_a_shard_runs_or_has_not_run(tree, config, capfd):
    cfg = config(num_frames=NUM_FRAMES)
    args = ("card", "--set", f"source={cfg.source}", "--set", f"target={cfg.target}")
    run_extract(cfg, shard=(0, 2))
    missing = run_main(capfd, *args)
    assert missing.returncode == 2 and len(missing.stderr.strip().splitlines()) == 1
    assert "shard 1/2 has not run" in missing.stderr and not Layout(cfg.target).card_json.exists()
    with TargetLock(cfg.target, (1, 2)):  # the shard's run is this process, the card another:
        running = run_cli(*args)  # it finds the lock by its flock, as a user's card would
    assert running.returncode == 2 and "shard 1/2" in running.stderr and "still running" in running.stderr
    assert len(running.stderr.strip().splitlines()) == 1
    run_extract(cfg, shard=(1, 2))
    assert Layout(cfg.target).card_json.exists()


def test_clip_digest_is_names_and_bytes(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        (folder / "frame_00001.jpg").write_bytes(b"\xff\xd8abc\xff\xd9")
    shutil.copyfile(one / "frame_00001.jpg", one / "frame_00002.jpg")
    os.link(two / "frame_00001.jpg", two / "frame_00002.jpg")  # a hardlinked pad
    assert measure_tree(one)[1] == measure_tree(two)[1]  # same names, same bytes
    assert measure_tree(one)[0] == 14 and measure_tree(two)[0] == 7  # a hardlink counted once
    os.unlink(two / "frame_00002.jpg")
    (two / "frame_00002.jpg").write_bytes(b"\xff\xd8abd\xff\xd9")  # one byte
    assert measure_tree(one)[1] != measure_tree(two)[1]
    os.rename(two / "frame_00002.jpg", two / "frame_00003.jpg")
    shutil.copyfile(two / "frame_00001.jpg", two / "frame_00002.jpg")
    assert measure_tree(one)[1] != measure_tree(two)[1]  # same bytes, another name


def test_card_hashes_clips_without_a_digest_from_disk(tree, config, capfd):
    cfg = config(num_frames=NUM_FRAMES)
    summary = run_extract(cfg)
    manifest = record_file(cfg.target, "manifest")
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    # An adopted clip's row (a run died between publish and record) has no digest.
    rows[0] = {"rel": rows[0]["rel"], "adopted": True, "config": rows[0]["config"]}
    manifest.write_text("".join(json.dumps(row) + "\n" for row in rows))
    result = run_main(
        capfd, "card", *set_args(f"source={cfg.source}", f"target={cfg.target}", f"num_frames={NUM_FRAMES}")
    )
    assert result.returncode == 0, result.stderr
    card = card_of(cfg.target)
    assert card["hashed_at_card_time"] == 1 and card["fingerprint"] == summary.fingerprint


def test_source_mix_reads_mp4_indexes_and_asks_ffmpeg_for_other_containers(make_clip, config):
    make_clip("a/one_000000_000010.mp4", seconds=0.3, fps=25)
    make_clip("a/two_000000_000010.mkv", seconds=0.3, fps=30)
    cfg = config(num_frames=4)
    assert run_extract(cfg).done == 2
    sources = card_of(cfg.target)["sources"]
    # both readers name the codec and the rate alike: one mix, whatever the container
    assert sources["codec"] == {"h264": 2} and sources["fps"] == {"25": 1, "30": 1}
    assert sources["size"] == {"64x48": 2} and sources["unreadable"] == 0
