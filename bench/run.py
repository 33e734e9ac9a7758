"""``make bench``: k400frames (both encoders) against its yardsticks, side by side, in one run.

Two corpora (bench/corpus.py), the contenders of bench/contenders.py, run in
alternation for ``--rounds`` rounds after an untimed warm-up round.  Each
contender's timing starts by deleting its own output of the round before (so
no contender pays for another's deletions) and ends when its frames are
written and, unless ``--no-sync``, written back to disk (a ``syncfs``).
``--load 0,2`` runs it all quiet, then beside 2 busy processes.  The order
rotates every round.  Ratios are taken within a round
and their median over the rounds is reported, so a neighbour's burst that
slows one round slows both sides of its ratio.  Prints, per corpus and
contender: median wall seconds, CPU seconds, frames/s, bytes per frame, luma
PSNR, and the ratios against the bare bound and the OpenCV path; then the
CPU split per encoder (bench/cpu_split.py), the memory figure and the goals,
with the machine's load average while it ran.  Exits 1 when a goal fails
(``--no-gate`` to only report).

Goals, as ratios in this one run, for k400frames with its default encoder:
  (a) >= 1.0x the bare bound (plain ffmpeg x cores, -frames:v N), wall time
  (b) >= 1.0x the mmaction2 OpenCV path in frames/s, bytes per frame <= OpenCV's
  (c) >= 5x the seed's procedure on long videos, > 1x on K400-like
  (d) the planning pass's peak RSS < 150 MB for 100 and for 100,000 clips
  (e) issue 15: >= 1.15x the OpenCV path in frames/s on K400-like clips,
      bytes per frame <= OpenCV's
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
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

import contenders as field  # noqa: E402  (bench/ is a folder of scripts, not a package)
import corpus  # noqa: E402
import cpu_split  # noqa: E402
import memory  # noqa: E402

from k400frames.config import Config  # noqa: E402

MEMORY_LIMIT_MB = 150
OPENCV_GOAL = 1.15  # issue 15
STORE_GOALS = (1.4, 1.5)  # issue 19: store: lmdb against folder mode and against OpenCV, K400-like clips
PSNR_CLIPS, PSNR_FRAMES = 4, 30  # the sample of frames the luma PSNR is measured on


@dataclasses.dataclass
class Row:
    key: str
    label: str
    seconds: list[float] = dataclasses.field(default_factory=list)  # one per timed round
    cpu: list[float] = dataclasses.field(default_factory=list)  # parent + children
    parent_cpu: list[float] = dataclasses.field(default_factory=list)  # this process, all its threads
    sync: list[float] = dataclasses.field(default_factory=list)  # writeback at the end of the timing
    frames: int = 0
    bytes: int = 0  # its frames' bytes (a store's data.mdb; what the floor piped)
    files: int = 0  # every file it left, frames and other
    frame_files: int = 0
    all_bytes: int = 0  # every byte it left, hardlinks once
    psnr: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def fps(self) -> float:
        return self.frames / self.median

    @property
    def bytes_per_frame(self) -> float:
        return self.bytes / self.frames if self.frames else 0.0

    @property
    def cores(self) -> float:
        """Median over rounds of CPU seconds per wall second: the share of the
        machine's cores the contender got."""
        return statistics.median(c / w for c, w in zip(self.cpu, self.seconds, strict=True))


def ratio(rows: dict[str, Row], ours: str, other: str, per_frame: bool = False, cpu: bool = False) -> float:
    """Median over rounds of how many times faster ``ours`` was than
    ``other`` in the same round (by frames/s with ``per_frame``, else by wall
    time; by CPU seconds with ``cpu``)."""
    a, b = rows[ours], rows[other]
    scale = (a.frames / b.frames) if per_frame and b.frames else 1.0
    mine_s, theirs_s = (a.cpu, b.cpu) if cpu else (a.seconds, b.seconds)
    return statistics.median(theirs / mine * scale for mine, theirs in zip(mine_s, theirs_s, strict=True))


