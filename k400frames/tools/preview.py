"""A contact sheet of one clip folder: evenly spaced frames in a grid, each
labelled with its frame number, padded frames framed in red.

ffmpeg does the drawing: the chosen frames are symlinked into a temp dir
under safe sequential names (a clip folder may hold ``%`` or start with
``-``), read back as an image2 sequence, labelled with ``drawtext``, boxed
with ``drawbox`` and laid out with ``tile``.  Labels need a font; when
``drawtext`` fails the sheet is made without them and the result says so.

The default output is ``preview_<clip>.jpg`` in the current directory:
beside the clip folder would be inside a class folder, where every loader
would take the sheet for a clip.

**Flow** (``flow=True``, ``preview --flow``; automatic for a folder that
holds flow pairs and no RGB frames, as ``flow_only`` writes it): the same
sheet of the clip's flow pairs (``flow_x_00001.jpg`` + ``flow_y_00001.jpg``,
clip/flow.py), each tile the colour-wheel picture of its flow.  The two
grayscale images are read back as pixels, ``(v - 128) * 2 * bound / 255``
(so the quantised 128 is exactly still; the loaders' inverse reads it as
+0.078 px, half a step, which would tint every still tile), and drawn in HSV:
hue = direction (0 degrees, rightwards, is red; downwards yellow-green,
leftwards cyan, upwards violet), saturation = magnitude over the sheet's
scale, value 255, so zero flow is white and full colour is the scale.  The
scale is the largest of the tiles' 99th-percentile magnitudes (one
quantisation step at least), printed in the legend: tiles of one sheet
compare, and a lone outlier pixel does not wash the rest out.  OpenCV makes
the tiles (JPEGs in a temp folder); ffmpeg lays them out as for RGB, pads
(zero flow past the source's end) framed in red.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

from .. import ffmpeg
from ..clip import codec
from ..clip.flow import DEFAULT_BOUND, DEFAULT_FLOW_NAME, INSTALL_HINT, flow_names
from ..clip.frames import link_sequence
from ..errors import MissingExtra, PreviewError, StoreError
from ..files import replaced_atomically
from ..layout import Layout
from ..run.records import read_records
from ..stores import ClipKey, locate

# Layout, in pixels.  Exported so tests and callers can predict the size.
GAP = 4  # between tiles and around the grid
HEADER = 20  # strip above the grid for the padding legend
MAX_TILE_WIDTH = 320
BACKGROUND = "0x202020"
PAD_COLOR = "red"

FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
)
# A font path goes into a filter graph; only plain characters need no escaping.
_SAFE_FONT_PATH = re.compile(r"[A-Za-z0-9_./\-]+")
_FRAME_NUMBER = re.compile(r"(\d+)(?!.*\d)")
FLOW_TILE_QUALITY = 95  # the colour tiles' JPEG quality (OpenCV's scale); ffmpeg encodes the sheet after
FLOW_PERCENTILE = 99.0  # of each tile's magnitudes: the sheet's full-colour scale is the largest


@dataclasses.dataclass
class Preview:
    """What :func:`make_preview` drew."""

    path: Path
    grid: tuple[int, int]  # columns, rows
    size: tuple[int, int]  # width, height in pixels
    tiles: list[int]  # frame numbers shown, in reading order
    total_frames: int
    real_frames: int  # frames 1..real_frames are decoded, the rest padding
    padding_source: str  # "manifest" or "bytes" (identical copies of the last frame)
    labelled: bool
    note: str = ""
    flow: bool = False  # tiles are flow pairs drawn on the colour wheel
    flow_scale: float | None = None  # with flow: pixels of motion drawn at full colour

    @property
    def padded_frames(self) -> int:
        return self.total_frames - self.real_frames


def parse_grid(text: str) -> tuple[int, int]:
    """``"6x5"`` -> ``(6, 5)`` (columns, rows)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text or "")
    if not match or not 1 <= int(match[1]) <= 20 or not 1 <= int(match[2]) <= 20:
        raise PreviewError(f"grid: expected COLUMNSxROWS between 1x1 and 20x20, such as 6x5, got {text!r}")
    return int(match[1]), int(match[2])


