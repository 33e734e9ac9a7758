"""YAML config -> validated, frozen :class:`Config`.

Every key has a default here, so a config file only needs ``source`` and
``target``.  Unknown keys and impossible values are rejected with the key's
name, because a typo such as ``num_frame: 64`` silently ignored would cost a
user a whole Kinetics run.

Relative paths (``source``, ``target``, ``annotations``) resolve against the
current working directory, the same way ``--set source=...`` does on the
command line; ``make extract-*`` runs from the project root.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError, MissingExtra
from .ffmpeg import image2_pattern

# Every extension here is read by a demuxer of ffmpeg.VIDEO_DEMUXERS: camera
# and broadcast recordings (.mts, .m2ts, .ts), DVD rips (.vob), Windows (.wmv,
# .asf) and Ogg video (.ogv) besides the web formats.
DEFAULT_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".flv", ".mpg", ".mpeg", ".3gp", ".3g2",
                      ".ts", ".mts", ".m2ts", ".vob", ".wmv", ".asf", ".ogv")


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything one extraction run needs.  Build it with :func:`load_config`
    or :func:`make_config`; both validate."""

    source: Path
    target: Path
    num_frames: int = 300
    fps: float | None = None
    size: tuple[int, int] | None = None
    short_side: int | None = None
    square_pixels: bool = True
    jpeg_quality: int = 2
    encoder: str = "ffmpeg"
    frame_name: str = "frame_{:05d}.jpg"
    workers: int = 0
    annotations: Path | None = None
    only_annotated: bool = False
    extensions: tuple[str, ...] = DEFAULT_EXTENSIONS
    ffmpeg: str | None = None
    timeout_s: float = 600.0
    pad: str = "copy"
    class_names: str = "keep"
    damaged: str = "fail"
    executor: str = "local"
    dask_scheduler: str | None = None
    segments: Path | None = None
    output: str = "frames"
    sampling: str = "first"
    keep_audio: bool = False
    # Flush each clip to disk before its manifest row (power-loss safety; README, "Power loss").
    durable: bool = False

    # Keys whose value changes the bytes written; resume refuses to mix them.
    OUTPUT_KEYS = ("num_frames", "fps", "size", "short_side", "jpeg_quality", "frame_name", "class_names")
    # Output keys added later: hashed only when not at their default, so
    # trees finished before these keys existed still resume.
    LATER_OUTPUT_KEYS = {"square_pixels": True, "output": "frames", "sampling": "first", "keep_audio": False,
                         "encoder": "ffmpeg"}

    @property
    def worker_count(self) -> int:
        # The CPUs this process may use: under SLURM or a container that is
        # fewer than the machine's cores that os.cpu_count() reports.
        if self.workers:
            return self.workers
        try:
            return len(os.sched_getaffinity(0)) or 1
        except AttributeError:  # not on Linux
            return os.cpu_count() or 1

    def frame_filename(self, index: int) -> str:
        """Name of the 1-based frame ``index``."""
        return self.frame_name.format(index)

    def output_hash(self) -> str:
        """Short hash of the output-affecting keys, stored in the manifest."""
        values = {key: getattr(self, key) for key in self.OUTPUT_KEYS}
        values.update({key: getattr(self, key) for key, default in self.LATER_OUTPUT_KEYS.items()
                       if getattr(self, key) != default})
        blob = json.dumps(values, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


# ----------------------------------------------------------------------------
# validation
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


def _encoder(key: str, value: Any) -> str:
    value = _choice("ffmpeg", "turbo")(key, value)
    if value == "turbo":
        from .turbo import load_codec
        try:
            load_codec()  # a missing wheel is a config error, before any work
        except MissingExtra as exc:
            raise ConfigError(str(exc)) from None  # "encoder 'turbo' needs simplejpeg ..." names the key
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


_CHECKS = {
    "source": _required_path,
    "target": _required_path,
    "num_frames": _positive_int,
    "fps": _fps,
    "size": _size,
    "short_side": _short_side,
    "square_pixels": _bool,
    "jpeg_quality": _jpeg_quality,
    "encoder": _encoder,
    "frame_name": _frame_name,
    "workers": lambda key, value: _positive_int(key, value, allow_zero=True),
    "annotations": _optional_path,
    "only_annotated": _bool,
    "extensions": _extensions,
    "ffmpeg": _optional_str,
    "timeout_s": _timeout,
    "pad": _choice("copy", "hardlink"),
    "class_names": _choice("keep", "underscore"),
    "damaged": _choice("fail", "keep"),
    "executor": _choice("local", "dask"),
    "durable": _bool,
    "dask": None,  # a nested mapping, flattened below
    "segments": _optional_path,
    "output": _choice("frames", "video"),
    "sampling": _choice("first", "uniform"),
    "keep_audio": _bool,
}
_DASK_KEYS = {"scheduler": "dask_scheduler"}


def make_config(raw: Mapping[str, Any]) -> Config:
    """Validate a plain mapping (as parsed from YAML) into a :class:`Config`."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"the config must be a mapping of keys to values, got {type(raw).__name__}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in _CHECKS:
            raise ConfigError(f"unknown key {key!r}; known keys: {', '.join(sorted(_CHECKS))}")
        if key == "dask":
            values.update(_dask_section(value))
            continue
        values[key] = _CHECKS[key](key, value)
    for key in ("source", "target"):
        if key not in values:
            raise ConfigError(f"{key}: is required (a folder path)")
    if values.get("only_annotated") and not values.get("annotations"):
        raise ConfigError("only_annotated: needs 'annotations', the Kinetics CSV that lists the clips to take")
    if values.get("size") and values.get("short_side"):
        raise ConfigError("size and short_side: set one or the other, not both")
    if values.get("segments") and values.get("only_annotated"):
        raise ConfigError("segments and only_annotated: the segments CSV already lists the clips; drop only_annotated")
    if values.get("keep_audio") and values.get("output", "frames") != "video":
        raise ConfigError("keep_audio: only applies to output: video (frames carry no audio)")
    if values.get("sampling", "first") != "first" and values.get("output") == "video":
        raise ConfigError("sampling: only applies to output: frames (a video keeps every frame of its span)")
    source, target = values["source"], values["target"]
    if target == source or target.is_relative_to(source):
        raise ConfigError(f"target: must not lie inside source ({source})")
    if source.is_relative_to(target):
        raise ConfigError(f"source: must not lie inside target ({target})")
    return Config(**values)


def _dask_section(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError(f"dask: expected a mapping such as {{scheduler: tcp://host:8786}}, got {value!r}")
    out = {}
    for key, item in value.items():
        if key not in _DASK_KEYS:
            raise ConfigError(f"unknown key 'dask.{key}'; known: {', '.join('dask.' + k for k in _DASK_KEYS)}")
        out[_DASK_KEYS[key]] = _optional_str(f"dask.{key}", item)
    return out


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
        if key.startswith("dask."):
            overrides.setdefault("dask", {})[key[5:]] = value
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
        if key == "dask" and isinstance(raw.get("dask"), Mapping):
            raw["dask"] = {**raw["dask"], **value}
        else:
            raw[key] = value
    return make_config(raw)
