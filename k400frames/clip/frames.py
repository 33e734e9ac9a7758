"""``output: frames``: each clip as exactly N JPEGs,
``<split>/<class>/<clip>/frame_00001.jpg`` ... ``frame_<N>.jpg`` in a folder tree
(with ``num_frames: all``, every decoded frame: N is the clip's own count,
its record's ``decoded``).

ffmpeg pipes the frames (MIME parts that state their lengths) and the
clip's JPEGs are held in memory; ``encoder: turbo`` has libjpeg-turbo
encode them here instead.  Anything past N is dropped, a short clip is
padded with the very bytes of its true last frame, and the count is checked.
Only then are the frames handed to the split's store as the clip's members
(named by the ``frame_name`` template), which keeps them whole or not at all.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .. import ffmpeg
from ..words import some
from . import codec, decode, flow
from . import turbo as turbo_encoder
from .outputs import Finished, IncompleteOutput, Made, Output, Problem

if TYPE_CHECKING:
    from ..config import Config
    from ..layout import Entry
    from ..sources.tree import Clip
    from ..stores.base import ClipKey, ClipView
    from .context import RunContext

# Frames named in one problem line before "and N more"; the JSON report
# keeps them all through the counts, and the human summary must stay short.
_NAMES_SHOWN = 5


class FramesOutput(Output):
    name = "frames"
    lists_kind = "frames"
    is_folder = True

    def make(self, clip: Clip, cfg: Config, work: Path, exe: str, ctx: RunContext) -> Made:
        # One frame more than needed tells a cut clip from one of exactly N;
        # num_frames: all asks for every frame (no -frames:v).
        frames: list[bytes] = []
        cap = cfg.frame_cap
        return Made(decode_frames(exe, clip, cfg, work, None if cap is None else cap + 1, ctx, frames), frames)

    def count(self, made: Made, cfg: Config) -> int:
        return len(made.frames)

    def finish(self, made: Made, count: int, cfg: Config) -> Finished:
        cap = cfg.frame_cap
        before = list(made.frames) if cfg.flow != "none" else None  # flow N needs frame N+1, which trim drops
        finished = _finished(count, count) if cap is None else trim_and_pad_frames(made.frames, cap, count)
        if before is not None:
            made.flow = flow.clip_flow(before, count, finished, cfg)
        return finished

    def members(self, made: Made, cfg: Config, key: ClipKey) -> list[tuple[str, bytes]]:
        rgb = [] if cfg.flow_only else [(cfg.frame_name.format(i), data) for i, data in enumerate(made.frames, 1)]
        return rgb + made.flow

    def claims(self, entry: Entry) -> bool:
        return entry.is_dir

    def looks_complete(self, view: ClipView, cfg: Config) -> bool:
        """True when the clip holds exactly frames 1..N by the template (and
        with ``flow``, flow pairs 1..N), each non-empty."""
        return _whole(view.sizes(), cfg)

    def check(
        self,
        view: ClipView,
        rel: str,
        num_frames: int,
        frame_name: str,
        *,
        deep: bool = False,
        ffmpeg_exe: str | None = None,
        flow_name: str | None = None,
        flow_only: bool = False,
    ) -> tuple[list[Problem], int]:
        sizes = view.sizes()
        flows = flow.expected_names(flow_name, num_frames) if flow_name else []
        rgb_names = set(sizes.keys()) - set(flows)
        if flow_only:
            extra = sorted(rgb_names)
            problems = (
                [Problem(rel, "extra-files", f"{len(extra)} unexpected entries: {_names(extra)}")] if extra else []
            )
            in_order: list[str] = []
            present = 0
        else:
            problems, in_order, present = _check_names(rgb_names, rel, num_frames, frame_name)
        if flow_name:
            missing = [name for name in flows if name not in sizes]
            if missing:
                pairs = _pairs_missing(sizes, flow_name, num_frames)
                problems.append(
                    Problem(
                        rel,
                        "missing-flow",
                        f"{pairs} of {num_frames} flow pairs incomplete ({len(missing)} images missing: "
                        f"{_names(missing)}); flow and frame counts must match",
                    )
                )
            in_order += [name for name in flows if name in sizes]
            if flow_only:
                present = num_frames - _pairs_missing(sizes, flow_name, num_frames)
        intact, damaged = [], []
        for name in in_order:
            defect = _defect(view, name)
            if defect:
                damaged.append(f"{name} ({defect})")
            else:
                intact.append(name)
        if damaged:
            problems.append(Problem(rel, "bad-jpeg", f"{len(damaged)} damaged frames: {_names(damaged)}"))
        if deep and intact:
            with view.files(intact) as files:
                bad = deep_decode(files, ffmpeg_exe or ffmpeg.find_ffmpeg())
            if bad:
                problems.append(
                    Problem(
                        rel, "decode", f"{len(bad)} frames fail to decode: {_names([f'{n} ({m})' for n, m in bad])}"
                    )
                )
        return problems, present

    def listed_frames(self, view: ClipView, frame_name: str) -> int:
        """Frames 1..k present by the template (a loader reads exactly those)."""
        sizes = view.sizes()
        return _leading_frames(lambda name: bool(sizes.get(name)), frame_name)


def _defect(view: ClipView, name: str) -> str | None:
    """Why the member ``name`` is not a whole JPEG (None: its two ends look right):
    from a file, a stat and four bytes; from a store, its value."""
    path = view.path(name)
    if path is None:
        return codec.defect_of(view.read(name))
    return "not a regular file" if not path.is_file() else codec.defect(path)


def _pairs_missing(sizes: dict[str, int], flow_name: str, num_frames: int) -> int:
    """Flow pairs 1..N of which an image is missing."""
    return sum(1 for i in range(1, num_frames + 1) if not all(n in sizes for n in flow.flow_names(flow_name, i)))


def _whole(sizes: dict[str, int], cfg: Config) -> bool:
    """Whether a clip's members (name -> bytes) are exactly frames 1..N, each
    non-empty (with ``flow``, flow pairs 1..N too; ``flow_only``: those
    alone); with ``num_frames: all``, N is the count the members give
    (frames 1..k without a gap: a store puts a clip whole, and its record,
    which travels with it, gives its count)."""
    count = cfg.frame_cap if cfg.frame_cap is not None else len(sizes) // flow.members_per_frame(cfg)
    expected = set() if cfg.flow_only else {cfg.frame_name.format(i) for i in range(1, count + 1)}
    if cfg.flow != "none":
        expected.update(flow.expected_names(cfg.flow_name, count))
    return count > 0 and sizes.keys() == expected and all(sizes.values())


def _leading_frames(present: Callable[[str], bool], frame_name: str) -> int:
    """How many frames 1..k are present by the template, counting from 1."""
    count = 0
    while present(frame_name.format(count + 1)):
        count += 1
    return count


def _check_names(
    names: Iterable[str], rel: str, num_frames: int, frame_name: str
) -> tuple[list[Problem], list[str], int]:
    """Missing and unexpected frame names of one clip: (problems, the
    expected names present in order, how many)."""
    names = set(names)
    problems: list[Problem] = []
    expected = [frame_name.format(i) for i in range(1, num_frames + 1)]
    missing = [name for name in expected if name not in names]
    extra = sorted(names - set(expected))
    if missing:
        problems.append(
            Problem(rel, "missing-frames", f"{len(missing)} of {num_frames} frames missing: {_names(missing)}")
        )
    if extra:
        problems.append(Problem(rel, "extra-files", f"{len(extra)} unexpected entries: {_names(extra)}"))
    present = [name for name in expected if name in names]
    return problems, present, len(present)


def _names(names: Sequence[str]) -> str:
    return some(list(names), _NAMES_SHOWN)


# ----------------------------------------------------------------------------
# making
# ----------------------------------------------------------------------------


def decode_frames(
    exe: str,
    clip: Clip,
    cfg: Config,
    work: Path,
    max_frames: int | None,
    ctx: RunContext,
    frames: list[bytes],
) -> ffmpeg.FFmpegResult:
    """Decode ``clip`` by its decode plan (a span of a segment, uniform
    picks) into ``frames``, its JPEGs in order, encoded by ffmpeg (piped,
    no frame file written) or, with ``encoder: turbo``, by libjpeg-turbo
    here; ``work`` is the clip's temp folder.  Decodes a second time only
    when ``uniform`` found the clip shorter than its header said.  Raises
    :class:`~k400frames.clip.decode.SpanError` for a span outside the video.
    ``max_frames``: None for every frame (``num_frames: all``)."""
    wanted = cfg.frame_cap
    plan = decode.decode_plan(clip, wanted, cfg.fps, cfg.sampling, exe)
    turbo = cfg.encoder == "turbo"
    while True:
        argv = frames_command(exe, clip.source, cfg, max_frames, plan, raw_frames=turbo, piped=not turbo)
        if turbo:  # the same frames, encoded by libjpeg-turbo here
            run = turbo_encoder.encode(
                argv,
                work,
                cfg.frame_name,
                cfg.jpeg_quality,
                timeout=cfg.timeout_s,
                processes=ctx.processes,
                frames_out=frames,
            )
        else:
            run = _run_piped(argv, work, cfg.timeout_s, ctx, frames)
        if run.returncode != 0 or run.timed_out or plan.select is None or wanted is None:
            return run  # only uniform picks can call for a second decode
        try:
            again = decode.replan_short(plan, len(frames), wanted)
        except IncompleteOutput:
            return run  # the caller counts again and reports it
        if again is None:
            return run
        plan = again
        frames.clear()


def frames_command(
    exe: str,
    source: Path,
    cfg: Config,
    max_frames: int | None,
    plan: decode.DecodePlan | None = None,
    *,
    raw_frames: bool = False,
    piped: bool = False,
) -> list[str]:
    """The ffmpeg command that turns ``source`` into ``cfg``'s frames (rate,
    size, JPEG quality, names), at most ``max_frames`` (None: all), read by the decode
    ``plan`` (a span's seek and length, uniform picks; None: from the start).
    ``raw_frames`` and ``piped`` as in :func:`~k400frames.ffmpeg.extract_command`."""
    plan = plan or decode.DecodePlan()
    return ffmpeg.extract_command(
        exe,
        source,
        max_frames,
        frame_name=cfg.frame_name,
        fps=cfg.fps,
        size=cfg.size,
        short_side=cfg.short_side,
        square_pixels=cfg.square_pixels,
        encoder_options=codec.ffmpeg_output_options(cfg.jpeg_quality),
        seek=plan.seek,
        duration=plan.duration,
        select=plan.select,
        raw_frames=raw_frames,
        piped=piped,
    )


def _run_piped(argv: list[str], cwd: Path, timeout: float, ctx: RunContext, frames: list[bytes]) -> ffmpeg.FFmpegResult:
    """Run an ``extract_command(piped=True)`` and put its JPEGs in ``frames``.
    A stream that ends inside a frame is an incomplete output when ffmpeg
    itself says all is well (a killed ffmpeg is reported by its result)."""
    with ffmpeg.stream(argv, cwd=cwd, timeout=timeout, processes=ctx.processes) as running:
        data = running.stdout.read()
    result = running.result
    assert result is not None  # set by stream() once the block ended without an error
    whole, problem = codec.split_jpegs(data)
    frames.extend(whole)
    if problem and result.returncode == 0 and not result.timed_out:
        raise IncompleteOutput(f"ffmpeg's JPEG stream is damaged: {problem}")
    return result


def trim_and_pad_frames(frames: list[bytes], num_frames: int, count: int) -> Finished:
    """Trim ``frames`` (``count`` of them, maybe ``num_frames + 1``: ffmpeg
    is asked for one frame more than needed, to tell a cut clip from one of
    exactly N) and pad them to exactly ``num_frames``: pads are the very
    bytes object of the last real frame."""
    finished = _finished(count, num_frames)
    del frames[finished.decoded :]
    frames.extend([frames[-1]] * finished.padded)
    return finished


def _finished(count: int, num_frames: int) -> Finished:
    """What a clip of ``count`` decoded frames holds once trimmed and padded to ``num_frames``."""
    if count < 1:
        raise ValueError("a clip needs at least one decoded frame")
    kept = min(count, num_frames)
    return Finished(decoded=kept, padded=num_frames - kept, cut=count > num_frames)


# ----------------------------------------------------------------------------
# decoding JPEGs back (verify --deep, preview)
# ----------------------------------------------------------------------------


def link_sequence(files: Sequence[Path], folder: Path) -> str:
    """Symlink ``files`` as ``000001.jpg ...`` in ``folder``; return the image2
    pattern.  Our own safe names mean a ``%`` in a user's path never reaches
    ffmpeg's pattern parser."""
    for index, path in enumerate(files, 1):
        os.symlink(os.path.abspath(path), folder / f"{index:06d}.jpg")
    return str(folder / "%06d.jpg")


def decodes_clean(argv: Sequence[str], timeout: float) -> tuple[bool, str]:
    """Run a decode-to-null ``argv``: (clean, the last error line).  At
    loglevel error a damaged file can still exit 0 (the decoder conceals it
    and says "overread"), so any error output counts as a failure."""
    result = ffmpeg.run(argv, timeout=timeout)
    message = result.stderr_tail.strip()
    if result.timed_out:
        return False, f"ffmpeg timed out after {timeout:g}s"
    return result.returncode == 0 and not message, (message.splitlines() or [""])[-1]


def _decode_command(exe: str, pattern: str) -> list[str]:
    return ffmpeg.command(
        exe, "-f", "image2", "-start_number", "1", "-i", ffmpeg.file_url(pattern), "-xerror", "-f", "null", "-"
    )


def deep_decode(files: Sequence[Path], ffmpeg_exe: str, timeout: float = 600.0) -> list[tuple[str, str]]:
    """Decode every file with ffmpeg: one ffmpeg for the clip, and one per
    frame only for a clip that fails, to name the bad frames.  Returns
    ``(name, error)`` for those that fail."""
    if not files:
        return []
    work = Path(tempfile.mkdtemp(prefix="k400frames-verify-"))
    try:
        pattern = link_sequence(files, work)
        clean, _ = decodes_clean(_decode_command(ffmpeg_exe, pattern), timeout)
        if clean:
            return []
        bad = []
        for index, path in enumerate(files, 1):
            ok, message = decodes_clean(_decode_command(ffmpeg_exe, str(work / f"{index:06d}.jpg")), timeout)
            if not ok:
                bad.append((path.name, message or "ffmpeg could not decode it"))
        return bad or [("(clip)", "ffmpeg failed on the sequence but on no single frame")]
    finally:
        shutil.rmtree(work, ignore_errors=True)