def default_output(clip_dir: Path, flow: bool = False) -> Path:
    """``preview_<clip>.jpg`` (``preview_flow_<clip>.jpg`` for the flow sheet)
    in the current directory (never inside the tree)."""
    return Path.cwd() / f"preview_{'flow_' if flow else ''}{Path(clip_dir).name}.jpg"


def frames_tree_folder(out: Path, clip_dir: Path) -> Path | None:
    """The folder of the frames tree that ``out`` would lie in, or None: the
    clip folder, its class folder, or any split folder (one with run records
    beside it).  A file there is taken by loaders for a class or a clip, and
    ``verify`` reports it."""
    out, clip_dir = Path(out).resolve(), Path(clip_dir).resolve()
    for folder in out.parents:
        if folder in (clip_dir, clip_dir.parent) or Layout(folder).all_records("manifest"):
            return folder
    return None


def list_frames(
    clip_dir: Path, frame_name: str | None = None, flow_name: str | None = DEFAULT_FLOW_NAME
) -> list[tuple[int, Path]]:
    """``(frame number, path)`` in order: by the template from 1 while frames
    exist, or, without one, every ``.jpg``/``.jpeg`` numbered by the last
    number in its name, but for the flow images that ``flow_name`` names."""
    clip_dir = Path(clip_dir)
    if frame_name:
        frames: list[tuple[int, Path]] = []
        while (clip_dir / frame_name.format(len(frames) + 1)).is_file():
            frames.append((len(frames) + 1, clip_dir / frame_name.format(len(frames) + 1)))
        return frames
    found = []
    for name in os.listdir(clip_dir):
        match = _FRAME_NUMBER.search(name)
        if match and codec.is_frame_name(name) and not name.startswith("."):
            if flow_name and name in flow_names(flow_name, int(match[1])):
                continue
            found.append((int(match[1]), clip_dir / name))
    return sorted(found)


def list_flow_pairs(clip_dir: Path, flow_name: str = DEFAULT_FLOW_NAME) -> list[tuple[int, Path, Path]]:
    """``(number, x image, y image)`` of the clip's flow pairs, from 1 while
    both images of a pair exist."""
    pairs: list[tuple[int, Path, Path]] = []
    while True:
        x_name, y_name = flow_names(flow_name, len(pairs) + 1)
        x_path, y_path = Path(clip_dir) / x_name, Path(clip_dir) / y_name
        if not (x_path.is_file() and y_path.is_file()):
            return pairs
        pairs.append((len(pairs) + 1, x_path, y_path))


def choose_tiles(total: int, count: int) -> list[int]:
    """``count`` evenly spaced 1-based frame numbers from 1 to ``total``,
    first and last included; all frames when there are not enough."""
    if total <= count:
        return list(range(1, total + 1))
    if count == 1:
        return [1]
    return [1 + round(i * (total - 1) / (count - 1)) for i in range(count)]


def _manifest_padded(clip_dir: Path, record: tuple[Path, str] | None = None) -> int | None:
    """The clip's ``padded`` count from the run records beside its split
    folder (``<root>/<split>.manifest*.jsonl``), if it has one; ``record``:
    (split folder, ``class/clip``) where ``clip_dir`` is not in its split."""
    if record is not None:
        split, rel = record
    else:
        clip_dir = Path(clip_dir).absolute()
        split = clip_dir.parent.parent
        rel = f"{clip_dir.parent.name}/{clip_dir.name}"
    padded = None
    for row in read_records(Layout(split).all_records("manifest")):
        if row.get("rel") == rel and isinstance(row.get("padded"), int):
            padded = row["padded"]  # the latest line wins, as in a resumed run
    return padded


def _same_file(a: Path, b: Path) -> bool:
    sa, sb = a.stat(), b.stat()
    if (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino):
        return True  # pad: hardlink
    if sa.st_size != sb.st_size:
        return False
    return a.read_bytes() == b.read_bytes()


