"""Clips for training from WebDataset shards (``store: webdataset``): the
frames a sampler picks, decoded alone, with the label from ``cls``.

``webdataset``'s ``.decode()`` decodes every image member of a sample: 300
JPEGs for a clip a model reads 8 of.  Here the frame names are picked first
(:func:`frame_indices`: TSN segments, a dense clip with an interval, or
uniform), and only those members are decoded (:func:`sample_to_clip`).

Importing this module needs neither torch nor webdataset; :func:`clip_dataset`
needs webdataset (``pip install 'k400frames[webdataset]'``), and is a
``torch.utils.data.IterableDataset`` when torch is installed, split over
nodes (``split_by_node``) and DataLoader workers (``split_by_worker``) by
webdataset's own splitters.
"""

from __future__ import annotations

import functools
import json
import random
import re
import string
from collections.abc import Callable, Sequence
from typing import Any

from ..errors import MissingExtra

SAMPLINGS = ("segments", "dense", "uniform")
INSTALL_HINT = "pip install 'k400frames[webdataset]' (or pip install webdataset)"


def frame_indices(
    count: int,
    num_frames: int,
    sampling: str = "segments",
    *,
    interval: int = 1,
    rng: random.Random | None = None,
) -> list[int]:
    """0-based indices of ``num_frames`` frames of a clip of ``count``.

    ``segments`` (TSN): the clip cut into ``num_frames`` equal segments, one
    frame from each (random within it with ``rng``, else its middle).
    ``dense``: ``num_frames`` frames ``interval`` apart from a start (random
    with ``rng``, else centred); a clip too short repeats its last frame.
    ``uniform``: evenly spread from the first frame to the last."""
    if count < 1 or num_frames < 1:
        raise ValueError(f"need a clip of frames and frames to pick, got count={count}, num_frames={num_frames}")
    if sampling == "segments":
        picks = []
        for k in range(num_frames):
            start, end = k * count / num_frames, (k + 1) * count / num_frames
            at = start + (rng.random() if rng is not None else 0.5) * (end - start)
            picks.append(min(int(at), count - 1))
        return picks
    if sampling == "dense":
        span = (num_frames - 1) * interval + 1
        room = max(count - span, 0)
        start = rng.randint(0, room) if rng is not None else room // 2
        return [min(start + k * interval, count - 1) for k in range(num_frames)]
    if sampling == "uniform":
        if num_frames == 1:
            return [(count - 1) // 2]
        return [round(k * (count - 1) / (num_frames - 1)) for k in range(num_frames)]
    raise ValueError(f"sampling: expected one of {', '.join(SAMPLINGS)}, got {sampling!r}")


def frame_pattern(frame_name: str) -> re.Pattern[str]:
    """A regex of the member suffixes ``frame_name`` writes (lowercased, as
    webdataset gives them), with the frame number as group 1."""
    pieces = []
    for literal, field, _, _ in string.Formatter().parse(frame_name):
        pieces.append(re.escape(literal.lower()))
        if field is not None:
            pieces.append(r"(\d+)")
    return re.compile("".join(pieces))


def clip_frames(sample: dict[str, Any], frame_name: str) -> list[str]:
    """The frame members of a sample in frame order."""
    pattern = frame_pattern(frame_name)
    numbered = [(int(m[1]), name) for name in sample if (m := pattern.fullmatch(name))]
    return [name for _, name in sorted(numbered)]


def decode_rgb(data: bytes) -> Any:
    """A JPEG as an RGB ``numpy`` array (simplejpeg, else PIL)."""
    try:
        import simplejpeg  # optional: the fastest decoder on pip

        return simplejpeg.decode_jpeg(data, colorspace="RGB")
    except ImportError:
        pass
    import io  # PIL's way in, on this fallback only

    import numpy  # webdataset's own dependency, loaded only to decode
    from PIL import Image  # optional, the decoder most installs have

    with Image.open(io.BytesIO(data)) as image:
        return numpy.asarray(image.convert("RGB"))


def _label(value: Any) -> int:
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("ascii")
    return int(value)


def sample_to_clip(
    sample: dict[str, Any],
    *,
    num_frames: int,
    sampling: str = "segments",
    frame_name: str = "frame_{:05d}.jpg",
    interval: int = 1,
    real_frames_only: bool = True,
    decode: Callable[[bytes], Any] | None = decode_rgb,
    rng: random.Random | None = None,
) -> dict[str, Any]:
    """One webdataset sample (``__key__``, ``cls``, ``json`` and the frame
    members, undecoded) as a clip: ``key``, ``label``, ``indices`` (0-based)
    and ``frames``, only the picked members decoded (``decode=None``: their
    bytes).  ``real_frames_only``: pick among the decoded frames the ``json``
    member counts, never the pads."""
    names = clip_frames(sample, frame_name)
    if not names:
        raise ValueError(f"sample {sample.get('__key__')!r} has no frame members named like {frame_name!r}")
    count = len(names)
    if real_frames_only and "json" in sample:
        meta = sample["json"] if isinstance(sample["json"], dict) else json.loads(sample["json"])
        count = min(count, max(int(meta.get("decoded") or count), 1))
    indices = frame_indices(count, num_frames, sampling, interval=interval, rng=rng)
    picked = [sample[names[i]] for i in indices]
    return {
        "key": sample.get("__key__"),
        "label": _label(sample["cls"]),
        "indices": indices,
        "frames": [decode(data) for data in picked] if decode is not None else picked,
    }


def load_webdataset() -> Any:
    try:
        import webdataset  # optional: the [webdataset] extra
    except ImportError as exc:
        raise MissingExtra(
            f"reading shards needs the webdataset package ({exc}); install with {INSTALL_HINT}"
        ) from None
    return webdataset


def clip_dataset(
    urls: str | Sequence[str],
    *,
    num_frames: int = 8,
    sampling: str = "segments",
    frame_name: str = "frame_{:05d}.jpg",
    interval: int = 1,
    train: bool = True,
    shuffle: int = 0,
    seed: int | None = None,
    split_by_node: bool = False,
    real_frames_only: bool = True,
    decode: Callable[[bytes], Any] | None = decode_rgb,
    transform: Callable[[dict[str, Any]], Any] | None = None,
) -> Any:
    """A webdataset pipeline of clips (:func:`sample_to_clip`) from shard
    ``urls`` (local paths, ``https://`` URLs or brace patterns).

    Shards are split over DataLoader workers always and over nodes with
    ``split_by_node`` (webdataset's splitters); ``train`` picks frames at
    random (seeded by ``seed`` per worker), else deterministically;
    ``shuffle``: a sample buffer of that size.  ``transform`` maps each clip."""
    wds = load_webdataset()
    if isinstance(urls, str):
        urls = [urls]
    expanded = [url for pattern in urls for url in wds.shardlists.expand_urls(pattern)]
    dataset = wds.WebDataset(
        expanded,
        shardshuffle=len(expanded) if train and shuffle else False,
        nodesplitter=wds.split_by_node if split_by_node else wds.single_node_only,
        workersplitter=wds.split_by_worker,
        empty_check=False,
    )
    if shuffle:
        dataset = dataset.shuffle(shuffle)
    rng = random.Random(seed) if train else None
    to_clip = functools.partial(
        sample_to_clip,
        num_frames=num_frames,
        sampling=sampling,
        frame_name=frame_name,
        interval=interval,
        real_frames_only=real_frames_only,
        decode=decode,
        rng=rng,
    )
    dataset = dataset.map(to_clip)
    return dataset.map(transform) if transform is not None else dataset
