"""Read speed for training: frames/s that mmaction2's own RawFrameDecode gets
from a folder tree, from an LMDB store and from a SquashFS image mounted with
squashfuse, and what `k400frames pack` costs (`make bench-read`; needs the
loaders venv, squashfs-tools and squashfuse).

Corpus: the `k400` bench corpus (bench/corpus.py, 16 ten-second clips,
340x256 and 456x256) extracted by k400frames with its defaults (300 frames a
clip, q2 JPEG), then packed into one LMDB store and into SquashFS images
made with different options.  Each sample is what a TSN-style training
pipeline reads: SampleFrames(clip_len=1, num_clips=8) at random, then
RawFrameDecode (the JPEG decode is part of the cost, as in training).

Timing: warm page cache (the frames, the store and the images are read
whole before every round, so no contender reads from the disk), contenders in an order that rotates from round to round,
medians over --rounds; "workers" is a torch DataLoader's num_workers (0: in
the main process).  Ratios are per round against folders with the same
number of workers.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from corpus import build  # noqa: E402

from k400frames.config import make_config  # noqa: E402
from k400frames.run.runner import run_extract  # noqa: E402
from k400frames.tools.lists import list_path, write_lists  # noqa: E402
from k400frames.tools.pack import pack  # noqa: E402

FRAME_NAME = "frame_{:05d}.jpg"
SEGMENTS = 8

# name: (compression, block size, fragments); the first is pack's default.
IMAGES = {
    "none-128K-nofrag": ("none", "128K", False),
    "none-128K": ("none", "128K", True),
    "gzip-128K": ("gzip", "128K", True),
    "gzip-128K-nofrag": ("gzip", "128K", False),
    "zstd-128K": ("zstd", "128K", True),
    "none-4K-nofrag": ("none", "4K", False),
}


def extract(cache: Path) -> Path:
    """The corpus extracted once into cache/read-frames/train; returns the root."""
    root = cache / "read-frames"
    if (root / ".complete").is_file():
        return root
    shutil.rmtree(root, ignore_errors=True)
    src = build(cache, "k400")
    cfg = make_config(
        {"source": str(src), "target": str(root / "train"), "frame_name": FRAME_NAME, "annotations": None, "workers": 2}
    )
    print(f"extracting the k400 corpus into {root} ...", flush=True)
    summary = run_extract(cfg)
    assert summary.failed == 0, summary
    write_lists(cfg, ("mmaction2",))
    (root / ".complete").write_text("")
    return root


def tree_bytes(root: Path) -> int:
    return sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(root / "train") for n in names)


def dataset(ann: Path, prefix: str, decode: dict):
    from mmaction.datasets import RawframeDataset

    return RawframeDataset(
        ann_file=str(ann),
        pipeline=[
            dict(type="SampleFrames", clip_len=1, frame_interval=1, num_clips=SEGMENTS),
            dict(type="RawFrameDecode", **decode),
        ],
        data_prefix=dict(img=prefix),
        filename_tmpl=FRAME_NAME,
        start_index=1,
    )


class Frames:
    """A dataset wrapper that hands back only the number of frames decoded,
    so a DataLoader's worker queue does not carry the pixels."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, i):
        return len(self.ds[i]["imgs"])


def read_frames(ds, workers: int, passes: int) -> tuple[int, float]:
    """Frames read and seconds taken for ``passes`` passes over ``ds``; the
    clock starts after the first sample.  Workers end with each pass, so
    their CPU time is in RUSAGE_CHILDREN when this returns."""
    import torch

    loader = torch.utils.data.DataLoader(Frames(ds), batch_size=None, shuffle=True, num_workers=workers)
    frames = 0
    start = 0.0
    for _ in range(passes):
        for n in loader:
            if not start:
                start = time.perf_counter()  # the workers are up: start the clock
                continue
            frames += int(n)
    return frames, time.perf_counter() - start


def warm(paths: list[Path]) -> None:
    """Read every byte of ``paths`` (files, or folders walked), so that all
    contenders start from the page cache, not some from the disk."""
    for path in paths:
        files = [path] if path.is_file() else [Path(d, n) for d, _, ns in os.walk(path) for n in ns]
        for f in files:
            with open(f, "rb") as handle:
                while handle.read(1 << 20):
                    pass


def mount(image: Path, mnt: Path, tool: str) -> subprocess.Popen:
    """Mount ``image`` at ``mnt`` with ``tool`` in the foreground (-f), so
    that its CPU time can be read from /proc; returns the daemon."""
    mnt.mkdir(parents=True, exist_ok=True)
    daemon = subprocess.Popen([tool, "-f", str(image), str(mnt)])
    deadline = time.monotonic() + 30
    while not os.path.ismount(mnt):
        if daemon.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{tool} could not mount {image} at {mnt}")
        time.sleep(0.01)
    return daemon


def unmount(mnt: Path, daemon: subprocess.Popen) -> None:
    tool = shutil.which("fusermount3") or shutil.which("fusermount")
    subprocess.run([tool, "-u", str(mnt)] if tool else ["umount", str(mnt)], check=False)
    daemon.wait(timeout=30)