@dataclasses.dataclass(frozen=True)
class Left:
    """What a contender left under its output folder."""

    files: int  # regular files, each name once
    frame_files: int  # of them, ``.jpg``
    frame_bytes: int  # bytes of its frames, each inode once (hardlinked pads once); a store's are its data.mdb
    bytes: int  # bytes of all its files, each inode once


def tree_left(root: Path) -> Left:
    seen: set[int] = set()
    files = frame_files = frame_bytes = total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            st = os.lstat(os.path.join(folder, name))
            frame = name.endswith(".jpg")
            files += 1
            frame_files += frame
            if st.st_ino not in seen:
                seen.add(st.st_ino)
                total += st.st_size
                if frame or name == "data.mdb":
                    frame_bytes += st.st_size
    return Left(files, frame_files, frame_bytes, total)


def tree_bytes(root: Path) -> int:
    """Bytes of the frames under ``root``, each inode once (hardlinked pads
    count once); a store's frames are its ``data.mdb``."""
    return tree_left(root).frame_bytes


def cpu_now() -> tuple[float, float]:
    """(this process's CPU seconds, its reaped children's), user + system."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


_libc = ctypes.CDLL(None, use_errno=True)


def sync_output(folder: Path) -> None:
    """Write back everything dirty on ``folder``'s filesystem: the contender's
    files (and, on a shared machine, whatever else waits on that filesystem;
    the untimed sync before each timing keeps that small).  ``syncfs`` where
    the C library has it, else ``sync``."""
    syncfs = getattr(_libc, "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), str(folder))
    finally:
        os.close(fd)


# A busy process: spins until its deadline or until its parent is gone.
SPINNER = """
import os, time
end, parent = time.monotonic() + {seconds}, {parent}
while time.monotonic() < end and os.getppid() == parent:
    for _ in range(100_000):
        pass