def real_frame_count(
    frames: list[tuple[int, Path]],
    clip_dir: Path,
    record: tuple[Path, str] | None = None,
    padded: int | None = None,
) -> tuple[int, str]:
    """How many leading frames are real, and how that was learned.

    The manifest (or ``padded``, the count a store keeps with the clip) knows
    exactly.  Without it, trailing frames byte-identical to the last one are
    taken as padding; a video that really ends on a still scene looks the
    same, which the note in the sheet's result admits."""
    total = len(frames)
    padded = padded if padded is not None else _manifest_padded(clip_dir, record)
    if padded is not None and 0 <= padded < total:
        return total - padded, "manifest"
    last = frames[-1][1]
    real = total
    while real > 1 and _same_file(frames[real - 2][1], last):
        real -= 1
    return real, "bytes"


def jpeg_dimensions(path: Path) -> tuple[int, int]:
    """(width, height) of a frame, from its start-of-frame marker."""
    size = codec.dimensions(Path(path).read_bytes())
    if size is None:
        raise PreviewError(f"cannot read the size of {path} (not a baseline/progressive JPEG?)")
    return size


def find_font() -> str | None:
    """A TrueType font file for labels, or None to let fontconfig choose."""
    for candidate in FONT_CANDIDATES:
        if os.path.isfile(candidate) and _SAFE_FONT_PATH.fullmatch(candidate):
            return candidate
    return None


def label_font_size(tile_size: tuple[int, int]) -> int:
    """The frame labels' font size for a tile: a sixth of its shorter side,
    so the longest label ("300 pad", about 4 em) takes under 3/4 of its width."""
    return max(8, min(tile_size) // 6)


def _filter_graph(
    tiles: list[int],
    real: int,
    total: int,
    tile_size: tuple[int, int],
    grid: tuple[int, int],
    labels: bool,
    font: str | None,
    unit: str = "frames",
    extra: str = "",
) -> str:
    """``unit`` and ``extra`` go into the legend: plain words, digits and
    dots only (no quoting or escaping is done)."""
    width, height = tile_size
    # From the shorter side: on a portrait tile a size from the height would
    # make "248 pad" wider than the tile, cut off and covering the picture.
    font_size = label_font_size(tile_size)
    font_opt = f"fontfile={font}:" if font else ""
    # Only digits and fixed words reach drawtext, and expansion is off, so
    # no text needs escaping.
    text_opts = f"{font_opt}expansion=none:fontcolor=white:box=1:boxcolor=black@0.6:boxborderw=2"
    chain = [f"scale={width}:{height}"]
    for position, frame in enumerate(tiles):
        padded = frame > real
        if padded:
            chain.append(
                f"drawbox=x=0:y=0:w=iw:h=ih:color={PAD_COLOR}:t={max(2, height // 16)}:enable='eq(n\\,{position})'"
            )
        if labels:
            text = f"{frame} pad" if padded else str(frame)
            chain.append(f"drawtext={text_opts}:fontsize={font_size}:text='{text}':x=4:y=4:enable='eq(n\\,{position})'")
    chain.append(f"tile={grid[0]}x{grid[1]}:padding={GAP}:margin={GAP}:color={BACKGROUND}")
    chain.append(f"pad=iw:ih+{HEADER}:0:{HEADER}:color={BACKGROUND}")
    if labels:
        legend = (
            f"{unit} 1-{total}  real 1-{real}  padded {real + 1}-{total} (red)"
            if real < total
            else f"{unit} 1-{total}  no padding"
        ) + (f"  {extra}" if extra else "")
        chain.append(
            f"drawtext={text_opts.replace(':box=1', ':box=0')}:fontsize={HEADER * 2 // 3}:text='{legend}':x={GAP}:y=3"
        )
    return ",".join(chain)


def _load_cv2() -> tuple[Any, Any]:
    """cv2 and numpy for the colour wheel, or :class:`MissingExtra` with the install line."""
    try:
        import cv2
        import numpy
    except ImportError as exc:
        raise MissingExtra(
            f"preview --flow: the colour-wheel picture needs OpenCV, which is not installed ({exc}); "
            f"install with {INSTALL_HINT}"
        ) from None
    return cv2, numpy


def _read_gray(cv2: Any, numpy: Any, path: Path) -> Any:
    image = cv2.imdecode(numpy.fromfile(str(path), numpy.uint8), cv2.IMREAD_GRAYSCALE)
    if image is None:
        raise PreviewError(f"cannot decode the flow image {path}")
    return image


def flow_polar(cv2: Any, numpy: Any, x_image: Any, y_image: Any, bound: float) -> tuple[Any, Any]:
    """(magnitude in pixels, direction in degrees 0..360, 0 rightwards and 90
    downwards) of one quantised flow pair; 128 reads as exactly still."""
    step = 2.0 * bound / 255.0
    dx = (x_image.astype(numpy.float32) - 128.0) * step
    dy = (y_image.astype(numpy.float32) - 128.0) * step
    return cv2.cartToPolar(dx, dy, angleInDegrees=True)


def flow_wheel(cv2: Any, numpy: Any, magnitude: Any, angle: Any, scale: float) -> Any:
    """The colour-wheel picture (BGR, uint8) of a flow field: hue = direction,
    saturation = ``magnitude / scale`` (capped at 1), value 255, so zero
    flow is white."""
    hsv = numpy.empty((*magnitude.shape, 3), numpy.uint8)
    hsv[..., 0] = numpy.rint(angle / 2.0).astype(numpy.int32) % 180  # OpenCV's 8-bit hue is degrees / 2
    hsv[..., 1] = numpy.rint(numpy.clip(magnitude / scale, 0.0, 1.0) * 255.0).astype(numpy.uint8)
    hsv[..., 2] = 255
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)


