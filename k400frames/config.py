"""YAML config -> validated, frozen :class:`Config`, and the one schema table.

Every key is one field of :class:`Config`, declared with :func:`key`: its
default, its check, one line of documentation, and whether it changes the
bytes written (and so the resume fingerprint).  Loading, the ``--set``
overrides, the CLI's choices, the ``ConfigChanged`` message and the generated
reference (docs/reference/config.md) all read that table; nothing else lists
the keys.

Unknown keys and impossible values are rejected with the key's name, because
a typo such as ``num_frame: 64`` silently ignored would cost a user a whole
Kinetics run.  Relative paths (``source``, ``target``, ``annotations``,
``replacements``, ``missing_ok``, ``segments``) resolve against the current working directory, the same way
``--set source=...`` does on the command line; ``make extract-*`` runs from
the project root.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import os
import re
import string
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .ffmpeg.argv import image2_pattern

# Every extension here is read by a demuxer of ffmpeg.VIDEO_DEMUXERS: camera
# and broadcast recordings (.mts, .m2ts, .ts), DVD rips (.vob), Windows (.wmv,
# .asf) and Ogg video (.ogv) besides the web formats.
DEFAULT_EXTENSIONS = (
    ".mp4",
    ".avi",
    ".mkv",
    ".webm",
    ".mov",
    ".m4v",
    ".flv",
    ".mpg",
    ".mpeg",
    ".3gp",
    ".3g2",
    ".ts",
    ".mts",
    ".m2ts",
    ".vob",
    ".wmv",
    ".asf",
    ".ogv",
)

# The values of the keys that pick a registered kind, with their doc lines:
# plain data, so that reading a config loads no stage.  Each registry is
# held equal to its table by a test (clip/outputs.OUTPUTS, stores.STORES);
# whether an optional library is installed is checked by preflight.
OUTPUT_DOCS = {
    "frames": "a folder of exactly `num_frames` JPEGs per clip",
    "video": "one normalized H.264 `<class>/<clip>.mp4` per clip",
}
STORE_DOCS = {
    "files": "a folder tree",
    "lmdb": "every clip of the split in one LMDB `<root>/<split>.lmdb` (keys "
    "`<split>/<class>/<clip>/frame_00001.jpg`), as mmaction2 reads it",
    "webdataset": "tar shards of about `shard_size` in `<root>/<split>.wds/` (`<split>-000000.tar`, ...), "
    "one sample per clip in a `seed`ed order, as the `webdataset` loader streams them from disk or HTTP",
}
# Stores that one process writes: a split in them is spread over machines by shards, not by Dask.
ONE_WRITER_STORES = ("lmdb", "webdataset")
ENCODERS = ("ffmpeg", "turbo")  # who writes the JPEGs (clip/turbo.py for the second)
FLOWS = ("none", "tvl1", "farneback", "dis")  # optical flow beside the frames (clip/flow.py)

# ``output`` in a key's metadata: whether its value changes the bytes written.
ALWAYS = "always"  # part of the resume fingerprint
UNLESS_DEFAULT = "unless-default"  # added later: hashed only when not at its default, so trees
# finished before the key existed still resume


# ----------------------------------------------------------------------------
# checks: (key, raw value) -> the value, or ConfigError naming the key
# ----------------------------------------------------------------------------


def _positive_int(key: str, value: Any, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        floor = "0 or more" if allow_zero else "1 or more"
        raise ConfigError(f"{key}: must be {floor}, got {value}")
    return value


def _optional_path(key: str, value: Any) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, (str, os.PathLike)) or str(value) == "":
        raise ConfigError(f"{key}: expected a path, got {value!r}")
    return Path(os.path.abspath(os.path.expanduser(str(value))))


def _required_path(key: str, value: Any) -> Path:
    path = _optional_path(key, value)
    if path is None:
        raise ConfigError(f"{key}: is required (a folder path)")
    return path


def _fps(key: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{key}: expected a positive number or null (native rate), got {value!r}")
    return float(value)


def _size(key: str, value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(value))
    if not match or int(match[1]) < 2 or int(match[2]) < 2:
        raise ConfigError(f"{key}: expected WIDTHxHEIGHT such as 340x256, or null, got {value!r}")
    width, height = int(match[1]), int(match[2])
    if width % 2 or height % 2:
        raise ConfigError(f"{key}: width and height must be even (JPEG 4:2:0), got {value!r}")
    return width, height


def _short_side(key: str, value: Any) -> int | None:
    if value is None:
        return None
    value = _positive_int(key, value)
    if value % 2:
        raise ConfigError(f"{key}: must be even (JPEG 4:2:0), got {value}")
    return value


def _jpeg_quality(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 31:
        raise ConfigError(f"{key}: expected an integer from 1 (best) to 31 (ffmpeg -q:v), got {value!r}")
    return value


_SIZE_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9}


def _byte_size(key: str, value: Any) -> int:
    """Bytes, as an integer or a string such as ``1GB`` or ``500MB`` (powers of 1000)."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", value)
        unit = match[2].upper() if match else ""
        if match and unit in _SIZE_UNITS:
            value = round(float(match[1]) * _SIZE_UNITS[unit])
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key}: expected a size in bytes such as 1000000000 or '1GB', got {value!r}")
    return value


