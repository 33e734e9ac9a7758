"""Find ffmpeg, build its command lines, and run it safely.

This module is the package's one door to ffmpeg: every command line starts
with :func:`command` (the safe prefix) and runs through :func:`run` (timeout,
process-group kill, stderr tail), as an argv list, never through a shell.
Paths become absolute ``file:`` URLs with :func:`file_url`, because Kinetics
IDs start with ``-`` and names hold ``%``, quotes and spaces; ffmpeg may only
use the ``file`` protocol and, for videos, a short list of demuxers, so a
crafted "video" (an HLS playlist, a concat script, plain text) cannot make it
read or fetch anything else.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import io
import logging
import os
import re
import shlex
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from pathlib import Path

from . import libc
from .errors import FFmpegFailed, FFmpegNotFound

log = logging.getLogger(__name__)

ENV_VAR = "K400FRAMES_FFMPEG"

# Demuxers ffmpeg may pick for a clip.  Everything else (hls, concat, tty,
# image2, playlists, ...) is refused, since those can pull in other files.
VIDEO_DEMUXERS = "mov,matroska,webm,avi,flv,mpeg,mpegts,asf,ogg,m4v,h264,hevc,ivf,nut,yuv4mpegpipe"

# The three constants below were chosen with `make bench`'s corpora (real
# H.264 footage, 340x256 at -q:v 2, 2-core machine; figures are medians of
# CPU seconds over 5 alternating rounds, see bench/README.md).

# Options for the mjpeg encoder.  "-huffman default" (the standard JPEG
# tables) instead of ffmpeg's per-frame optimal tables: -11% CPU on K400-like
# clips (5.82 -> 5.16 s), -7% on long videos, for +2.8% bytes (91.2 -> 93.7
# MB); still ~37% smaller than OpenCV's imwrite at its default quality 95.
JPEG_ENCODER_OPTIONS: dict[str, str] = {"huffman": "default"}

# Flags for the scale filter (swscale); None keeps ffmpeg's default (bicubic).
# bilinear: -4% CPU on K400-like clips (5.16 -> 4.97 s), -6% on long videos
# (2.38 -> 2.24 s), 3% smaller files.  fast_bilinear and area were no faster
# (5.11, 5.06 s), and fast_bilinear aliases on large downscales; bilinear is
# also the filter OpenCV and torchvision resize with by default.
SCALER_FLAGS: str | None = "bilinear"

# Threads for each ffmpeg's decoder, filter graph and encoder; None is
# ffmpeg's default (about one per core in every process).  The runner already
# runs one ffmpeg per core, so more threads only contend: with 1 thread the
# run used -9% CPU (5.38 -> 4.88 s) and was 1.05x the bare bound on K400-like
# clips and 1.27x on long videos, where default threads were 0.93x and 1.05x.
FFMPEG_THREADS: int | None = 1

# Output options for raw frames on a pipe.  Full-range 4:2:0 is what JPEG
# stores (JFIF's YCbCr is full range) and exactly what the mjpeg encoder is
# fed (`yuv420p(pc)`), so both encoders start from the same planes; limited-range
# planes in a JPEG would decode washed out.  yuv4mpegpipe rather than bare
# rawvideo: its header states the size (with short_side or square pixels
# ffmpeg computes it from expressions) and the colour range, and each frame
# starts with a marker, so a reader can check it never loses step.
RAW_FRAME_OPTIONS: dict[str, str] = {"f": "yuv4mpegpipe", "pix_fmt": "yuv420p", "color_range": "pc"}

STDERR_TAIL_LINES = 12


# ----------------------------------------------------------------------------
# discovery
# ----------------------------------------------------------------------------

def _bundled_ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - any failure just means "no bundled binary"
        return None


def _works(exe: str) -> bool:
    # The one call that bypasses run(): the candidate is not yet known to be
    # ffmpeg, and the check reads its stdout, which run() discards.
    try:
        proc = subprocess.run([exe, "-hide_banner", "-version"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return proc.returncode == 0 and proc.stdout.startswith(b"ffmpeg version")


@functools.cache
def find_ffmpeg(configured: str | None = None) -> str:
    """Return a working ffmpeg: config key, then $K400FRAMES_FFMPEG, then PATH,
    then imageio-ffmpeg's bundled binary.  Checked with ``-version`` once and
    cached.  A candidate that was named explicitly and fails is an error, not
    something to silently skip past."""
    tried: list[str] = []
    for origin, candidate in (("config key 'ffmpeg'", configured), (f"${ENV_VAR}", os.environ.get(ENV_VAR))):
        if candidate:
            exe = shutil.which(candidate) or candidate
            if _works(exe):
                return exe
            raise FFmpegNotFound(f"ffmpeg from {origin} ({candidate}) does not run; fix the path or unset it")
    on_path = shutil.which("ffmpeg")
    if on_path:
        if _works(on_path):
            return on_path
        tried.append(f"PATH ({on_path}: does not run)")
    else:
        tried.append("PATH (none)")
    bundled = _bundled_ffmpeg()
    if bundled and _works(bundled):
        return bundled
    tried.append("imageio-ffmpeg (not installed or broken)")
    raise FFmpegNotFound("no working ffmpeg; tried " + ", ".join(tried)
                         + f". Install one (pip install imageio-ffmpeg, or apt install ffmpeg) or set ${ENV_VAR}")


# ----------------------------------------------------------------------------
# command building
# ----------------------------------------------------------------------------

def file_url(path: str | os.PathLike) -> str:
    """``path`` as an absolute ``file:`` URL: ffmpeg then never reads a name
    that starts with ``-`` as an option, nor one holding ``:`` as a protocol."""
    return "file:" + os.path.abspath(path)


def command(ffmpeg_exe: str, *args: str, loglevel: str = "error") -> list[str]:
    """argv for ``ffmpeg_exe`` with ``args`` behind the prefix every command
    shares: ``-nostdin`` (ffmpeg reading the terminal stalls a run),
    ``-hide_banner -nostats`` (nobody reads the chatter), ``-loglevel error``
    (so a stderr tail holds only the errors) and ``-protocol_whitelist file``.

    ffmpeg resets per-input options at each ``-i``, so the prefix's whitelist
    covers the first input only; a second input must name its own, and a
    command that forgets is refused here (ValueError) rather than run.

    ffmpeg-python builds :func:`extract_command`, where a filter chain is
    composed from the config.  The other commands are hand-built on this
    prefix because ffmpeg-python cannot say them or would make them harder to
    read: the duration probe has no output at all; the preview's graph is one
    ``-vf`` string with ``enable`` expressions whose escaping ffmpeg-python
    would redo; verify's decode and the synthetic clips are a few fixed flags."""
    inputs = [i for i, arg in enumerate(args) if arg == "-i"]
    for previous, current in zip(inputs, inputs[1:]):
        if "-protocol_whitelist" not in args[previous + 1:current]:
            raise ValueError(f"ffmpeg input {args[current + 1]!r} has no -protocol_whitelist of its own")
    return [ffmpeg_exe, "-nostdin", "-hide_banner", "-nostats", "-loglevel", loglevel,
            "-protocol_whitelist", "file", *args]


