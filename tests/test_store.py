"""store: lmdb -- every clip of a split in one LMDB, byte-identical to folder mode."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from k400frames.config import make_config
from k400frames.errors import ConfigError, DiskFull, PreflightError, RunInProgress
from k400frames.files import tree_bytes
from k400frames.layout import Layout
from k400frames.run.lock import TargetLock
from k400frames.run.runner import run_extract
from k400frames.stores.lmdb import RECORD_PREFIX, LmdbEnv, store_bytes

from helpers import gated, live_processes_mentioning, record_file, run_cli, set_args, started, wait_for
from helpers import tree_bytes as tree_files

lmdb = pytest.importorskip("lmdb", reason="store: lmdb needs the lmdb package (pip install 'k400frames[lmdb]')")


def delete_keys(path, prefix: bytes) -> None:
    """Remove the keys under ``prefix`` from the LMDB at ``path``, as damage would."""
    import lmdb

    env = lmdb.open(str(path), subdir=True)
    try:
        with env.begin(write=True) as txn:
            for key in [k for k, _ in txn.cursor() if k.startswith(prefix)]:
                txn.delete(key)
    finally:
        env.close()


def store_values(path) -> dict[str, bytes]:
    """The store's clip members (its keys less the records kept beside them)."""
    store = LmdbEnv.open_read(path)
    try:
        return {k: v for k, v in store.items() if not k.startswith(RECORD_PREFIX)}
    finally:
        store.close()


@pytest.fixture
def clips(make_clip):
    # a long one (cut), a short one (padded), one of exactly N at 10 fps
    return [
        make_clip("a/long.mp4", seconds=1.2, fps=10),
        make_clip("a/short.mp4", seconds=0.3, fps=10),
        make_clip("b/exact.mp4", seconds=0.6, fps=10),
    ]


def both(config, tmp_path, **settings):
    """Run the same config into folders and into a store; (folder values, store values, store path)."""
    folders = config(**settings, target=str(tmp_path / "folders" / "train"))
    store = config(**settings, target=str(tmp_path / "stored" / "train"), store="lmdb")
    assert run_extract(folders).failed == 0
    summary = run_extract(store)
    assert summary.failed == 0 and summary.done == 3
    path = Layout(store.target).store(".lmdb")
    assert path == tmp_path / "stored" / "train.lmdb"
    return tree_files(tmp_path / "folders" / "train" / ".."), store_values(path), path


def test_frames_in_the_store_are_the_folder_bytes(clips, config, tmp_path):
    files, stored, _ = both(config, tmp_path, num_frames=6)
    frames = {k: v for k, v in files.items() if k.endswith(".jpg")}
    assert len(frames) == 18 and set(stored) == set(frames)
    assert all(stored[key] == frames[key] for key in frames)
    # pads are full keys, byte-identical copies of the last real frame
    assert stored["train/a/short/frame_00006.jpg"] == stored["train/a/short/frame_00003.jpg"]
    assert stored["train/a/short/frame_00003.jpg"] != stored["train/a/short/frame_00002.jpg"]
    assert not (tmp_path / "stored" / "train").exists() or not any((tmp_path / "stored" / "train").iterdir())


def test_turbo_frames_in_the_store_are_the_folder_bytes(clips, config, tmp_path):
    pytest.importorskip("simplejpeg")
    files, stored, _ = both(config, tmp_path, num_frames=5, encoder="turbo")
    frames = {k: v for k, v in files.items() if k.endswith(".jpg")}
    assert set(stored) == set(frames) and all(stored[k] == frames[k] for k in frames)


def test_videos_in_the_store_are_the_folder_bytes(clips, config, tmp_path):
    files, stored, _ = both(config, tmp_path, num_frames=5, output="video")
    videos = {k: v for k, v in files.items() if k.endswith(".mp4")}
    assert set(stored) == {"train/a/long.mp4", "train/a/short.mp4", "train/b/exact.mp4"} == set(videos)
    assert all(stored[k] == videos[k] for k in videos)


