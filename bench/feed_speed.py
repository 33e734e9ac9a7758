"""Feed speed for training: samples per second into mmaction2's own
transforms from the source videos (decord: the route without extraction)
and from each home of the extracted frames (`make bench-feed`; needs the
loaders venv, squashfs-tools and squashfuse).

Corpus: the `k400` bench corpus (bench/corpus.py, 16 ten-second clips of
real footage, 340x256 and 456x256, 25 and 30 fps), extracted once by
k400frames with its defaults (300 frames a clip, q2 JPEG) into a folder
tree (shared with bench/read_speed.py) and into a ``store: webdataset``
split; the tree is packed into an LMDB store and a SquashFS image.

Each sample is what a training pipeline hands a model, by mmaction2's own
code, then ``Resize(scale=(-1, 256))`` and ``CenterCrop(crop_size=224)``:

* sparse (TSN): ``SampleFrames(clip_len=1, num_clips=8)``, random offsets;
* dense: ``SampleFrames(clip_len=16, frame_interval=4, num_clips=1)``.

Routes:

* ``videos (decord)``: ``VideoDataset`` + ``DecordInit`` + ``SampleFrames``
  + ``DecordDecode`` on the source videos;
* ``folders``: ``RawframeDataset`` + ``SampleFrames`` + ``RawFrameDecode``;
* ``lmdb``: the same with ``RawFrameDecode(io_backend='lmdb')``;
* ``squashfuse``: the folder route on a squashfuse mount of pack's default
  image, mounted afresh before every timed call (each frame goes through the
  daemon once, as in an epoch over a dataset larger than memory);
* ``wds local``: ``k400frames.tools.wds_reader.clip_dataset`` on the shard
  files (TSN segments, or a dense clip with interval 4; the picked frames
  decoded by ``mmcv.imfrombytes``, RawFrameDecode's own decoder), then the
  same two transforms;
* ``wds http``: the same shards over HTTP from ``python -m http.server`` on
  127.0.0.1, run as its own process (webdataset fetches them with curl).

Timing: a warm page cache (everything is read whole before every round);
each timed call is one ``torch.utils.data.DataLoader`` pass (``workers`` 0:
in this process; 2: two worker processes) over the corpus repeated to last
about ``--seconds``, the clock started at its first sample, so worker start
is left out; in an order that rotates from round to round.  Ratios are taken
inside a round and their median printed: against the decord route with the
same sampling and workers; 2 workers against 1 process; HTTP against local
files.  CPU ms a sample counts this process, its workers (and their curl
children), the squashfuse daemon and the HTTP server.  Workers hand back a
count, not the pixels, so the queue between processes is not measured.
"""

from __future__ import annotations

import argparse
import functools
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import build, clips  # noqa: E402
from read_speed import FRAME_NAME, cpu_of, extract, mount, own_cpu, unmount, warm  # noqa: E402

from k400frames.config import make_config  # noqa: E402
from k400frames.run.runner import run_extract  # noqa: E402
from k400frames.tools.lists import list_path, write_lists  # noqa: E402
from k400frames.tools.pack import pack  # noqa: E402

VIDEOS, FOLDERS, LMDB, SQUASHFUSE, WDS_LOCAL, WDS_HTTP = (
    "videos (decord)",
    "folders",
    "lmdb",
    "squashfuse",
    "wds local",
    "wds http",
)
ROUTES = (VIDEOS, FOLDERS, LMDB, SQUASHFUSE, WDS_LOCAL, WDS_HTTP)
SPARSE, DENSE = "sparse 8x1", "dense 16x4"
# mmaction2's SampleFrames for each sampling, and the clip reader's equivalent.
SAMPLE_FRAMES = {
    SPARSE: dict(clip_len=1, frame_interval=1, num_clips=8),
    DENSE: dict(clip_len=16, frame_interval=4, num_clips=1),
}
READER = {
    SPARSE: dict(num_frames=8, sampling="segments"),
    DENSE: dict(num_frames=16, sampling="dense", interval=4),
}
AFTER = [dict(type="Resize", scale=(-1, 256)), dict(type="CenterCrop", crop_size=224)]
# Goals (issue 27): x the videos, by sampling, for these routes; and the other ratios.
GOAL_ROUTES = (FOLDERS, LMDB, WDS_LOCAL)
GOAL_X_VIDEOS = {SPARSE: 10.0, DENSE: 3.0}
GOAL_HTTP = 0.9
GOAL_WORKERS = 1.7