def cpu_of(pid: int) -> float:
    """CPU seconds (user + system) of the live process ``pid``."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def own_cpu() -> float:
    """CPU seconds of this process and of its reaped children (the DataLoader's workers)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=str(HERE.parent / ".bench-cache"), help="corpus cache folder")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--passes", type=int, default=6, help="passes over the 16 clips per timed call")
    parser.add_argument("--workers", default="0,2", help="DataLoader num_workers values, comma-separated")
    parser.add_argument("--images", default=",".join(IMAGES), help="image variants to mount (see IMAGES)")
    args = parser.parse_args(argv)
    for tool in ("sqfstar", "squashfuse", "squashfuse_ll"):
        if not shutil.which(tool):
            print(f"{tool} missing: apt-get install squashfs-tools squashfuse", file=sys.stderr)
            return 2
    from mmengine.registry import init_default_scope

    init_default_scope("mmaction")
    import mmaction.datasets  # noqa: F401  (registers the transforms)

    cache = Path(args.cache)
    root = extract(cache)
    size = tree_bytes(root)
    ann = list_path(root / "train", "mmaction2")
    work = Path(tempfile.mkdtemp(prefix="read-speed-", dir=cache))
    mounts: dict[str, tuple[Path, subprocess.Popen]] = {}
    try:
        # pack costs: seconds per GB of frames
        print(f"frames: {size / 1e6:.0f} MB in {sum(1 for _ in (root / 'train').glob('*/*/*'))} files")
        print("\npack cost (warm page cache):")
        print(f"{'DEST':<24} {'s':>6} {'s/GB':>6} {'size x':>7}")
        lmdb = work / "frames.lmdb"
        t = time.perf_counter()
        made = pack(root, lmdb)
        took = time.perf_counter() - t
        print(f"{'frames.lmdb':<24} {took:6.1f} {took / (size / 1e9):6.1f} {made.dest_bytes / size:7.3f}")
        images = {}
        for name in args.images.split(","):
            comp, block, frags = IMAGES[name]
            t = time.perf_counter()
            made = pack(root, work / f"{name}.sqfs", compression=comp, block_size=block, fragments=frags)
            took = time.perf_counter() - t
            images[name] = made.dest
            print(f"{name + '.sqfs':<24} {took:6.1f} {took / (size / 1e9):6.1f} {made.dest_bytes / size:7.3f}")

        contenders: dict[str, object] = {
            "folders": dataset(ann, str(root), {}),
            "lmdb": dataset(ann, "", dict(io_backend="lmdb", db_path=str(lmdb))),
        }
        # A fresh mount before every timed call: each frame then passes through
        # squashfuse once, as in an epoch over a dataset larger than memory (the
        # image file itself stays in the page cache, as the folders do).
        fresh: dict[str, tuple[Path, Path, str]] = {}
        for name, image in images.items():
            mnt = work / f"mnt-{name}"
            fresh[f"squashfuse {name}"] = (image, mnt, "squashfuse")
        first = next(iter(images))
        fresh[f"squashfuse_ll {first}"] = (images[first], work / "mnt-ll", "squashfuse_ll")
        for name, (image, mnt, tool) in fresh.items():
            mounts[name] = (mnt, mount(image, mnt, tool))
            contenders[name] = dataset(ann, str(mnt), {})
        # ... and one mount left as it is: frames read before come from the
        # kernel's page cache of the FUSE files (a dataset that fits in memory).
        reread = f"squashfuse {first}, reread"
        mnt = work / "mnt-warm"
        mounts[reread] = (mnt, mount(images[first], mnt, "squashfuse"))
        contenders[reread] = dataset(ann, str(mnt), {})

        def remount(name: str) -> None:
            if name in fresh:
                image, mnt, tool = fresh[name]
                unmount(*mounts[name])
                mounts[name] = (mnt, mount(image, mnt, tool))

        workers = [int(w) for w in args.workers.split(",")]
        runs = [(name, w) for w in workers for name in contenders]
        for name, w in runs:  # warm-up: page cache, LMDB map, the reread mount
            read_frames(contenders[name], w, 1)
        speed: dict[tuple[str, int], list[float]] = {run: [] for run in runs}
        cpu: dict[tuple[str, int], list[float]] = {run: [] for run in runs}
        ratio: dict[tuple[str, int], list[float]] = {run: [] for run in runs}
        cached = [root / "train", lmdb, *images.values()]
        for r in range(args.rounds):
            warm(cached)
            k = r % len(runs)
            order = runs[k:] + runs[:k]
            this: dict[tuple[str, int], float] = {}
            for name, w in order:
                remount(name)
                daemon = mounts[name][1].pid if name in mounts else None
                before = own_cpu() + (cpu_of(daemon) if daemon else 0.0)
                frames, secs = read_frames(contenders[name], w, args.passes)
                used = own_cpu() + (cpu_of(daemon) if daemon else 0.0) - before
                this[(name, w)] = frames / secs
                cpu[(name, w)].append(1000 * used / frames)
            for run in runs:
                speed[run].append(this[run])
                ratio[run].append(this[run] / this[("folders", run[1])])
        load = os.getloadavg()[0]
        print(f"\nread speed, mmaction2 RawFrameDecode, {SEGMENTS}-frame samples, medians of {args.rounds} rounds")
        print(f"(load average {load:.1f} on {os.cpu_count()} cores at the end)")
        print("CPU ms/frame: the reading process, its workers and the squashfuse daemon together")
        print(f"{'source':<34} {'workers':>7} {'frames/s':>9} {'x folders':>9} {'CPU ms/frame':>12}")
        for name, w in runs:
            fps, x = statistics.median(speed[(name, w)]), statistics.median(ratio[(name, w)])
            print(f"{name:<34} {w:>7} {fps:9.0f} {x:9.2f} {statistics.median(cpu[(name, w)]):12.2f}")
    finally:
        for mnt, daemon in mounts.values():
            unmount(mnt, daemon)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
