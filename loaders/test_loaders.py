"""Every list `k400frames lists` writes, read by its framework's own dataset
and transform code (`make test-loaders`; not part of `make test`).

One small real sample: Kinetics-named clips of three Tiny-K400 classes,
extracted by k400frames into frame folders (split `train`) and copied as
videos (split `videos`, the layout of `output: video`), labelled from the
400-class Tiny-K400 CSV.  For each framework we load several samples and
check the frame indices it chose, its pixels against the JPEGs (or the
video's own frames) and its label.

Run by the frameworks' own code: mmaction2 1.2.0 (RawframeDataset,
VideoDataset, SampleFrames, RawFrameDecode, DecordDecode, ...), PaddleVideo
2.3 as published in the `ppvideo` package (FrameDataset, FrameDecoder,
Sampler), pytorchvideo 0.1.5 (Kinetics, LabeledVideoPaths,
LabeledVideoDataset, FrameVideo), which is also what SlowFast's
`DATASET: ptvkinetics` builds.  VideoMAEv2 and SlowFast themselves are on no
package index: for them the tests restate the parsing their source documents
(marked "source-read" below) and check our lines against it.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from k400frames.config import make_config
from k400frames.run.runner import run_extract
from k400frames.tools.lists import list_path, write_lists
from k400frames.tools.synth import make_video

PROJECT = Path(__file__).resolve().parent.parent
TINY_TRAIN = PROJECT / "annotations" / "tiny_train.csv"
NUM_FRAMES = 48
FRAME_NAME = "frame_{:05d}.jpg"
# (CSV label, clip stem, seconds): rows of tiny_train.csv, so labels are 0, 1, 399.
CLIPS = (
    ("abseiling", "_4YTwq0-73Y_000044_000054", 2.0),
    ("air drumming", "_axE99QAhe8_000026_000036", 1.8),
    ("zumba", "_27IlPGsINY_000026_000036", 2.0),
)
SEGMENTS = 8
# JPEG decoders (libjpeg builds in PIL, OpenCV) may round a pixel differently.
SAME_JPEG = 1.0
# Video decoders (decord, PyAV) may convert YUV to RGB a little differently.
SAME_VIDEO = 3.0


def mmaction2_numbering(csv_path):
    """mmaction2 tools/data/parse_file_list.py (parse_kinetics_splits): the
    sorted set of the labels, '"' removed and spaces as underscores."""
    with open(csv_path, newline="") as handle:
        labels = {row["label"].replace('"', "").replace(" ", "_") for row in csv.DictReader(handle)}
    return {label: i for i, label in enumerate(sorted(labels))}


LABELS = mmaction2_numbering(TINY_TRAIN)


@pytest.fixture(scope="session")
def sample(tmp_path_factory):
    base = tmp_path_factory.mktemp("sample")
    for label, stem, seconds in CLIPS:
        make_video(base / "src" / label.replace(" ", "_") / f"{stem}.mp4", seconds=seconds, size="96x72")
    frames = make_config(
        {
            "source": str(base / "src"),
            "target": str(base / "root" / "train"),
            "num_frames": NUM_FRAMES,
            "frame_name": FRAME_NAME,
            "class_names": "underscore",
            "annotations": str(TINY_TRAIN),
        }
    )
    assert run_extract(frames).done == len(CLIPS)
    shutil.copytree(base / "src", base / "root" / "videos")
    videos = make_config(
        {
            "source": str(base / "src"),
            "target": str(base / "root" / "videos"),
            "num_frames": NUM_FRAMES,
            "class_names": "underscore",
            "annotations": str(TINY_TRAIN),
        }
    )
    frame_lists = write_lists(frames, ["all"])
    video_lists = write_lists(videos, ["all"])
    assert set(frame_lists.lists) == {"mmaction2", "paddlevideo", "videomae", "videomae-pretrain", "pytorchvideo"}
    assert set(video_lists.lists) == {"mmaction2", "videomae", "pytorchvideo", "slowfast"}
    return base / "root", frames, videos


def expected_label(path: str) -> int:
    return LABELS[Path(path).parts[-2] if not path.endswith(".mp4") else Path(path).parent.name]


def jpeg(folder: Path, index: int) -> np.ndarray:
    return np.asarray(Image.open(folder / FRAME_NAME.format(index)).convert("RGB"), dtype=np.float32)


def video_frames(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24").astype(np.float32) for f in container.decode(video=0)]


def diff(a, b) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float32) - np.asarray(b, dtype=np.float32)).mean())


def which_frame(img, folder: Path, total: int) -> int:
    """The 1-based frame on disk that ``img`` shows (pixels within SAME_JPEG)."""
    diffs = [diff(img, jpeg(folder, i)) for i in range(1, total + 1)]
    best = int(np.argmin(diffs))
    assert diffs[best] <= SAME_JPEG, f"no frame of {folder} matches (closest {diffs[best]:.2f})"
    return best + 1


def assert_spread(indices, total):
    """Segment sampling must cover the whole clip, in order."""
    assert list(indices) == sorted(indices) and min(indices) >= 1 and max(indices) <= total
    assert min(indices) <= total / SEGMENTS + 1 and max(indices) >= total * (SEGMENTS - 1) / SEGMENTS


# ----------------------------------------------------------------------------
# mmaction2 1.2.0
# ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def mmaction():
    from mmengine.registry import init_default_scope

    init_default_scope("mmaction")
    import mmaction.datasets  # noqa: F401  (registers the datasets and transforms)

    return mmaction


def test_mmaction2_rawframes(sample, mmaction):
    from mmaction.datasets import RawframeDataset

    root, cfg, _ = sample
    ann = list_path(cfg.target, "mmaction2")
    pipeline = [
        dict(type="SampleFrames", clip_len=1, frame_interval=1, num_clips=SEGMENTS, test_mode=True),
        dict(type="RawFrameDecode"),
    ]
    ds = RawframeDataset(
        ann_file=str(ann),
        pipeline=pipeline,
        data_prefix=dict(img=str(root)),
        filename_tmpl=FRAME_NAME,
        start_index=1,
        test_mode=True,
    )
    assert len(ds) == len(CLIPS)
    for i in range(len(ds)):
        out = ds[i]
        folder = Path(out["frame_dir"])
        assert out["total_frames"] == NUM_FRAMES and out["label"] == expected_label(str(folder))
        inds = [int(x) for x in out["frame_inds"]]
        assert_spread(inds, NUM_FRAMES)
        for idx, img in zip(inds, out["imgs"], strict=True):
            assert diff(img, jpeg(folder, idx)) <= SAME_JPEG  # frame_inds are our 1-based file numbers
        assert which_frame(out["imgs"][-1], folder, NUM_FRAMES) == inds[-1]

    # A training pipeline end to end: the label reaches the packed sample.
    train = RawframeDataset(
        ann_file=str(ann),
        data_prefix=dict(img=str(root)),
        filename_tmpl=FRAME_NAME,
        start_index=1,
        pipeline=[
            dict(type="SampleFrames", clip_len=1, frame_interval=1, num_clips=3),
            dict(type="RawFrameDecode"),
            dict(type="Resize", scale=(-1, 64)),
            dict(type="RandomResizedCrop"),
            dict(type="Resize", scale=(56, 56), keep_ratio=False),
            dict(type="Flip", flip_ratio=0.5),
            dict(type="FormatShape", input_format="NCHW"),
            dict(type="PackActionInputs"),
        ],
    )
    packed = train[2]
    assert tuple(packed["inputs"].shape) == (3, 3, 56, 56)
    assert int(packed["data_samples"].gt_label) == LABELS["zumba"] == 399

    # Without our filename_tmpl mmaction2 looks for img_00001.jpg and fails loudly.
    bare = RawframeDataset(ann_file=str(ann), pipeline=pipeline, data_prefix=dict(img=str(root)), test_mode=True)
    with pytest.raises(FileNotFoundError):
        bare[0]


def test_mmaction2_videos(sample, mmaction):
    from mmaction.datasets import VideoDataset

    root, _, cfg = sample
    pipeline = [
        dict(type="DecordInit"),
        dict(type="SampleFrames", clip_len=1, frame_interval=1, num_clips=SEGMENTS, test_mode=True),
        dict(type="DecordDecode"),
    ]
    ds = VideoDataset(
        ann_file=str(list_path(cfg.target, "mmaction2")),
        pipeline=pipeline,
        data_prefix=dict(video=str(root)),
        test_mode=True,
    )
    assert len(ds) == len(CLIPS)
    for i in range(len(ds)):
        out = ds[i]
        path = Path(out["filename"])
        assert path.is_file() and out["label"] == expected_label(str(path))
        reference = video_frames(path)
        inds = [int(x) for x in out["frame_inds"]]  # 0-based for videos
        assert out["total_frames"] == len(reference)
        assert_spread([x + 1 for x in inds], len(reference))
        for idx, img in zip(inds, out["imgs"], strict=True):
            assert diff(img, reference[idx]) <= SAME_VIDEO


# ----------------------------------------------------------------------------
# PaddleVideo 2.3 (the ppvideo package)
# ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def paddlevideo(tmp_path_factory):
    # ppvideo's own __init__ starts its inference tool (pandas, models); the
    # PaddleVideo package inside it is what training imports.
    spec = importlib.util.find_spec("ppvideo")
    sys.path.insert(0, list(spec.submodule_search_locations)[0])
    # Its logger writes .log.txt into the working directory.
    cwd = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("paddlevideo-cwd"))
    import paddlevideo.loader

    yield paddlevideo
    os.chdir(cwd)


def paddle_dataset(paddlevideo, list_file, root, **dataset_keys):
    from paddlevideo.loader.builder import build_dataset
    from paddlevideo.utils.config import AttrDict

    dataset = AttrDict(format="FrameDataset", file_path=str(list_file), data_prefix=str(root), **dataset_keys)
    # PIPELINE.train of PaddleVideo's TSN frame configs, minus the pixel-changing transforms.
    pipeline = AttrDict(
        decode=AttrDict(name="FrameDecoder"),
        sample=AttrDict(name="Sampler", num_seg=SEGMENTS, seg_len=1, valid_mode=False),
    )
    return build_dataset((dataset, pipeline))


def test_paddlevideo_frames(sample, paddlevideo):
    root, cfg, _ = sample
    ds = paddle_dataset(paddlevideo, list_path(cfg.target, "paddlevideo"), root, suffix=FRAME_NAME)
    assert len(ds) == len(CLIPS)
    for i in range(len(ds)):
        info = ds.info[i]
        folder = Path(info["frame_dir"])
        assert int(info["frames_len"]) == NUM_FRAMES
        imgs, labels = ds[i]
        assert int(labels[0]) == expected_label(str(folder))
        assert_spread([which_frame(img, folder, NUM_FRAMES) for img in imgs], NUM_FRAMES)

    # Without the suffix key it does not fail: it swallows the missing files
    # and, out of retries, hands back None (see lists.md's warning).
    bare = paddle_dataset(paddlevideo, list_path(cfg.target, "paddlevideo"), root)
    assert bare[0] is None


# ----------------------------------------------------------------------------
# pytorchvideo 0.1.5, and SlowFast's DATASET: ptvkinetics built on it
# ----------------------------------------------------------------------------


def ptv_items(dataset):
    return list(iter(dataset))


def clip_folder(root: Path, video_name: str) -> Path:
    """pytorchvideo names a sample by its folder's (or file's) own name."""
    (folder,) = (root / "train").glob(f"*/{video_name}")
    return folder


@pytest.fixture(scope="session")
def ptv_transforms():
    """pytorchvideo.transforms of 0.1.5, the newest on PyPI, imports
    torchvision.transforms.functional_tensor, which torchvision 0.17 renamed
    to _functional_tensor; SlowFast imports pytorchvideo.transforms, so its
    users need the same alias (or pytorchvideo from its repository)."""
    import torchvision.transforms._functional_tensor as renamed

    sys.modules.setdefault("torchvision.transforms.functional_tensor", renamed)
    import pytorchvideo.transforms

    return pytorchvideo.transforms


def ptv_kinetics_frames(root: Path, cfg, prefix: Path) -> set[str]:
    """pytorchvideo's own Kinetics over the frames list of ``cfg``, with the
    clip folders under ``prefix`` (the tree itself, or a mount of its image):
    each item has its label and every frame of its clip, in order, the very
    pixels of the JPEGs under ``root``.  Returns the classes seen."""
    import torch
    from pytorchvideo.data import Kinetics, make_clip_sampler

    ds = Kinetics(
        data_path=str(list_path(cfg.target, "pytorchvideo")),
        video_path_prefix=str(prefix),
        clip_sampler=make_clip_sampler("uniform", NUM_FRAMES / 30),
        decode_audio=False,
        video_sampler=torch.utils.data.SequentialSampler,
    )
    items = ptv_items(ds)
    assert len(items) >= len(CLIPS)
    seen = set()
    for item in items:
        folder = clip_folder(root, item["video_name"])
        assert item["label"] == LABELS[folder.parent.name]
        video = item["video"].permute(1, 2, 3, 0).numpy()  # C,T,H,W -> T,H,W,C
        # FrameVideo at 30 fps: the clip [0, 48/30 s) is every frame, in order.
        assert video.shape[0] == NUM_FRAMES
        for t in range(NUM_FRAMES):
            assert diff(video[t], jpeg(folder, t + 1)) == 0
        seen.add(folder.parent.name)
    return seen


def test_pytorchvideo_kinetics_frames(sample):
    root, cfg, _ = sample
    assert ptv_kinetics_frames(root, cfg, root) == {"abseiling", "air_drumming", "zumba"}


def test_slowfast_ptvkinetics_frames(sample, ptv_transforms):
    """Source-read: SlowFast's slowfast/datasets/ptv_datasets.py Ptvkinetics
    reads <PATH_TO_DATA_DIR>/<mode>.csv with LabeledVideoPaths.from_path, sets
    path_prefix = PATH_PREFIX and builds a LabeledVideoDataset whose transform
    starts with UniformTemporalSubsample(NUM_FRAMES).  Everything below but
    that wiring is pytorchvideo's own code."""
    import torch
    from pytorchvideo.data import LabeledVideoDataset, make_clip_sampler
    from pytorchvideo.data.labeled_video_paths import LabeledVideoPaths

    ApplyTransformToKey, UniformTemporalSubsample = (
        ptv_transforms.ApplyTransformToKey,
        ptv_transforms.UniformTemporalSubsample,
    )
    root, cfg, _ = sample
    path_to_data_dir, path_prefix = list_path(cfg.target, "pytorchvideo").parent, root
    paths = LabeledVideoPaths.from_path(os.path.join(path_to_data_dir, "train.csv"))
    paths.path_prefix = str(path_prefix)
    ds = LabeledVideoDataset(
        labeled_video_paths=paths,
        clip_sampler=make_clip_sampler("random", NUM_FRAMES / 30),
        video_sampler=torch.utils.data.SequentialSampler,
        decode_audio=False,
        decoder="pyav",
        transform=ApplyTransformToKey(key="video", transform=UniformTemporalSubsample(SEGMENTS)),
    )
    items = ptv_items(ds)
    assert len(items) == len(CLIPS)
    for item in items:
        folder = clip_folder(root, item["video_name"])
        assert item["label"] == LABELS[folder.parent.name]
        video = item["video"].permute(1, 2, 3, 0).numpy()
        assert video.shape[0] == SEGMENTS
        assert_spread([which_frame(frame, folder, NUM_FRAMES) for frame in video], NUM_FRAMES)


