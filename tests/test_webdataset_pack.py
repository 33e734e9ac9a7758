"""`pack ROOT --to frames.wds`: one webdataset store per split of a frames
root (seeded order, fixed headers, labels, manifest counts and digests in
each sample), read by the webdataset library, and `unpack` back to the same
tree byte for byte."""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

import pytest

from k400frames.errors import PackError
from k400frames.run.runner import run_extract
from k400frames.stores.webdataset import INDEX_FILE, LABELS_FILE
from k400frames.tools.pack import pack, unpack


def tree_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def clip_files(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in tree_of(root).items() if k.startswith(("train/", "val/"))}


def shard_sums(store: Path) -> list[tuple[str, str]]:
    return [(p.name, hashlib.sha256(p.read_bytes()).hexdigest()) for p in sorted(store.glob("*.tar"))]


@pytest.fixture
def frames_root(tmp_path, make_clip, config) -> Path:
    """train extracted by k400frames (3 classes, 2 clips each, some padded);
    val a copy of train without one class and without manifest lines."""
    for cls in ("abseiling", "tai_chi", "zumba"):
        for i, seconds in enumerate((0.4, 0.1)):
            make_clip(f"{cls}/{cls[:3]}{i}_000001_000011.mp4", seconds=seconds, fps=10)
    cfg = config(num_frames=4)
    assert run_extract(cfg).failed == 0
    root = cfg.target.parent
    shutil.copytree(root / "train", root / "val")
    shutil.rmtree(root / "val" / "abseiling")
    return root


def test_folder_tree_to_webdataset_and_back_is_byte_identical(frames_root, tmp_path):
    expected = clip_files(frames_root)
    dest = tmp_path / "frames.wds"
    result = pack(frames_root, dest, shard_size=30_000)
    assert result.splits == ["train", "val"] and result.files == len(expected)
    assert sorted(p.name for p in dest.iterdir()) == ["train.wds", "val.wds"]
    for split in ("train", "val"):
        store = dest / f"{split}.wds"
        # one class map for every split: val lacks abseiling, and tai_chi keeps its index there
        assert (store / LABELS_FILE).read_text() == "abseiling\ntai_chi\nzumba\n"
        index = json.loads((store / INDEX_FILE).read_text())
        assert len(index["shards"]) > 1 and all(s["bytes"] <= 30_000 for s in index["shards"])
        for shard in index["shards"]:
            data = (store / shard["name"]).read_bytes()
            assert shard["sha256"] == hashlib.sha256(data).hexdigest()
            with tarfile.open(store / shard["name"]) as tar:
                for info in tar:
                    assert (info.mode, info.uid, info.gid, info.uname, info.gname, info.mtime) == (
                        0o644,
                        0,
                        0,
                        "",
                        "",
                        0,
                    )
    order = [
        rel for s in json.loads((dest / "train.wds" / INDEX_FILE).read_text())["shards"] for rel, _, _ in s["samples"]
    ]
    assert sorted(order) != order and len(order) == 6  # seeded, not class order

    # the same tree packs to the same bytes; another seed to another order
    again = pack(frames_root, tmp_path / "again.wds", shard_size=30_000).dest
    assert shard_sums(again / "train.wds") == shard_sums(dest / "train.wds")

    back = unpack(dest, tmp_path / "back")
    assert back.splits == ["train", "val"] and back.checked == 6  # train's clips carry their digests
    assert tree_of(tmp_path / "back") == expected
    # one split's store unpacks alone
    only = unpack(dest / "val.wds", tmp_path / "only-val")
    assert tree_of(only.dest) == {k: v for k, v in expected.items() if k.startswith("val/")}


