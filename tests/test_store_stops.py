"""Stores that never lie: a split whose clips sit partly in shard stores is
never reported whole or listed; a store that cannot be written stops the
run at once; readers beside a writer never see a map resize pull their
transactions away."""

from __future__ import annotations

import threading

import lmdb
import pytest

from k400frames.errors import ListFormatError
from k400frames.layout import Layout
from k400frames.run.merge import merge_shards
from k400frames.run.runner import run_extract
from k400frames.stores.lmdb import LmdbEnv, move_into
from k400frames.tools.lists import write_lists
from k400frames.tools.verify import verify_tree

from helpers import run_main


@pytest.fixture
def sharded(make_clip, config):
    """A split run as two shards into their own LMDB stores, not merged."""
    for i in range(6):
        make_clip(f"c{i % 3}/clip{i}.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=3, store="lmdb")
    for k in (0, 1):
        assert run_extract(cfg, shard=(k, 2)).failed == 0
    return cfg


def test_verify_and_lists_see_shard_stores_and_refuse_until_merged(sharded, capfd):
    cfg = sharded
    report = verify_tree(cfg.target, cfg.num_frames)
    assert not report.ok and report.clips == 6  # every clip is seen, in whichever store it sits
    (pending,) = [p for p in report.problems if p.kind == "merge-pending"]
    assert "2 shard stores of the split are not merged" in pending.detail and "k400frames merge" in pending.detail
    with pytest.raises(ListFormatError, match="no lists written: 2 shard stores"):
        write_lists(cfg, ("mmaction2",))
    assert not (cfg.target.parent / "labels.txt").exists()
    out = run_main(capfd, "verify", "--config", "/dev/null", "--set", f"target={cfg.target}", "--set", "num_frames=3")
    assert out.returncode == 1 and "merge" in out.stdout + out.stderr
    merge_shards(cfg)
    assert verify_tree(cfg.target, cfg.num_frames).ok
    lists = write_lists(cfg, ("mmaction2",))
    assert lists.clips == 6 and (cfg.target.parent / "labels.txt").read_text().split() == ["c0", "c1", "c2"]


def test_a_merge_stopped_between_shard_stores_is_not_whole(sharded):
    cfg = sharded
    layout = Layout(cfg.target)
    first, second = layout.shard_stores(".lmdb")
    whole = LmdbEnv.open_write(layout.store(".lmdb", None))
    move_into(whole, [first])  # the merge was killed before the second shard store
    whole.close()
    report = verify_tree(cfg.target, cfg.num_frames)
    assert not report.ok and report.clips == 6
    assert [p.detail for p in report.problems if p.kind == "merge-pending"][0].startswith("1 shard store")
    with pytest.raises(ListFormatError, match=second.name):
        write_lists(cfg, ("all",))


class _FailingCommits:
    """An lmdb Environment whose write transactions fail to commit after ``good``
    of them, as LMDB's own commit fails when the disk fills mid-write (EIO)."""

    def __init__(self, env, good: int):
        self._env, self._good = env, good

    def __getattr__(self, name):
        return getattr(self._env, name)

    def begin(self, write=False, **kwargs):
        txn = self._env.begin(write=write, **kwargs)
        if not write:
            return txn
        self._good -= 1
        return _CommitFails(txn) if self._good < 0 else txn


class _CommitFails:
    def __init__(self, txn):
        self._txn = txn

    def __getattr__(self, name):
        return getattr(self._txn, name)

    def __enter__(self):
        return self._txn.__enter__()

    def __exit__(self, *exc):
        self._txn.abort()
        raise lmdb.Error("mdb_txn_commit: Input/output error")


def test_a_store_that_cannot_commit_stops_the_run_at_once(make_clip, config, monkeypatch):
    import types

    from k400frames.stores import lmdb as lmdb_store

    for i in range(6):
        make_clip(f"c/clip{i}.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=3, store="lmdb", workers=1)
    proxy = types.SimpleNamespace(**{name: getattr(lmdb, name) for name in dir(lmdb) if not name.startswith("__")})
    proxy.open = lambda *args, **kwargs: _FailingCommits(lmdb.open(*args, **kwargs), good=2)
    monkeypatch.setattr(lmdb_store, "load_lmdb", lambda: proxy)
    summary = run_extract(cfg)
    assert summary.error.startswith("cannot write the store") and "Input/output error" in summary.error
    assert summary.done == 2 and summary.failed == 0  # no later clip was tried and recorded as failed
    assert summary.exit_code == 1
    monkeypatch.undo()
    again = run_extract(cfg)
    assert again.failed == 0 and again.done == 4 and again.skipped == 2


class _Txn:
    def __init__(self, env):
        self.env = env

    def abort(self):
        self.env.open -= 1


class _Env:
    """Counts open read transactions and records how many were open at each resize."""

    def __init__(self):
        self.open = 0
        self.resized_with_open: list[int] = []
        self.resized = threading.Event()
        self.grown = False

    def begin(self, write=False, buffers=False):
        if not self.grown:
            self.grown = True
            raise lmdb.MapResizedError("a writer grew the map")
        self.open += 1
        return _Txn(self)

    def set_mapsize(self, size):
        self.resized_with_open.append(self.open)
        self.resized.set()


def test_a_map_resize_waits_for_the_other_readers(tmp_path):
    env = LmdbEnv(tmp_path, _Env(), write=False)
    env._env.grown = True  # the first reader opens at once
    holding, release = threading.Event(), threading.Event()

    def first_reader():
        with env._reading():
            holding.set()
            release.wait(10)

    reader = threading.Thread(target=first_reader)
    reader.start()
    assert holding.wait(10)
    env._env.grown = False  # the next begin finds the map grown by another process
    second = threading.Thread(target=lambda: env._reading().__enter__())
    second.start()
    assert not env._env.resized.wait(0.2)  # it waits while the first transaction is open
    release.set()
    reader.join(10)
    second.join(10)
    assert env._env.resized_with_open == [0]


def test_the_lmdb_snippet_names_every_split_store(make_clip, config, tmp_path):
    make_clip("a/one.mp4", seconds=0.3, fps=10)
    for split in ("train", "val"):
        run_extract(config(num_frames=3, store="lmdb", target=str(tmp_path / "out" / split)))
    text = write_lists(config(num_frames=3, store="lmdb", target=str(tmp_path / "out" / "val")), ("mmaction2",))
    snippet = text.snippet_text
    assert f"db_path='{tmp_path / 'out' / 'val.lmdb'}'" in snippet
    assert (
        f"`train`: `{tmp_path / 'out' / 'train.lmdb'}`" in snippet
        and f"`val`: `{tmp_path / 'out' / 'val.lmdb'}`" in snippet
    )


def test_a_merge_moves_whole_clips_so_a_stopped_one_shows_no_part_of_a_clip(tmp_path):
    source = LmdbEnv.open_write(tmp_path / "train.shard-0-of-2.lmdb")
    for k in range(6):  # clips of 5 frames of 4 KB: a 10 KB batch would end inside every second clip
        source.put_clip(f"train/c/clip{k}", [(f"/frame_{i:05d}.jpg", bytes([k, i]) * 2048) for i in range(1, 6)])
    source.close()
    target = LmdbEnv.open_write(tmp_path / "train.lmdb")
    real_put, commits = LmdbEnv.put, []

    def put_then_die(self, items, **kwargs):
        if len(commits) == 2:
            raise KeyboardInterrupt  # the merge is killed after two transactions
        commits.append([key for key, _ in items])
        return real_put(self, items, **kwargs)

    from k400frames.stores import lmdb as lmdb_store

    reader = LmdbEnv.open_read(tmp_path / "train.shard-0-of-2.lmdb")
    try:
        LmdbEnv.put = put_then_die
        with pytest.raises(KeyboardInterrupt):
            lmdb_store.merge_into(target, [reader], batch_bytes=10_000)
    finally:
        LmdbEnv.put = real_put
        reader.close()
    keys = list(target.keys())
    target.close()
    clips: dict[str, int] = {}
    for key in keys:
        clip = key.rsplit("/", 1)[0]
        clips[clip] = clips.get(clip, 0) + 1
    assert clips and len(clips) < 6 and set(clips.values()) == {5}  # whole clips only, and not all of them