def _write_flow_tiles(
    pairs: list[tuple[int, Path, Path]], chosen: list[int], bound: float, folder: Path
) -> tuple[str, float]:
    """The colour-wheel JPEGs of the ``chosen`` pairs as ``000001.jpg ...`` in
    ``folder``: (the image2 pattern, the sheet's full-colour scale in pixels)."""
    cv2, numpy = _load_cv2()
    polar = []
    for number in chosen:
        _, x_path, y_path = pairs[number - 1]
        x_image, y_image = _read_gray(cv2, numpy, x_path), _read_gray(cv2, numpy, y_path)
        if x_image.shape != y_image.shape:
            raise PreviewError(f"flow pair {number}: {x_path.name} and {y_path.name} differ in size")
        polar.append(flow_polar(cv2, numpy, x_image, y_image, bound))
    step = 2.0 * bound / 255.0
    scale = max([step, *(float(numpy.percentile(magnitude, FLOW_PERCENTILE)) for magnitude, _ in polar)])
    quality = [cv2.IMWRITE_JPEG_QUALITY, FLOW_TILE_QUALITY]
    for index, (magnitude, angle) in enumerate(polar, 1):
        ok, data = cv2.imencode(".jpg", flow_wheel(cv2, numpy, magnitude, angle, scale), quality)
        if not ok:
            raise PreviewError("OpenCV could not encode a flow tile")
        (folder / f"{index:06d}.jpg").write_bytes(data.tobytes())
    return str(folder / "%06d.jpg"), scale


def _check_output(out: Path, clip_dir: Path) -> str:
    """Refuse an output inside the frames tree or of the wrong kind; its suffix."""
    inside = frames_tree_folder(out, clip_dir)
    if inside is not None:
        raise PreviewError(
            f"{out} lies inside {inside}, part of the frames tree, where loaders take every "
            f"entry for a class or a clip; write the preview outside the tree"
        )
    suffix = out.suffix.lower()
    if suffix not in (".jpg", ".jpeg", ".png"):
        raise PreviewError(f"out: the preview is a .jpg or .png file, got {out.name!r}")
    if out.is_dir():
        raise PreviewError(f"out: {out} is a folder; name the image file")
    return suffix