def image2_pattern(frame_name: str) -> str:
    """The ``frame_name`` template as an image2 output pattern, so ffmpeg writes
    frames under their final names: ``frame_{:05d}.jpg`` -> ``./frame_%05d.jpg``.

    A literal ``%`` is escaped, and the ``./`` keeps a name that starts with
    ``-`` from being read as an option.  ffmpeg runs inside the clip's own temp
    dir, so the pattern never contains a user's path.  Raises ValueError for a
    template printf cannot express (only ``{}``, ``{:d}``, ``{:5d}``,
    ``{:05d}`` and the like can)."""
    pieces = []
    for literal, field, spec, conversion in string.Formatter().parse(frame_name):
        pieces.append(literal.replace("%", "%%"))
        if field is None:
            continue
        if field not in ("", "0") or conversion or not re.fullmatch(r"0?\d*d?", spec or ""):
            raise ValueError(f"cannot express {{{field}{'!' + conversion if conversion else ''}"
                             f"{':' + spec if spec else ''}}} as an ffmpeg frame number")
        pieces.append("%" + (spec or "").rstrip("d") + "d")
    return "./" + "".join(pieces)


# ffmpeg-python hashes every argument as strict UTF-8, so a file name that is
# not valid UTF-8 (kept by os.fsdecode as surrogates) cannot pass through it.
# Commands are built around these stand-ins and the real URLs put in after
# (:func:`from_graph`).
INPUT_STAND_IN = "file:k400frames-input"
OUTPUT_STAND_IN = "file:k400frames-output"