def test_pytorchvideo_kinetics_videos(sample):
    import torch
    from pytorchvideo.data import Kinetics, make_clip_sampler

    root, _, cfg = sample
    for fmt in ("pytorchvideo", "slowfast"):  # the same lines; SlowFast's own Kinetics is source-read below
        ds = Kinetics(
            data_path=str(list_path(cfg.target, fmt)),
            video_path_prefix=str(root),
            clip_sampler=make_clip_sampler("uniform", 1.0),
            decode_audio=False,
            video_sampler=torch.utils.data.SequentialSampler,
        )
        items = ptv_items(ds)
        assert {item["video_name"] for item in items} == {f"{stem}.mp4" for _, stem, _ in CLIPS}
        for item in items:
            path = next((root / "videos").glob(f"*/{item['video_name']}"))
            assert item["label"] == LABELS[path.parent.name]
            if item["clip_index"] == 0:
                video = item["video"].permute(1, 2, 3, 0).numpy()
                reference = video_frames(path)
                assert all(diff(video[t], reference[t]) <= SAME_VIDEO for t in range(video.shape[0]))


# ----------------------------------------------------------------------------
# Source-read: VideoMAEv2 and SlowFast's own Kinetics (on no package index)
# ----------------------------------------------------------------------------


def test_videomae_rawframe_cls_dataset_frames(sample):
    """Source-read: VideoMAEv2 dataset/datasets.py RawFrameClsDataset reads
    <data_path>/train.csv with pandas (header=None, delimiter=' '): column 0
    joined to data_root, column 1 the frame count, the last column the label;
    in validation mode frame i of num_segment is
    i * (total // num_segment) + (total // num_segment) // 2 + start_idx,
    named by filename_tmpl."""
    import pandas as pd

    root, cfg, _ = sample
    data_path, data_root, start_idx = list_path(cfg.target, "videomae").parent, root, 1
    cleaned = pd.read_csv(data_path / "train.csv", header=None, delimiter=" ")
    samples = list(cleaned[0].apply(lambda row: os.path.join(data_root, row)))
    totals, labels = list(cleaned.values[:, 1]), list(cleaned.values[:, -1])
    assert len(samples) == len(CLIPS)
    for folder, total, label in zip(samples, totals, labels, strict=True):
        assert int(total) == NUM_FRAMES and int(label) == expected_label(folder)
        step = int(total) // SEGMENTS
        inds = [i * step + step // 2 + start_idx for i in range(SEGMENTS)]
        assert_spread(inds, NUM_FRAMES)
        assert all((Path(folder) / FRAME_NAME.format(idx)).is_file() for idx in inds)


def test_videomae_pretrain_frames(sample):
    """Source-read: VideoMAEv2 dataset/pretrain_datasets.py HybridVideoMAE
    splits each line on ' ' into path, start_idx, total_frames (total >= 0:
    frames), joins root, and reads name_pattern.format(idx + start_idx) for
    0-based idx below total."""
    root, cfg, _ = sample
    for line in list_path(cfg.target, "videomae-pretrain").read_text().splitlines(keepends=True):
        info = line.split(" ")
        clip, start_idx, total = os.path.join(root, info[0]), int(info[1]), int(info[2])
        assert start_idx == 1 and total == NUM_FRAMES
        names = {FRAME_NAME.format(idx + start_idx) for idx in range(total)}
        assert names == set(os.listdir(clip))


def test_videomae_video_cls_and_slowfast_kinetics_videos(sample):
    """Source-read: VideoMAEv2 VideoClsDataset (pandas, delimiter ' ', column
    0 joined to data_root, column 1 the label; decord opens the file) and
    SlowFast's slowfast/datasets/kinetics.py (each line split on
    PATH_LABEL_SEPARATOR ' ' into path and label, joined to PATH_PREFIX)."""
    import decord
    import pandas as pd

    root, _, cfg = sample
    cleaned = pd.read_csv(list_path(cfg.target, "videomae"), header=None, delimiter=" ")
    paths = cleaned[0].apply(lambda row: os.path.join(root, row))
    for path, label in zip(paths, cleaned.values[:, 1], strict=True):
        reader = decord.VideoReader(path)
        assert len(reader) == len(video_frames(Path(path))) and int(label) == expected_label(path)
    for line in list_path(cfg.target, "slowfast").read_text().splitlines():
        fetch_info = line.split(" ")
        assert len(fetch_info) == 2
        path, label = os.path.join(root, fetch_info[0]), int(fetch_info[1])
        assert len(video_frames(Path(path))) > 0 and label == expected_label(path)


# ----------------------------------------------------------------------------
# flow: mmaction2's RawframeDataset(modality='Flow') on the flow lists
# ----------------------------------------------------------------------------

FLOW_NAME = "flow_{}_{:05d}.jpg"
FLOW_FRAMES = 12


@pytest.fixture(scope="session", params=["files", "lmdb"])
def flow_sample(request, tmp_path_factory):
    base = tmp_path_factory.mktemp(f"flow-{request.param}")
    for label, stem, seconds in CLIPS[:2]:
        make_video(base / "src" / label.replace(" ", "_") / f"{stem}.mp4", seconds=seconds, size="96x72")
    cfg = make_config(
        {
            "source": str(base / "src"),
            "target": str(base / "root" / "train"),
            "num_frames": FLOW_FRAMES,
            "frame_name": FRAME_NAME,
            "class_names": "underscore",
            "annotations": str(TINY_TRAIN),
            "flow": "dis",
            "store": request.param,
        }
    )
    assert run_extract(cfg).done == 2
    rgb = write_lists(cfg, ["mmaction2"])
    flow_lists = write_lists(cfg, ["mmaction2"], modality="flow")
    return base / "root", cfg, rgb, flow_lists


def recomputed_flow(frame_a: bytes, frame_b: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The flow of two RGB frame JPEGs, recomputed here from the documented rule."""
    import cv2

    def gray(data):
        return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)

    uv = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(gray(frame_a), gray(frame_b), None)
    q = np.rint((np.clip(uv, -20, 20) + 20) * 255 / 40)
    return q[..., 0], q[..., 1]


def rgb_lines(lists) -> list[str]:
    return Path(lists.lists["mmaction2"]).read_text().splitlines()


def test_mmaction2_flow(flow_sample, mmaction):
    """mmaction2's own RawframeDataset(modality='Flow') and RawFrameDecode on
    our flow lists (folders and an LMDB store): equal flow and frame counts,
    and both channels equal to flow recomputed here from the RGB frames."""
    from mmaction.datasets import RawframeDataset

    from k400frames.stores import locate
    from k400frames.stores.base import ClipKey

    root, cfg, rgb, flow_lists = flow_sample
    store_cls, store_path = locate(cfg.target)
    packed = store_cls.packed
    decode = dict(type="RawFrameDecode")
    if packed:
        decode.update(io_backend="lmdb", db_path=str(store_path))
    prefix = "" if packed else str(root)

    def dataset(ann, **kwargs):
        pipeline = [dict(type="SampleFrames", clip_len=1, frame_interval=1, num_clips=4, test_mode=True), decode]
        return RawframeDataset(
            ann_file=str(ann), pipeline=pipeline, data_prefix=dict(img=prefix), start_index=1, test_mode=True, **kwargs
        )

    # The RGB frames to recompute flow from, read before mmaction2 opens the
    # store: py-lmdb refuses a second open of one environment in a process.
    store = store_cls.open_split(store_path)
    try:
        stored = {
            (class_name, clip): dict(store.view(ClipKey(class_name, clip, True)).items())
            for class_name, clip in (line.split()[0].split("/")[-2:] for line in rgb_lines(rgb))
        }
    finally:
        store.close()
    flows = dataset(flow_lists.lists["mmaction2"], filename_tmpl=FLOW_NAME, modality="Flow")
    frames = dataset(rgb.lists["mmaction2"], filename_tmpl=FRAME_NAME)
    assert len(flows) == len(frames) == 2
    for i in range(len(flows)):
        out, rgb_out = flows[i], frames[i]
        assert out["total_frames"] == rgb_out["total_frames"] == FLOW_FRAMES  # equal counts
        class_name, clip = Path(out["frame_dir"]).parts[-2:]
        members = stored[(class_name, clip)]
        imgs = out["imgs"]
        # 1.x stacks x and y into one H x W x 2 image; 0.x kept them as two images
        if imgs[0].ndim == 3:
            pairs = [(im[..., 0], im[..., 1]) for im in imgs]
        else:
            pairs = list(zip(imgs[::2], imgs[1::2], strict=True))
        for index, (x, y) in zip([int(k) for k in out["frame_inds"]], pairs, strict=True):
            if index < FLOW_FRAMES:  # frame N+1 is not kept: make test checks the last flow
                ex, ey = recomputed_flow(members[FRAME_NAME.format(index)], members[FRAME_NAME.format(index + 1)])
                assert diff(x, ex) <= 1.5 and diff(y, ey) <= 1.5  # within JPEG's loss
