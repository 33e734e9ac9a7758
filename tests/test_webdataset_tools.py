"""store: webdataset through the tools: preview of a clip in a shard, the
dry run's shards and bytes, --retry-failed and --overwrite ending with the
shards of a run that never failed, merge of shard series, and the card and
lists naming how many classes the least mixed shard holds."""

from __future__ import annotations

import hashlib
import json

import pytest

from k400frames.layout import Layout
from k400frames.run.dryrun import dry_run, format_dry_run
from k400frames.run.merge import merge_shards
from k400frames.run.runner import run_extract
from k400frames.stores.webdataset import INDEX_FILE
from k400frames.tools.preview import make_store_preview

from helpers import jpeg_size, run_main


def shard_sums(store) -> list[tuple[str, str]]:
    return [(p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in sorted(store.glob("*.tar"))]


def wds(config, tmp_path, name="stored", **settings):
    settings = {"num_frames": 6, "shard_size": 45_000, **settings}
    cfg = config(**settings, target=str(tmp_path / name / "train"), store="webdataset")
    return cfg, tmp_path / name / "train.wds"


@pytest.fixture
def many(make_clip):
    for cls in "abc":
        for i in range(3):
            make_clip(f"{cls}/{cls}{i}.mp4", seconds=0.2 + i / 10, fps=10)


def test_preview_of_a_clip_in_a_shard(make_clip, config, tmp_path, capfd):
    make_clip("a/short.mp4", seconds=0.3, fps=10)  # 3 real frames, padded to 6
    make_clip("b/other.mp4", seconds=0.8, fps=10)
    cfg, store = wds(config, tmp_path)
    assert run_extract(cfg).failed == 0
    sheet = make_store_preview(store, "a/short", tmp_path / "sheet.jpg", (3, 2))
    assert (tmp_path / "sheet.jpg").is_file() and jpeg_size((tmp_path / "sheet.jpg").read_bytes()) == sheet.size
    assert sheet.tiles == [1, 2, 3, 4, 5, 6] and sheet.total_frames == 6
    assert (sheet.real_frames, sheet.padding_source) == (3, "manifest")
    proc = run_main(capfd, "preview", f"{store}:b/other", "-o", str(tmp_path / "cli.png"), "--grid", "2x3")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "cli.png").is_file() and "6 frames" in proc.stdout
    proc = run_main(capfd, "preview", f"{store}:b/nope", "-o", str(tmp_path / "nope.png"))
    assert proc.returncode != 0 and "no clip b/nope" in proc.stderr


def test_dry_run_gives_the_shards_and_their_bytes(make_clip, config, tmp_path):
    for cls in "abcd":
        for i in range(4):
            make_clip(f"{cls}/{cls}{i}.mp4", seconds=0.3, fps=10)
    cfg, store = wds(config, tmp_path)
    report = dry_run(cfg)
    plan = report.store_plan
    assert plan["shard_size"] == 45_000 and 1 <= plan["shards_low"] <= plan["shards_high"]
    assert plan["shard_bytes_low"] <= plan["shard_bytes_high"]
    # the cut writes the shards beside the staged clips: the needs count the bytes twice
    assert report.need_bytes >= 2 * plan["shard_bytes_high"] - 4096
    text = format_dry_run(report)
    assert "shards: about" in text and "of at most 45.0 KB" in text
    assert not store.exists()
    assert run_extract(cfg).failed == 0
    index = json.loads((store / INDEX_FILE).read_text())
    made = sum(s["bytes"] for s in index["shards"])
    assert plan["shard_bytes_low"] * 0.8 <= made <= plan["shard_bytes_high"] * 1.2
    assert plan["shards_low"] - 1 <= len(index["shards"]) <= plan["shards_high"] + 1
    # once done, the dry run counts the shards there
    again = dry_run(cfg)
    assert again.todo == 0


