"""The command line: exit codes, one-line errors, nothing written on bad input."""
import json
from pathlib import Path

import pytest

from helpers import run_cli


def write_config(path: Path, **keys) -> Path:
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in keys.items()))
    return path


def one_line_error(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("k400frames: error: ")
    assert "Traceback" not in proc.stderr
    return lines[0]


@pytest.fixture
def good_tree(make_clip, tmp_path):
    make_clip("walking/a_000001_000002.mp4", seconds=0.5, fps=10)
    make_clip("running/b_000001_000002.mp4", seconds=0.5, fps=10)
    return tmp_path / "src"


def test_ok_run_exits_0_with_summary(good_tree, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", source=str(good_tree), target=str(tmp_path / "out" / "train"),
                       num_frames=8)
    proc = run_cli("extract", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert "2 extracted" in proc.stdout and "0 failed" in proc.stdout
    assert len(list((tmp_path / "out" / "train").glob("*/*/frame_*.jpg"))) == 16


def test_set_overrides_config(good_tree, tmp_path):
    cfg = write_config(tmp_path / "c.yaml", source=str(good_tree), target=str(tmp_path / "out" / "train"))
    proc = run_cli("extract", "--config", str(cfg), "--set", "num_frames=3", "--set", "frame_name=img_{:05d}.jpg")
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out/train/walking/a_000001_000002").iterdir()) == [
        "img_00001.jpg", "img_00002.jpg", "img_00003.jpg"]


def test_bad_files_are_reported_and_the_run_goes_on(make_clip, tmp_path, ffmpeg_exe):
    import subprocess
    good = make_clip("cls/good.mp4", seconds=0.5, fps=10)
    src = tmp_path / "src" / "cls"
    (src / "empty.mp4").write_bytes(b"")
    (src / "truncated.mp4").write_bytes(good.read_bytes()[:1024])
    (src / "text.mp4").write_text("hello, I am a text file\n" * 50)
    subprocess.run([ffmpeg_exe, "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1",
                    str(src / "audio_only.mp4")], check=True)
    data = bytearray(good.read_bytes())  # a valid container whose pictures are all zeros
    at = data.index(b"mdat")
    size = int.from_bytes(data[at - 4:at], "big")
    data[at + 4:at - 4 + size] = bytes(size - 8)
    (src / "zero_frames.mp4").write_bytes(bytes(data))

    proc = run_cli("extract", "--set", f"source={tmp_path / 'src'}", "--set", f"target={tmp_path / 'out/train'}",
                   "--set", "num_frames=4", "--config", str(write_config(tmp_path / "c.yaml")))
    assert proc.returncode == 1, proc.stderr
    assert "1 extracted" in proc.stdout and "5 failed" in proc.stdout
    assert "train.failures.jsonl" in proc.stdout
    assert proc.stderr.count("k400frames: failed: cls/truncated: ") == 1  # said once, with our prefix
    assert proc.stderr.count("progress: 6/6 clips") == 1
    rows = {Path(r["source"]).name: r for r in map(json.loads, (tmp_path / "out/train.failures.jsonl").open())}
    assert rows["empty.mp4"]["reason"] == "empty file (0 bytes)"
    assert "moov atom not found" in rows["truncated.mp4"]["reason"]
    assert "not a video file" in rows["text.mp4"]["reason"]
    assert "no video stream" in rows["audio_only.mp4"]["reason"]
    assert "no frame could be decoded" in rows["zero_frames.mp4"]["reason"]
    assert all(r["stderr_tail"] for name, r in rows.items() if name != "empty.mp4")
    # Failed clips leave no folder at all.
    assert sorted(p.name for p in (tmp_path / "out/train/cls").iterdir()) == ["good"]


@pytest.mark.parametrize("case", ["missing source", "empty source", "unwritable target", "no ffmpeg",
                                  "bad yaml", "unknown key", "bad value", "target inside source", "bad shard"])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, good_tree, tmp_path):
    target = tmp_path / "out" / "train"
    keys = {"source": str(good_tree), "target": str(target)}
    args, env = [], {}
    if case == "missing source":
        keys["source"] = str(tmp_path / "nope")
    elif case == "empty source":
        (tmp_path / "empty" / "cls").mkdir(parents=True)
        keys["source"] = str(tmp_path / "empty")
    elif case == "unwritable target":
        (tmp_path / "out").write_text("a file where a folder should be")
    elif case == "no ffmpeg":
        env["K400FRAMES_FFMPEG"] = str(tmp_path / "no-such-ffmpeg")
    elif case == "unknown key":
        keys["num_frame"] = 5
    elif case == "bad value":
        keys["jpeg_quality"] = 40
    elif case == "target inside source":
        keys["target"] = str(good_tree / "frames")
    elif case == "bad shard":
        args = ["--shard", "2/2"]
    cfg = write_config(tmp_path / "c.yaml", **keys)
    if case == "bad yaml":
        cfg.write_text(cfg.read_text() + "num_frames: [300\n")
    proc = run_cli("extract", "--config", str(cfg), *args, env=env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    message = one_line_error(proc)
    expected = {"missing source": "source folder does not exist", "empty source": "no clips found",
                "unwritable target": "target is not writable", "no ffmpeg": "K400FRAMES_FFMPEG",
                "bad yaml": "starts at line 3", "unknown key": "unknown key 'num_frame'",
                "bad value": "jpeg_quality", "target inside source": "target: must not lie inside source",
                "bad shard": "--shard"}[case]
    assert expected in message
    if case != "unwritable target":
        assert not (tmp_path / "out").exists()
    assert not (good_tree / "frames").exists()


def test_usage_error_exits_2():
    proc = run_cli("extract", "--bogus")
    assert proc.returncode == 2
    assert "unrecognized arguments: --bogus" in proc.stderr
    proc = run_cli("extract")
    assert proc.returncode == 2
    assert "source: is required" in one_line_error(proc)


def test_module_and_console_script_agree():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("k400frames ")


def test_make_demo_runs_end_to_end(tmp_path):
    import sys
    import subprocess
    from helpers import PROJECT
    venv = Path(sys.executable).parent.parent
    proc = subprocess.run(["make", "-s", "demo", f"VENV={venv}", f"DEMO_DIR={tmp_path / 'demo'}"],
                          cwd=PROJECT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo OK" in proc.stdout
    clips = sorted((tmp_path / "demo" / "frames" / "train").glob("*/*"))
    assert len(clips) == 8
    assert all(len(list(clip.iterdir())) == 300 for clip in clips)


def test_import_does_no_work():
    import subprocess
    import sys
    code = ("import sys, k400frames.cli, k400frames.runner, k400frames.verify, k400frames.preview\n"
            "from k400frames.ffmpeg import find_ffmpeg\n"
            "assert find_ffmpeg.cache_info().currsize == 0, 'ffmpeg looked up at import'\n"
            "heavy = [m for m in ('ffmpeg', 'tqdm', 'distributed', 'imageio_ffmpeg') if m in sys.modules]\n"
            "assert not heavy, heavy\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
