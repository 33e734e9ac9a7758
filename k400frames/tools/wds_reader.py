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
webdataset's own splitters.  webdataset lists, splits and opens the shards
(local files, ``pipe:``, ``https://`` through curl); their members are read
by the store's own tar walk (:func:`~k400frames.stores.tar.read_tar`),
which reads the fixed headers the store writes without ``tarfile``'s
per-member cost (30 to 50 ms for a clip's 300 members: more than decoding
the 8 frames a sample keeps).  Each DataLoader worker draws its frames from
a generator of its own.
"""

from __future__ import annotations

import functools
import json
import os
import random
import re
import string
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from ..errors import MissingExtra
from ..stores.tar import read_tar, split_member

SAMPLINGS = ("segments", "dense", "uniform")
INSTALL_HINT = "pip install 'k400frames[webdataset]' (or pip install webdataset)"


def frame_indices(
    count: int,
    num_frames: int,
    sampling: str = "segments",
    *,
    interval: int = 1,
    rng: random.Random | WorkerRandom | None = None,
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
    rng: random.Random | WorkerRandom | None = None,
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


class WorkerRandom:
    """A ``random.Random`` of each process's own: a DataLoader forks its
    workers with a copy of the parent's generator, so without this every
    worker would draw the same frames.  Seeded by ``seed`` and the worker's
    id (the same picks run after run), or from the OS without a seed."""

    def __init__(self, seed: int | None):
        self.seed = seed
        self._pid: int | None = None
        self._rng = random.Random()

    def _here(self) -> random.Random:
        if self._pid != os.getpid():
            self._pid = os.getpid()
            worker = _worker_id()
            self._rng = random.Random(None if self.seed is None else f"{self.seed}/{worker}")
        return self._rng

    def random(self) -> float:
        return self._here().random()

    def randint(self, a: int, b: int) -> int:
        return self._here().randint(a, b)


def _worker_id() -> int:
    try:
        from torch.utils.data import get_worker_info  # optional: only a DataLoader has workers
    except ImportError:
        return 0
    info = get_worker_info()
    return info.id if info is not None else 0


def tar_samples(shards: Iterable[dict[str, Any]], open_url: Callable[[str], Any]) -> Iterator[dict[str, Any]]:
    """The samples of each shard (webdataset's ``{"url": ...}``) as webdataset
    gives them undecoded: ``__key__``, ``__url__`` and one bytes value per
    member suffix."""
    for shard in shards:
        url = shard["url"]
        with open_url(url) as stream:
            sample: dict[str, Any] = {}
            for name, data in read_tar(stream, url):
                split = split_member(name)
                if split is None:
                    continue
                key, suffix = split
                if sample and sample["__key__"] != key:
                    yield sample
                    sample = {}
                if not sample:
                    sample = {"__key__": key, "__url__": url}
                sample[suffix] = data
            if sample:
                yield sample


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
    stages: list[Any] = [wds.SimpleShardList(expanded)]
    if train and shuffle:
        stages.append(wds.shuffle(len(expanded)))
    stages += [
        wds.split_by_node if split_by_node else wds.single_node_only,
        wds.split_by_worker,
        functools.partial(tar_samples, open_url=wds.gopen),
    ]
    if shuffle:
        stages.append(wds.shuffle(shuffle))
    to_clip = functools.partial(
        sample_to_clip,
        num_frames=num_frames,
        sampling=sampling,
        frame_name=frame_name,
        interval=interval,
        real_frames_only=real_frames_only,
        decode=decode,
        rng=WorkerRandom(seed) if train else None,
    )
    stages.append(wds.map(to_clip))
    if transform is not None:
        stages.append(wds.map(transform))
    # A pipeline with webdataset's fluid methods (.map, .batched, .shuffle...), as WebDataset has.
    clips = wds.FluidWrapper(stages[0])
    for stage in stages[1:]:
        clips.append(stage)
    return clips
