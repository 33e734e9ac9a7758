"""store: webdataset -- tar shards byte-identical in their members to folder
mode, deterministic, crash-safe, with labels fixed before the first clip."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tarfile

import pytest

from k400frames.errors import ConfigError, PreflightError, StoreError
from k400frames.layout import Layout
from k400frames.run.card import write_card  # noqa: F401  (the card is written by the run)
from k400frames.run.runner import run_extract
from k400frames.stores.webdataset import INDEX_FILE, LABELS_FILE, WebDatasetStore

from helpers import tree_bytes


def shard_members(store) -> list[tuple[str, bytes]]:
    """Every member of every shard of the store folder, in shard order, read by tarfile."""
    index = json.loads((store / INDEX_FILE).read_text())
    members = []
    for shard in index["shards"]:
        with tarfile.open(store / shard["name"]) as tar:
            for info in tar:
                members.append((info.name, tar.extractfile(info).read()))
    return members


def as_tree(members, frame_names=True) -> dict[str, bytes]:
    """Shard members as folder mode names them: ``<class>/<clip>/<frame>`` or ``<class>/<clip>.mp4``."""
    tree = {}
    for name, data in members:
        key, _, suffix = name.partition(".")
        if suffix in ("cls", "json"):
            continue
        tree[f"{key}/{suffix}" if suffix != "mp4" else f"{key}.mp4"] = data
    return tree


def shard_digests(store) -> list[tuple[str, str]]:
    return [(p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in sorted(store.glob("*.tar"))]


@pytest.fixture
def clips(make_clip):
    # two classes, a long one (cut), a short one (padded), one of exactly N
    return [
        make_clip("a/long.mp4", seconds=1.2, fps=10),
        make_clip("a/short.mp4", seconds=0.3, fps=10),
        make_clip("b/exact.mp4", seconds=0.6, fps=10),
        make_clip("c/other.mp4", seconds=0.5, fps=10),
    ]


def wds(config, tmp_path, name="stored", **settings):
    cfg = config(num_frames=6, **settings, target=str(tmp_path / name / "train"), store="webdataset")
    return cfg, tmp_path / name / "train.wds"


def test_frames_in_the_shards_are_the_folder_bytes_with_labels_and_meta(clips, config, tmp_path):
    folders = config(num_frames=6, target=str(tmp_path / "folders" / "train"))
    assert run_extract(folders).failed == 0
    cfg, store = wds(config, tmp_path)
    summary = run_extract(cfg)
    assert summary.failed == 0 and summary.done == 4 and summary.store == store
    members = shard_members(store)
    assert as_tree(members) == tree_bytes(folders.target)
    # labels: the source's class folders, sorted; recorded beside the split
    assert (store / LABELS_FILE).read_text() == "a\nb\nc\n"
    by_name = dict(members)
    assert by_name["b/exact.cls"] == b"1" and by_name["c/other.cls"] == b"2"
    meta = json.loads(by_name["a/short.json"])
    assert meta["class"] == "a" and meta["label"] == 0 and meta["decoded"] == 3 and meta["padded"] == 3
    assert meta["source"] == "a/short.mp4" and meta["fps"] == pytest.approx(10)
    # fixed headers, and the webdataset key of each member is <class>/<clip>
    for shard in sorted(store.glob("*.tar")):
        with tarfile.open(shard) as tar:
            for info in tar:
                assert (info.mode, info.uid, info.gid, info.uname, info.gname, info.mtime) == (0o644, 0, 0, "", "", 0)
    assert {name.partition(".")[0] for name, _ in members} == {"a/long", "a/short", "b/exact", "c/other"}
    # no staging left, and the index matches the shards
    assert not (store / "staging").exists()
    index = json.loads((store / INDEX_FILE).read_text())
    for shard in index["shards"]:
        data = (store / shard["name"]).read_bytes()
        assert shard["bytes"] == len(data) and shard["sha256"] == hashlib.sha256(data).hexdigest()


def test_videos_in_the_shards_are_the_folder_bytes(clips, config, tmp_path):
    folders = config(num_frames=6, output="video", target=str(tmp_path / "folders" / "train"))
    assert run_extract(folders).failed == 0
    cfg, store = wds(config, tmp_path, output="video")
    assert run_extract(cfg).failed == 0
    assert as_tree(shard_members(store)) == tree_bytes(folders.target)


def test_the_order_is_seeded_not_class_order_and_shards_close_at_shard_size(make_clip, config, tmp_path):
    for cls in "abcd":
        for i in range(4):
            make_clip(f"{cls}/{cls}{i}.mp4", seconds=0.2, fps=10)
    cfg, store = wds(config, tmp_path, shard_size=50_000)
    assert run_extract(cfg).failed == 0
    index = json.loads((store / INDEX_FILE).read_text())
    assert len(index["shards"]) > 1
    assert all(shard["bytes"] <= 50_000 for shard in index["shards"])
    order = [rel for shard in index["shards"] for rel, _, _ in shard["samples"]]
    assert sorted(order) != order and len(order) == 16
    # another seed, another order; the same seed, the same bytes
    other, other_store = wds(config, tmp_path, name="seed1", shard_size=50_000, seed=1)
    assert run_extract(other).failed == 0
    other_order = [r for s in json.loads((other_store / INDEX_FILE).read_text())["shards"] for r, _, _ in s["samples"]]
    assert other_order != order and sorted(other_order) == sorted(order)
    again, again_store = wds(config, tmp_path, name="again", shard_size=50_000, workers=1)
    assert run_extract(again).failed == 0
    assert shard_digests(again_store) == shard_digests(store)


def test_a_resumed_run_after_a_stop_gives_the_same_shards(make_clip, config, tmp_path):
    for cls in "ab":
        for i in range(3):
            make_clip(f"{cls}/{cls}{i}.mp4", seconds=0.2, fps=10)
    whole, whole_store = wds(config, tmp_path, name="whole", shard_size=45_000)
    assert run_extract(whole).failed == 0
    # a run that stops after its first clips: they stay staged, no shard is cut
    import threading

    stop = threading.Event()
    cfg, store = wds(config, tmp_path, shard_size=45_000, workers=1)

    class StopAfterTwo:
        n = 0

        def start(self, total, done=0):
            pass

        def update(self, *args, **kwargs):
            self.n += 1
            if self.n == 2:
                stop.set()

        def close(self):
            pass

    first = run_extract(cfg, progress=StopAfterTwo(), stop=stop)
    assert first.interrupted
    assert not list(store.glob("*.tar")) and list((store / "staging").rglob("*.tar"))
    assert run_extract(cfg).failed == 0
    assert shard_digests(store) == shard_digests(whole_store)


def test_names_that_would_not_round_trip_are_refused_before_any_work(make_clip, config, tmp_path):
    make_clip("a/has.dot.mp4", seconds=0.2, fps=10)
    make_clip("a/fine.mp4", seconds=0.2, fps=10)
    cfg, store = wds(config, tmp_path)
    with pytest.raises(PreflightError, match=r"clip names with a dot.*a/has\.dot"):
        run_extract(cfg)
    assert not store.exists()
    cfg, store = wds(config, tmp_path, frame_name="Frame_{:05d}.jpg")
    with pytest.raises(ConfigError, match="lowercase"):
        run_extract(cfg)
    assert not store.exists()


def test_labels_come_from_the_csv_and_a_changed_map_is_refused(make_clip, config, tmp_path):
    from helpers import write_csv

    make_clip("tai_chi/x_000001_000002.mp4", seconds=0.2, fps=10)
    csv = write_csv(
        tmp_path / "train.csv",
        [("abseiling", "y", 1, 2), ("tai chi", "x", 1, 2), ("zumba", "z", 1, 2)],
    )
    cfg, store = wds(config, tmp_path, annotations=str(csv), class_names="underscore")
    assert run_extract(cfg).failed == 0
    assert (store / LABELS_FILE).read_text() == "abseiling\ntai_chi\nzumba\n"
    by_name = dict(shard_members(store))
    assert by_name["tai_chi/x_000001_000002.cls"] == b"1"
    meta = json.loads(by_name["tai_chi/x_000001_000002.json"])
    assert (meta["youtube_id"], meta["start"], meta["end"]) == ("x", 1, 2)
    write_csv(csv, [("tai chi", "x", 1, 2), ("zumba", "z", 1, 2)])
    with pytest.raises(StoreError, match="class map"):
        run_extract(cfg)


def test_verify_checks_every_shard_against_the_index(clips, config, tmp_path):
    from k400frames.tools.verify import verify_tree

    cfg, store = wds(config, tmp_path)
    assert run_extract(cfg).failed == 0
    assert verify_tree(cfg.target, 6).ok
    assert verify_tree(store, 6).ok
    shard = next(store.glob("*.tar"))
    data = bytearray(shard.read_bytes())
    data[-2000] ^= 1  # inside the last sample's json or padding: the frames still read
    shard.write_bytes(bytes(data))
    report = verify_tree(cfg.target, 6)
    assert not report.ok and any(p.kind == "bad-shard" for p in report.problems)


def test_lists_give_the_shard_list_the_labels_and_the_snippet(clips, config, tmp_path):
    from k400frames.tools.lists import write_lists

    cfg, store = wds(config, tmp_path)
    assert run_extract(cfg).failed == 0
    result = write_lists(cfg, ["all"])
    assert list(result.lists) == ["webdataset"]
    lines = result.lists["webdataset"].read_text().splitlines()
    assert lines == sorted(f"train.wds/{p.name}" for p in store.glob("*.tar"))
    assert result.labels.read_text() == (store / LABELS_FILE).read_text()
    assert "train-" in result.snippet_text and "clip_dataset" in result.snippet_text
    with pytest.raises(Exception, match="mmaction2"):
        write_lists(cfg, ["mmaction2"])


def test_card_fingerprint_equals_folder_mode(clips, config, tmp_path):
    folders = config(num_frames=6, target=str(tmp_path / "folders" / "train"))
    assert run_extract(folders).failed == 0
    cfg, store = wds(config, tmp_path)
    assert run_extract(cfg).failed == 0
    card_f = json.loads(Layout(folders.target).card_json.read_text())
    card_w = json.loads(Layout(cfg.target).card_json.read_text())
    assert card_f["fingerprint"] == card_w["fingerprint"]


def test_shard_tasks_write_their_own_series_whose_union_is_the_whole_run(make_clip, config, tmp_path):
    for cls in "abc":
        for i in range(2):
            make_clip(f"{cls}/{cls}{i}.mp4", seconds=0.2, fps=10)
    whole, whole_store = wds(config, tmp_path, name="whole")
    assert run_extract(whole).failed == 0
    cfg, _ = wds(config, tmp_path)
    for k in (0, 1):
        assert run_extract(cfg, shard=(k, 2)).failed == 0
    series = sorted((tmp_path / "stored").glob("train.shard-*-of-2.wds"))
    assert len(series) == 2
    union = dict(m for s in series for m in shard_members(s))
    assert union == dict(shard_members(whole_store))
    # the split's lists see both series
    from k400frames.tools.lists import write_lists

    lines = write_lists(cfg, ["webdataset"]).lists["webdataset"].read_text().splitlines()
    assert len(lines) == 2 and all(".shard-" in line for line in lines)
    # the whole split's run moves them in and cuts the same shards as the unsharded run
    summary = run_extract(cfg)
    assert summary.failed == 0 and summary.merged_shards == 2 and summary.done == 0
    assert shard_digests(tmp_path / "stored" / "train.wds") == shard_digests(whole_store)
    assert not list((tmp_path / "stored").glob("train.shard-*"))


def test_a_store_can_be_read_back_by_key_and_previewed(clips, config, tmp_path):
    cfg, store = wds(config, tmp_path)
    assert run_extract(cfg).failed == 0
    opened = WebDatasetStore.open_split(store)
    try:
        from k400frames.stores import ClipKey

        view = opened.view(ClipKey("a", "short", True))
        assert sorted(view.sizes()) == [f"frame_{i:05d}.jpg" for i in range(1, 7)]
        assert opened.record(ClipKey("a", "short", True))["decoded"] == 3
    finally:
        opened.close()


KILLER = r"""
import os, sys
from k400frames.config import make_config
from k400frames.run.runner import run_extract
cfg = make_config({"source": sys.argv[1], "target": sys.argv[2], "num_frames": 6, "workers": 1,
                   "store": "webdataset", "shard_size": 45000})