def test_no_frame_file_touches_the_disk(clips, config, tmp_path, wrap_ffmpeg):
    # ffmpeg's own output argument: a pipe, never an image2 pattern of files
    log = tmp_path / "argv.log"
    spy = wrap_ffmpeg(f'echo "$@" >> "{log}"\nexec "$REAL" "$@"')
    cfg = config(num_frames=4, store="lmdb", ffmpeg=spy)
    assert run_extract(cfg).done == 3
    lines = [line for line in log.read_text().splitlines() if "-frames:v" in line]
    assert len(lines) == 3 and all(line.endswith("pipe:1") and "-f mpjpeg" in line for line in lines)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "train",
        "train.card.json",
        "train.card.md",
        "train.lmdb",
        "train.manifest.jsonl",
    ]


def test_video_store_is_within_five_percent_of_the_tree(make_clip, config, tmp_path):
    for name in ("a/one.mp4", "a/two.mp4", "b/three.mp4"):
        make_clip(name, seconds=2.0, fps=25, size="640x480")
    _, _, path = both(config, tmp_path, num_frames=50, output="video")
    tree = tree_bytes_all(tmp_path / "folders" / "train")
    size = store_bytes(path)  # data.mdb and lock.mdb, by apparent size
    assert size <= 1.05 * tree, (size, tree)
    assert not_sparse(path / "data.mdb")