def test_retry_failed_puts_the_redone_clip_in_its_seeded_place(many, make_clip, config, tmp_path):
    whole, whole_store = wds(config, tmp_path, name="whole")
    broken = whole.source / "b" / "fixme.mp4"
    make_clip("b/fixme.mp4", seconds=0.4, fps=10)
    assert run_extract(whole).failed == 0
    good = broken.read_bytes()
    broken.write_bytes(b"\0" * 100)
    cfg, store = wds(config, tmp_path)
    assert run_extract(cfg).failed == 1
    rels = [r for s in json.loads((store / INDEX_FILE).read_text())["shards"] for r, _, _ in s["samples"]]
    assert "b/fixme" not in rels and len(rels) == 9
    broken.write_bytes(good)  # the user repairs the file
    summary = run_extract(cfg, retry_failed=True)
    assert (summary.total, summary.done, summary.failed) == (1, 1, 0)
    assert shard_sums(store) == shard_sums(whole_store)
    index, whole_index = (json.loads((s / INDEX_FILE).read_text()) for s in (store, whole_store))
    assert index["shards"] == whole_index["shards"]  # the same samples at the same places; only the generation differs


def test_overwrite_with_other_settings_equals_a_fresh_run(many, config, tmp_path):
    fresh, fresh_store = wds(config, tmp_path, name="fresh", num_frames=4)
    assert run_extract(fresh).failed == 0
    cfg, store = wds(config, tmp_path)
    assert run_extract(cfg).failed == 0
    before = shard_sums(store)
    cfg4, _ = wds(config, tmp_path, num_frames=4)
    summary = run_extract(cfg4, overwrite=True)
    assert summary.failed == 0 and summary.done == 9
    assert shard_sums(store) == shard_sums(fresh_store) != before
    assert not (store / "staging").exists()


def test_merge_of_shard_series_equals_the_unsharded_run(many, config, tmp_path):
    # a seed and shard size of their own: merge cuts with the config's, not the defaults
    whole, whole_store = wds(config, tmp_path, name="whole", seed=7)
    assert run_extract(whole).failed == 0
    cfg, store = wds(config, tmp_path, seed=7)
    for k in range(3):
        assert run_extract(cfg, shard=(k, 3)).failed == 0
    assert len(list((tmp_path / "stored").glob("train.shard-*-of-3.wds"))) == 3
    result = merge_shards(cfg)
    assert len(result.shards) == 3 and result.keys == 9
    assert shard_sums(store) == shard_sums(whole_store)
    assert not list((tmp_path / "stored").glob("train.shard-*"))
    from k400frames.tools.verify import verify_tree

    assert verify_tree(cfg.target, 6).ok


def test_card_and_lists_say_how_mixed_the_least_mixed_shard_is(many, config, tmp_path):
    from k400frames.tools.lists import write_lists

    cfg, store = wds(config, tmp_path, shard_size=30_000)
    assert run_extract(cfg).failed == 0
    shards = json.loads((store / INDEX_FILE).read_text())["shards"]
    fewest = min(s["classes"] for s in shards)
    card = json.loads(Layout(cfg.target).card_json.read_text())
    facts = card["store"]
    assert facts["kind"] == "webdataset" and facts["shards"] == len(shards) > 1
    assert facts["classes_in_least_mixed_shard"] == fewest
    assert facts["shard_bytes"] == sum(s["bytes"] for s in shards)
    noun = "class" if fewest == 1 else "classes"
    assert f"the least class-mixed shard holds {fewest} {noun}" in Layout(cfg.target).card_md.read_text()
    snippet = write_lists(cfg, ["webdataset"]).snippet_text
    assert f"the least class-mixed shard holds {fewest} {noun}" in snippet
    # a folder split's card has no store line
    folders = config(num_frames=6, target=str(tmp_path / "folders" / "train"))
    assert run_extract(folders).failed == 0
    assert "shards" not in Layout(folders.target).card_md.read_text()
    assert json.loads(Layout(folders.target).card_json.read_text())["store"] == {"kind": "files", "line": ""}