def test_the_webdataset_library_reads_the_packed_shards(frames_root, tmp_path):
    wds = pytest.importorskip("webdataset")
    dest = pack(frames_root, tmp_path / "frames.wds", shard_size=30_000).dest
    store = dest / "train.wds"
    manifest = {
        json.loads(line)["rel"]: json.loads(line)
        for line in (frames_root / "train.manifest.jsonl").read_text().splitlines()
    }
    urls = [str(p) for p in sorted(store.glob("train-*.tar"))]
    seen = []
    for sample in wds.WebDataset(urls, shardshuffle=False):
        key = sample["__key__"]
        seen.append(key)
        cls, clip = key.split("/")
        assert int(sample["cls"]) == ["abseiling", "tai_chi", "zumba"].index(cls)
        meta = json.loads(sample["json"])
        assert (meta["decoded"], meta["padded"]) == (manifest[key]["decoded"], manifest[key]["padded"])
        assert meta["digest"] == manifest[key]["digest"]
        frames = {k: v for k, v in sample.items() if k.endswith(".jpg")}
        assert frames == {f.name: f.read_bytes() for f in (frames_root / "train" / key).iterdir()}
    assert sorted(seen) == sorted(manifest)


def test_verify_and_lists_read_a_packed_split(frames_root, tmp_path, config):
    from k400frames.tools.lists import write_lists
    from k400frames.tools.verify import verify_tree

    dest = pack(frames_root, tmp_path / "frames.wds", shard_size=30_000).dest
    assert verify_tree(dest / "train.wds", 4).ok
    cfg = config(num_frames=4, target=str(dest / "train"), store="webdataset")
    result = write_lists(cfg, ["webdataset"])
    lines = result.lists["webdataset"].read_text().splitlines()
    assert lines == sorted(f"train.wds/{p.name}" for p in (dest / "train.wds").glob("*.tar"))
    # preview reads the clip's padded count from its sample, where no manifest is beside the packed root
    from k400frames.tools.preview import make_store_preview

    sheet = make_store_preview(dest / "train.wds", "zumba/zum1_000001_000011", tmp_path / "sheet.jpg", (2, 2))
    assert (sheet.real_frames, sheet.total_frames, sheet.padding_source) == (1, 4, "manifest")
    # lists wrote labels.txt into the packed root: it stays a root of stores, unpacked whole
    assert (dest / LABELS_FILE).is_file()
    assert unpack(dest, tmp_path / "back").splits == ["train", "val"]


def test_a_webdataset_split_packs_and_unpacks_like_a_folder(make_clip, config, tmp_path):
    for cls in "ab":
        make_clip(f"{cls}/{cls}0.mp4", seconds=0.3, fps=10)
    folders = config(num_frames=4, target=str(tmp_path / "folders" / "train"))
    assert run_extract(folders).failed == 0
    stored = config(num_frames=4, target=str(tmp_path / "stored" / "train"), store="webdataset")
    assert run_extract(stored).failed == 0
    expected = clip_files(tmp_path / "folders")
    # a root whose split is a webdataset store, to LMDB and to webdataset
    back = unpack(pack(tmp_path / "stored", tmp_path / "x.lmdb").dest, tmp_path / "from-lmdb")
    assert tree_of(back.dest) == expected
    back = unpack(pack(tmp_path / "stored", tmp_path / "x.wds").dest, tmp_path / "from-wds")
    assert tree_of(back.dest) == expected and back.checked == 2


def test_names_a_sample_would_not_give_back_are_refused(frames_root, tmp_path):
    clip = frames_root / "train" / "zumba" / "zum0_000001_000011"
    (clip / "frame_00001.jpg").rename(clip / "Frame_00001.jpg")
    with pytest.raises(PackError, match="lowercases"):
        pack(frames_root, tmp_path / "frames.wds")
    (clip / "Frame_00001.jpg").rename(clip / "frame_00001.jpg")
    clip.rename(clip.with_name("zum0.v2"))
    with pytest.raises(PackError, match="dot"):
        pack(frames_root, tmp_path / "frames.wds")
    assert not (tmp_path / "frames.wds").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]