def wds_split(cache: Path, src: Path, shard_size: str) -> Path:
    """The corpus extracted once as a store: webdataset split (the folder
    tree's config, so the same frame bytes); returns its root."""
    root = cache / f"feed-wds-{shard_size}"
    if (root / ".complete").is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    cfg = make_config(
        {
            "source": str(src),
            "target": str(root / "train"),
            "frame_name": FRAME_NAME,
            "annotations": None,
            "workers": 2,
            "store": "webdataset",
            "shard_size": shard_size,
        }
    )
    print(f"extracting the k400 corpus into {root} (store: webdataset, shard_size {shard_size}) ...", flush=True)
    summary = run_extract(cfg)
    assert summary.failed == 0, summary
    write_lists(cfg, ("webdataset",))
    (root / ".complete").write_text("")
    return root


def video_list(src: Path, dest: Path) -> Path:
    """An mmaction2 video list of the source clips (path relative to ``src``, label)."""
    classes = sorted({p.parent.name for p in clips(src)})
    dest.write_text("".join(f"{p.relative_to(src)} {classes.index(p.parent.name)}\n" for p in clips(src)))
    return dest


class Count:
    """A map-style dataset that runs ``ds`` and hands back the frames of the
    sample, so a worker's queue carries an int, not the pixels."""

    def __init__(self, ds, repeat: int = 1):
        self.ds, self.repeat = ds, repeat

    def __len__(self):
        return len(self.ds) * self.repeat

    def __getitem__(self, i):
        return len(self.ds[i % len(self.ds)]["imgs"])


class Transformed:
    """A clip of the reader as mmaction2's results dict, through ``AFTER``."""

    def __init__(self):
        from mmengine.dataset import Compose

        self.pipeline = Compose(AFTER)

    def __call__(self, clip):
        imgs = clip["frames"]
        shape = imgs[0].shape[:2]
        results = dict(imgs=imgs, img_shape=shape, original_shape=shape, modality="RGB", label=clip["label"])
        return len(self.pipeline(results)["imgs"])


class Routes:
    """Builds each route's dataset for a sampling, ``repeat`` epochs a pass."""

    def __init__(
        self, src: Path, videos: Path, frames: Path, lmdb: Path, mnt: Path, wds_rels: list[str], wds_root: Path
    ):
        self.src, self.videos, self.frames, self.lmdb, self.mnt = src, videos, frames, lmdb, mnt
        self.wds_rels, self.wds_root = wds_rels, wds_root
        self.http = ""  # base URL of the server, set when it is up

    def rawframes(self, sampling: str, prefix: str, decode: dict):
        from mmaction.datasets import RawframeDataset

        return RawframeDataset(
            ann_file=str(list_path(self.frames / "train", "mmaction2")),
            pipeline=[
                dict(type="SampleFrames", **SAMPLE_FRAMES[sampling]),
                dict(type="RawFrameDecode", **decode),
                *AFTER,
            ],
            data_prefix=dict(img=prefix),
            filename_tmpl=FRAME_NAME,
            start_index=1,
        )

    def dataset(self, route: str, sampling: str, repeat: int):
        """(dataset, iterable?) of ``route``; one pass is ``repeat`` epochs."""
        if route == VIDEOS:
            from mmaction.datasets import VideoDataset

            ds = VideoDataset(
                ann_file=str(self.videos),
                pipeline=[
                    dict(type="DecordInit"),
                    dict(type="SampleFrames", **SAMPLE_FRAMES[sampling]),
                    dict(type="DecordDecode"),
                    *AFTER,
                ],
                data_prefix=dict(video=str(self.src)),
            )
            return Count(ds, repeat), False
        if route == FOLDERS:
            return Count(self.rawframes(sampling, str(self.frames), {}), repeat), False
        if route == LMDB:
            return Count(self.rawframes(sampling, "", dict(io_backend="lmdb", db_path=str(self.lmdb))), repeat), False
        if route == SQUASHFUSE:
            return Count(self.rawframes(sampling, str(self.mnt), {}), repeat), False
        import mmcv

        from k400frames.tools.wds_reader import clip_dataset

        base = self.http if route == WDS_HTTP else str(self.wds_root)
        urls = [f"{base}/{rel}" for rel in self.wds_rels] * repeat
        ds = clip_dataset(
            urls,
            **READER[sampling],
            frame_name=FRAME_NAME,
            train=True,
            decode=functools.partial(mmcv.imfrombytes, channel_order="rgb"),
            transform=Transformed(),
        )
        return ds, True