def from_graph(ffmpeg_exe: str, out_node, video: str | os.PathLike, output: str | os.PathLike | None = None,
               threads: int | None = None) -> list[str]:
    """argv for an ffmpeg-python graph built on :data:`INPUT_STAND_IN` (and
    :data:`OUTPUT_STAND_IN`), with the real ``file:`` URLs put in, behind the
    shared safe prefix (:func:`command`)."""
    import ffmpeg  # ffmpeg-python; imported here so `import k400frames` stays cheap

    args = ffmpeg.get_args(out_node)
    args[args.index(INPUT_STAND_IN)] = file_url(video)
    if output is not None:
        args[args.index(OUTPUT_STAND_IN)] = file_url(output)
    # ffmpeg-python puts the graph in -filter_complex, whose thread count is global.
    filter_threads = ["-filter_complex_threads", str(threads)] if threads else []
    return command(ffmpeg_exe, *filter_threads, *args)


def video_filters(fps: float | None, size: tuple[int, int] | None, short_side: int | None,
                  square_pixels: bool = True, select: str | None = None) -> list[tuple[str, dict]]:
    """The filter chain as (name, kwargs) pairs, in order; ``select`` is a
    frame-picking expression (``sampling: uniform``) applied before scaling."""
    # Frame 1 is the first decoded video frame.  ffmpeg's output timeline starts
    # at the file's start, and audio, an edit list or a container offset can
    # start before the video; constant-rate output would fill that gap with
    # copies of frame 1 and make every later frame lag.
    filters: list[tuple[str, dict]] = [("setpts", {"expr": "PTS-STARTPTS"})]
    if fps:
        # eof_action=pass: a clip shorter than one output period still gives
        # its one real frame (the default rounding would drop it).
        filters.append(("fps", {"fps": f"{fps:g}", "eof_action": "pass"}))
    if select:
        filters.append(("select", {"expr": select}))  # before scale: only kept frames are scaled
    flags = {"flags": SCALER_FLAGS} if SCALER_FLAGS else {}
    if size:
        filters.append(("scale", {"w": size[0], "h": size[1], **flags}))
    elif short_side:
        s = short_side
        if square_pixels:
            # By the display aspect (dar = iw/ih * sar), even lengths: PAL
            # 720x576 with SAR 64:45 is 16:9 on screen, so 456x256, not 320x256.
            w, h = f"if(lt(dar,1),{s},2*round({s}*dar/2))", f"if(lt(dar,1),2*round({s}/dar/2),{s})"
        else:
            # Scale the shorter side to `s`; -2 keeps the storage aspect with an even length.
            w, h = f"if(lt(iw,ih),{s},-2)", f"if(lt(iw,ih),-2,{s})"
        filters.append(("scale", {"w": w, "h": h, **flags}))
    elif square_pixels:
        # Storage size stretched to square pixels, height kept (720x576 at SAR
        # 64:45 -> 1024x576).  With square pixels already, the size is the
        # same and ffmpeg's scale filter passes frames through untouched.
        filters.append(("scale", {"w": "round(ih*dar)", "h": "ih", **flags}))
    if square_pixels:
        filters.append(("setsar", {"sar": "1"}))  # the JPEGs then say 1:1
    return filters