"""


@contextlib.contextmanager
def background_load(count: int, seconds: float):
    """``count`` busy processes (pure CPU, one Python loop each) for the
    block: a fixed load beside the contenders, as other jobs are on a shared
    node.  Each ends by itself after ``seconds`` or when this process dies,
    and is killed and reaped when the block ends, however it ends.  They are
    reaped only then, so no contender's children's CPU counts them."""
    spinners: list[subprocess.Popen] = []
    try:
        for _ in range(count):
            spinners.append(
                subprocess.Popen(
                    [sys.executable, "-c", SPINNER.format(seconds=float(seconds), parent=os.getpid())],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                )
            )
        yield spinners
    finally:
        for proc in spinners:
            proc.kill()
        for proc in spinners:
            proc.wait()


def run_corpus(
    name: str,
    root: Path,
    entrants: list[field.Contender],
    settings: field.Settings,
    rounds: int,
    warmup: int,
    work: Path,
    loads: list[float],
    sync: bool = True,
) -> dict[str, Row]:
    clips = corpus.clips(root)
    rows = {c.key: Row(c.key, c.label) for c in entrants}
    print(f"\n== corpus {name!r}: {len(clips)} clips from {root}", flush=True)
    for round_no in range(warmup + rounds):
        timed = round_no >= warmup
        # Rotate the order each round so no contender always runs first (cold cache) or last.
        order = entrants[round_no % len(entrants) :] + entrants[: round_no % len(entrants)]
        for contender in order:
            out = work / f"{name}-{contender.key}"
            if sync:
                sync_output(work)  # untimed: nobody else's dirty pages in this timing
            loads.append(os.getloadavg()[0])
            (me, kids), started = cpu_now(), time.perf_counter()
            shutil.rmtree(out, ignore_errors=True)  # its own previous output, inside its own timing
            out.mkdir(parents=True)
            frames = contender.run(clips, root, out, settings)
            synced = time.perf_counter()
            if sync:
                sync_output(out)  # its output on disk, inside its own timing
            ended = time.perf_counter()
            (me_end, kids_end), seconds = cpu_now(), ended - started
            parent, cpu = me_end - me, (me_end - me) + (kids_end - kids)
            row = rows[contender.key]
            if timed:
                row.seconds.append(seconds)
                row.cpu.append(cpu)
                row.parent_cpu.append(parent)
                row.sync.append(ended - synced)
            left = tree_left(out)
            row.frames, row.files, row.frame_files, row.all_bytes = frames, left.files, left.frame_files, left.bytes
            row.bytes = left.frame_bytes or field.PIPED.get(str(out), 0)
            what = f"round {round_no + 1 - warmup}/{rounds}" if timed else "warm-up   "
            print(
                f"  {what}  {contender.key:<18} {seconds:7.2f} s (sync {ended - synced:5.2f})  "
                f"cpu {cpu:6.2f} s (parent {parent:5.2f})  cores {cpu / seconds:4.2f}  load {loads[-1]:5.1f}",
                flush=True,
            )
    # The last outputs are still there: measure their quality, then remove them.
    measure_psnr(rows, entrants, clips, root, work / name, settings)
    for contender in entrants:
        shutil.rmtree(work / f"{name}-{contender.key}", ignore_errors=True)
    return rows


def measure_psnr(
    rows: dict[str, Row],
    entrants: list[field.Contender],
    clips: list[Path],
    root: Path,
    prefix: Path,
    s: field.Settings,
) -> None:
    """Mean luma PSNR of each contender's JPEGs against the frames its encoder
    was given, on the first PSNR_FRAMES frames of PSNR_CLIPS clips.  The
    ffmpeg-based contenders share ffmpeg's decoded, scaled frames; the OpenCV
    path is held against its own decode and resize."""
    if not field.turbo_available():
        return  # decoding JPEGs here uses simplejpeg
    import quality

    exe = quality.ffmpeg.find_ffmpeg()
    sample = list(enumerate(clips))[:: max(1, len(clips) // PSNR_CLIPS)][:PSNR_CLIPS]
    refs = {index: [p[0] for p in quality.reference_planes(exe, clip, PSNR_FRAMES)] for index, clip in sample}
    for contender in entrants:
        if contender.frame_path is None:
            continue
        out = Path(f"{prefix}-{contender.key}")
        scores = []
        for index, clip in sample:
            rel = clip.relative_to(root)
            ys = refs[index] if contender.key != "opencv" else opencv_luma(clip, PSNR_FRAMES, s)
            for k, y in enumerate(ys, 1):
                scores.append(quality.luma_psnr(contender.frame_path(out, rel, index, k).read_bytes(), y))
        rows[contender.key].psnr = statistics.mean(scores)


def opencv_luma(clip: Path, frames: int, s: field.Settings) -> list:
    """The OpenCV path's own input frames (decoded by OpenCV, resized), as the
    luma its JPEG encoder computes from BGR (JFIF's full-range BT.601)."""
    import cv2

    capture, ys = cv2.VideoCapture(str(clip)), []
    while len(ys) < frames:
        ok, frame = capture.read()
        if not ok:
            break
        ys.append(cv2.cvtColor(cv2.resize(frame, (s.width, s.height)), cv2.COLOR_BGR2YCrCb)[:, :, 0])
    capture.release()
    return ys


def print_table(name: str, rows: dict[str, Row], loads: list[float], how: str = "") -> None:
    some = next(iter(rows.values()))
    print(
        f"\n{name}{how}: medians of {len(some.seconds)} rounds (per-round ratios); "
        f"load average while it ran: median {statistics.median(loads):.1f}, {min(loads):.1f} to {max(loads):.1f}"
    )
    head = (
        f"  {'contender':<40} {'wall s':>7} {'CPU s':>7} {'frames/s':>9} {'KB/frame':>9} {'luma dB':>8}"
        f" {'x bound':>8} {'x OpenCV':>9} {'CPU x bound':>12} {'CPU x OpenCV':>13}"
    )
    print(head)

    def against(other: str, width: int, **how) -> str:
        return f"{ratio(rows, row.key, other, **how):{width}.2f}" if other in rows else f"{'-':>{width}}"

    for row in rows.values():
        psnr = f"{row.psnr:8.2f}" if row.psnr is not None else f"{'-':>8}"
        size = f"{row.bytes_per_frame / 1000:9.1f}" if row.bytes else f"{'-':>9}"  # the floor keeps no frames
        print(
            f"  {row.label:<40} {row.median:7.2f} {statistics.median(row.cpu):7.2f} {row.fps:9.0f} "
            f"{size} {psnr} {against('bound', 8)} {against('opencv', 9, per_frame=True)} "
            f"{against('bound', 12, cpu=True)} {against('opencv', 13, per_frame=True, cpu=True)}"
        )
    print(
        "  (x columns: medians of per-round ratios, higher is faster; x OpenCV by frames/s, x bound by time "
        "for the same clips; CPU x: the same by CPU seconds, which other jobs move less than wall time)"
    )
    print_work(rows)


def print_work(rows: dict[str, Row]) -> None:
    """Where each contender's time went (CPU of this process and of its
    children, the cores it kept busy, the writeback at its end) and what it
    left (frames, files, bytes), so that equal work is visible."""
    print(
        f"\n  {'contender':<40} {'wall s':>7} {'CPU s':>7} {'parent':>7} {'children':>8} {'cores':>6}"
        f" {'sync s':>7} {'frames':>7} {'files':>7} {'.jpg':>7} {'MB left':>8} {'MB frames':>10}"
    )
    for row in rows.values():
        parent = statistics.median(row.parent_cpu)
        kids = statistics.median(c - p for c, p in zip(row.cpu, row.parent_cpu, strict=True))
        print(
            f"  {row.label:<40} {row.median:7.2f} {statistics.median(row.cpu):7.2f} {parent:7.2f} {kids:8.2f}"
            f" {row.cores:6.2f} {statistics.median(row.sync):7.2f} {row.frames:7d} {row.files:7d}"
            f" {row.frame_files:7d} {row.all_bytes / 1e6:8.1f} {row.bytes / 1e6:10.1f}"
        )
    print(
        "  (medians; CPU s = parent + children: this process (every thread, in-process k400frames included) "
        "and its reaped children; cores = CPU s / wall s, the share of the machine it got; sync s: the "
        "writeback at the end of its timing (0 with --no-sync); frames: what it returned; files, .jpg, "
        "MB left: what it left, hardlinks once; MB frames: its frames' bytes (a store's data.mdb; "
        "the floor's: the bytes its pipes carried, pads not in them))"
    )


def ceiling(rows: dict[str, Row], than: str) -> str:
    """What the floor contender reached against ``than``: no store can beat
    the same decode and encode with the frames thrown away."""
    if "floor" not in rows:
        return ""
    how = {"per_frame": True} if than == "opencv" else {}
    r = ratio(rows, "floor", than, **how)
    return f"; the ceiling (the floor: our commands, pipes read, frames dropped) is {r:.2f}x"


def check_goals(
    results: dict[str, dict[str, Row]], mem: list[tuple[str, int, float]], ours: str
) -> list[tuple[str, bool, str]]:
    goals = []
    for name, rows in results.items():
        mine = rows[ours]
        if "bound" in rows:
            r = ratio(rows, ours, "bound")
            goals.append(
                (
                    f"(a) {name}: >= 1.0x the bare bound",
                    r >= 1.0,
                    f"{r:.2f}x; k400frames costs {(1 / r - 1) * 100:+.1f}% of the bound's wall time",
                )
            )
        if "same-argv" in rows and ours == "k400frames":
            # The same ffmpeg commands without us: the rest is our own cost.
            overhead = (1 / ratio(rows, ours, "same-argv") - 1) * 100
            goals.append(
                (
                    f"(a) {name}: orchestration + post-processing + padding <= 5% of ffmpeg's time",
                    overhead <= 5.0,
                    f"{overhead:+.1f}% over the same argv run bare",
                )
            )
        if "opencv" in rows:
            cv = rows["opencv"]
            r = ratio(rows, ours, "opencv", per_frame=True)
            small = mine.bytes_per_frame <= cv.bytes_per_frame
            sizes = f"{mine.bytes_per_frame / 1000:.1f} vs {cv.bytes_per_frame / 1000:.1f} KB a frame"
            goals.append(
                (
                    f"(b) {name}: >= 1.0x OpenCV frames/s, bytes <= OpenCV",
                    r >= 1.0 and small,
                    f"{r:.2f}x frames/s; {sizes}",
                )
            )
            if name == "k400":
                goals.append(
                    (
                        f"(e) {name}: >= {OPENCV_GOAL:.2f}x OpenCV frames/s, bytes <= OpenCV",
                        r >= OPENCV_GOAL and small,
                        f"{r:.2f}x frames/s; {sizes}",
                    )
                )

        if "store" in rows and ours == "k400frames" and name == "k400":
            vs_folders = ratio(rows, "store", ours)
            goals.append(
                (
                    f"(f) {name}: store: lmdb >= {STORE_GOALS[0]}x folder mode",
                    vs_folders >= STORE_GOALS[0],
                    f"{vs_folders:.2f}x by wall time ({ratio(rows, 'store', ours, cpu=True):.2f}x by CPU); "
                    f"{rows['store'].bytes_per_frame / 1000:.1f} vs {mine.bytes_per_frame / 1000:.1f} KB a frame"
                    + ceiling(rows, ours),
                )
            )
            if "opencv" in rows:
                vs_cv = ratio(rows, "store", "opencv", per_frame=True)
                vs_cv_cpu = ratio(rows, "store", "opencv", per_frame=True, cpu=True)
                goals.append(
                    (
                        f"(f) {name}: store: lmdb >= {STORE_GOALS[1]}x OpenCV frames/s",
                        vs_cv >= STORE_GOALS[1],
                        f"{vs_cv:.2f}x frames/s ({vs_cv_cpu:.2f}x by CPU)" + ceiling(rows, "opencv"),
                    )
                )
        if "seed" in rows:
            need = 5.0 if name == "long" else 1.0
            r = ratio(rows, ours, "seed")
            ok = r >= need if name == "long" else r > need
            goals.append((f"(c) {name}: {'>= 5x' if name == 'long' else '> 1x'} the seed procedure", ok, f"{r:.2f}x"))
    if mem:
        worst = max(mb for _, _, mb in mem)
        goals.append(
            (
                f"(d) planning peak RSS < {MEMORY_LIMIT_MB} MB at 100 and 100k clips",
                worst < MEMORY_LIMIT_MB,
                f"max {worst:.1f} MB",
            )
        )
    return goals


def describe_load(count: int) -> str:
    return "none" if count == 0 else f"{count} busy process{'es' if count > 1 else ''} (pure CPU)"


class _Recorder:
    """Records the argv of every ffmpeg started while it is active."""

    def __init__(self, exe: str) -> None:
        self.exe, self.argvs = exe, []

    def __enter__(self) -> _Recorder:
        real, argvs, exe = subprocess.Popen, self.argvs, self.exe

        class Popen(real):  # type: ignore[misc,valid-type]
            def __init__(self, args, *rest, **kwargs):
                if isinstance(args, (list, tuple)) and exe in args:
                    argvs.append([str(a) for a in args])  # a prefix such as setpriv's included
                super().__init__(args, *rest, **kwargs)

        self._real, subprocess.Popen = real, Popen  # type: ignore[misc]
        return self

    def __exit__(self, *exc) -> None:
        subprocess.Popen = self._real  # type: ignore[misc]


def check_argv(entrants: list[field.Contender], clip: Path, root: Path, s: field.Settings, work: Path) -> None:
    """Run k400frames (folder mode and the store) on one clip and check that
    ``same-argv`` and the floor run the very ffmpeg commands it ran: any
    difference would make them do other work than ours.  Prints the verdict."""
    keys = {c.key for c in entrants}
    exe = field.kff.find_ffmpeg()
    source = work / "argv-source"
    one = source / clip.relative_to(root)
    one.parent.mkdir(parents=True)
    os.link(clip, one)
    try:
        for ours, theirs, piped in (("k400frames", "same-argv", False), ("store", "floor", True)):
            if ours not in keys or theirs not in keys:
                continue
            contender = next(c for c in entrants if c.key == ours)
            out = work / f"argv-{ours}"
            out.mkdir()
            with _Recorder(exe) as recorder:
                contender.run([one], source, out, s)
            shutil.rmtree(out)
            ran = [a for a in recorder.argvs if "-i" in a]  # the extraction, not a probe or -version
            want = field.same_argv(exe, one, s, piped=piped)
            if ran and ran[-1][ran[-1].index(exe) :] == want:
                prefix = ran[-1][: ran[-1].index(exe)]
                through = f" (k400frames starts it through {' '.join(prefix)})" if prefix else ""
                print(f"argv check: {theirs} runs exactly the ffmpeg command {ours} ran{through}")
            else:
                print(f"argv check: WARNING: {theirs} does not run {ours}'s command")
                print(f"  ours:   {' '.join(ran[-1]) if ran else 'none'}\n  theirs: {' '.join(want)}")
    finally:
        shutil.rmtree(source)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=int, default=5, help="timed rounds per corpus; medians are reported (default 5)"
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=1,
        help="untimed rounds first (default 1), so every timed round deletes a previous output",
    )
    parser.add_argument("--corpus", default="k400,long", help="comma list of corpora: k400, long")
    parser.add_argument(
        "--only", default="", help="comma list of contender keys to run (both k400frames encoders always run)"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=HERE.parent / ".bench-cache",
        help="where corpora and the placeholder tree are built once",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=None,
        help="where the contenders write (default: under --cache); a folder on another filesystem "
        "(NFS, a FUSE mount) measures the cost of its files",
    )
    parser.add_argument("--workers", type=int, default=0, help="k400frames workers (default 0: its own default)")
    parser.add_argument("--pad", default="copy", choices=("copy", "hardlink"), help="k400frames pad method")
    parser.add_argument("--split-clips", type=int, default=8, help="k400 clips for the CPU split (0 skips it)")
    parser.add_argument("--split-rounds", type=int, default=3, help="rounds of the CPU split (medians)")
    parser.add_argument("--skip-memory", action="store_true", help="skip goal (d)")
    parser.add_argument(
        "--load",
        default="0",
        help="background load: a comma list of counts of busy processes (pure CPU spinners) to run "
        "beside the contenders, each count a whole run of the corpora, e.g. 0,2 for quiet then loaded "
        "(default 0: none)",
    )
    parser.add_argument(
        "--load-limit",
        type=float,
        default=3 * 3600,
        help="seconds after which a spinner ends by itself should the bench not stop it (default 3 h)",
    )
    parser.add_argument(
        "--no-sync",
        action="store_true",
        help="end each timing when the contender returns, without writing its output back to disk "
        "(by default a syncfs of the output's filesystem ends every timing)",
    )
    parser.add_argument("--no-gate", action="store_true", help="report only; exit 0 even when a goal fails")
    args = parser.parse_args(argv)
    try:
        levels = [int(n) for n in args.load.split(",")]
    except ValueError:
        parser.error(f"--load takes a comma list of counts, not {args.load!r}")
    if any(n < 0 for n in levels):
        parser.error("--load counts are 0 or more")

    settings = field.Settings(workers=args.workers, pad=args.pad)
    entrants = field.contenders()
    if args.only:
        keep = {*field.OURS, *args.only.split(",")}
        entrants = [c for c in entrants if c.key in keep]
    if not field.opencv_available():
        print("note: OpenCV is not installed (pip install -e '.[bench]'); goals (b) and (e) are not measured")
    if not field.turbo_available():
        print("note: simplejpeg is not installed (pip install -e '.[bench]'); encoder: turbo and PSNR are not measured")
    default = "turbo" if Config.__dataclass_fields__["encoder"].default == "turbo" else "k400frames"

    print(
        f"k400frames bench: {os.cpu_count()} CPUs, {args.rounds} rounds (+{args.warmup} warm-up), "
        f"{settings.width}x{settings.height} q:v {settings.quality}, {settings.num_frames} frames per clip; "
        f"load average at start {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    print(
        f"background load: {' then '.join(describe_load(n) for n in levels)}; writeback "
        + ("not timed (--no-sync)" if args.no_sync else "timed: a syncfs of its output ends every contender's timing")
    )
    roots = {name: corpus.build(args.cache, name) for name in args.corpus.split(",")}
    work = Path(tempfile.mkdtemp(prefix="k400frames-bench-", dir=args.work or args.cache))
    # results[level][corpus]: one run of the corpora per background load
    results: dict[int, dict[str, dict[str, Row]]] = {}
    loads: dict[int, dict[str, list[float]]] = {}
    splits: list = []
    try:
        first = next(iter(roots.values()))
        check_argv(entrants, corpus.clips(first)[0], first, settings, work)
        for level in levels:
            results[level], loads[level] = {}, {}
            with background_load(level, args.load_limit):
                if level:
                    print(f"\n== background load: {describe_load(level)}", flush=True)
                for name, root in roots.items():
                    loads[level][name] = []
                    results[level][name] = run_corpus(
                        name,
                        root,
                        entrants,
                        settings,
                        args.rounds,
                        args.warmup,
                        work,
                        loads[level][name],
                        sync=not args.no_sync,
                    )
        if args.split_clips:
            split_clips = corpus.clips(corpus.build(args.cache, "k400"))[: args.split_clips]
            print(f"\n== CPU split: {len(split_clips)} k400 clips, {args.split_rounds} rounds", flush=True)
            splits = cpu_split.measure(
                split_clips,
                settings.num_frames,
                settings.width,
                settings.height,
                settings.quality,
                args.split_rounds,
                field.turbo_available(),
                field.opencv_available(),
            )
        mem = [] if args.skip_memory else memory.measure_fresh(args.cache, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for level, by_corpus in results.items():
        for name, rows in by_corpus.items():
            how = f", background load {describe_load(level)}" if level or len(levels) > 1 else ""
            print_table(name, rows, loads[level][name], how + ("" if args.no_sync else ", writeback timed"))
    if splits:
        cpu_split.print_split(splits, args.split_clips, args.split_rounds)
    if mem:
        print("\norchestrator peak RSS (child process, ru_maxrss)")
        for how, clips, mb in mem:
            print(f"  {how:<30} {clips:>7} clips {mb:7.1f} MB")

    print(f"\nload average at the end {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    goals = []
    for level, by_corpus in results.items():
        tag = f"[load {level}] " if len(levels) > 1 or level else ""
        goals += [(tag + text, ok, detail) for text, ok, detail in check_goals(by_corpus, mem, default)]
        mem = []  # goal (d) once
    print(f"\ngoals, for the default encoder ({'turbo' if default == 'turbo' else 'ffmpeg'})")
    for text, ok, detail in goals:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}: {detail}")
    for level, by_corpus in results.items():
        if "turbo" in next(iter(by_corpus.values()), {}):
            other = "k400frames" if default == "turbo" else "turbo"
            tag = f" [load {level}]" if len(levels) > 1 or level else ""
            print(f"\nthe other encoder ({'ffmpeg' if other == 'k400frames' else 'turbo'}), for comparison{tag}")
            for text, ok, detail in check_goals(by_corpus, [], other):
                print(f"  {'pass' if ok else 'fail'}  {text}: {detail}")
    failed = [g for g in goals if not g[1]]
    return 1 if failed and not args.no_gate else 0


if __name__ == "__main__":
    sys.exit(main())