def one_pass(ds, iterable: bool, workers: int) -> tuple[int, float]:
    """Samples read and seconds taken for one DataLoader pass over ``ds``;
    the clock starts at the first sample.  Workers end with the pass, so
    their CPU time is in RUSAGE_CHILDREN when this returns."""
    import torch

    loader = torch.utils.data.DataLoader(ds, batch_size=None, shuffle=not iterable, num_workers=workers)
    samples, start = 0, 0.0
    for _ in loader:
        if not start:
            start = time.perf_counter()
            continue
        samples += 1
    return samples, time.perf_counter() - start


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_server(directory: Path) -> tuple[subprocess.Popen, str]:
    """``python -m http.server`` serving ``directory`` on 127.0.0.1, in its own process."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(directory)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return server, f"http://127.0.0.1:{port}"
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("python -m http.server did not start") from None
            time.sleep(0.05)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=str(HERE.parent / ".bench-cache"), help="corpus cache folder")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.5, help="about how long each timed call reads")
    parser.add_argument("--workers", default="0,2", help="DataLoader num_workers values, comma-separated")
    parser.add_argument(
        "--shard-size",
        default="1MB",
        help="shard_size of the webdataset split; the default puts one clip in a shard (16 shards, 8 a worker, "
        "and over HTTP a curl start for each clip: the most an epoch can have)",
    )
    parser.add_argument("--routes", default=",".join(ROUTES), help="routes to time (the first must be the videos)")
    parser.add_argument("--no-gate", action="store_true", help="exit 0 even when a goal is missed")
    args = parser.parse_args(argv)
    routes = [r.strip() for r in args.routes.split(",")]
    if routes[0] != VIDEOS or any(r not in ROUTES for r in routes):
        parser.error(f"--routes: names from {', '.join(ROUTES)}, the videos first")
    if SQUASHFUSE in routes:
        for tool in ("sqfstar", "squashfuse"):
            if not shutil.which(tool):
                print(f"{tool} missing: apt-get install squashfs-tools squashfuse", file=sys.stderr)
                return 2
    if WDS_HTTP in routes and not shutil.which("curl"):
        print("curl missing (webdataset fetches http:// URLs with it): apt-get install curl", file=sys.stderr)
        return 2
    from mmengine.registry import init_default_scope

    init_default_scope("mmaction")
    import mmaction.datasets  # noqa: F401  (registers the transforms)

    cache = Path(args.cache)
    src = build(cache, "k400")
    frames = extract(cache)
    wds_root = wds_split(cache, src, args.shard_size)
    wds_rels = list_path(wds_root / "train", "webdataset").read_text().split()
    work = Path(tempfile.mkdtemp(prefix="feed-speed-", dir=cache))
    daemons: dict[str, subprocess.Popen] = {}
    mnt = work / "mnt"
    try:
        print(f"packing {frames} into an LMDB store and a SquashFS image ...", flush=True)
        lmdb = pack(frames, work / "frames.lmdb").dest if LMDB in routes else work / "none.lmdb"
        image = pack(frames, work / "frames.sqfs").dest if SQUASHFUSE in routes else None
        built = Routes(src, video_list(src, work / "videos.txt"), frames, lmdb, mnt, wds_rels, wds_root)
        if WDS_HTTP in routes:
            daemons[WDS_HTTP], built.http = http_server(wds_root)
        if image is not None:
            daemons[SQUASHFUSE] = mount(image, mnt, "squashfuse")

        def remount() -> None:
            unmount(mnt, daemons[SQUASHFUSE])
            daemons[SQUASHFUSE] = mount(image, mnt, "squashfuse")

        def helper_cpu(route: str) -> float:
            return cpu_of(daemons[route].pid) if route in daemons else 0.0

        cached = [
            src,
            frames / "train",
            wds_root / "train.wds",
            *([lmdb] if LMDB in routes else []),
            *([image] if image else []),
        ]
        workers = [int(w) for w in args.workers.split(",")]
        runs = [(route, s, w) for s in SAMPLE_FRAMES for w in workers for route in routes]
        n_clips = len(clips(src))
        # Warm-up: one epoch of each run, whose rate sets its passes' length.
        repeat: dict[tuple[str, str, int], int] = {}
        warm(cached)
        print(f"warm-up: {len(runs)} runs of one epoch ({n_clips} clips) ...", flush=True)
        for run in runs:
            route, s, w = run
            if route == SQUASHFUSE:
                remount()
            n, secs = one_pass(*built.dataset(route, s, 1), w)
            repeat[run] = max(1, math.ceil(args.seconds * n / max(secs, 1e-6) / n_clips))
        rate: dict[tuple[str, str, int], list[float]] = {run: [] for run in runs}
        cpu: dict[tuple[str, str, int], list[float]] = {run: [] for run in runs}
        loads: list[float] = []
        start = time.monotonic()
        for r in range(args.rounds):
            warm(cached)
            k = r % len(runs)
            print(f"round {r + 1} of {args.rounds} ...", flush=True)
            for run in runs[k:] + runs[:k]:
                route, s, w = run
                if route == SQUASHFUSE:
                    remount()
                ds, iterable = built.dataset(route, s, repeat[run])
                loads.append(os.getloadavg()[0])
                before = own_cpu() + helper_cpu(route)
                n, secs = one_pass(ds, iterable, w)
                used = own_cpu() + helper_cpu(route) - before
                rate[run].append(n / secs)
                cpu[run].append(1000 * used / max(n, 1))
        took = time.monotonic() - start
        return report(args, routes, workers, rate, cpu, loads, took)
    finally:
        if SQUASHFUSE in daemons:
            unmount(mnt, daemons.pop(SQUASHFUSE))
        for daemon in daemons.values():
            daemon.terminate()
            daemon.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


def per_round(a: list[float], b: list[float]) -> float:
    return statistics.median(x / y for x, y in zip(a, b, strict=True))


def report(args, routes, workers, rate, cpu, loads, took) -> int:
    cores = len(os.sched_getaffinity(0))
    print(
        f"\nfeed speed: samples/s into mmaction2's transforms (+ Resize(-1, 256) + CenterCrop(224)), "
        f"medians of {args.rounds} rounds ({took:.0f} s)"
    )
    print(
        f"load average (1 min) {min(loads):.1f} to {max(loads):.1f}, median {statistics.median(loads):.1f}, "
        f"on {cores} cores; x videos: per-round ratio against the decord route, same sampling and workers"
    )
    x_w = f"x {workers[0]}w" if len(workers) > 1 else ""
    print(
        f"{'sampling':<11} {'route':<16} {'workers':>7} {'samples/s':>9} {'x videos':>8} {'CPU ms/sample':>13} {x_w:>6}"
    )
    ratios: dict[tuple[str, str, int], float] = {}
    scaling: dict[tuple[str, str, int], float] = {}
    for s in SAMPLE_FRAMES:
        for w in workers:
            for route in routes:
                run = (route, s, w)
                ratios[run] = per_round(rate[run], rate[(VIDEOS, s, w)])
                scale = ""
                if w != workers[0]:
                    scaling[run] = per_round(rate[run], rate[(route, s, workers[0])])
                    scale = f"{scaling[run]:6.2f}"
                print(
                    f"{s:<11} {route:<16} {w:>7} {statistics.median(rate[run]):9.1f} {ratios[run]:8.2f} "
                    f"{statistics.median(cpu[run]):13.1f} {scale:>6}"
                )
    print("\ngoals (issue 27; meant for a quiet machine):")
    missed = 0

    def goal(text: str, value: float, want: float) -> None:
        nonlocal missed
        ok = value >= want
        missed += not ok
        print(f"  [{'ok' if ok else 'MISSED'}] {text}: {value:.2f}x (goal {want:g}x)")

    for s, want in GOAL_X_VIDEOS.items():
        for w in workers:
            for route in GOAL_ROUTES:
                if route in routes:
                    goal(f"{route} x videos, {s}, {w} workers", ratios[(route, s, w)], want)
    if WDS_HTTP in routes and WDS_LOCAL in routes:
        for s in SAMPLE_FRAMES:
            for w in workers:
                goal(
                    f"wds http x wds local, {s}, {w} workers",
                    per_round(rate[(WDS_HTTP, s, w)], rate[(WDS_LOCAL, s, w)]),
                    GOAL_HTTP,
                )
    for run, value in scaling.items():
        route, s, w = run
        goal(f"{route}, {s}: {w} workers x {workers[0]}", value, GOAL_WORKERS)
    return 1 if missed and not args.no_gate else 0


if __name__ == "__main__":
    sys.exit(main())
