"""`make bench-scale`: the costs that grow with the number of clips, at 240,000.

Two parts:

* **Flat costs.**  A Kinetics-sized split is faked: a source tree of
  ``--classes`` x ``--per-class`` hard links to three real short videos, and a
  *finished run* of it (a clip folder of ``--frames`` hard links to real
  JPEGs per clip, and the manifest a real run would have written, digests
  included).  Making a real 240k-clip run would take a day; the fake has the
  same names, folders, inodes and manifest lines, which is all that the
  measured operations read.  Each operation then runs in a fresh Python
  process (so its peak RSS is its own): the dry run, the resume of the
  finished run (every clip skipped), ``verify`` (without ``--deep``),
  ``lists``, the planner alone (``plan()``, what a doctor walks) and the
  dataset card.  Printed: wall seconds and peak RSS, median of ``--rounds``,
  against the goal (<= 60 s and <= 300 MB on 2 cores).
* **Per-clip overhead.**  ``--clips`` one-frame clips of one tiny real video
  through ``run_extract`` (``workers: 2``), against the very same ffmpeg argv
  run bare two at a time; the difference per clip is our own work (goal:
  under 3 ms of CPU, this process and its children; wall time is printed
  too, but on a shared machine it varies by more than that).  Rounds
  alternate the two; medians; the run's fixed part is measured apart.

Options: ``--dir`` (default ``.bench-cache/scale``; the fake tree is kept and
reused while its shape is the same), ``--keep`` to leave it after the run.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
GOAL_S, GOAL_MB, GOAL_MS = 60.0, 300.0, 3.0

# ----------------------------------------------------------------------------
# one operation, in its own process
# ----------------------------------------------------------------------------


def _config(root: Path, frames: int, extra: dict | None = None):
    from k400frames.config import make_config

    raw = {"source": str(root / "src"), "target": str(root / "out" / "train"), "num_frames": frames, "workers": 2}
    raw.update(extra or {})
    return make_config(raw)


def run_op(op: str, root: Path, frames: int) -> None:
    """Run ``op`` once in this process; print its wall time and peak RSS as JSON."""
    import logging

    logging.disable(logging.WARNING)  # the space warnings of a fake tree are not the point
    cfg = _config(root, frames)
    started = time.perf_counter()
    detail = ""
    if op == "dry-run":
        from k400frames.run.dryrun import dry_run

        # A fresh split: nothing done yet, so every clip is planned and the size is sampled.
        report = dry_run(_config(root, frames, {"target": str(root / "fresh" / "train")}))
        assert report.todo == report.clips > 0, report
        detail = f"{report.todo} clips to do"
    elif op == "resume":
        from k400frames.run.runner import run_extract

        summary = run_extract(cfg)
        assert summary.skipped == summary.total and summary.done == 0, summary
        detail = f"{summary.skipped} skipped"
    elif op == "preflight":
        # The resume's planning alone: checks, the manifest, and which clips are finished.
        from k400frames.run.preflight import preflight

        checked = preflight(cfg)
        assert checked.finished == checked.total, checked
        detail = f"{checked.finished} finished"
    elif op == "verify":
        from k400frames.tools.verify import verify_tree

        report = verify_tree(cfg.target, cfg.num_frames, cfg.frame_name)
        assert report.ok, "the fake tree must verify clean"
        detail = f"{report.clips} clips"
    elif op == "lists":
        from k400frames.tools.lists import write_lists

        write_lists(cfg, ["mmaction2"])
        detail = "mmaction2"
    elif op == "plan":
        from k400frames.run.preflight import plan

        detail = f"{sum(1 for _ in plan(cfg, None))} clips"
    elif op == "card":
        from k400frames.run.card import write_card

        detail = f"{write_card(cfg).clips} clips"
    else:
        raise SystemExit(f"unknown op {op}")
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"op": op, "seconds": seconds, "peak_mb": peak_mb, "detail": detail}))


def measure(op: str, root: Path, frames: int) -> dict:
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, __file__, "--op", op, "--dir", str(root), "--frames", str(frames)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{op} failed:\n{out.stderr[-3000:]}")
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started  # with interpreter start and imports
    return result


# ----------------------------------------------------------------------------
# the fake split
# ----------------------------------------------------------------------------


def build_fake(root: Path, classes: int, per_class: int, frames: int) -> None:
    """A source of ``classes`` x ``per_class`` hard links to 3 real videos and
    a finished run of it: clip folders of hard-linked real frames, and the
    manifest a real run writes."""
    shape = root / "shape.json"
    want = {"classes": classes, "per_class": per_class, "frames": frames, "version": 3}
    if shape.exists() and json.loads(shape.read_text()) == want:
        return
    from k400frames.files import measure_tree
    from k400frames.run.records import json_line
    from k400frames.run.runner import run_extract
    from k400frames.tools.synth import make_video

    shutil.rmtree(root, ignore_errors=True)
    seeds = root / "seeds"
    for i, (seconds, fps) in enumerate([(0.3, 25), (0.5, 30), (0.2, 30)]):
        make_video(seeds / "src" / "seed" / f"s{i}.mp4", seconds=seconds, fps=fps, size="64x48")
    seed_cfg = _config(seeds, frames)
    run_extract(seed_cfg)
    seed_clips = sorted(seed_cfg.target.glob("seed/*"))
    seed_videos = sorted((seeds / "src" / "seed").glob("*.mp4"))
    digests = [measure_tree(clip) for clip in seed_clips]
    links: dict[Path, tuple[Path, int]] = {}

    def link(original: Path, name: Path) -> None:
        # ext4 allows 65,000 links to one inode: start a fresh copy before that.
        current, count = links.get(original, (original, 0))
        if count >= 60_000:
            current = original.with_name(f"{original.name}.{len(links)}-{name.stem[:8]}")
            shutil.copyfile(original, current)
            count = 0
        os.link(current, name)
        links[original] = (current, count + 1)

    frame_names = [seed_cfg.frame_name.format(i) for i in range(1, frames + 1)]
    cfg = _config(root, frames)
    config_hash = cfg.output_hash()
    (root / "out" / "train").mkdir(parents=True)
    started = time.perf_counter()
    with open(root / "out" / "train.manifest.jsonl", "wb") as manifest:
        for c in range(classes):
            cls = f"class_{c:03d}"
            src_dir, out_dir = root / "src" / cls, root / "out" / "train" / cls
            src_dir.mkdir(parents=True)
            out_dir.mkdir()
            lines = []
            for k in range(per_class):
                seed = (c + k) % 3
                stem = f"{c:03d}{k:05d}abc_{k % 50:06d}_{k % 50 + 10:06d}"
                source = src_dir / f"{stem}.mp4"
                link(seed_videos[seed], source)
                clip = out_dir / stem
                clip.mkdir()
                for name in frame_names:
                    link(seed_clips[seed] / name, clip / name)
                size, digest = digests[seed]
                lines.append(
                    json_line(
                        {
                            "rel": f"{cls}/{stem}",
                            "source": str(source),
                            "decoded": frames,
                            "padded": 0,
                            "cut": True,
                            "seconds": 0.05,
                            "bytes": size,
                            "config": config_hash,
                            "digest": digest,
                        }
                    )
                )
            manifest.write(b"".join(lines))
    shape.write_text(json.dumps(want))
    print(f"built the fake split in {time.perf_counter() - started:.0f} s: {root}", flush=True)


# ----------------------------------------------------------------------------
# per-clip overhead
# ----------------------------------------------------------------------------


def overhead(root: Path, clips: int, rounds: int) -> tuple[list[float], list[float]]:
    """Per-clip ms of run_extract and of the same argv bare, two at a time."""
    import logging

    from k400frames import ffmpeg
    from k400frames.clip.frames import frames_command
    from k400frames.run.runner import run_extract
    from k400frames.tools.synth import make_video

    logging.disable(logging.WARNING)
    base = root / "overhead"
    shutil.rmtree(base, ignore_errors=True)
    video = make_video(base / "seed.mp4", seconds=0.2, fps=30, size="64x48")
    for k in range(clips):
        cls = base / "src" / f"c{k % 20:02d}"
        cls.mkdir(parents=True, exist_ok=True)
        os.link(video, cls / f"v{k:06d}.mp4")
    cfg = _config(base, 1)
    exe = ffmpeg.find_ffmpeg()
    sources = sorted((base / "src").rglob("*.mp4"))

    def argv(source: Path) -> list[str]:
        return frames_command(exe, source, cfg, 2)

    def bare_one(i: int) -> None:
        folder = base / "bare" / f"{i:06d}"
        folder.mkdir(parents=True)
        subprocess.run(argv(sources[i]), cwd=folder, stdin=subprocess.DEVNULL, check=True)

    ours_ms, bare_ms, fixed_ms = [], [], []
    cpu: dict[str, list[tuple[float, float]]] = {"ours": [], "bare": [], "fixed": []}
    for r in range(rounds + 1):  # round 0 warms caches and is not counted
        for kind in ("ours", "bare") if r % 2 == 0 else ("bare", "ours"):
            shutil.rmtree(base / "out", ignore_errors=True)
            shutil.rmtree(base / "bare", ignore_errors=True)
            self_before, children_before = _cpu()
            started = time.perf_counter()
            if kind == "ours":
                summary = run_extract(cfg)
                assert summary.done == clips, summary
            else:
                with cf.ThreadPoolExecutor(2) as pool:
                    list(pool.map(bare_one, range(clips)))
            ms = (time.perf_counter() - started) * 1000 / clips
            self_after, children_after = _cpu()
            if r:
                (ours_ms if kind == "ours" else bare_ms).append(ms)
                cpu[kind].append(
                    ((self_after - self_before) * 1000 / clips, (children_after - children_before) * 1000 / clips)
                )
            if kind == "ours":
                # The run's fixed part (checks, the walk, the card), paid once
                # whatever the number of clips: the same run again, all skipped.
                self_before, children_before = _cpu()
                started = time.perf_counter()
                run_extract(cfg)
                self_after, children_after = _cpu()
                if r:
                    fixed_ms.append((time.perf_counter() - started) * 1000 / clips)
                    cpu["fixed"].append(
                        ((self_after - self_before) * 1000 / clips, (children_after - children_before) * 1000 / clips)
                    )
    for kind, values in cpu.items():
        own = statistics.median(v[0] for v in values)
        children = statistics.median(v[1] for v in values)
        print(f"CPU per clip, {kind}: this process {own:.2f} ms, its children (ffmpeg, setpriv) {children:.2f} ms")
    ours_cpu = [a + b for a, b in cpu["ours"]]
    bare_cpu = [a + b for a, b in cpu["bare"]]
    fixed_cpu = [a + b for a, b in cpu["fixed"]]
    marginal = [o - f - b for o, f, b in zip(ours_cpu, fixed_cpu, bare_cpu, strict=True)]
    print(
        f"CPU per clip, ours over bare: {statistics.median(ours_cpu) - statistics.median(bare_cpu):+.2f} ms, "
        f"of which the run's fixed part (the same run again, all skipped: checks, walk, card) "
        f"{statistics.median(fixed_cpu):.2f} ms; per clip without it {statistics.median(marginal):+.2f} ms "
        f"(rounds {', '.join(f'{m:+.2f}' for m in marginal)})",
        flush=True,
    )
    return ours_ms, bare_ms, fixed_ms, statistics.median(marginal)


def _cpu() -> tuple[float, float]:
    """User + system seconds of this process, and of its reaped children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


# ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=str(PROJECT / ".bench-cache" / "scale"))
    parser.add_argument("--classes", type=int, default=400)
    parser.add_argument("--per-class", type=int, default=600)
    parser.add_argument("--frames", type=int, default=2, help="frames per clip in the fake finished run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clips", type=int, default=400, help="one-frame clips for the per-clip overhead")
    parser.add_argument("--ops", default="dry-run,resume,preflight,verify,lists,plan,card")
    parser.add_argument("--no-overhead", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the fake tree for the next run")
    parser.add_argument("--op", help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = Path(args.dir)
    if args.op:
        run_op(args.op, root, args.frames)
        return 0
    root.mkdir(parents=True, exist_ok=True)
    total = args.classes * args.per_class
    build_fake(root / "split", args.classes, args.per_class, args.frames)
    print(
        f"flat costs over {total:,} clips ({args.frames} frames each), median of {args.rounds}, "
        f"load {os.getloadavg()[0]:.1f}, {os.cpu_count()} cores"
    )
    print(f"{'operation':10} {'wall s':>8} {'process s':>9} {'peak MB':>8}  goal")
    failed = False
    for op in filter(None, args.ops.split(",")):
        runs = [measure(op, root / "split", args.frames) for _ in range(args.rounds)]
        wall = statistics.median(r["seconds"] for r in runs)
        proc = statistics.median(r["process_s"] for r in runs)
        peak = statistics.median(r["peak_mb"] for r in runs)
        ok = proc <= GOAL_S and peak <= GOAL_MB
        failed |= not ok
        print(
            f"{op:10} {wall:8.2f} {proc:9.2f} {peak:8.0f}  {'ok' if ok else 'OVER'}  ({runs[0]['detail']}; "
            f"walls {', '.join(format(r['seconds'], '.1f') for r in runs)})",
            flush=True,
        )
    if not args.no_overhead:
        ours, bare, fixed, cpu_marginal = overhead(root, args.clips, args.rounds)
        extra = [o - b for o, b in zip(ours, bare, strict=True)]
        marginal = [e - f for e, f in zip(extra, fixed, strict=True)]
        print(
            f"per clip ({args.clips} one-frame clips, workers 2): ours {statistics.median(ours):.1f} ms, "
            f"bare ffmpeg {statistics.median(bare):.1f} ms, our own work {statistics.median(extra):+.1f} ms "
            f"(rounds {', '.join(f'{e:+.1f}' for e in extra)}), of which the run's fixed part spread over the "
            f"clips {statistics.median(fixed):.1f} ms; per clip without it {statistics.median(marginal):+.1f} ms "
            f"(rounds {', '.join(f'{m:+.1f}' for m in marginal)})",
            flush=True,
        )
        # Gated on CPU: on a shared machine wall time per clip varies by more than the goal.
        print(f"our CPU per clip over bare ffmpeg: {cpu_marginal:+.2f} ms; goal < {GOAL_MS:g} ms")
        failed |= cpu_marginal >= GOAL_MS
    if not args.keep:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