def _seed(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{key}: expected a whole number of 0 or more, got {value!r}")
    return value


def _frame_name(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a template such as 'frame_{{:05d}}.jpg', got {value!r}")
    fields = [f for _, f, spec, _ in string.Formatter().parse(value) if f is not None]
    if len(fields) != 1 or fields[0] not in ("", "0"):
        raise ConfigError(f"{key}: needs exactly one number field such as {{:05d}}, got {value!r}")
    try:
        first, second = value.format(1), value.format(2)
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"{key}: not a valid template ({exc}), got {value!r}") from None
    if first == second or "/" in first or os.sep in first or first.startswith("."):
        raise ConfigError(f"{key}: must give each frame its own plain file name, got {value!r}")
    if not first.lower().endswith((".jpg", ".jpeg")):
        raise ConfigError(f"{key}: frames are JPEG, so the name must end in .jpg, got {value!r}")
    try:
        image2_pattern(value)  # ffmpeg writes the final names itself
    except ValueError as exc:
        raise ConfigError(f"{key}: {exc}; use a field such as {{:05d}}, got {value!r}") from None
    return value


def check_frame_name(template: str, key: str = "frame_name") -> str:
    """Validate a frame-name template; ``key`` names it in the error."""
    return _frame_name(key, template)


def _flow_name(key: str, value: Any) -> str:
    example = "'flow_{}_{:05d}.jpg'"
    if not isinstance(value, str):
        raise ConfigError(f"{key}: expected a template such as {example}, got {value!r}")
    fields = [(f, spec) for _, f, spec, _ in string.Formatter().parse(value) if f is not None]
    if len(fields) != 2 or any(f not in ("", "0", "1") for f, _ in fields) or fields[0][1]:
        raise ConfigError(
            f"{key}: needs two fields, the axis {{}} (x or y) and then the number such as {{:05d}}: "
            f"{example}, got {value!r}"
        )
    try:
        names = {value.format(axis, i) for axis in ("x", "y") for i in (1, 2)}
        first = value.format("x", 1)
    except (ValueError, IndexError) as exc:
        raise ConfigError(f"{key}: not a valid template ({exc}), got {value!r}") from None
    if len(names) != 4 or "/" in first or os.sep in first or first.startswith("."):
        raise ConfigError(f"{key}: must give each flow image its own plain file name, got {value!r}")
    if not first.lower().endswith((".jpg", ".jpeg")):
        raise ConfigError(f"{key}: flow images are JPEG, so the name must end in .jpg, got {value!r}")
    return value


def _flow_bound(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1000:
        raise ConfigError(f"{key}: expected a positive number of pixels (denseflow's default is 20), got {value!r}")
    return float(value)


def check_flow_name(template: str, key: str = "flow_name") -> str:
    """Validate a flow-name template; ``key`` names it in the error."""
    return _flow_name(key, template)


def _choice(*allowed: str):
    def check(key: str, value: Any) -> str:
        if value not in allowed:
            raise ConfigError(f"{key}: expected one of {', '.join(allowed)}, got {value!r}")
        return value

    return check


def _extensions(key: str, value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value or not all(isinstance(v, str) and v.strip(".") for v in value):
        raise ConfigError(f"{key}: expected a list of file extensions such as [.mp4, .webm], got {value!r}")
    return tuple("." + v.lower().lstrip(".") for v in value)


def _optional_str(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key}: expected a string or null, got {value!r}")
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    return value


def _timeout(key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{key}: expected a positive number of seconds, got {value!r}")
    return float(value)


def _workers(key: str, value: Any) -> int:
    return _positive_int(key, value, allow_zero=True)


# ``num_frames: all``: every decoded frame of each clip, no cut and no pads.
ALL_FRAMES = "all"
# The most frames a clip may be given.  100,000 frames is 55 minutes at 30
# fps and 100,000 files in one folder: far past any training clip (Kinetics
# clips are 10 s, 300 frames), and a clip's frames are held in memory while
# it is made.  A larger value is a typo (an extra zero or three) that would
# pad every clip out to millions of files; every frame of long videos is
# ``num_frames: all``.
MAX_NUM_FRAMES = 100_000


def _num_frames(key: str, value: Any) -> int | str:
    if value == ALL_FRAMES:
        return ALL_FRAMES
    if isinstance(value, str) and value.strip().lower() == ALL_FRAMES:
        return ALL_FRAMES
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key}: expected an integer (frames a clip) or 'all', got {value!r}")
    value = _positive_int(key, value)
    if value > MAX_NUM_FRAMES:
        raise ConfigError(
            f"{key}: at most {MAX_NUM_FRAMES:,} frames a clip ({MAX_NUM_FRAMES / 30 / 60:.0f} minutes at 30 fps, "
            f"one file per frame, and a clip's frames are held in memory while it is made), got {value:,}; "
            f"for every frame of each video set {key}: all"
        )
    return value


def _min_decoded(key: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise ConfigError(
            f"{key}: expected a whole number of real frames (not a fraction of num_frames), got {value!r}"
        )
    return _positive_int(key, value)


# More clips at a time than this many per CPU only queue ffmpegs (each
# decodes with its own threads) and hold more clips' frames in memory.
MAX_WORKERS_PER_CPU = 4


# ----------------------------------------------------------------------------
# the schema: one field per key
# ----------------------------------------------------------------------------

_REQUIRED = dataclasses.MISSING


def key(
    default: Any,
    check: Callable[[str, Any], Any],
    doc: str,
    *,
    output: str | None = None,
    choices: tuple[str, ...] = (),
    yaml_key: str | None = None,
) -> Any:
    """One config key: its ``default`` (``_REQUIRED`` for none), the ``check``
    that validates a raw value, one line of ``doc``, whether it changes the
    ``output`` (:data:`ALWAYS` or :data:`UNLESS_DEFAULT`), its ``choices``
    where it has a fixed set, and its ``yaml_key`` where the YAML nests it."""
    metadata = {"check": check, "doc": doc, "output": output, "choices": choices, "yaml_key": yaml_key}
    return dataclasses.field(default=default, metadata=metadata)


def one_of(default: str, choices: tuple[str, ...], doc: str, *, output: str | None = None) -> Any:
    """A key whose value is one of ``choices``: its check, and the values the
    CLI and the reference offer, come from the same tuple."""
    return key(default, _choice(*choices), doc, output=output, choices=choices)


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything one extraction run needs.  Build it with :func:`load_config`
    or :func:`make_config`; both validate."""

    source: Path = key(
        _REQUIRED,
        _required_path,
        "folder of class folders: `<source>/<class>/<clip>.<ext>`; with `annotations`, "
        "also flat or any depth (the CSV row gives each clip its class)",
    )
    target: Path = key(_REQUIRED, _required_path, "the split folder to fill, e.g. `frames/train`; records go beside it")
    num_frames: int | str = key(
        300,
        _num_frames,
        f"frames per clip (at most {MAX_NUM_FRAMES:,}): longer clips are cut, shorter padded; "
        "`all`: every decoded frame of each clip, no cut and no pads (each clip's count is in its manifest row)",
        output=ALWAYS,
    )
    min_decoded: int | None = key(
        None,
        _min_decoded,
        "fail a clip with fewer real (decoded) frames than this, a whole number of frames "
        "(null: off); recorded at stage `short` instead of being padded out",
    )
    fps: float | None = key(None, _fps, "`null` = native rate (cfr); a number resamples every clip", output=ALWAYS)
    size: tuple[int, int] | None = key(
        None, _size, "`WIDTHxHEIGHT` (even numbers), e.g. the seed's `340x256`", output=ALWAYS
    )
    short_side: int | None = key(
        None,
        _short_side,
        "scale so the shorter side is this many pixels, keeping the display aspect (even sizes); not with `size`",
        output=ALWAYS,
    )
    square_pixels: bool = key(
        True,
        _bool,
        "frames at the display aspect with 1:1 pixels; `false` keeps the stored pixels",
        output=UNLESS_DEFAULT,
    )
    jpeg_quality: int = key(2, _jpeg_quality, "ffmpeg `-q:v`, 1 (best) to 31", output=ALWAYS)
    encoder: str = key(
        "ffmpeg",
        _choice(*ENCODERS),
        "who writes the JPEGs: `ffmpeg` (its mjpeg encoder) or `turbo` "
        "(libjpeg-turbo in the worker; `pip install 'k400frames[turbo]'`)",
        output=UNLESS_DEFAULT,
        choices=ENCODERS,
    )
    frame_name: str = key(
        "frame_{:05d}.jpg",
        _frame_name,
        "template with one number field; must end in `.jpg` (mmaction2 and PaddleVideo use `img_{:05d}.jpg`)",
        output=ALWAYS,
    )
    workers: int = key(
        0,
        _workers,
        f"clips at a time (one ffmpeg each); 0 = one per core; more than {MAX_WORKERS_PER_CPU} per core "
        f"is capped there, with a warning",
    )
    annotations: Path | None = key(
        None,
        _optional_path,
        "a Kinetics CSV copied beside the split folder at the end of the run (and read by `verify` and `lists`); "
        "with a flat or nested source (no class folders named as its labels), its rows name the clips and classes",
    )
    replacements: Path | None = key(
        None,
        _optional_path,
        "a folder of videos (any depth) that replace the source's files of the same name, "
        "e.g. the replacements of the CVDF Kinetics tarballs; needs `annotations`",
    )
    missing_ok: Path | None = key(
        None,
        _optional_path,
        "a Kinetics CSV of rows known gone for good (`doctor --write-missing` writes one): `extract`, `verify`, "
        "`lists` and `doctor` count those rows instead of failing on them; needs `annotations`",
    )
    only_annotated: bool = key(
        False, _bool, "take only the clips the `annotations` CSV lists (one split of a single video tree)"
    )
    extensions: tuple[str, ...] = key(DEFAULT_EXTENSIONS, _extensions, "what counts as a clip")
    ffmpeg: str | None = key(
        None,
        _optional_str,
        "the ffmpeg to use; null: `$K400FRAMES_FFMPEG`, then `PATH`, then the one bundled with imageio-ffmpeg",
    )
    timeout_s: float = key(600.0, _timeout, "a clip whose ffmpeg runs longer is killed and recorded as failed")
    pad: str = one_of("copy", ("copy", "hardlink"), "pads as copies of the last frame, or as hard links to it")
    class_names: str = one_of(
        "keep",
        ("keep", "underscore"),
        "class folders as on disk, or with spaces as `_` (in output folders and list paths)",
        output=ALWAYS,
    )
    clip_names: str = one_of(
        "keep",
        ("keep", "underscore"),
        "clip names as on disk, or with every whitespace character as `_` (in output names and list paths; "
        "list readers split on whitespace)",
        output=UNLESS_DEFAULT,
    )
    damaged: str = one_of(
        "fail",
        ("fail", "keep"),
        "a video with decode errors or cut short: `fail` "
        "(recorded, nothing published) or `keep` (published, marked in the manifest)",
    )
    executor: str = one_of("local", ("local", "dask"), "where clips run: threads here, or a Dask cluster")
    dask_scheduler: str | None = key(
        None,
        _optional_str,
        "address of a running Dask scheduler; null starts a local cluster",
        yaml_key="dask.scheduler",
    )
    segments: Path | None = key(
        None, _optional_path, "a segments CSV: cut each row's span from a long video instead of taking whole clips"
    )
    output: str = one_of(
        "frames",
        tuple(OUTPUT_DOCS),
        "what a clip becomes: " + "; ".join(f"`{name}`, {doc}" for name, doc in OUTPUT_DOCS.items()),
        output=UNLESS_DEFAULT,
    )
    sampling: str = one_of(
        "first",
        ("first", "uniform"),
        "`first` N frames, or `uniform`: N frames spread over the whole clip or span",
        output=UNLESS_DEFAULT,
    )
    keep_audio: bool = key(
        False, _bool, "with `output: video`, keep the first audio stream (AAC 128k)", output=UNLESS_DEFAULT
    )
    durable: bool = key(False, _bool, "flush each clip to disk before recording it (power-loss safety)")
    store: str = one_of(
        "files",
        tuple(STORE_DOCS),
        "where clips go: " + "; ".join(f"`{name}`, {doc}" for name, doc in STORE_DOCS.items()),
    )
    shard_size: int = key(
        10**9,
        _byte_size,
        "with `store: webdataset`, a shard is closed before it grows past this many bytes (`1GB`, `500MB`)",
    )
    seed: int = key(
        0, _seed, "with `store: webdataset`, the seed of the clips' order in the shards (never class order)"
    )

    flow: str = one_of(
        "none",
        FLOWS,
        "optical flow beside each clip's frames, one pair per frame (mmaction2's `flow_x`/`flow_y` JPEGs): "
        "`tvl1`, `farneback` or `dis`; `pip install 'k400frames[flow]'` (docs/guides/flow.md)",
        output=UNLESS_DEFAULT,
    )
    flow_bound: float = key(
        20.0,
        _flow_bound,
        "flow is clipped to +-this many pixels and mapped onto 0..255 (zero flow = 128), as denseflow does",
        output=UNLESS_DEFAULT,
    )
    flow_name: str = key(
        "flow_{}_{:05d}.jpg",
        _flow_name,
        "template of the flow images: the axis (`x`, `y`), then the number, as mmaction2 names them",
        output=UNLESS_DEFAULT,
    )
    flow_only: bool = key(False, _bool, "with `flow`, write only the flow images, no RGB frames", output=UNLESS_DEFAULT)

    @property
    def worker_count(self) -> int:
        """Clips at a time: ``workers``, at most :data:`MAX_WORKERS_PER_CPU` per CPU."""
        cpus = usable_cpus()
        if self.workers:
            return min(self.workers, MAX_WORKERS_PER_CPU * cpus)
        return cpus

    @property
    def all_frames(self) -> bool:
        """``num_frames: all``: every decoded frame, no cut and no pads."""
        return self.num_frames == ALL_FRAMES

    @property
    def frame_cap(self) -> int | None:
        """The frames every clip gets (``num_frames``), or None with ``num_frames: all``."""
        return None if isinstance(self.num_frames, str) else self.num_frames

    def output_settings(self) -> dict[str, Any]:
        """The keys that change the bytes written, as the fingerprint hashes them."""
        values = {}
        for field in SCHEMA:
            value = getattr(self, field.name)
            if field.metadata["output"] == ALWAYS or (
                field.metadata["output"] == UNLESS_DEFAULT and value != field.default
            ):
                values[field.name] = value
        return values

    def output_hash(self) -> str:
        """Short hash of the output-affecting keys, stored in the manifest."""
        blob = json.dumps(self.output_settings(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def usable_cpus() -> int:
    """The CPUs this process may use: under SLURM or a container that is
    fewer than the machine's cores that os.cpu_count() reports."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


SCHEMA: tuple[dataclasses.Field, ...] = dataclasses.fields(Config)
OUTPUT_KEYS = tuple(f.name for f in SCHEMA if f.metadata["output"])


def yaml_key(field: dataclasses.Field) -> str:
    """The key as a user writes it (``dask.scheduler`` for ``dask_scheduler``)."""
    return field.metadata["yaml_key"] or field.name


_BY_YAML_KEY = {yaml_key(f): f for f in SCHEMA}
_SECTIONS = sorted({k.split(".", 1)[0] for k in _BY_YAML_KEY if "." in k})


def _unknown(name: str) -> ConfigError:
    close = difflib.get_close_matches(name, list(_BY_YAML_KEY), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"unknown key {name!r}{hint} Known keys: {', '.join(sorted(_BY_YAML_KEY))}")


def make_config(raw: Mapping[str, Any]) -> Config:
    """Validate a plain mapping (as parsed from YAML) into a :class:`Config`."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"the config must be a mapping of keys to values, got {type(raw).__name__}")
    values: dict[str, Any] = {}
    for name, value in _flatten(raw).items():
        field = _BY_YAML_KEY.get(name)
        if field is None:
            raise _unknown(name)
        values[field.name] = field.metadata["check"](name, value)
    for key in ("source", "target"):
        if key not in values:
            raise ConfigError(f"{key}: is required (a folder path)")
    if values.get("only_annotated") and not values.get("annotations"):
        raise ConfigError("only_annotated: needs 'annotations', the Kinetics CSV that lists the clips to take")
    if values.get("replacements") and not values.get("annotations"):
        raise ConfigError("replacements: needs 'annotations', the Kinetics CSV that names the clips")
    if values.get("missing_ok") and not values.get("annotations"):
        raise ConfigError("missing_ok: needs 'annotations', the Kinetics CSV whose rows it names")
    if values.get("replacements") and values.get("segments"):
        raise ConfigError("replacements and segments: a segments CSV finds its videos under source alone")
    if values.get("size") and values.get("short_side"):
        raise ConfigError("size and short_side: set one or the other, not both")
    if values.get("segments") and values.get("only_annotated"):
        raise ConfigError("segments and only_annotated: the segments CSV already lists the clips; drop only_annotated")
    if values.get("keep_audio") and values.get("output", "frames") != "video":
        raise ConfigError("keep_audio: only applies to output: video (frames carry no audio)")
    if values.get("sampling", "first") != "first" and values.get("output") == "video":
        raise ConfigError(
            "sampling: only applies to output: frames (a video keeps every frame of its clip or span); "
            "with output: video set sampling: first (--set sampling=first)"
        )
    if values.get("num_frames") == ALL_FRAMES and values.get("sampling", "first") == "uniform":
        raise ConfigError(
            "num_frames: all and sampling: uniform: uniform spreads num_frames picks over a clip, and all keeps "
            "every frame; set a number of frames, or sampling: first"
        )
    cap, floor = values.get("num_frames", _BY_YAML_KEY["num_frames"].default), values.get("min_decoded")
    if floor is not None and isinstance(cap, int) and floor > cap:
        raise ConfigError(
            f"min_decoded: {floor} is more than num_frames: {cap} (a clip keeps at most num_frames real "
            f"frames, so every clip would fail); set it to {cap} or less"
        )
    _check_flow(values)
    if values.get("store") in ONE_WRITER_STORES and values.get("executor") == "dask":
        raise ConfigError(
            f"store: {values['store']} runs with executor: local (one process writes a store); "
            "to spread a split over machines, give each a shard (--shard K/N) and run k400frames merge after"
        )
    source, target = values["source"], values["target"]
    if target == source or target.is_relative_to(source):
        raise ConfigError(f"target: must not lie inside source ({source})")
    if source.is_relative_to(target):
        raise ConfigError(f"source: must not lie inside target ({target})")
    return Config(**values)


def _check_flow(values: dict[str, Any]) -> None:
    """The flow keys against the rest (clip/flow.py says why each is refused)."""
    flow = values.get("flow", "none")
    if flow == "none":
        if values.get("flow_only"):
            raise ConfigError("flow_only: needs flow: tvl1, farneback or dis (--set flow=dis)")
        return
    if values.get("output", "frames") != "frames":
        raise ConfigError(
            f"flow: {flow} is written beside frame JPEGs, so it needs output: frames (a video clip holds no flow)"
        )
    if values.get("sampling", "first") != "first":
        raise ConfigError(
            f"flow: {flow} needs sampling: first: uniform picks are frames far apart, and flow between "
            "them is no motion; set sampling: first (and num_frames to the frames you want)"
        )
    flow_name = values.get("flow_name", "flow_{}_{:05d}.jpg")
    frame_name = values.get("frame_name", "frame_{:05d}.jpg")
    flow_names = {flow_name.format(axis, i) for axis in ("x", "y") for i in (1, 2)}
    if {frame_name.format(1), frame_name.format(2)} & flow_names:
        raise ConfigError(f"flow_name: {flow_name!r} gives the same names as frame_name {frame_name!r}")


def _flatten(raw: Mapping[str, Any]) -> dict[str, Any]:
    """``{"dask": {"scheduler": x}}`` -> ``{"dask.scheduler": x}``: a section
    is a mapping of the keys written ``section.key`` in the schema."""
    flat: dict[str, Any] = {}
    for name, value in raw.items():
        if name in _SECTIONS:
            if value is None:
                continue
            if not isinstance(value, Mapping):
                example = next(k for k in _BY_YAML_KEY if k.startswith(name + "."))
                raise ConfigError(
                    f"{name}: expected a mapping such as {{{example.split('.', 1)[1]}: ...}}, got {value!r}"
                )
            for inner, item in value.items():
                flat[f"{name}.{inner}"] = item
        else:
            flat[str(name)] = value
    return flat


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["num_frames=64", "fps=null"]`` -> mapping; each value is a YAML scalar."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, sep, text = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects key=value, got {pair!r}")
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
        key = key.strip()
        section, dot, inner = key.partition(".")
        if dot and section in _SECTIONS:
            overrides.setdefault(section, {})[inner] = value
        else:
            overrides[key] = value
    return overrides


def read_yaml(path: Path) -> dict[str, Any]:
    """Load a YAML mapping with ``safe_load``; errors name the file and line."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark, context = getattr(exc, "problem_mark", None), getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        if context and mark and context.line != mark.line:
            where += f" (in the part that starts at line {context.line + 1})"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"bad YAML in {path}{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def load_config(path: Path | None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Read ``path`` (may be None), apply ``overrides`` and validate."""
    raw = read_yaml(path) if path is not None else {}
    for key, value in (overrides or {}).items():
        if key in _SECTIONS and isinstance(raw.get(key), Mapping) and isinstance(value, Mapping):
            raw[key] = {**raw[key], **value}
        else:
            raw[key] = value
    return make_config(raw)
