"""flow: tvl1 | farneback | dis -- optical flow beside the frames, with real
ffmpeg clips and real OpenCV: one flow pair per RGB frame, denseflow's
quantisation, zero flow (128) past the source's end and on pads, flow_only,
the refusals, a store, verify and the CLI."""

from __future__ import annotations

import logging
import sys

import pytest

from k400frames.clip import flow
from k400frames.config import make_config
from k400frames.errors import ConfigError, MissingExtra
from k400frames.layout import Layout
from k400frames.run.runner import run_extract
from k400frames.tools.verify import verify_tree

from helpers import run_main, set_args, tree_bytes

cv2 = pytest.importorskip("cv2", reason="flow needs OpenCV (pip install 'k400frames[flow]')")
np = pytest.importorskip("numpy")

N = 8


@pytest.fixture
def clips(make_clip):
    # at 10 fps: cut (12 frames: frame N+1 exists), exactly N (8), short (3: padded)
    return [
        make_clip("a/long.mp4", seconds=1.2, fps=10),
        make_clip("a/exact.mp4", seconds=0.8, fps=10),
        make_clip("b/short.mp4", seconds=0.3, fps=10),
    ]


def gray(data: bytes):
    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)


def moving(data: bytes) -> bool:
    """Whether a flow image says anything moves (zero flow is 128 everywhere)."""
    return set(np.unique(gray(data))) != {128}


def read(folder, name):
    return (folder / name).read_bytes()


