"""Config: defaults, validation messages, overrides, path resolution."""

import dataclasses
from pathlib import Path

import pytest

from k400frames.config import Config, load_config, make_config, parse_overrides
from k400frames.errors import ConfigError


def base(tmp_path, **extra):
    return {"source": str(tmp_path / "videos"), "target": str(tmp_path / "frames" / "train"), **extra}


def test_defaults(tmp_path):
    cfg = make_config(base(tmp_path))
    assert cfg.num_frames == 300
    assert cfg.fps is None and cfg.size is None and cfg.short_side is None
    assert cfg.jpeg_quality == 2
    assert cfg.frame_name.format(7) == "frame_00007.jpg"
    assert cfg.pad == "copy" and cfg.class_names == "keep" and cfg.executor == "local"
    assert cfg.worker_count >= 1


def test_config_is_frozen(tmp_path):
    cfg = make_config(base(tmp_path))
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.num_frames = 5


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("num_frames", 0, "num_frames: must be 1 or more"),
        ("num_frames", "ten", "num_frames: expected an integer"),
        ("num_frames", True, "num_frames: expected an integer"),
        ("jpeg_quality", 40, "jpeg_quality: expected an integer from 1"),
        ("frame_name", "frame.jpg", "frame_name: needs exactly one number field"),
        ("frame_name", "{:05d}_{:05d}.jpg", "frame_name: needs exactly one number field"),
        ("frame_name", "img_{:05d}.png", "must end in .jpg"),
        ("frame_name", "sub/{:05d}.jpg", "plain file name"),
        ("size", "340by256", "size: expected WIDTHxHEIGHT"),
        ("size", "341x256", "even"),
        ("short_side", 255, "short_side: must be even"),
        ("fps", -1, "fps: expected a positive number"),
        ("workers", -2, "workers: must be 0 or more"),
        ("pad", "symlink", "pad: expected one of copy, hardlink"),
        ("class_names", "lower", "class_names: expected one of keep, underscore"),
        ("timeout_s", 0, "timeout_s: expected a positive number"),
        ("extensions", [], "extensions: expected a list"),
        ("executor", "ray", "executor: expected one of local, dask"),
    ],
)
def test_bad_values_name_the_key(tmp_path, key, value, words):
    with pytest.raises(ConfigError, match=None) as info:
        make_config(base(tmp_path, **{key: value}))
    assert words in str(info.value)


def test_unknown_key_is_named(tmp_path):
    with pytest.raises(ConfigError) as info:
        make_config(base(tmp_path, num_frame=64))
    assert "unknown key 'num_frame'" in str(info.value)
    assert "num_frames" in str(info.value)  # the known keys are listed


def test_unknown_dask_key(tmp_path):
    with pytest.raises(ConfigError, match="dask.schedular"):
        make_config(base(tmp_path, dask={"schedular": "tcp://x:1"}))


def test_size_and_short_side_exclusive(tmp_path):
    with pytest.raises(ConfigError, match="size and short_side"):
        make_config(base(tmp_path, size="340x256", short_side=256))


def test_missing_source(tmp_path):
    with pytest.raises(ConfigError, match="source: is required"):
        make_config({"target": str(tmp_path)})


def test_target_inside_source_rejected(tmp_path):
    with pytest.raises(ConfigError, match="target: must not lie inside source"):
        make_config({"source": str(tmp_path), "target": str(tmp_path / "frames")})


def test_values_are_parsed(tmp_path):
    cfg = make_config(
        base(tmp_path, size="340x256", fps=25, extensions=["MP4", ".webm"], dask={"scheduler": "tcp://h:8786"})
    )
    assert cfg.size == (340, 256)
    assert cfg.fps == 25.0
    assert cfg.extensions == (".mp4", ".webm")
    assert cfg.dask_scheduler == "tcp://h:8786"


def test_relative_paths_resolve_against_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = make_config({"source": "data/videos", "target": "data/frames/train"})
    assert cfg.source == tmp_path / "data" / "videos"
    assert cfg.target == tmp_path / "data" / "frames" / "train"


def test_bad_yaml_names_the_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("source: a\ntarget: b\nnum_frames: [1,\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value) and "line" in str(info.value)


def test_yaml_must_be_a_mapping(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_overrides_parse_yaml_scalars():
    assert parse_overrides(["num_frames=64", "fps=null", "size=340x256", "dask.scheduler=tcp://h:1"]) == {
        "num_frames": 64,
        "fps": None,
        "size": "340x256",
        "dask": {"scheduler": "tcp://h:1"},
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["num_frames"])


def test_overrides_win_over_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"source: {tmp_path / 'v'}\ntarget: {tmp_path / 'f' / 'train'}\nnum_frames: 300\n")
    cfg = load_config(path, parse_overrides(["num_frames=16"]))
    assert cfg.num_frames == 16


def test_output_hash_follows_output_keys_only(tmp_path):
    a = make_config(base(tmp_path))
    assert a.output_hash() == make_config(base(tmp_path, workers=7, timeout_s=5)).output_hash()
    assert a.output_hash() != make_config(base(tmp_path, num_frames=16)).output_hash()
    assert a.output_hash() != make_config(base(tmp_path, short_side=128)).output_hash()


def test_shipped_configs_load(monkeypatch):
    project = Path(__file__).resolve().parent.parent
    monkeypatch.chdir(project)
    for path in sorted((project / "configs").glob("*.yaml")):
        cfg = load_config(path)
        assert isinstance(cfg, Config)
    seed = load_config(project / "configs" / "seed_compatible.yaml")
    assert (seed.fps, seed.size, seed.jpeg_quality, seed.num_frames) == (30.0, (340, 256), 2, 300)


def test_frame_name_must_be_expressible_for_ffmpeg(tmp_path):
    with pytest.raises(ConfigError, match="frame_name: cannot express"):
        make_config(base(tmp_path, frame_name="f_{:>5}.jpg"))
