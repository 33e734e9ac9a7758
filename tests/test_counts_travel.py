"""A clip's record (decoded and padded counts, digest) reaches disk with the
clip: in a packed store's transaction, or in the run's journal before a
folder's rename.  An interrupt between a clip and its manifest line must
leave a split whose manifest, card and decoded lists equal an uninterrupted
run's."""

from __future__ import annotations

import dataclasses
import json

import pytest

from k400frames.run import runner
from k400frames.run.card import build_card
from k400frames.run.records import RecordWriter, read_records
from k400frames.run.runner import run_extract
from k400frames.tools.lists import write_lists

from helpers import record_file

N = 6
COUNTED = ("rel", "decoded", "padded", "cut", "digest")


@pytest.fixture
def clips(make_clip):
    make_clip("a/short.mp4", seconds=0.2, fps=10)  # 2 real frames, 4 pads
    make_clip("a/long.mp4", seconds=1.0, fps=10)  # cut
    make_clip("b/exact.mp4", seconds=0.6, fps=10)  # exactly N


def latest_rows(cfg) -> dict[str, dict]:
    rows: dict[str, dict] = {}
    for row in read_records([record_file(cfg.target, "manifest")]):
        rows[row["rel"]] = {k: row.get(k) for k in COUNTED}
    return rows


def interrupted_before_the_manifest_line(cfg, monkeypatch, rel: str):
    """Run ``cfg`` as if Ctrl-C came after ``rel`` was put in its store and
    before its manifest line was written; the run stops there."""
    real_write = RecordWriter.write

    def write(self, record):
        if self.path.name.startswith(f"{cfg.target.name}.manifest") and record.get("rel") == rel:
            raise KeyboardInterrupt
        real_write(self, record)

    monkeypatch.setattr(RecordWriter, "write", write)
    summary = run_extract(dataclasses.replace(cfg, workers=1))
    monkeypatch.setattr(RecordWriter, "write", real_write)
    return summary


@pytest.mark.parametrize("store", ["files", "lmdb"])
def test_an_interrupt_between_clip_and_manifest_line_loses_no_count(clips, config, tmp_path, monkeypatch, store):
    whole = config(num_frames=N, store=store, target=str(tmp_path / "whole" / "train"))
    assert run_extract(whole).failed == 0
    cut = config(num_frames=N, store=store, target=str(tmp_path / "cut" / "train"))
    stopped = interrupted_before_the_manifest_line(cut, monkeypatch, "a/short")
    assert stopped.interrupted and "a/short" not in latest_rows(cut)
    if store == "files":
        assert (cut.target / "a" / "short").is_dir()  # published, with no manifest line
        journal = cut.target.parent / "train.journal.jsonl"
        assert "a/short" in {row["rel"] for row in read_records([journal])}  # but written ahead
    again = run_extract(cut)
    assert again.failed == 0 and again.done + again.skipped == 3
    assert latest_rows(cut) == latest_rows(whole)
    adopted = [row for row in read_records([record_file(cut.target, "manifest")]) if row.get("adopted")]
    assert [row["rel"] for row in adopted] == ["a/short"] and adopted[0]["padded"] == N - 2
    one, two = build_card(whole), build_card(cut)
    for key in ("fingerprint", "clips", "padded_clips", "pad_frames", "cut_clips", "frames"):
        assert one[key] == two[key], key
    assert one["padded_clips"] == 1 and one["pad_frames"] == N - 2
    assert write_lists(whole, ("mmaction2",), frames="decoded").lists["mmaction2"].read_text() == (
        write_lists(cut, ("mmaction2",), frames="decoded").lists["mmaction2"].read_text()
    )
    assert not (cut.target.parent / "train.journal.jsonl").exists()  # a clean run leaves no journal


def test_a_clip_without_a_record_is_still_adopted(clips, config, monkeypatch):
    """A tree written by a release without journals: the clip is adopted with a bare line, not redone."""
    cfg = config(num_frames=N)
    interrupted_before_the_manifest_line(cfg, monkeypatch, "a/short")
    (cfg.target.parent / "train.journal.jsonl").unlink()
    again = run_extract(cfg)
    assert again.failed == 0 and again.done + again.skipped == 3 and again.done < 3
    adopted = [row for row in read_records([record_file(cfg.target, "manifest")]) if row.get("adopted")]
    assert adopted == [{"rel": "a/short", "adopted": True, "config": cfg.output_hash()}]


def test_a_journal_line_of_other_settings_is_not_trusted(clips, config, monkeypatch):
    cfg = config(num_frames=N)
    interrupted_before_the_manifest_line(cfg, monkeypatch, "a/short")
    journal = cfg.target.parent / "train.journal.jsonl"
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    journal.write_text("".join(json.dumps({**row, "config": "other"}) + "\n" for row in rows))
    run_extract(cfg)
    (adopted,) = [row for row in read_records([record_file(cfg.target, "manifest")]) if row.get("adopted")]
    assert "decoded" not in adopted


def test_the_runner_journals_before_it_publishes(clips, config, monkeypatch):
    """The journal line of a folder clip is on disk before its final name exists."""
    cfg = config(num_frames=N)
    seen: list[bool] = []
    real_write = RecordWriter.write

    def write(self, record):
        if self.path.name == "train.journal.jsonl":
            seen.append((cfg.target / record["rel"]).exists())
        real_write(self, record)

    monkeypatch.setattr(RecordWriter, "write", write)
    assert runner.run_extract(cfg).done == 3
    assert seen == [False, False, False]


def test_a_store_and_manifest_written_by_the_last_release_resume_as_they_are(clips, config):
    """An LMDB store of the last release (members only, no records beside
    them) with its manifest: the run finds every clip done, nothing redone,
    no ConfigChanged."""
    from k400frames.layout import Layout
    from k400frames.run.records import RecordWriter
    from k400frames.stores.lmdb import RECORD_PREFIX, LmdbEnv

    cfg = config(num_frames=N, store="lmdb")
    first = run_extract(cfg)
    assert first.done == 3
    path = Layout(cfg.target).store(".lmdb", None)
    env = LmdbEnv.open_write(path)  # take the records away, as the last release never wrote them
    keys = list(env.keys(RECORD_PREFIX))
    env.put([], replace_prefix=RECORD_PREFIX)
    assert keys and not list(env.keys(RECORD_PREFIX))
    env.close()
    rows = list(read_records([record_file(cfg.target, "manifest")]))
    old = [{k: v for k, v in row.items() if k != "digest"} for row in rows]  # and an older manifest shape
    record_file(cfg.target, "manifest").unlink()
    writer = RecordWriter(record_file(cfg.target, "manifest"))
    for row in old:
        writer.write(row)
    writer.close()
    again = run_extract(cfg)
    assert (again.done, again.skipped, again.failed) == (0, 3, 0)