def bare_flow(first: bytes, second: bytes, bound: float = 20.0) -> tuple[bytes, bytes]:
    """The flow JPEGs of two frame JPEGs by a bare loop over OpenCV, written
    here from the documented rule (DIS medium, denseflow's mapping, quality 91)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    uv = dis.calc(gray(first), gray(second), None)
    q = np.rint((np.clip(uv, -bound, bound) + bound) * 255.0 / (2 * bound)).astype(np.uint8)
    params = [cv2.IMWRITE_JPEG_QUALITY, 91]
    return tuple(cv2.imencode(".jpg", np.ascontiguousarray(q[..., i]), params)[1].tobytes() for i in (0, 1))


def test_flow_and_frame_counts_match_and_follow_the_rule(clips, config, tmp_path):
    cfg = config(num_frames=N, flow="dis")
    summary = run_extract(cfg)
    assert summary.failed == 0 and summary.done == 3
    for rel in ("a/long", "a/exact", "b/short"):
        names = sorted(p.name for p in (cfg.target / rel).iterdir())
        frames = [n for n in names if n.startswith("frame_")]
        assert len(frames) == N
        assert [n for n in names if n.startswith("flow_x_")] == [f"flow_x_{i:05d}.jpg" for i in range(1, N + 1)]
        assert [n for n in names if n.startswith("flow_y_")] == [f"flow_y_{i:05d}.jpg" for i in range(1, N + 1)]
        assert len(names) == 3 * N
    long, exact, short = (cfg.target / rel for rel in ("a/long", "a/exact", "b/short"))
    # flow k is frame k -> k+1 of the very JPEGs kept, byte for byte as a bare OpenCV loop makes it
    for k in range(1, N):
        x, y = bare_flow(read(long, f"frame_{k:05d}.jpg"), read(long, f"frame_{k + 1:05d}.jpg"))
        assert read(long, f"flow_x_{k:05d}.jpg") == x and read(long, f"flow_y_{k:05d}.jpg") == y
    # flow N of a cut clip comes from frame N+1 (kept by ffmpeg, dropped by the trim): as a run of N+1 has it
    more = config(num_frames=N + 1, target=str(tmp_path / "more" / "train"))
    assert run_extract(more).failed == 0
    next_frame = read(more.target / "a" / "long", f"frame_{N + 1:05d}.jpg")
    assert read(long, f"flow_x_{N:05d}.jpg") == bare_flow(read(long, f"frame_{N:05d}.jpg"), next_frame)[0]
    assert moving(read(long, f"flow_x_{N:05d}.jpg"))
    # a clip of exactly N frames has no frame N+1: zero flow, 128 everywhere
    assert set(np.unique(gray(read(exact, f"flow_x_{N:05d}.jpg")))) == {128}
    assert moving(read(exact, f"flow_x_{N - 1:05d}.jpg"))
    # a short clip: 3 real frames, flows 1..2 computed, 3 (no next frame) and the pads are zero
    assert moving(read(short, "flow_x_00002.jpg"))
    for k in range(3, N + 1):
        for axis in "xy":
            assert set(np.unique(gray(read(short, f"flow_{axis}_{k:05d}.jpg")))) == {128}
    report = verify_tree(cfg.target, N, flow_name=cfg.flow_name)
    assert report.ok and report.frames_checked == 3 * N


def test_quantisation_is_denseflows_and_undoes():
    values = flow.quantise(np.array([[[0.0, -20.0], [20.0, 100.0], [-100.0, 10.0]]], np.float32), 20.0)
    assert values.tolist() == [[[128, 0], [255, 255], [0, 191]]]  # 10 px: 30 * 6.375 = 191.25
    assert abs(flow.dequantise(191, 20.0) - 10.0) < 255 / 40 / 2 / 6  # within half a step
    assert flow.dequantise(128, 20.0) == pytest.approx(20.0 / 255, abs=1e-6)  # zero reads as half a step


@pytest.mark.parametrize("algorithm", ["dis", "farneback"])
def test_a_known_shift_reads_back_as_that_many_pixels(algorithm):
    rng = np.random.default_rng(7)
    texture = cv2.GaussianBlur((rng.random((160, 220)) * 255).astype(np.uint8), (0, 0), 2.0)
    shift = 3
    first, second = texture[20:140, 20:180], texture[20:140, 20 - shift : 180 - shift]  # content moves right
    jpegs = [cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes() for image in (first, second)]
    members = dict(flow.flow_members(jpegs, 1, 1, algorithm=algorithm, bound=20.0))
    dx = flow.dequantise(gray(members["flow_x_00001.jpg"]), 20.0)[20:-20, 20:-20]
    dy = flow.dequantise(gray(members["flow_y_00001.jpg"]), 20.0)[20:-20, 20:-20]
    assert dx.mean() == pytest.approx(shift, abs=0.35) and abs(dy.mean()) < 0.35


def test_tvl1_runs_on_a_small_clip(make_clip, config):
    make_clip("a/tiny.mp4", seconds=0.3, fps=10, size="96x64")
    cfg = config(num_frames=3, flow="tvl1")
    assert run_extract(cfg).failed == 0
    folder = cfg.target / "a" / "tiny"
    assert moving(read(folder, "flow_x_00001.jpg")) or moving(read(folder, "flow_y_00001.jpg"))
    assert set(np.unique(gray(read(folder, "flow_y_00003.jpg")))) == {128}  # no frame 4


def test_flow_only_writes_no_rgb_and_verifies(clips, config):
    cfg = config(num_frames=N, flow="farneback", flow_only=True, flow_name="{}_{:05d}.jpg")
    assert run_extract(cfg).failed == 0
    names = sorted(p.name for p in (cfg.target / "a" / "long").iterdir())
    assert names == sorted(f"{axis}_{i:05d}.jpg" for axis in "xy" for i in range(1, N + 1))
    report = verify_tree(cfg.target, N, flow_name=cfg.flow_name, flow_only=True)
    assert report.ok and report.frames_checked == 3 * N
    assert not verify_tree(cfg.target, N).ok  # read as RGB it misses every frame


def test_verify_counts_flow_too(clips, config):
    cfg = config(num_frames=N, flow="dis")
    run_extract(cfg)
    (cfg.target / "a" / "long" / "flow_y_00004.jpg").unlink()
    (cfg.target / "a" / "long" / "flow_x_00005.jpg").write_bytes(b"")
    report = verify_tree(cfg.target, N, flow_name=cfg.flow_name)
    kinds = {p.kind: p.detail for p in report.problems}
    assert not report.ok and "missing-flow" in kinds and "bad-jpeg" in kinds
    assert "1 of 8 flow pairs incomplete" in kinds["missing-flow"] and "flow_y_00004.jpg" in kinds["missing-flow"]


def test_resume_and_adoption_know_flow_members(clips, config):
    cfg = config(num_frames=N, flow="dis")
    run_extract(cfg)
    again = run_extract(cfg)
    assert again.skipped == 3 and again.done == 0
    Layout(cfg.target).record("manifest").unlink()  # clips whole without their lines: adopted only if flow is whole too
    (cfg.target / "a" / "long" / "flow_x_00008.jpg").unlink()
    third = run_extract(cfg)
    assert third.failed == 0 and third.done == 1  # the one without its last flow is made again
    assert (cfg.target / "a" / "long" / "flow_x_00008.jpg").is_file()


def test_a_store_holds_the_flow_members(clips, config, tmp_path):
    pytest.importorskip("lmdb")
    from test_store import store_values

    files_cfg = config(num_frames=N, flow="dis", target=str(tmp_path / "folders" / "train"))
    store_cfg = config(num_frames=N, flow="dis", target=str(tmp_path / "stored" / "train"), store="lmdb")
    assert run_extract(files_cfg).failed == 0 and run_extract(store_cfg).failed == 0
    files = {k: v for k, v in tree_bytes(tmp_path / "folders").items() if k.endswith(".jpg")}
    stored = store_values(Layout(store_cfg.target).store(".lmdb"))
    assert set(stored) == set(files) and all(stored[k] == files[k] for k in files)
    assert "train/a/long/flow_y_00008.jpg" in stored and len(stored) == 3 * 3 * N
    assert verify_tree(store_cfg.target, N, flow_name=store_cfg.flow_name).ok


def test_refusals(tmp_path):
    base = {"source": str(tmp_path / "src"), "target": str(tmp_path / "out" / "train")}
    with pytest.raises(ConfigError, match="flow: dis needs sampling: first"):
        make_config({**base, "flow": "dis", "sampling": "uniform"})
    with pytest.raises(ConfigError, match="flow: dis is written beside frame JPEGs, so it needs output: frames"):
        make_config({**base, "flow": "dis", "output": "video"})
    with pytest.raises(ConfigError, match="flow_only: needs flow"):
        make_config({**base, "flow_only": True})
    with pytest.raises(ConfigError, match="flow: expected one of none, tvl1, farneback, dis"):
        make_config({**base, "flow": "raft"})
    with pytest.raises(ConfigError, match="flow_name: needs two fields"):
        make_config({**base, "flow": "dis", "flow_name": "flow_{:05d}.jpg"})
    with pytest.raises(ConfigError, match="flow_name: .* gives the same names as frame_name"):
        make_config({**base, "flow": "dis", "flow_name": "{}_{:05d}.jpg", "frame_name": "x_{:05d}.jpg"})
    with pytest.raises(ConfigError, match="flow_bound"):
        make_config({**base, "flow_bound": 0})
    cfg = make_config({**base})
    assert cfg.flow == "none" and "flow" not in cfg.output_settings()  # trees made before flow still resume


def test_missing_opencv_is_refused_before_any_work(clips, config, monkeypatch, capfd, tmp_path):
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    cfg = config(num_frames=N, flow="dis")
    with pytest.raises(MissingExtra, match=r"flow: dis needs OpenCV.*pip install 'k400frames\[flow\]'"):
        run_extract(cfg)
    assert not cfg.target.exists()
    result = run_main(
        capfd, "extract", *set_args(f"source={tmp_path / 'src'}", f"target={cfg.target}", "flow=dis"), "--dry-run"
    )
    assert result.returncode != 0 and "pip install 'k400frames[flow]'" in result.stderr
    assert not cfg.target.exists()


def test_fps_above_the_source_rate_warns(clips, config, caplog):
    cfg = config(num_frames=N, flow="dis", fps=25)
    with caplog.at_level(logging.WARNING, logger="k400frames"):
        run_extract(cfg)
    assert "above the source rate" in caplog.text and "flow from a frame to its copy is zero" in caplog.text


def test_cli_extract_and_verify_with_flow(clips, tmp_path, capfd):
    settings = set_args(f"source={tmp_path / 'src'}", f"target={tmp_path / 'out' / 'train'}", f"num_frames={N}")
    result = run_main(capfd, "extract", *settings, *set_args("flow=farneback"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "train" / "b" / "short" / "flow_y_00008.jpg").is_file()
    result = run_main(capfd, "verify", *settings, *set_args("flow=farneback"))
    assert result.returncode == 0 and "with as many flow pairs" in result.stdout, result.stdout
    (tmp_path / "out" / "train" / "b" / "short" / "flow_y_00008.jpg").unlink()
    result = run_main(capfd, "verify", *settings, *set_args("flow=farneback"))
    assert result.returncode != 0 and "flow pairs incomplete" in result.stdout


def test_flow_lists_for_mmaction2(clips, config, tmp_path, capfd):
    from k400frames.errors import ListFormatError
    from k400frames.tools.lists import write_lists

    cfg = config(num_frames=N, flow="dis")
    run_extract(cfg)
    (cfg.target / "b" / "short" / "flow_x_00006.jpg").unlink()  # a clip listed with the flow pairs it holds
    result = write_lists(cfg, ("mmaction2",), modality="flow")
    path = result.lists["mmaction2"]
    assert path == tmp_path / "out" / "train.mmaction2-flow.txt"
    lines = sorted(path.read_text().splitlines())
    assert lines == ["train/a/exact 8 0", "train/a/long 8 0", "train/b/short 5 1"]
    snippet = result.snippet.read_text()
    assert result.snippet == tmp_path / "out" / "lists-flow.md"
    assert "modality='Flow'" in snippet and "filename_tmpl='flow_{}_{:05d}.jpg'" in snippet
    assert "f = v * 40 / 255 - 20" in snippet
    with pytest.raises(ListFormatError, match="paddlevideo's loader reads no flow"):
        write_lists(cfg, ("paddlevideo",), modality="flow")
    assert write_lists(cfg, ("all",), modality="flow").lists.keys() == {"mmaction2"}
    # the RGB lists stay where they were, with their own snippet
    rgb = write_lists(cfg, ("mmaction2",))
    assert rgb.lists["mmaction2"] == tmp_path / "out" / "train.mmaction2.txt" and rgb.snippet.name == "lists.md"
    result = run_main(
        capfd,
        "lists",
        *set_args(f"source={tmp_path / 'src'}", f"target={cfg.target}", "flow=dis"),
        "--format",
        "mmaction2",
        "--modality",
        "flow",
    )
    assert result.returncode == 0 and "train.mmaction2-flow.txt" in result.stdout, result.stderr


def test_dry_run_notes_flows_cost(clips, config):
    from k400frames.run.dryrun import dry_run, format_dry_run

    cfg = config(num_frames=N, flow="farneback", size="340x256", workers=2)
    report = dry_run(cfg)
    text = format_dry_run(report)
    assert "flow: farneback costs about 0.038 s of one core a frame pair (340x256" in text
    assert "24 pairs" in text and not cfg.target.exists()


def test_verify_frames_mode_takes_the_flow_template(clips, config, capfd):
    cfg = config(num_frames=N, flow="dis")
    run_extract(cfg)
    plain = run_main(capfd, "verify", "--frames", str(cfg.target), "--num-frames", str(N))
    assert plain.returncode != 0 and "unexpected entries: flow_x_00001.jpg" in plain.stdout  # flow, unannounced
    told = run_main(capfd, "verify", "--frames", str(cfg.target), "--num-frames", str(N), "--flow-name", cfg.flow_name)
    assert told.returncode == 0 and "with as many flow pairs" in told.stdout, told.stdout + told.stderr


def test_turbo_frames_get_the_same_rule(clips, config):
    pytest.importorskip("simplejpeg")
    cfg = config(num_frames=N, flow="dis", encoder="turbo")
    assert run_extract(cfg).failed == 0
    long = cfg.target / "a" / "long"
    x, y = bare_flow(read(long, "frame_00002.jpg"), read(long, "frame_00003.jpg"))
    assert read(long, "flow_x_00002.jpg") == x and read(long, "flow_y_00002.jpg") == y
    assert verify_tree(cfg.target, N, flow_name=cfg.flow_name).ok


def test_decoded_frames_held_stay_bounded_whatever_the_clip_length():
    """Two decoded frames at a time: a clip of 4x the frames peaks at the same raw memory
    (traced by numpy's allocator, which OpenCV's arrays come from), beyond its output."""
    import tracemalloc

    rng = np.random.default_rng(3)
    texture = cv2.GaussianBlur((rng.random((140, 400)) * 255).astype(np.uint8), (0, 0), 2.0)
    params = [cv2.IMWRITE_JPEG_QUALITY, 90]
    jpegs = [cv2.imencode(".jpg", texture[:, i : i + 160], params)[1].tobytes() for i in range(200)]

    def peak_over_output(count: int) -> int:
        tracemalloc.start()
        members = flow.flow_members(jpegs[:count], count, count, algorithm="dis")
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return peak - sum(len(data) for _, data in members)

    short, long = peak_over_output(50), peak_over_output(200)
    frame = 140 * 160  # one decoded grayscale frame; a flow field is 8 of these
    assert long - short < 4 * frame, (short, long)
    assert long < 40 * frame