def make_preview(
    clip_dir: Path,
    out: Path | None = None,
    grid: tuple[int, int] = (6, 5),
    *,
    frame_name: str | None = None,
    ffmpeg_exe: str | None = None,
    timeout: float = 120.0,
    record: tuple[Path, str] | None = None,
    flow: bool | None = None,
    flow_name: str = DEFAULT_FLOW_NAME,
    flow_bound: float = DEFAULT_BOUND,
    padded: int | None = None,
) -> Preview:
    """Draw the contact sheet of ``clip_dir`` into ``out`` (``.jpg``/``.jpeg``
    or ``.png``; default :func:`default_output`), written atomically.
    ``record``: where the clip's manifest row is, when ``clip_dir`` is not
    in its split folder (a clip read out of a store); ``padded``: the count
    the store keeps with the clip, which wins over the manifest.  ``flow``: True draws
    the flow pairs (``flow_name``, quantised with ``flow_bound``) on the
    colour wheel, False the RGB frames, None (the default) the flow pairs
    only where the folder holds them and no RGB frames."""
    clip_dir = Path(clip_dir)
    if not clip_dir.is_dir():
        raise PreviewError(f"not a clip folder: {clip_dir}")
    if not (isinstance(flow_bound, (int, float)) and 0 < flow_bound < float("inf")):
        raise PreviewError(f"flow_bound: expected a positive number of pixels, got {flow_bound!r}")
    frames = [] if flow else list_frames(clip_dir, frame_name, flow_name)
    pairs = list_flow_pairs(clip_dir, flow_name) if flow is not False else []
    if flow is None:
        flow = bool(pairs) and not frames
    out = Path(out) if out else default_output(clip_dir, flow)
    suffix = _check_output(out, clip_dir)
    if flow:
        if not pairs:
            x_name, y_name = flow_names(flow_name, 1)
            raise PreviewError(f"no flow pairs in {clip_dir} named like {x_name} and {y_name}")
        _load_cv2()  # refuse before any work
        frames = [(number, x_path) for number, x_path, _ in pairs]
        # A pad is zero flow, and so is the last real frame's flow (the source
        # has no next frame where a clip is padded): the trailing run of pairs
        # identical to the last one starts at the last real frame, as for RGB.
        real, padding_source = max(
            real_frame_count(frames, clip_dir, record, padded),
            real_frame_count([(number, y_path) for number, _, y_path in pairs], clip_dir, record, padded),
        )
    elif not frames:
        raise PreviewError(f"no frames in {clip_dir}" + (f" named like {frame_name.format(1)}" if frame_name else ""))
    else:
        real, padding_source = real_frame_count(frames, clip_dir, record, padded)
    total = len(frames)
    chosen = choose_tiles(total, grid[0] * grid[1])
    if real < total and real not in chosen:
        # Show where the real frames end: the nearest tile moves to the last real frame.
        nearest = min(range(len(chosen)), key=lambda i: abs(chosen[i] - real))
        chosen = sorted({*chosen[:nearest], real, *chosen[nearest + 1 :]})
    source_w, source_h = jpeg_dimensions(frames[0][1])
    scale = min(1.0, MAX_TILE_WIDTH / source_w)
    # Even tile sides keep 4:2:0 chroma exact after scaling.
    tile = (max(2, round(source_w * scale / 2) * 2), max(2, round(source_h * scale / 2) * 2))
    size = (grid[0] * tile[0] + (grid[0] + 1) * GAP, HEADER + grid[1] * tile[1] + (grid[1] + 1) * GAP)
    exe = ffmpeg_exe or ffmpeg.find_ffmpeg()

    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="k400frames-preview-"))
    flow_scale: float | None = None
    try:
        with replaced_atomically(out) as partial:
            try:  # a folder we cannot write to: say so with the name the user gave, not the temp name
                partial.touch()
            except OSError as exc:
                raise PreviewError(f"cannot write {out}: {exc.strerror or exc}") from None
            if flow:
                pattern, flow_scale = _write_flow_tiles(pairs, chosen, flow_bound, work)
                unit, extra = "flow", f"full colour {flow_scale:.2f} px"
            else:
                pattern = link_sequence([frames[n - 1][1] for n in chosen], work)
                unit, extra = "frames", ""
            font = find_font()
            note = (
                ""
                if padding_source == "manifest"
                else (
                    "padding found by comparing bytes with the last flow pair (pads are zero flow, as is the "
                    "last real frame's); a video that truly ends still would look padded too"
                    if flow
                    else "padding found by comparing bytes with the last frame (no manifest entry); "
                    "a video that truly ends on a still scene would look padded too"
                )
            )
            result = _render(
                exe,
                pattern,
                partial,
                suffix,
                _filter_graph(chosen, real, total, tile, grid, True, font, unit, extra),
                timeout,
            )
            labelled = result.returncode == 0 and not result.timed_out
            if not labelled:
                reason = (result.stderr_tail.splitlines() or ["drawtext failed"])[-1]
                result = _render(
                    exe, pattern, partial, suffix, _filter_graph(chosen, real, total, tile, grid, False, None), timeout
                )
                if result.returncode != 0 or result.timed_out:
                    tail = (result.stderr_tail or "timed out").replace(str(partial), str(out))
                    raise PreviewError(f"ffmpeg could not draw the preview: {tail}")
                note = "; ".join(
                    filter(
                        None,
                        [
                            f"no frame labels (drawtext failed: {reason}); tiles show {unit} "
                            f"{', '.join(map(str, chosen))} in reading order, padded ones framed in red",
                            note,
                        ],
                    )
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Preview(
        path=out,
        grid=grid,
        size=size,
        tiles=chosen,
        total_frames=total,
        real_frames=real,
        padding_source=padding_source,
        labelled=labelled,
        note=note,
        flow=bool(flow),
        flow_scale=flow_scale,
    )


def store_clip(text: str) -> tuple[Path, str] | None:
    """``STORE:abseiling/<clip>`` -> (the packed store ``STORE``,
    ``abseiling/<clip>``); None when ``text`` names no clip in a packed store."""
    at = text.find(":")
    while at > 0:
        found, path = locate(Path(text[:at]))
        if found.packed and path == Path(text[:at]):
            return path, text[at + 1 :].strip("/")
        at = text.find(":", at + 1)
    return None


def make_store_preview(
    store_path: Path,
    rel: str,
    out: Path | None = None,
    grid: tuple[int, int] = (6, 5),
    *,
    frame_name: str | None = None,
    ffmpeg_exe: str | None = None,
    flow: bool | None = None,
    flow_name: str = DEFAULT_FLOW_NAME,
    flow_bound: float = DEFAULT_BOUND,
) -> Preview:
    """:func:`make_preview` of the clip ``rel`` (``class/clip``) in the packed
    store ``store_path``: its frames are read out into a temp folder outside
    the store for ffmpeg, which reads files, and removed after."""
    if rel.count("/") != 1 or any(part in ("", ".", "..") for part in rel.split("/")):
        raise PreviewError(f"name a clip in the store as STORE:<class>/<clip>, got {rel!r}")
    store_cls, _ = locate(store_path)
    try:
        store = store_cls.open_split(store_path)
    except StoreError as exc:
        raise PreviewError(str(exc)) from None
    class_name, clip = rel.split("/")
    work = Path(tempfile.mkdtemp(prefix="k400frames-preview-store-"))
    try:
        clip_dir = work / clip
        clip_dir.mkdir()
        try:
            found = 0
            key = ClipKey(class_name, clip, folder=True)
            for name, data in store.view(key).items():
                if "/" not in name:
                    (clip_dir / name).write_bytes(data)
                    found += 1
            kept = (store.record(key) if found else None) or {}
            padded = kept["padded"] if isinstance(kept.get("padded"), int) else None
        finally:
            split = store.layout.target
            store.close()
        if not found:
            raise PreviewError(f"no clip {rel} in {store_path}")
        return make_preview(
            clip_dir,
            Path(out) if out else None,  # the default from clip_dir's name: the clip's
            grid,
            frame_name=frame_name,
            ffmpeg_exe=ffmpeg_exe,
            record=(split, rel),
            flow=flow,
            flow_name=flow_name,
            flow_bound=flow_bound,
            padded=padded,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _render(exe: str, pattern: str, out: Path, suffix: str, graph: str, timeout: float) -> ffmpeg.FFmpegResult:
    codec = ["-c:v", "png"] if suffix == ".png" else ["-c:v", "mjpeg", "-q:v", "2"]
    # -update 1 writes one image under the literal name (no %d pattern).
    argv = ffmpeg.command(
        exe,
        "-y",
        "-f",
        "image2",
        "-framerate",
        "1",
        "-start_number",
        "1",
        "-i",
        ffmpeg.file_url(pattern),
        "-vf",
        graph,
        "-frames:v",
        "1",
        *codec,
        "-update",
        "1",
        "-f",
        "image2",
        ffmpeg.file_url(out),
    )
    return ffmpeg.run(argv, timeout=timeout)