def extract_command(ffmpeg_exe: str, video: Path, max_frames: int, *, frame_name: str = "frame_{:05d}.jpg",
                    fps: float | None = None,
                    size: tuple[int, int] | None = None, short_side: int | None = None,
                    square_pixels: bool = True, jpeg_quality: int = 2, threads: int | None = None,
                    seek: float | None = None, duration: float | None = None,
                    select: str | None = None, raw_frames: bool = False) -> list[str]:
    """argv that decodes the first video stream of ``video`` and writes at most
    ``max_frames`` JPEGs, named by the ``frame_name`` template, into the
    working directory.  With ``raw_frames``, the same frames go to stdout
    instead, unencoded, for :mod:`k400frames.turbo` to encode (see
    :data:`RAW_FRAME_OPTIONS`).

    ``-frames:v`` makes ffmpeg stop decoding once enough frames are out.
    Without ``seek``, frame 1 is the first decoded frame (see
    :func:`video_filters`); with it (seconds, as ffmpeg's input ``-ss``
    counts them), ffmpeg seeks by the index and drops the frames before that
    time, and ``duration`` (input ``-t``) ends the decode there: a span of a
    long video costs the span, not the video.  ``select`` keeps only the
    frames it picks, so the output keeps their timestamps' gaps unfilled."""
    import ffmpeg  # ffmpeg-python; imported here so `import k400frames` stays cheap

    threads = threads or FFMPEG_THREADS
    input_options: dict[str, object] = {"threads": threads} if threads else {}
    if seek is not None:
        input_options["ss"] = f"{seek:.6f}"
    if duration is not None:
        input_options["t"] = f"{duration:.6f}"
    source = ffmpeg.input(INPUT_STAND_IN, format_whitelist=VIDEO_DEMUXERS, **input_options)
    # 'V', not 'v': the first real video stream, never cover art or a
    # thumbnail (yt-dlp embeds those), which would give one frame and 299 pads.
    stream = source["V:0"]
    for name, kwargs in video_filters(fps, size, short_side, square_pixels, select):
        stream = stream.filter(name, **kwargs)
    if raw_frames:
        output_options = {"frames:v": max_frames, **RAW_FRAME_OPTIONS}
    else:
        output_options = {"frames:v": max_frames, "q:v": jpeg_quality, "f": "image2", **JPEG_ENCODER_OPTIONS}
    if select:
        output_options["fps_mode"] = "passthrough"  # cfr would copy frames into the gaps select leaves
    if threads:
        output_options["threads"] = threads
    out = stream.output("pipe:1" if raw_frames else image2_pattern(frame_name), **output_options)
    return from_graph(ffmpeg_exe, out, video, threads=threads)


# ----------------------------------------------------------------------------
# running
# ----------------------------------------------------------------------------

@dataclasses.dataclass
class FFmpegResult:
    returncode: int
    stderr_tail: str
    timed_out: bool = False
    stderr: str = ""  # all of it, for callers that classify every message


# Every running ffmpeg and its argv (Popen.args is typed too loosely to search).
_live: dict[subprocess.Popen, tuple[str, ...]] = {}
_live_lock = threading.Lock()


def kill_all(inputs: Collection[str | os.PathLike] | None = None) -> None:
    """Kill every ffmpeg we started (whole process groups).  Called on
    Ctrl-C/SIGTERM so no ffmpeg outlives the run.  With ``inputs``, only those
    reading one of these videos (a Dask worker may serve other runs too)."""
    wanted = None if inputs is None else {file_url(p) for p in inputs}
    with _live_lock:
        procs = [p for p, argv in _live.items() if wanted is None or wanted.intersection(argv)]
    for proc in procs:
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)


def _tail(data: bytes, lines: int = STDERR_TAIL_LINES) -> str:
    text = data.decode("utf-8", "replace").strip()
    return "\n".join(text.splitlines()[-lines:])


def _die_with_parent_hook():
    """A ``preexec_fn`` that has the kernel SIGKILL ffmpeg when the thread that
    started it dies (Linux only; None elsewhere).  ``finally`` cannot run in a
    process killed with SIGKILL (the OOM killer, or a Dask worker killed by
    its nanny), and without this its ffmpeg would run on as an orphan.  The
    starting thread waits for ffmpeg, so it cannot exit first by accident."""
    prctl = libc.function("prctl")
    if prctl is None:
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGKILL)
    return hook


_PR_SET_PDEATHSIG = 1


