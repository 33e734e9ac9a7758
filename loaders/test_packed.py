"""The sample of test_loaders.py packed by `k400frames pack`, read by the
frameworks' own code (`make test-loaders`):

* an LMDB store (``--to frames.lmdb``) through mmaction2's RawframeDataset +
  RawFrameDecode(io_backend='lmdb') and VideoDataset + DecordInit(io_backend='lmdb'),
  with the lists as written and ``data_prefix`` empty: the key mmaction2
  builds is ``<split>/<class>/<clip>/frame_00001.jpg``;
* a SquashFS image (``--to frames.sqfs``) mounted with squashfuse, through
  PaddleVideo's FrameDataset and pytorchvideo's Kinetics, with the mount
  point as the prefix.

Pixels are checked against the same loader reading the folder tree: a
packed store must change nothing a model sees.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_loaders import (
    CLIPS,
    FRAME_NAME,
    NUM_FRAMES,
    SAME_JPEG,
    SEGMENTS,
    diff,
    expected_label,
    jpeg,
    paddle_dataset,
    ptv_kinetics_frames,
)

from k400frames.tools.lists import list_path
from k400frames.tools.pack import pack


@pytest.fixture(scope="session")
def packed_lmdb(sample, tmp_path_factory) -> Path:
    root, _, _ = sample
    return pack(root, tmp_path_factory.mktemp("lmdb") / "frames.lmdb").dest


@pytest.fixture(scope="session")
def mounted(sample, tmp_path_factory):
    """The sample as a SquashFS image, mounted with squashfuse (skipped with
    one line where squashfs-tools, squashfuse or FUSE are missing)."""
    missing = [tool for tool in ("sqfstar", "squashfuse") if not shutil.which(tool)]
    if missing:
        pytest.skip(f"{', '.join(missing)} missing: apt-get install squashfs-tools squashfuse")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse: FUSE mounts are not possible here")
    root, _, _ = sample
    base = tmp_path_factory.mktemp("sqfs")
    image = pack(root, base / "frames.sqfs").dest
    mnt = base / "data"
    mnt.mkdir()
    done = subprocess.run(["squashfuse", str(image), str(mnt)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"squashfuse cannot mount here: {done.stderr.strip()[:120]}")
    yield mnt
    unmount = shutil.which("fusermount3") or shutil.which("fusermount")
    subprocess.run([unmount, "-u", str(mnt)] if unmount else ["umount", str(mnt)], check=True)


def rawframes(ann: Path, prefix: str, decode: dict):
    from mmaction.datasets import RawframeDataset

    return RawframeDataset(
        ann_file=str(ann),
        pipeline=[
            dict(type="SampleFrames", clip_len=1, frame_interval=1, num_clips=SEGMENTS, test_mode=True),
            dict(type="RawFrameDecode", **decode),
        ],
        data_prefix=dict(img=prefix),
        filename_tmpl=FRAME_NAME,
        start_index=1,
        test_mode=True,
    )


def test_mmaction2_rawframes_from_lmdb(sample, mmaction, packed_lmdb):
    root, cfg, _ = sample
    ann = list_path(cfg.target, "mmaction2")
    store = rawframes(ann, "", dict(io_backend="lmdb", db_path=str(packed_lmdb)))
    folders = rawframes(ann, str(root), {})
    assert len(store) == len(folders) == len(CLIPS)
    for i in range(len(store)):
        got, want = store[i], folders[i]
        assert got["frame_dir"] == os.path.relpath(want["frame_dir"], root)  # the key prefix: <split>/<class>/<clip>
        assert got["total_frames"] == NUM_FRAMES and got["label"] == expected_label(got["frame_dir"])
        assert list(got["frame_inds"]) == list(want["frame_inds"])
        for idx, a, b in zip(got["frame_inds"], got["imgs"], want["imgs"], strict=True):
            assert np.array_equal(a, b)
            assert diff(a, jpeg(root / got["frame_dir"], int(idx))) <= SAME_JPEG
    # A key mmaction2 asks for that is not there fails loudly, not silently.
    wrong = rawframes(ann, "nowhere", dict(io_backend="lmdb", db_path=str(packed_lmdb)))
    with pytest.raises(Exception):  # noqa: B017  (mmengine raises a bare AttributeError on a None value)
        wrong[0]


def test_mmaction2_videos_from_lmdb(sample, mmaction, packed_lmdb):
    from mmaction.datasets import VideoDataset

    root, _, cfg = sample

    def dataset(prefix: str, init: dict):
        return VideoDataset(
            ann_file=str(list_path(cfg.target, "mmaction2")),
            pipeline=[
                dict(type="DecordInit", **init),
                dict(type="SampleFrames", clip_len=1, frame_interval=1, num_clips=SEGMENTS, test_mode=True),
                dict(type="DecordDecode"),
            ],
            data_prefix=dict(video=prefix),
            test_mode=True,
        )

    store = dataset("", dict(io_backend="lmdb", db_path=str(packed_lmdb)))
    files = dataset(str(root), {})
    assert len(store) == len(CLIPS)
    for i in range(len(store)):
        got, want = store[i], files[i]
        assert got["filename"].startswith("videos/") and got["filename"].endswith(".mp4")
        assert got["label"] == want["label"] == expected_label(got["filename"])
        assert got["total_frames"] == want["total_frames"] and list(got["frame_inds"]) == list(want["frame_inds"])
        assert all(np.array_equal(a, b) for a, b in zip(got["imgs"], want["imgs"], strict=True))


def test_paddlevideo_frames_from_squashfuse_mount(sample, paddlevideo, mounted):
    root, cfg, _ = sample
    lst = list_path(cfg.target, "paddlevideo")
    ds = paddle_dataset(paddlevideo, lst, mounted, suffix=FRAME_NAME)
    assert len(ds) == len(CLIPS)
    for i in range(len(ds)):
        folder = Path(ds.info[i]["frame_dir"])
        assert folder.is_relative_to(mounted)
        imgs, labels = ds[i]
        assert int(labels[0]) == expected_label(str(folder))
        # PaddleVideo's Sampler picks frames at random in training mode: compare
        # each picked frame with the same file of the folder tree.
        on_disk = root / folder.relative_to(mounted)
        for img in imgs:
            assert (
                min(
                    float(np.abs(np.asarray(img, np.float32) - jpeg(on_disk, k)).mean())
                    for k in range(1, NUM_FRAMES + 1)
                )
                == 0
            )


def test_pytorchvideo_kinetics_from_squashfuse_mount(sample, mounted):
    root, cfg, _ = sample
    assert ptv_kinetics_frames(root, cfg, mounted) == {"abseiling", "air_drumming", "zumba"}
