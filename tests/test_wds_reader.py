"""The webdataset library's own WebDataset pipeline reads a store: webdataset
from local files and over HTTP, every clip once, its members the folder
bytes and its label right; the clip reader decodes only the frames it picks."""

from __future__ import annotations

import functools
import http.server
import json
import os
import random
import shutil
import sys
import threading

import pytest

from k400frames.run.runner import run_extract
from k400frames.tools.wds_reader import clip_dataset, frame_indices, sample_to_clip

wds = pytest.importorskip(
    "webdataset", reason="the proof reads through webdataset (pip install 'k400frames[webdataset]')"
)


def test_importing_the_reader_needs_no_torch_nor_webdataset():
    import subprocess

    code = "import sys, k400frames.tools.wds_reader; print('torch' in sys.modules, 'webdataset' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_frame_indices():
    assert frame_indices(300, 8, "segments") == [18, 56, 93, 131, 168, 206, 243, 281]
    picks = frame_indices(300, 8, "segments", rng=random.Random(0))
    assert all(k * 37.5 <= p < (k + 1) * 37.5 for k, p in enumerate(picks))
    assert frame_indices(300, 16, "dense", interval=4) == [119 + 4 * k for k in range(16)]  # centred: (300 - 61) // 2
    assert frame_indices(10, 4, "dense", interval=4) == [0, 4, 8, 9]
    assert frame_indices(300, 3, "uniform") == [0, 150, 299]
    with pytest.raises(ValueError, match="sampling"):
        frame_indices(10, 2, "nope")


@pytest.fixture
def stores(make_clip, config, tmp_path):
    for cls in "abc":
        for i in range(3):
            make_clip(f"{cls}/{cls}{i}.mp4", seconds=0.2 + i / 10, fps=10)
    folders = config(num_frames=6, target=str(tmp_path / "folders" / "train"))
    assert run_extract(folders).failed == 0
    cfg = config(num_frames=6, target=str(tmp_path / "stored" / "train"), store="webdataset", shard_size=60_000)
    assert run_extract(cfg).failed == 0
    store = tmp_path / "stored" / "train.wds"
    shards = sorted(p.name for p in store.glob("*.tar"))
    assert len(shards) > 1
    return folders.target, store, shards


def expected(split) -> dict[str, dict[str, bytes]]:
    clips: dict[str, dict[str, bytes]] = {}
    for cls in sorted(os.listdir(split)):
        for clip in sorted(os.listdir(split / cls)):
            clips[f"{cls}/{clip}"] = {f: (split / cls / clip / f).read_bytes() for f in os.listdir(split / cls / clip)}
    return clips


def check_epoch(samples, folders) -> None:
    want = expected(folders)
    labels = {"a": 0, "b": 1, "c": 2}
    seen = []
    for sample in samples:
        key = sample["__key__"]
        seen.append(key)
        frames = {k: v for k, v in sample.items() if k.endswith(".jpg")}
        assert frames == want[key], key
        assert int(sample["cls"]) == labels[key.split("/")[0]]
        assert json.loads(sample["json"])["class"] == key.split("/")[0]
    assert sorted(seen) == sorted(want)  # every clip exactly once


def test_webdataset_reads_every_clip_once_from_local_files(stores):
    folders, store, shards = stores
    url = str(store / f"train-{{000000..{len(shards) - 1:06d}}}.tar")
    for _ in range(2):  # two epochs
        check_epoch(wds.WebDataset(url, shardshuffle=False, empty_check=False), folders)


@pytest.fixture
def server(stores):
    _, store, _ = stores
    handler = functools.partial(QuietHandler, directory=str(store.parent))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_webdataset_reads_every_clip_once_over_http(stores, server):
    if shutil.which("curl") is None:
        pytest.skip("webdataset fetches http:// URLs by running curl, which is not installed")
    folders, _, shards = stores
    url = f"{server}/train.wds/train-{{000000..{len(shards) - 1:06d}}}.tar"
    check_epoch(wds.WebDataset(url, shardshuffle=False, empty_check=False), folders)


def test_the_clip_reader_decodes_only_the_frames_it_picks(stores):
    folders, store, shards = stores
    decoded = []

    def decode(data: bytes) -> bytes:
        decoded.append(data)
        return data

    url = str(store / f"train-{{000000..{len(shards) - 1:06d}}}.tar")
    clips = list(clip_dataset(url, num_frames=2, sampling="segments", train=False, decode=decode))
    assert len(clips) == 9 and len(decoded) == 18
    want = expected(folders)
    labels = {"a": 0, "b": 1, "c": 2}
    for clip in clips:
        frames = sorted(want[clip["key"]])
        assert clip["label"] == labels[clip["key"][0]]
        assert clip["frames"] == [want[clip["key"]][frames[i]] for i in clip["indices"]]


def test_picks_stay_among_the_real_frames(stores):
    _, store, shards = stores
    for sample in wds.WebDataset(str(store / shards[0]), shardshuffle=False, empty_check=False):
        decoded = json.loads(sample["json"])["decoded"]
        clip = sample_to_clip(sample, num_frames=6, sampling="uniform", decode=None)
        assert max(clip["indices"]) == decoded - 1


def test_the_clip_pipeline_has_webdatasets_fluid_methods(tmp_path):
    pytest.importorskip("webdataset")
    pipeline = clip_dataset(str(tmp_path / "none-{000000..000001}.tar"), train=False)
    assert callable(pipeline.map) and callable(pipeline.batched) and callable(pipeline.shuffle)
