"""The command line: exit codes, one-line errors, nothing written on bad input."""

import json
import re
from pathlib import Path

import pytest

from helpers import run_cli, run_main, write_config


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


def test_ok_run_exits_0_with_summary(good_tree, tmp_path, capfd):
    cfg = write_config(tmp_path / "c.yaml", source=str(good_tree), target=str(tmp_path / "out" / "train"), num_frames=8)
    proc = run_main(capfd, "extract", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert "2 extracted" in proc.stdout and "0 failed" in proc.stdout
    assert len(list((tmp_path / "out" / "train").glob("*/*/frame_*.jpg"))) == 16


def test_set_overrides_config(good_tree, tmp_path, capfd):
    cfg = write_config(tmp_path / "c.yaml", source=str(good_tree), target=str(tmp_path / "out" / "train"))
    proc = run_main(
        capfd, "extract", "--config", str(cfg), "--set", "num_frames=3", "--set", "frame_name=img_{:05d}.jpg"
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (tmp_path / "out/train/walking/a_000001_000002").iterdir()) == [
        "img_00001.jpg",
        "img_00002.jpg",
        "img_00003.jpg",
    ]


def test_bad_files_are_reported_and_the_run_goes_on(make_clip, tmp_path, ffmpeg_exe, capfd):
    import subprocess

    good = make_clip("cls/good.mp4", seconds=0.5, fps=10)
    src = tmp_path / "src" / "cls"
    (src / "empty.mp4").write_bytes(b"")
    (src / "truncated.mp4").write_bytes(good.read_bytes()[:1024])
    (src / "text.mp4").write_text("hello, I am a text file\n" * 50)
    subprocess.run(
        [ffmpeg_exe, "-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=1", str(src / "audio_only.mp4")],
        check=True,
    )
    data = bytearray(good.read_bytes())  # a valid container whose pictures are all zeros
    at = data.index(b"mdat")
    size = int.from_bytes(data[at - 4 : at], "big")
    data[at + 4 : at - 4 + size] = bytes(size - 8)
    (src / "zero_frames.mp4").write_bytes(bytes(data))

    proc = run_main(
        capfd,
        "extract",
        "--set",
        f"source={tmp_path / 'src'}",
        "--set",
        f"target={tmp_path / 'out/train'}",
        "--set",
        "num_frames=4",
        "--config",
        str(write_config(tmp_path / "c.yaml")),
    )
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


@pytest.mark.parametrize(
    "case",
    [
        "missing source",
        "empty source",
        "unwritable target",
        "no ffmpeg",
        "bad yaml",
        "unknown key",
        "bad value",
        "target inside source",
        "bad shard",
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, good_tree, tmp_path, capfd):
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
    proc = run_main(capfd, "extract", "--config", str(cfg), *args, env=env)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    message = one_line_error(proc)
    expected = {
        "missing source": "source folder does not exist",
        "empty source": "no clips found",
        "unwritable target": "target is not writable",
        "no ffmpeg": "K400FRAMES_FFMPEG",
        "bad yaml": "starts at line 3",
        "unknown key": "unknown key 'num_frame'",
        "bad value": "jpeg_quality",
        "target inside source": "target: must not lie inside source",
        "bad shard": "--shard",
    }[case]
    assert expected in message
    if case != "unwritable target":
        assert not (tmp_path / "out").exists()
    assert not (good_tree / "frames").exists()


def test_usage_error_exits_2(capfd):
    proc = run_main(capfd, "extract", "--bogus")
    assert proc.returncode == 2
    assert "unrecognized arguments: --bogus" in proc.stderr
    proc = run_main(capfd, "extract")
    assert proc.returncode == 2
    assert one_line_error(proc).endswith("extract: give --config FILE (or --set source=... --set target=...)")


def test_missing_relative_source_names_the_current_folder(tmp_path, capfd):
    proc = run_main(capfd, "extract", "--set", "source=videos", "--set", "target=frames/train", cwd=tmp_path)
    assert proc.returncode == 2
    message = one_line_error(proc)
    assert f"{tmp_path / 'videos'} (relative paths are read from the current folder, {tmp_path})" in message
    assert "tiny-kinetics-400" not in message.lower() and "drive.google" not in message
    # The shipped Tiny-K400 config, run where its data is not: the download hint.
    from helpers import PROJECT

    proc = run_main(capfd, "extract", "--config", str(PROJECT / "configs/tiny_k400_train.yaml"), cwd=tmp_path)
    assert proc.returncode == 2 and "drive.google.com" in one_line_error(proc)
    assert not (tmp_path / "data").exists()


def test_global_flags_before_and_after_the_command(good_tree, tmp_path, capfd):
    keys = ["--set", f"source={good_tree}", "--set", f"target={tmp_path / 'out/train'}", "--set", "num_frames=2"]
    proc = run_main(capfd, "-q", "extract", "-v", *keys)
    assert proc.returncode == 0, proc.stderr
    assert "-nostdin" in proc.stderr  # -v after the command logs the ffmpeg commands
    assert "progress:" not in proc.stderr  # and -q before it still holds
    proc = run_main(capfd, "verify", "-q", "--frames", str(tmp_path / "out/train"), "--num-frames", "2")
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


def test_verify_lists_and_preview_take_set_alone(good_tree, tmp_path, capfd):
    target = tmp_path / "out" / "train"
    settings = ["--set", f"target={target}", "--set", "num_frames=3", "--set", "frame_name=img_{:05d}.jpg"]
    assert run_main(capfd, "extract", "--set", f"source={good_tree}", *settings).returncode == 0
    proc = run_main(capfd, "verify", *settings)
    assert proc.returncode == 0 and proc.stdout.startswith("verify OK") and "(2 clips, 6 frames)" in proc.stdout
    proc = run_main(capfd, "lists", *settings, "--format", "mmaction2")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "out/train.mmaction2.txt").read_text() == (
        "train/running/b_000001_000002 3 0\ntrain/walking/a_000001_000002 3 1\n"
    )
    clip = target / "walking" / "a_000001_000002"
    (clip / "notes.jpg").write_bytes((clip / "img_00001.jpg").read_bytes())  # only a template skips it
    proc = run_main(capfd, "preview", str(clip), "--set", "frame_name=img_{:05d}.jpg", "-o", str(tmp_path / "p.jpg"))
    assert proc.returncode == 0, proc.stderr
    assert "3 frames" in proc.stdout and (tmp_path / "p.jpg").is_file()
    partial = write_config(tmp_path / "p.yaml", frame_name="img_{:05d}.jpg")  # a preview needs no more
    proc = run_main(capfd, "preview", str(clip), "--config", str(partial), "-o", str(tmp_path / "r.jpg"))
    assert proc.returncode == 0 and "3 frames" in proc.stdout, proc.stderr
    proc = run_main(capfd, "preview", str(clip), "--set", "num_frames=3", "-o", str(tmp_path / "q.jpg"))
    assert proc.returncode == 2 and "num_frames" in one_line_error(proc)
    proc = run_main(capfd, "lists", "--format", "all")
    assert proc.returncode == 2 and one_line_error(proc).endswith("lists: give --config FILE (or --set target=...)")


def test_clean_run_summary_names_the_csv_copy_and_leaves_no_failures_file(good_tree, tmp_path, capfd):
    csv = tmp_path / "my_train.csv"
    csv.write_text("label,youtube_id,time_start,time_end,split,is_cc\n")
    cfg = write_config(
        tmp_path / "c.yaml",
        source=str(good_tree),
        target=str(tmp_path / "out" / "train"),
        num_frames=2,
        annotations=str(csv),
    )
    proc = run_main(capfd, "extract", "--config", str(cfg))
    assert proc.returncode == 0, proc.stderr
    assert f"annotations: copied to {tmp_path / 'out' / 'my_train.csv'}" in proc.stdout.splitlines()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "my_train.csv",
        "train",
        "train.card.json",
        "train.card.md",
        "train.manifest.jsonl",
    ]


