"""The sample of test_loaders.py written with ``store: webdataset`` and read
in a ``torch.utils.data.DataLoader`` of 2 workers (`make test-loaders`):

* through the ``webdataset`` library's own ``WebDataset`` pipeline (every
  member of every sample), and
* through ``k400frames.tools.wds_reader.clip_dataset`` (the sampled frames
  only, decoded),

from the local shard files that ``k400frames lists --format webdataset``
lists and over HTTP from a real ``http.server`` on 127.0.0.1 (webdataset
fetches ``http://`` URLs by running ``curl``).  Each epoch must give every
clip exactly once, each frame the bytes folder mode wrote, and the label of
the split's ``labels.txt``, which for these Tiny-K400 clips is mmaction2's
numbering of the CSV (0, 1, 399).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from test_loaders import CLIPS, FRAME_NAME, LABELS, NUM_FRAMES, jpeg

from k400frames.config import make_config
from k400frames.run.runner import run_extract
from k400frames.tools.lists import list_path, write_lists
from k400frames.tools.wds_reader import clip_dataset

WORKERS = 2
EPOCHS = 2


@pytest.fixture(scope="session")
def shards(sample):
    """The sample's clips as a store: webdataset split, one clip a shard (3
    shards, so both workers get some); returns the frames root, the folder
    split and the shard paths relative to the root (the webdataset list)."""
    root, frames, _ = sample
    cfg = make_config(
        {
            "source": str(frames.source),
            "target": str(root.parent / "wds" / "train"),
            "num_frames": NUM_FRAMES,
            "frame_name": FRAME_NAME,
            "class_names": "underscore",
            "annotations": str(frames.annotations),
            "store": "webdataset",
            "shard_size": 1,  # every clip is bigger: one clip a shard
        }
    )
    assert run_extract(cfg).done == len(CLIPS)
    write_lists(cfg, ["webdataset"])
    rels = list_path(cfg.target, "webdataset").read_text().split()
    assert len(rels) == len(CLIPS)
    return cfg.target.parent, frames.target, rels


def folder_clips(split: Path) -> dict[str, dict[str, bytes]]:
    """``<class>/<clip>`` -> {frame name: bytes} of folder mode's split."""
    return {
        f"{clip.parent.name}/{clip.name}": {f.name: f.read_bytes() for f in clip.iterdir()}
        for clip in sorted(split.glob("*/*"))
        if clip.is_dir()
    }


def tag_worker(sample: dict) -> dict:
    import torch

    info = torch.utils.data.get_worker_info()
    return {**sample, "worker": info.id if info is not None else -1}


def loader(dataset):
    import torch

    return torch.utils.data.DataLoader(dataset.map(tag_worker), batch_size=None, num_workers=WORKERS)


def whole_samples(urls: list[str]):
    """webdataset's own pipeline: every member of a sample, undecoded."""
    import webdataset as wds

    return wds.WebDataset(
        urls,
        shardshuffle=False,
        nodesplitter=wds.single_node_only,
        workersplitter=wds.split_by_worker,
        empty_check=False,
    )


def check_whole_epochs(urls: list[str], folders: Path) -> None:
    want = folder_clips(folders)
    for _ in range(EPOCHS):
        seen: Counter[str] = Counter()
        workers = set()
        for sample in loader(whole_samples(urls)):
            key = sample["__key__"]
            seen[key] += 1
            workers.add(int(sample["worker"]))
            frames = {name: data for name, data in sample.items() if name.endswith(".jpg")}
            assert frames == want[key], f"{key}: members differ from folder mode's frames"
            assert len(frames) == NUM_FRAMES
            assert int(sample["cls"]) == LABELS[key.split("/")[0]]
        assert seen == Counter(list(want)), "every clip exactly once per epoch"
        assert workers == set(range(WORKERS)), "both DataLoader workers read shards"


def check_reader_epochs(urls: list[str], folders: Path) -> None:
    want = folder_clips(folders)
    names = sorted(next(iter(want.values())))
    # every frame, as bytes: the reader hands back exactly folder mode's files
    for _ in range(EPOCHS):
        seen: Counter[str] = Counter()
        for clip in loader(clip_dataset(urls, num_frames=NUM_FRAMES, sampling="uniform", train=False, decode=None)):
            seen[clip["key"]] += 1
            assert list(clip["indices"]) == list(range(NUM_FRAMES))
            assert list(clip["frames"]) == [want[clip["key"]][name] for name in names]
            assert int(clip["label"]) == LABELS[clip["key"].split("/")[0]]
        assert seen == Counter(list(want))
    # TSN segments at random, decoded: the pixels of the frame files it names
    seen = Counter()
    for clip in loader(clip_dataset(urls, num_frames=8, sampling="segments", train=True, seed=0)):
        key = clip["key"]
        seen[key] += 1
        assert int(clip["label"]) == LABELS[key.split("/")[0]] and len(clip["frames"]) == 8
        for index, img in zip(clip["indices"], clip["frames"], strict=True):
            assert np.array_equal(np.asarray(img, np.float32), jpeg(folders / key, int(index) + 1))
    assert seen == Counter(list(want))


def test_webdataset_pipeline_in_a_dataloader_from_local_files(shards):
    root, folders, rels = shards
    check_whole_epochs([str(root / rel) for rel in rels], folders)


def test_clip_reader_in_a_dataloader_from_local_files(shards):
    root, folders, rels = shards
    check_reader_epochs([str(root / rel) for rel in rels], folders)


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the frames root and counts the GETs of each path."""

    gets: Counter[str]

    def do_GET(self):
        self.gets[self.path] += 1
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(shards):
    if shutil.which("curl") is None:
        pytest.skip("webdataset fetches http:// URLs by running curl: apt-get install curl")
    root, _, _ = shards
    gets: Counter[str] = Counter()
    handler = type("Handler", (CountingHandler,), {"gets": gets})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", gets
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_webdataset_pipeline_in_a_dataloader_over_http(shards, server):
    _, folders, rels = shards
    base, gets = server
    check_whole_epochs([f"{base}/{rel}" for rel in rels], folders)
    assert gets == Counter({f"/{rel}": EPOCHS for rel in rels}), "each shard fetched once per epoch, over HTTP"


def test_clip_reader_in_a_dataloader_over_http(shards, server):
    _, folders, rels = shards
    base, gets = server
    check_reader_epochs([f"{base}/{rel}" for rel in rels], folders)
    assert gets == Counter({f"/{rel}": EPOCHS + 1 for rel in rels})