def test_frame_store_holds_only_page_rounded_values_after_overwrite(clips, config, tmp_path):
    # Each value over ~2 KB takes whole 4 KB LMDB pages (16-byte header): the
    # store can be no smaller, and must be no bigger than that plus its tree
    # (no free pages left by an overwrite, no sparse map).
    cfg = config(num_frames=6, store="lmdb", size="320x240")
    run_extract(cfg)
    run_extract(config(num_frames=6, store="lmdb", size="320x240", jpeg_quality=3), overwrite=True)
    path = Layout(cfg.target).store(".lmdb")
    values = store_values(path)
    pages = sum(-(-(len(v) + 16) // 4096) if len(v) > 2000 else len(v) / 4096 for v in values.values())
    data = (path / "data.mdb").stat().st_size
    assert data <= (pages + 2 + 4) * 4096 * 1.02, (data, pages)  # + meta pages and a few tree pages
    assert not_sparse(path / "data.mdb")


def not_sparse(path) -> bool:
    return path.stat().st_blocks * 512 >= 0.9 * path.stat().st_size


def tree_bytes_all(split) -> int:
    return sum(tree_bytes(p) for cls in split.iterdir() for p in cls.iterdir())


def test_non_ascii_names_are_refused_before_any_work(make_clip, config, tmp_path):
    make_clip("café/x.mp4", seconds=0.3, fps=10)
    make_clip("b/ok.mp4", seconds=0.3, fps=10)
    with pytest.raises(PreflightError, match=r"ASCII.*café/x.*store: files"):
        run_extract(config(num_frames=3, store="lmdb"))
    assert not (tmp_path / "out").exists()


def test_dask_is_refused_in_one_line(tmp_path):
    with pytest.raises(ConfigError, match="store: lmdb runs with executor: local"):
        make_config({"source": str(tmp_path / "s"), "target": str(tmp_path / "t"), "store": "lmdb", "executor": "dask"})


def test_resume_overwrite_and_adoption(clips, config, tmp_path):
    cfg = config(num_frames=4, store="lmdb")
    first = run_extract(cfg)
    assert first.done == 3
    again = run_extract(cfg)
    assert again.done == 0 and again.skipped == 3
    # a clip committed but never recorded (killed between commit and row) is adopted, not redone
    manifest = record_file(cfg.target, "manifest")
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    manifest.write_text("".join(json.dumps(r) + "\n" for r in rows if r["rel"] != "a/short"))
    adopted = run_extract(cfg)
    assert adopted.done == 0 and adopted.skipped == 3
    # the adopted line has the counts and digest that travelled with the clip in its transaction
    (line,) = [row for row in map(json.loads, manifest.read_text().splitlines()) if row.get("adopted")]
    original = next(row for row in rows if row["rel"] == "a/short")
    assert line["rel"] == "a/short" and original["padded"] > 0
    assert [line[k] for k in ("decoded", "padded", "cut", "digest")] == [
        original[k] for k in ("decoded", "padded", "cut", "digest")
    ]
    # a clip missing from the store is redone even though its row says done
    delete_keys(Layout(cfg.target).store(".lmdb"), b"train/b/exact/")
    redo = run_extract(cfg)
    assert redo.done == 1 and redo.skipped == 2
    # --overwrite redoes all, and leaves no frame of a longer old clip behind
    bigger = config(num_frames=6, store="lmdb")
    over = run_extract(bigger, overwrite=True)
    assert over.done == 3
    keys = store_values(Layout(cfg.target).store(".lmdb"))
    assert len(keys) == 18


def test_full_store_loses_only_the_clip_being_put(clips, config, tmp_path, monkeypatch):
    cfg = config(num_frames=4, store="lmdb", workers=1)
    puts = []
    real_put = LmdbEnv.put

    def failing_put(self, items, **kwargs):
        if len(puts) == 1:
            # half the clip goes in, then the disk is full: the txn is aborted
            with self._env.begin(write=True) as txn:
                txn.put(items[0][0], items[0][1])
                raise DiskFull("no space left on the target filesystem (test)")
        puts.append(items)
        return real_put(self, items, **kwargs)

    monkeypatch.setattr(LmdbEnv, "put", failing_put)
    summary = run_extract(cfg)
    assert summary.disk_full and summary.done == 1
    monkeypatch.undo()
    keys = store_values(Layout(cfg.target).store(".lmdb"))
    assert set(k.rsplit("/", 1)[0] for k in keys) == {"train/a/long"}  # only the committed clip
    rows = [json.loads(line)["rel"] for line in record_file(cfg.target, "manifest").read_text().splitlines()]
    assert rows == ["a/long"]
    resumed = run_extract(cfg)
    assert resumed.done == 2 and resumed.skipped == 1


def test_a_map_that_cannot_grow_stops_the_run_and_keeps_what_committed(tmp_path):
    store = LmdbEnv.open_write(tmp_path / "s.lmdb", max_map_size=256 << 10)
    store.put_clip("train/a/one", [("/frame_00001.jpg", b"x" * 1000)])
    with pytest.raises(DiskFull, match="full"):
        store.put_clip("train/a/two", [(f"/frame_{i:05d}.jpg", os.urandom(9000)) for i in range(1, 60)])
    store.close()
    assert list(store_values(tmp_path / "s.lmdb")) == ["train/a/one/frame_00001.jpg"]


def test_map_grows_from_small(tmp_path):
    store = LmdbEnv.open_write(tmp_path / "s.lmdb")
    store._env.set_mapsize(256 << 10)
    store.put_clip("train/a/big", [(f"/frame_{i:05d}.jpg", os.urandom(9000)) for i in range(1, 100)])
    assert store._env.info()["map_size"] > 256 << 10
    store.close(compact=True)
    assert len(store_values(tmp_path / "s.lmdb")) == 99


def test_two_runs_on_one_store_are_refused(clips, config):
    cfg = config(num_frames=3, store="lmdb")
    cfg.target.mkdir(parents=True)
    with TargetLock(cfg.target), pytest.raises(RunInProgress):
        run_extract(cfg)


def test_reader_sees_only_committed_clips(tmp_path):
    # LMDB refuses a second handle on one store in one process: the reader is another process.
    read = "import sys; from k400frames.stores.lmdb import LmdbEnv; print(list(LmdbEnv.open_read(sys.argv[1]).keys()))"
    writer = LmdbEnv.open_write(tmp_path / "s.lmdb")
    writer.put_clip("train/a/one", [("/frame_00001.jpg", b"1")])
    with writer._env.begin(write=True) as txn:  # a clip half put, not committed
        txn.put(b"train/a/two/frame_00001.jpg", b"2")
        during = subprocess.run([sys.executable, "-c", read, str(tmp_path / "s.lmdb")], capture_output=True, text=True)
    after = subprocess.run([sys.executable, "-c", read, str(tmp_path / "s.lmdb")], capture_output=True, text=True)
    writer.close()
    assert during.stdout.strip() == "['train/a/one/frame_00001.jpg']", during.stderr
    assert after.stdout.strip() == "['train/a/one/frame_00001.jpg', 'train/a/two/frame_00001.jpg']"


def test_kill_9_then_resume(make_clip, config, tmp_path, wrap_ffmpeg):
    for i in range(6):
        make_clip(f"c{i % 2}/clip{i}.mp4", seconds=0.4, fps=10)
    gate = tmp_path / "gate"  # two clips go through, the third waits in its ffmpeg
    cfg = config(num_frames=4, store="lmdb", workers=1, ffmpeg=wrap_ffmpeg(gated(gate, free=2)))
    manifest = record_file(cfg.target, "manifest")
    proc = start(cfg)
    assert wait_for(lambda: started(gate) >= 3 and manifest.exists() and len(manifest.read_text().splitlines()) >= 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wait_for(lambda: not live_processes_mentioning(str(tmp_path)), timeout=10)
    done = {json.loads(line)["rel"] for line in manifest.read_text().splitlines()}
    assert 2 <= len(done) < 6
    before = store_values(Layout(cfg.target).store(".lmdb"))
    assert {k.split("/")[1] + "/" + k.split("/")[2] for k in before} >= done  # every row's clip committed
    summary = run_extract(config(num_frames=4, store="lmdb", workers=1))
    assert summary.failed == 0 and summary.done + summary.skipped == 6 and summary.skipped >= len(done)
    after = store_values(Layout(cfg.target).store(".lmdb"))
    assert len(after) == 24 and all(after[k] == v for k, v in before.items())


def start(cfg):
    from test_crash_safety import start_cli  # why: its runner of a real CLI process

    return start_cli(
        "extract",
        *("--set", f"source={cfg.source}", "--set", f"target={cfg.target}"),
        *("--set", f"num_frames={cfg.num_frames}", "--set", "workers=1", "--set", "store=lmdb"),
        *("--set", f"ffmpeg={cfg.ffmpeg}"),
    )


def test_cli_extract_into_a_store(clips, tmp_path):
    result = run_cli(
        "extract",
        *("--set", f"source={tmp_path / 'src'}", "--set", f"target={tmp_path / 'out' / 'train'}"),
        *("--set", "num_frames=3", "--set", "store=lmdb"),
    )
    assert result.returncode == 0, result.stderr
    assert len(store_values(tmp_path / "out" / "train.lmdb")) == 9


def test_dry_run_counts_bytes_and_one_store_instead_of_inodes(clips, config, tmp_path):
    from k400frames.run.dryrun import dry_run, format_dry_run

    cfg = config(num_frames=6, store="lmdb")
    report = dry_run(cfg)
    assert report.todo == 3 and report.need_inodes == 3 and report.inodes_per_clip == 0
    assert report.store == tmp_path / "out" / "train.lmdb"
    assert "every clip in one lmdb store" in format_dry_run(report)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    run_extract(cfg)
    real = store_bytes(Layout(cfg.target).store(".lmdb"))
    assert report.need_bytes_low <= real * 1.2 and real <= report.need_bytes * 1.2 + 16384
    after = dry_run(cfg)
    assert after.done == 3 and after.todo == 0


def test_verify_finds_a_missing_and_a_damaged_key(clips, config, tmp_path):
    from k400frames.tools.verify import verify_tree

    cfg = config(num_frames=4, store="lmdb")
    run_extract(cfg)
    path = Layout(cfg.target).store(".lmdb")
    clean = verify_tree(path, 4, deep=True)
    assert clean.ok and clean.clips == 3 and clean.frames_checked == 12
    assert verify_tree(cfg.target, 4).ok  # the split folder leads to its store
    store = LmdbEnv.open_write(path)
    good = store.get("train/b/exact/frame_00002.jpg")
    with store._env.begin(write=True) as txn:
        txn.delete(b"train/a/long/frame_00003.jpg")
        txn.put(b"train/b/exact/frame_00002.jpg", b"\xff\xd8" + b"not image data" * 20 + b"\xff\xd9")
        txn.put(b"train/b/exact/frame_00004.jpg", good[: len(good) // 2])  # truncated
    store.close()
    report = verify_tree(path, 4, deep=True)
    kinds = {(p.rel, p.kind) for p in report.problems}
    assert ("a/long", "missing-frames") in kinds and ("b/exact", "bad-jpeg") in kinds
    assert ("b/exact", "decode") in kinds
    result = run_cli("verify", "--frames", str(path), "--num-frames", "4")
    assert result.returncode == 1 and "frame_00003.jpg" in result.stdout and "frame_00004.jpg" in result.stdout


def test_verify_a_video_store(clips, config):
    from k400frames.tools.verify import verify_tree

    cfg = config(num_frames=4, store="lmdb", output="video")
    run_extract(cfg)
    report = verify_tree(Layout(cfg.target).store(".lmdb"), 4, deep=True)
    assert report.ok and report.clips == 3


def test_lists_of_a_store_give_the_keys_and_the_lmdb_snippet(clips, config, tmp_path):
    from k400frames.errors import ListFormatError
    from k400frames.tools.lists import write_lists

    cfg = config(num_frames=4, store="lmdb")
    run_extract(cfg)
    result = write_lists(cfg, ("all",))
    assert list(result.lists) == ["mmaction2"] and "paddlevideo" in result.skipped_formats
    lines = result.lists["mmaction2"].read_text().splitlines()
    assert lines == ["train/a/long 4 0", "train/a/short 4 0", "train/b/exact 4 1"]
    stored = store_values(Layout(cfg.target).store(".lmdb"))
    assert all(f"{line.split()[0]}/frame_00004.jpg" in stored for line in lines)  # path + frame = a key
    text = result.snippet_text
    assert "io_backend='lmdb'" in text and f"db_path='{tmp_path / 'out' / 'train.lmdb'}'" in text
    assert "data_prefix=dict(img='')" in text
    with pytest.raises(ListFormatError, match="cannot read the store .*train.lmdb; formats for store: lmdb: mmaction2"):
        write_lists(cfg, ("paddlevideo",))
    videos = config(num_frames=4, store="lmdb", output="video", target=str(tmp_path / "v" / "val"))
    run_extract(videos)
    video_lists = write_lists(videos, ("mmaction2",))
    assert video_lists.lists["mmaction2"].read_text().splitlines()[0] == "val/a/long.mp4 0"
    assert "DecordInit', io_backend='lmdb'" in video_lists.snippet_text


def test_preview_of_a_clip_in_a_store(clips, config, tmp_path):
    cfg = config(num_frames=6, store="lmdb")
    run_extract(cfg)
    out = tmp_path / "sheet.png"
    result = run_cli("preview", f"{tmp_path / 'out' / 'train.lmdb'}:a/short", "-o", str(out), "--grid", "3x2")
    assert result.returncode == 0, result.stderr
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert "6 frames" in result.stdout and "frames 4-6 are padding" in result.stdout and "manifest" in result.stdout
    missing = run_cli("preview", f"{tmp_path / 'out' / 'train.lmdb'}:a/nope", "-o", str(out))
    assert missing.returncode == 2 and "no clip a/nope" in missing.stderr and "Traceback" not in missing.stderr


def test_shards_write_their_own_stores_and_merge_equals_an_unsharded_run(make_clip, config, tmp_path):
    for i in range(6):
        make_clip(f"c{i % 3}/clip{i}.mp4", seconds=0.3 + i / 20, fps=10)
    sharded = config(num_frames=4, store="lmdb")
    for k in (0, 1):
        assert run_extract(sharded, shard=(k, 2)).failed == 0
    out = tmp_path / "out"
    assert (out / "train.shard-0-of-2.lmdb").is_dir() and (out / "train.shard-1-of-2.lmdb").is_dir()
    result = run_cli("merge", "--set", f"target={sharded.target}", "--set", "store=lmdb")
    assert result.returncode == 0, result.stderr
    assert "merged 2 shard stores (30 keys)" in result.stdout  # 24 frames and 6 clip records
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".lmdb")) == ["train.lmdb"]
    whole = config(num_frames=4, store="lmdb", target=str(tmp_path / "whole" / "train"))
    run_extract(whole)
    assert store_values(out / "train.lmdb") == store_values(tmp_path / "whole" / "train.lmdb")
    # a shard rerun after the merge finds its clips in the merged store
    again = run_extract(sharded, shard=(1, 2))
    assert again.done == 0 and again.skipped > 0
    nothing = run_cli("merge", "--set", f"target={sharded.target}", "--set", "store=lmdb")
    assert nothing.returncode == 2 and "no shard stores" in nothing.stderr


def test_the_first_run_of_the_whole_split_after_the_shards_merges_their_stores(make_clip, config, tmp_path):
    for i in range(6):
        make_clip(f"c{i % 3}/clip{i}.mp4", seconds=0.3 + i / 20, fps=10)
    out = tmp_path / "out"
    sharded = config(num_frames=4, store="lmdb")
    first = run_extract(sharded, shard=(0, 2)).done
    assert 0 < first < 6
    shard_keys = store_values(out / "train.shard-0-of-2.lmdb")
    # shard 1/2 never ran: the whole split's dry run counts shard 0's clips as done ...
    args = set_args(f"source={tmp_path / 'src'}", f"target={sharded.target}", "store=lmdb", "num_frames=4")
    dry = run_cli("extract", "--dry-run", *args)
    assert dry.returncode == 0, dry.stderr
    assert f"{first} already done, {6 - first} to do" in dry.stdout, dry.stdout
    assert "note: the run first merges 1 shard store into" in dry.stdout
    assert (out / "train.shard-0-of-2.lmdb").is_dir()  # a dry run writes nothing
    # ... and its run takes shard 0's store in, without redoing those clips, and does the others
    run = run_cli("extract", *args)
    assert run.returncode == 0, run.stderr
    assert "merging 1 shard store (" in run.stderr and f"into {out / 'train.lmdb'} first" in run.stderr
    assert f"clips: {6 - first} extracted" in run.stdout and f"{first} already done" in run.stdout
    assert f"store: {out / 'train.lmdb'} (1 shard store merged into it first)" in run.stdout
    assert sorted(p.name for p in out.iterdir() if p.name.endswith(".lmdb")) == ["train.lmdb"]
    merged = store_values(out / "train.lmdb")
    assert all(merged[key] == value for key, value in shard_keys.items())
    whole = config(num_frames=4, store="lmdb", target=str(tmp_path / "whole" / "train"))
    run_extract(whole)
    assert merged == store_values(tmp_path / "whole" / "train.lmdb")
    again = run_extract(sharded)
    assert (again.skipped, again.done, again.merged_shards) == (6, 0, 0)


def test_a_merge_that_fails_midway_loses_no_key(tmp_path, monkeypatch):
    import k400frames.stores.lmdb as lmdb_store

    shards = [tmp_path / f"train.shard-{k}-of-2.lmdb" for k in (0, 1)]
    for k, path in enumerate(shards):
        store = LmdbEnv.open_write(path)
        store.put_clip(f"train/c/clip{k}", [("/frame_00001.jpg", bytes([k]) * 3000)])
        store.close()
    real, calls = lmdb_store.merge_into, []

    def fails_on_the_second(target, sources):
        calls.append(1)
        if len(calls) == 2:
            raise DiskFull("no space left (a stand-in)")
        return real(target, sources)

    monkeypatch.setattr(lmdb_store, "merge_into", fails_on_the_second)
    target = LmdbEnv.open_write(tmp_path / "train.lmdb")
    with pytest.raises(DiskFull):
        lmdb_store.move_into(target, shards)
    target.close()
    # the first shard's key is in the split's store and its store is gone; the second is untouched
    assert not shards[0].exists() and store_values(shards[1]) == {"train/c/clip1/frame_00001.jpg": b"\x01" * 3000}
    assert store_values(tmp_path / "train.lmdb") == {"train/c/clip0/frame_00001.jpg": b"\x00" * 3000}
    monkeypatch.setattr(lmdb_store, "merge_into", real)
    target = LmdbEnv.open_write(tmp_path / "train.lmdb")
    assert lmdb_store.move_into(target, [shards[1]]) == 1
    target.close()
    assert len(store_values(tmp_path / "train.lmdb")) == 2 and not shards[1].exists()
    # a shard store whose removal was killed between its unlinks (lock.mdb left, no data.mdb) is removed too
    husk = tmp_path / "train.shard-0-of-3.lmdb"
    husk.mkdir()
    (husk / "lock.mdb").write_bytes(b"\0" * 64)
    target = LmdbEnv.open_write(tmp_path / "train.lmdb")
    assert lmdb_store.move_into(target, [husk]) == 0
    target.close()
    assert not husk.exists() and len(store_values(tmp_path / "train.lmdb")) == 2


def test_retry_failed_and_durable_on_a_store(clips, config, tmp_path):
    broken = tmp_path / "src" / "b" / "broken.mp4"
    broken.write_bytes(b"not a video")
    cfg = config(num_frames=4, store="lmdb", durable=True)
    first = run_extract(cfg)
    assert first.done == 3 and first.failed == 1
    (tmp_path / "src" / "b" / "broken.mp4").unlink()
    clips[0].rename(broken)  # the broken clip is fixed (a/long moves there)
    retried = run_extract(cfg, retry_failed=True)
    assert retried.total == 1 and retried.done == 1 and retried.failed == 0
    keys = store_values(Layout(cfg.target).store(".lmdb"))
    assert sum(k.startswith("train/b/broken/") for k in keys) == 4
    store = LmdbEnv.open_write(Layout(cfg.target).store(".lmdb"), durable=True)
    assert store._env.flags()["metasync"] and store._env.flags()["sync"]
    store.close()


def test_a_compaction_killed_between_its_renames_is_finished_by_the_next_open(tmp_path):
    path = tmp_path / "train.lmdb"
    store = LmdbEnv.open_write(path)
    store.put_clip("train/a/one", [("/frame_00001.jpg", b"1")])
    store._compact()  # the compacted copy is whole in .train.lmdb.new ...
    store._env.close()
    os.rename(path, tmp_path / ".train.lmdb.old")  # ... and the run died after the first rename
    assert not path.exists()
    LmdbEnv.open_write(path).close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.lmdb"]
    assert store_values(path) == {"train/a/one/frame_00001.jpg": b"1"}


def test_split_jpegs_keeps_whole_frames_and_says_where_a_stream_is_cut(clips, config, tmp_path, ffmpeg_exe):
    from k400frames import ffmpeg
    from k400frames.clip import codec
    from k400frames.clip.frames import frames_command

    files, _, _ = both(config, tmp_path, num_frames=3)
    frames = [files[f"train/a/long/frame_{i:05d}.jpg"] for i in (1, 2, 3)]
    # ffmpeg's own piped stream of that clip: the very bytes folder mode wrote, frame by frame
    argv = frames_command(ffmpeg_exe, clips[0], config(num_frames=3), 3, piped=True)
    stream = subprocess.run(argv, capture_output=True, check=True).stdout
    assert codec.split_jpegs(stream) == (frames, "")
    # a frame's own bytes are never searched: one whose comment segment holds a boundary line stays whole
    fake_part = b"\r\n--" + ffmpeg.PIPE_BOUNDARY.encode() + b"\r\nContent-length: 3\r\n\r\n"
    odd = frames[0][:2] + b"\xff\xfe" + (len(fake_part) + 2).to_bytes(2, "big") + fake_part + frames[0][2:]
    boundary = b"--" + ffmpeg.PIPE_BOUNDARY.encode() + b"\r\n"
    parts = [boundary + b"Content-length: %d\r\n\r\n" % len(f) + f + b"\r\n" for f in (odd, frames[1])]
    assert codec.split_jpegs(b"".join(parts) + boundary) == ([odd, frames[1]], "")
    whole, problem = codec.split_jpegs(stream[: stream.rindex(b"\xff\xd9") - 100])
    assert whole == frames[:2] and problem == "frame 3 is cut short"
    no_trailer = stream[: -len(boundary)]  # ffmpeg killed after its last frame, before the closing boundary
    assert stream.endswith(boundary) and codec.split_jpegs(no_trailer) == (frames, "")
    assert codec.split_jpegs(b"junk")[1] == "frame 1: no part boundary at byte 0"
    second_end = stream.index(frames[1]) + len(frames[1])
    damaged = stream[: second_end - 2] + b"\x00\x00" + stream[second_end:]  # frame 2 loses its end marker
    assert codec.split_jpegs(damaged) == (frames[:1], "frame 2: truncated JPEG (no EOI marker FFD9 at the end)")


def test_a_clip_is_found_in_a_store_by_its_own_keys_only(tmp_path):
    from k400frames.clip.outputs import output_named
    from k400frames.stores.lmdb import LmdbStore

    env = LmdbEnv.open_write(tmp_path / "train.lmdb")
    env.put_clip("train/a/c10", [("/frame_00001.jpg", b"\xff\xd8" + b"x" * 5000 + b"\xff\xd9")])
    env.put_clip("train/a/v", [(".mp4", b"y" * 7000)])
    env.close()
    store = LmdbStore.open_split(tmp_path / "train.lmdb")
    try:
        frames, video = output_named("frames"), output_named("video")
        # c1 is a prefix of c10's keys but not a clip of its own; the video is only its .mp4 key
        assert store.has(frames.key_of("a", "c10")) and not store.has(frames.key_of("a", "c1"))
        assert store.has(video.key_of("a", "v")) and not store.has(frames.key_of("a", "v"))
        assert not store.has(video.key_of("a", "c10")) and not store.has(frames.key_of("b", "c10"))
        assert store.view(frames.key_of("a", "c10")).sizes() == {"frame_00001.jpg": 5004}
        assert store.view(video.key_of("a", "v")).sizes() == {"v.mp4": 7000}
        assert store.view(video.key_of("a", "c10")).sizes() == {}
    finally:
        store.close()