def test_module_and_console_script_agree():
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("k400frames ")


def test_make_demo_runs_end_to_end(tmp_path):
    import subprocess
    import sys

    from helpers import PROJECT

    venv = Path(sys.executable).parent.parent
    proc = subprocess.run(
        ["make", "-s", "demo", f"VENV={venv}", f"DEMO_DIR={tmp_path / 'demo'}"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "demo OK" in proc.stdout
    clips = sorted((tmp_path / "demo" / "frames" / "train").glob("*/*"))
    assert len(clips) == 8
    assert all(len(list(clip.iterdir())) == 300 for clip in clips)


def test_import_does_no_work():
    import subprocess
    import sys

    code = (
        "import importlib, pkgutil, sys, k400frames\n"
        "for m in pkgutil.walk_packages(k400frames.__path__, 'k400frames.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "from k400frames.ffmpeg import find_ffmpeg\n"
        "assert find_ffmpeg.cache_info().currsize == 0, 'ffmpeg looked up at import'\n"
        "heavy = [m for m in ('ffmpeg', 'tqdm', 'distributed', 'imageio_ffmpeg') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_preview_refuses_an_output_inside_the_frames_tree(good_tree, tmp_path, capfd):
    target = tmp_path / "out" / "train"
    assert (
        run_main(
            capfd, "extract", "--set", f"source={good_tree}", "--set", f"target={target}", "--set", "num_frames=2"
        ).returncode
        == 0
    )
    clip = target / "walking" / "a_000001_000002"
    before = sorted(str(p) for p in (tmp_path / "out").rglob("*"))
    for args, cwd in (
        (["-o", str(clip.parent / "p.jpg")], None),  # the class folder
        (["-o", str(target / "p.jpg")], None),  # the split folder
        (["-o", "p.jpg"], clip),  # the clip folder
        ([], target / "running"),
    ):  # the default, run from inside the split
        proc = run_main(capfd, "preview", str(clip), *args, cwd=cwd)
        assert proc.returncode == 2, (args, cwd)
        assert "inside" in one_line_error(proc) and "frames tree" in proc.stderr
    assert sorted(str(p) for p in (tmp_path / "out").rglob("*")) == before
    verify = run_main(capfd, "verify", "--frames", str(target), "--num-frames", "2")
    assert verify.returncode == 0, verify.stdout


def test_make_targets_pass_args_through(good_tree, tmp_path):
    import subprocess
    import sys

    from helpers import PROJECT

    recipes = [line for line in (PROJECT / "Makefile").read_text().splitlines() if "$(BIN)/k400frames " in line]
    assert len(recipes) >= 5 and all(line.rstrip().endswith("$(ARGS)") for line in recipes), recipes
    cfg = write_config(tmp_path / "c.yaml", source=str(good_tree), target=str(tmp_path / "out" / "train"))
    venv = Path(sys.executable).parent.parent
    proc = subprocess.run(
        ["make", "-s", "extract-val", f"VENV={venv}", f"CONFIG={cfg}", "ARGS=--dry-run --set num_frames=4"],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("dry run: nothing written") and not (tmp_path / "out").exists()


def test_one_clip_is_not_one_clips(make_clip, tmp_path, capfd):
    make_clip("walking/a_000001_000002.mp4", seconds=0.5, fps=10)
    keys = ["--set", f"source={tmp_path / 'src'}", "--set", f"target={tmp_path / 'out/train'}", "--set", "num_frames=2"]
    dry = run_main(capfd, "extract", "--dry-run", *keys)
    assert dry.returncode == 0, dry.stderr
    assert "clips: 1 in 1 class:" in dry.stdout and "walking: 1 clip, 0 done, 1 to do" in dry.stdout
    assert run_main(capfd, "extract", *keys).returncode == 0
    verify = run_main(capfd, "verify", *keys)
    assert "(1 clip, 2 frames)" in verify.stdout
    for proc in (dry, verify):
        # "309.1 clips/s" is a rate, not a count: a count stands alone.
        assert not re.search(r"(?<![\d.])1 (clips|classes)\b", proc.stdout + proc.stderr)


def test_an_os_error_says_nothing_was_done_only_where_nothing_was_written(monkeypatch, capsys, tmp_path):
    """A command that writes and meets an OSError may have written part of its
    output: exit 1 and say so; one that only reads exits 2 (nothing was done).
    One line each, no traceback."""
    import errno

    from k400frames import cli
    from k400frames.errors import EXIT_FAILED, EXIT_USAGE
    from k400frames.tools import lists, verify

    def read_only_fs(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / "lists.txt"))

    monkeypatch.setattr(lists, "write_lists", read_only_fs)
    monkeypatch.setattr(verify, "verify_tree", read_only_fs)
    (tmp_path / "train").mkdir()
    assert cli.main(["lists", "--format", "mmaction2", "--set", f"target={tmp_path / 'train'}"]) == EXIT_FAILED
    assert capsys.readouterr().err.splitlines() == [
        f"k400frames: error: Read-only file system: {tmp_path / 'lists.txt'} "
        f"(stopped part way: what was written before stays)"
    ]
    assert cli.main(["verify", "--frames", str(tmp_path / "train"), "--num-frames", "4", "--quiet"]) == EXIT_USAGE
    assert capsys.readouterr().err.splitlines() == [
        f"k400frames: error: Read-only file system: {tmp_path / 'lists.txt'}"
    ]


def test_the_cli_docstring_names_every_exit_code():
    from k400frames import cli
    from k400frames.errors import EXIT_CODES

    words = re.findall(r"\d+", cli.__doc__)
    assert [code for code in EXIT_CODES if str(code) not in words] == []