@functools.cache
def _setpriv() -> str | None:
    """util-linux's ``setpriv``, if it can set the parent-death signal."""
    exe = shutil.which("setpriv") if sys.platform.startswith("linux") else None
    if exe is None:
        return None
    try:
        ok = subprocess.run([exe, "--pdeathsig", "KILL", "--", exe, "--version"], stdin=subprocess.DEVNULL,
                            capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        ok = False
    return exe if ok else None


def _die_with_parent() -> tuple[list[str], Callable[[], None] | None]:
    """(argv prefix, preexec_fn) that give ffmpeg the parent-death signal.

    A ``preexec_fn`` makes Python fork the whole process instead of using
    vfork: 20 to 60 ms per clip in a Dask worker on a busy machine, a few
    percent of a clip's time.  So ffmpeg starts through ``setpriv --pdeathsig
    KILL`` where util-linux has it (it sets the signal, then execs ffmpeg),
    and through the hook elsewhere.  setpriv does not recheck the parent: a
    parent killed in the millisecond before setpriv sets the signal leaves one
    ffmpeg that finishes its clip in the temp area and is never published."""
    setpriv = _setpriv()
    if setpriv:
        return [setpriv, "--pdeathsig", "KILL", "--"], None
    return [], _die_with_parent_hook()


def run(argv: Sequence[str], cwd: Path | None = None, timeout: float | None = None,
        tail_lines: int = STDERR_TAIL_LINES) -> FFmpegResult:
    """Run ffmpeg and return its exit code and stderr tail.  The child gets its
    own process group so a timeout or an interrupt can kill it with anything it
    spawned; the ``finally`` guarantees it never outlives this call, and on
    Linux the kernel kills it if this process dies without running it."""
    proc = _start(argv, cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        try:
            _, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            _, stderr = proc.communicate()
            return FFmpegResult(proc.returncode, _tail(stderr, tail_lines), timed_out=True,
                                stderr=stderr.decode("utf-8", "replace"))
        return FFmpegResult(proc.returncode, _tail(stderr, tail_lines), stderr=stderr.decode("utf-8", "replace"))
    finally:
        _reap(proc)


def _start(argv: Sequence[str], cwd: Path | None, stdout, stderr) -> subprocess.Popen:
    """Start ffmpeg in its own process group, tracked for :func:`kill_all`."""
    log.debug("running: %s", shlex.join(argv))
    prefix, preexec = _die_with_parent()
    proc = subprocess.Popen([*prefix, *argv], cwd=cwd, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                            start_new_session=True, preexec_fn=preexec)
    with _live_lock:
        _live[proc] = tuple(argv)
    return proc


def _reap(proc: subprocess.Popen) -> None:
    """Kill ``proc``'s group if it still runs, wait for it, stop tracking it."""
    if proc.poll() is None:
        _kill_group(proc)
        proc.wait()
    with _live_lock:
        _live.pop(proc, None)


class Streaming:
    """An ffmpeg started by :func:`stream`: read its frames from ``stdout``;
    ``result`` is set once the ``with`` block has ended without an error."""

    def __init__(self, proc: subprocess.Popen):
        # stdout=PIPE with Popen's default buffering: a BufferedReader (readinto).
        assert isinstance(proc.stdout, io.BufferedReader)
        self.stdout = proc.stdout
        self.result: FFmpegResult | None = None
        self.timed_out = threading.Event()


@contextlib.contextmanager
def stream(argv: Sequence[str], cwd: Path | None = None, timeout: float | None = None,
           tail_lines: int = STDERR_TAIL_LINES) -> Iterator[Streaming]:
    """Run ffmpeg with its stdout as a pipe that the ``with`` block reads.

    The guarantees of :func:`run`: its own process group, tracked for
    :func:`kill_all`, killed with its group ``timeout`` seconds after the start
    (the block's reads then end early and ``result.timed_out`` is set) or as
    soon as the block raises, and never alive after the block.  stderr goes
    to an unnamed temp file, not a pipe, so a damaged video that prints
    thousands of errors cannot stall ffmpeg while the block waits on stdout."""
    with tempfile.TemporaryFile() as stderr:
        proc = _start(argv, cwd, stdout=subprocess.PIPE, stderr=stderr)
        running = Streaming(proc)

        def expire() -> None:
            running.timed_out.set()
            _kill_group(proc)

        timer = threading.Timer(timeout, expire) if timeout else None
        try:
            if timer:
                timer.daemon = True
                timer.start()
            yield running
            # Closing our end first: a block that stopped reading early must
            # not leave ffmpeg blocked on a full pipe while we wait for it.
            running.stdout.close()
            proc.wait()
        finally:
            if timer:
                timer.cancel()
            _reap(proc)
            running.stdout.close()
        stderr.seek(0)
        data = stderr.read()
        running.result = FFmpegResult(proc.returncode, _tail(data, tail_lines), timed_out=running.timed_out.is_set(),
                                      stderr=data.decode("utf-8", "replace"))


_DURATION = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_VIDEO_RATE = re.compile(r"Stream #\S+.*?: Video: .*?(\d+(?:\.\d+)?)(k?) fps")
_CONTAINER_START = re.compile(r"Duration:.*?, start: (-?\d+(?:\.\d+)?)")
# ffmpeg prints a stream's own start only where it is not 0.
_VIDEO_START = re.compile(r"Stream #\S+.*?: Video: .*?, start (-?\d+(?:\.\d+)?)")


@dataclasses.dataclass(frozen=True)
class Header:
    """What a video's header says, from ``ffmpeg -i``; None where it says nothing."""

    duration: float | None   # the container's, in seconds
    fps: float | None        # the first video stream's frame rate
    start: float | None = None        # the container's start time (ffmpeg's -ss counts from it)
    video_start: float | None = None  # the first video stream's start time: its first frame

    @property
    def video_offset(self) -> float:
        """Seconds from the container's start to the first video frame (audio
        or an edit list may start earlier); 0 when the header says nothing."""
        if self.start is None or self.video_start is None:
            return 0.0
        return max(self.video_start - self.start, 0.0)


def probe_header(ffmpeg_exe: str, video: Path, timeout: float = 60.0) -> Header:
    """Container duration, start times and video frame rate from ``ffmpeg -i``
    (imageio-ffmpeg ships no ffprobe)."""
    # The header (with its Duration and Stream lines) is printed at loglevel info.
    argv = command(ffmpeg_exe, "-format_whitelist", VIDEO_DEMUXERS, "-i", file_url(video), loglevel="info")
    # No output file: ffmpeg prints the input's header and exits 1 on purpose.
    # The header is short, but the Duration line is near its top: keep it all.
    result = run(argv, timeout=timeout, tail_lines=200)
    if result.timed_out:
        return Header(None, None)
    duration = _DURATION.search(result.stderr)
    rate = _VIDEO_RATE.search(result.stderr)
    start = _CONTAINER_START.search(result.stderr)
    video_start = _VIDEO_START.search(result.stderr)
    container_start = float(start[1]) if start else None
    return Header(
        duration=int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3]) if duration else None,
        fps=float(rate[1]) * (1000 if rate[2] else 1) if rate else None,
        start=container_start,
        video_start=float(video_start[1]) if video_start else container_start)


def probe_duration(ffmpeg_exe: str, video: Path, timeout: float = 60.0) -> float | None:
    """Container duration in seconds; None when ffmpeg reports none (N/A or unreadable)."""
    return probe_header(ffmpeg_exe, video, timeout).duration


def run_checked(argv: Sequence[str], what: str, cwd: Path | None = None, timeout: float | None = None) -> None:
    """:func:`run` for an ffmpeg that must succeed: a non-zero exit or a
    timeout raises :class:`FFmpegFailed`, saying ``what`` failed, ending with
    ffmpeg's stderr tail (as imageio-ffmpeg's errors do)."""
    result = run(argv, cwd=cwd, timeout=timeout)
    if result.timed_out:
        raise FFmpegFailed(f"ffmpeg timed out after {timeout:g}s {what}")
    if result.returncode != 0:
        tail = result.stderr_tail or "(no error output)"
        raise FFmpegFailed(f"ffmpeg failed {what} (exit {result.returncode}): {tail}")