run_extract(cfg)
"""


# Where to kill the writer: the n-th call of os.<function> on a path holding <part>.
KILL_POINTS = {
    "a fragment's rename": ("replace", "/staging/", 3),
    "the index commit": ("replace", "index.json", 1),
    "between the shards' renames": ("replace", "-000001.tar", 1),
    "while staging is emptied": ("unlink", "/staging/", 2),
}


@pytest.mark.parametrize("where", list(KILL_POINTS))
def test_kill_9_anywhere_then_a_plain_rerun_gives_the_same_shards(make_clip, config, tmp_path, where):
    for cls in "ab":
        for i in range(3):
            make_clip(f"{cls}/{cls}{i}.mp4", seconds=0.2, fps=10)
    whole, whole_store = wds(config, tmp_path, name="whole", shard_size=45_000)
    assert run_extract(whole).failed == 0
    assert len(list(whole_store.glob("*.tar"))) == 3
    cfg, store = wds(config, tmp_path, shard_size=45_000)
    function, part, nth = KILL_POINTS[where]
    hook = tmp_path / "sitecustomize.py"
    hook.write_text(
        f"import os, signal\n_real = os.{function}\n_n = [0]\n"
        "def hooked(path, *args, **kwargs):\n"
        f"    if {part!r} in os.fspath(args[0] if {function == 'replace'} else path):\n"
        "        _n[0] += 1\n"
        f"        if _n[0] == {nth}:\n            os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return _real(path, *args, **kwargs)\n"
        f"os.{function} = hooked\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(cfg.source), str(cfg.target)], env=env, capture_output=True, timeout=120
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    assert run_extract(cfg).failed == 0
    assert shard_digests(store) == shard_digests(whole_store)
    assert not [p for p in store.iterdir() if p.name.startswith(".")] and not (store / "staging").exists()
