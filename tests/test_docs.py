"""Every runnable example in README.md and docs/ runs, on small real clips.

A block is runnable when the line right before its fence is
``<!-- example: NAME -->``.  Each one runs in a fresh folder holding the
inputs SETUP[NAME] makes with real ffmpeg, with the venv's ``k400frames``
first on PATH; it must exit 0 and produce what CHECK[NAME] looks for."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from k400frames.ffmpeg import find_ffmpeg
from k400frames.tools.synth import make_video

PROJECT = Path(__file__).resolve().parent.parent
MARKER = re.compile(r"<!-- example: ([\w-]+) -->\n")
BLOCK = re.compile(r"<!-- example: ([\w-]+) -->\n```(sh|python)\n(.*?)^```", re.S | re.M)


def doc_files() -> list[Path]:
    return [PROJECT / "README.md", *sorted((PROJECT / "docs").rglob("*.md"))]


def find_examples() -> dict[str, tuple[Path, str, str]]:
    found: dict[str, tuple[Path, str, str]] = {}
    for path in doc_files():
        for name, lang, code in BLOCK.findall(path.read_text()):
            assert name not in found, f"example {name} twice: {found[name][0]} and {path}"
            found[name] = (path, lang, code)
    return found


# --- inputs --------------------------------------------------------------------------------------


def clip(root: Path, rel: str, seconds: float = 0.5, fps: float = 10) -> Path:
    return make_video(root / rel, seconds=seconds, fps=fps, size="64x48", ffmpeg_exe=find_ffmpeg())


def configs(root: Path) -> None:
    shutil.copytree(PROJECT / "configs", root / "configs")


def small_tree(root: Path) -> None:
    """videos/<class>/<clip>.mp4: 0.5 s at 10 fps, i.e. 5 frames each."""
    clip(root, "videos/walking/a_000001_000011.mp4")
    clip(root, "videos/running/b_000002_000012.mp4")


def own_tree(root: Path) -> None:
    configs(root)
    for cls in ("walking", "running"):
        for i in range(5):
            clip(root, f"my_videos/{cls}/{cls[:3]}{i}_{i:06d}_{i + 10:06d}.mp4")


def six_clips(root: Path) -> None:
    for cls in ("walking", "running"):
        for i in range(3):
            clip(root, f"videos/{cls}/{cls[:3]}{i}_{i:06d}_{i + 10:06d}.mp4")


def tree_with_broken(root: Path) -> None:
    small_tree(root)
    (root / "videos/walking/broken.mp4").write_text("not a video\n")


SEGMENTS_CSV = """label,youtube_id,time_start,time_end
street walk,GOPR0042,12,22
street walk,GOPR0042,40,50
street walk,GOPR0042,95.5,105.5
street walk,GOPR0043,5,15
cooking,kitchen_cam_2024-03-01,20,30
cooking,kitchen_cam_2024-03-01,600,610
cooking,kitchen_cam_2024-03-01,3580,3590
cooking,kitchen_cam_2024-03-02,100,110
"""


def recordings(root: Path) -> None:
    """The segments guide's worked example: a 2 min GoPro file and a 1 h camera
    recording (at low rates, so they take a second to make), and its CSV."""
    configs(root)
    clip(root, "my_recordings/2024/gopro/GOPR0042.MP4", seconds=120, fps=5)
    clip(root, "my_recordings/2024/gopro/GOPR0043.MP4", seconds=30, fps=5)
    clip(root, "my_recordings/cams/kitchen_cam_2024-03-01.mkv", seconds=3600, fps=1)
    clip(root, "my_recordings/cams/kitchen_cam_2024-03-02.mkv", seconds=300, fps=1)
    (root / "segments.csv").write_text(SEGMENTS_CSV)


def kinetics_download(root: Path) -> None:
    """The official download's layout: flat train/ and val/, one shared
    replacements folder (a file for a train row that is cut short in train/,
    and one for a val row), the official CSVs side by side (labels with
    spaces and parentheses), and a train row whose video is gone."""
    clip(root, "k400/train/--uWuXty1jw_000010_000020.mp4")
    clip(root, "k400/train/a_b-c_000000_000010.mp4")
    broken = clip(root, "k400/train/xyz_000005_000015.mp4")
    broken.write_bytes(broken.read_bytes()[:1000])
    clip(root, "k400/replacement/replacement_for_corrupted_k400/xyz_000005_000015.mp4")
    clip(root, "k400/replacement/replacement_for_corrupted_k400/-val1_000000_000010.mp4")
    clip(root, "k400/val/-val1_000000_000010.mp4")
    (root / "k400/annotations").mkdir(parents=True)
    (root / "k400/annotations/train.csv").write_text(
        "label,youtube_id,time_start,time_end,split,is_cc\n"
        "tai chi,--uWuXty1jw,10,20,train,0\nabseiling,a_b-c,0,10,train,0\nabseiling,xyz,5,15,train,0\n"
        "passing American football (in game),gone,0,10,train,0\n"
    )
    (root / "k400/annotations/val.csv").write_text(
        "label,youtube_id,time_start,time_end,split,is_cc\npassing American football (in game),-val1,0,10,val,0\n"
    )


SETUP = {
    "kinetics-download": kinetics_download,
    "readme-own-videos": own_tree,
    "own-videos": own_tree,
    "segments": recordings,
    "segments-video": recordings,
    "training-lists": small_tree,
    "resume-and-failures": tree_with_broken,
    "shards": six_clips,
    "clip-rules": small_tree,
    "python-api": tree_with_broken,
}


# --- checks --------------------------------------------------------------------------------------


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def manifest(path: Path) -> list[dict]:
    return [json.loads(line) for line in lines(path)]


def clip_folders(split: Path) -> list[Path]:
    return sorted(p for p in split.glob("*/*") if p.is_dir())


def check_readme_own_videos(root: Path, out: str) -> None:
    train = clip_folders(root / "my_frames/train")
    assert len(train) == len(lines(root / "my_annotations/train.csv")) - 1 > 0
    assert all(len(list(c.glob("img_*.jpg"))) == 64 for c in train)
    assert len(lines(root / "my_frames/train.mmaction2.txt")) == len(train)
    assert "verify OK" in out


def check_own_videos(root: Path, out: str) -> None:
    for split in ("train", "val"):
        rows = len(lines(root / f"my_annotations/{split}.csv")) - 1
        assert len(clip_folders(root / f"my_frames/{split}")) == rows > 0
        assert len(lines(root / f"my_frames/{split}.mmaction2.txt")) == rows
        assert (root / f"my_frames/videomae/{split}.csv").is_file()
    assert lines(root / "my_frames/labels.txt") == ["running", "walking"]
    assert out.count("verify OK") == 2


def check_segments(root: Path, out: str) -> None:
    # Exactly the tree the guide draws.
    frames = root / "my_frames"
    got = sorted(str(c.relative_to(frames)) for split in ("train", "val") for c in clip_folders(frames / split))
    # Split by recording: every span of one video in one split.
    assert got == [
        "train/cooking/kitchen_cam_2024-03-02_000100_000110",
        "train/street_walk/GOPR0042_000012_000022",
        "train/street_walk/GOPR0042_000040_000050",
        "train/street_walk/GOPR0042_000095.5_000105.5",
        "val/cooking/kitchen_cam_2024-03-01_000020_000030",
        "val/cooking/kitchen_cam_2024-03-01_000600_000610",
        "val/cooking/kitchen_cam_2024-03-01_003580_003590",
        "val/street_walk/GOPR0043_000005_000015",
    ], got
    assert "split by recording (youtube_id): 2 in train, 2 in val, none in both" in out
    assert len(list((frames / "train/street_walk/GOPR0042_000012_000022").glob("img_*.jpg"))) == 64
    assert (frames / "train.mmaction2.txt").is_file() and (frames / "labels.txt").is_file()
    assert "verify OK" in out


def check_segments_video(root: Path, out: str) -> None:
    videos = sorted((root / "my_clips/train").glob("*/*.mp4"))
    assert len(videos) == 8
    assert len(lines(root / "my_clips/slowfast/train.csv")) == 8
    assert "verify OK" in out


def check_training_lists(root: Path, out: str) -> None:
    frames = root / "frames"
    assert lines(frames / "labels.txt") == ["running", "walking"]
    assert "train/walking/a_000001_000011 8 1" in lines(frames / "train.mmaction2.txt")
    for rel in (
        "train.paddlevideo.txt",
        "videomae/train.csv",
        "train.videomae-pretrain.txt",
        "pytorchvideo/train.csv",
        "lists.md",
    ):
        assert (frames / rel).is_file(), rel
    assert "train/walking/a_000001_000011 8 1" in out


def check_resume_and_failures(root: Path, out: str) -> None:
    assert "exit code 1" in out
    assert "not a video file" in out
    assert not (root / "frames/train.failures.jsonl").exists()
    assert len(manifest(root / "frames/train.manifest.jsonl")) == 3
    assert "0 extracted" in out and "3 already done" in out


def check_shards(root: Path, out: str) -> None:
    shards = [root / f"frames/train.manifest.shard-{k}-of-3.jsonl" for k in range(3)]
    assert all(s.exists() for s in shards)
    assert sum(len(manifest(s)) for s in shards) == 6
    assert "verify OK" in out and "6 clips" in out


def check_clip_rules(root: Path, out: str) -> None:
    (row,) = manifest(root / "frames/train.manifest.jsonl")[-1:]
    assert (row["decoded"], row["padded"]) == (5, 3)
    assert (root / "sheet.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert "frames 6-8 are padding" in out


def check_python_api(root: Path, out: str) -> None:
    assert "3 clips to do" in out
    assert "2 extracted" in out and "1 failed" in out
    assert "config error: unknown key 'num_frame'" in out


def check_kinetics_download(root: Path, out: str) -> None:
    assert "gone_000000_000010 (passing American football (in game)): no file for this row" in out
    assert (root / "k400/annotations/missing_train.csv").read_text().splitlines()[1:] == [
        "passing American football (in game),gone,0,10,train,0"
    ]
    assert "replacements: 1 row of this split take their file from" in out
    assert "1 more file there is other splits'" in out
    assert "clean: every row has one readable video, 1 known gone (some clips are short)" in out
    assert "known gone: 1 row of missing_ok without a file" in out
    assert "skipped" not in out
    assert "verify OK: " in out and "1 known gone (missing_train.csv)" in out
    assert "fps mix: 10 x3" in out
    split = root / "frames/train"
    assert [p.relative_to(split).as_posix() for p in clip_folders(split)] == [
        "abseiling/a_b-c_000000_000010",
        "abseiling/xyz_000005_000015",
        "tai_chi/--uWuXty1jw_000010_000020",
    ]
    assert all(len(list(folder.glob("frame_*.jpg"))) == 16 for folder in clip_folders(split))


CHECK = {
    "kinetics-download": check_kinetics_download,
    "readme-own-videos": check_readme_own_videos,
    "own-videos": check_own_videos,
    "segments": check_segments,
    "segments-video": check_segments_video,
    "training-lists": check_training_lists,
    "resume-and-failures": check_resume_and_failures,
    "shards": check_shards,
    "clip-rules": check_clip_rules,
    "python-api": check_python_api,
}


# --- tests ---------------------------------------------------------------------------------------


def test_every_marker_opens_a_runnable_block():
    for path in doc_files():
        text = path.read_text()
        for match in MARKER.finditer(text):
            assert re.match(r"```(sh|python)\n", text[match.end() :]), (
                f"{path.name}: <!-- example: {match[1]} --> is not right before a ```sh or ```python fence"
            )


def test_every_example_has_inputs_and_a_check():
    names = set(find_examples())
    assert names == set(SETUP) == set(CHECK), (names ^ set(SETUP), names ^ set(CHECK))


@pytest.mark.parametrize("name", sorted(CHECK))
def test_example_runs(name, tmp_path):
    examples = find_examples()
    assert name in examples, f"example {name} is no longer in the docs"
    path, lang, code = examples[name]
    SETUP[name](tmp_path)
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYTHONUNBUFFERED": "1",
    }
    argv = ["bash", "-euo", "pipefail", "-c", code] if lang == "sh" else [sys.executable, "-c", code]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"{path.relative_to(PROJECT)}: {name} exited {proc.returncode}\n{proc.stderr}"
    CHECK[name](tmp_path, proc.stdout + proc.stderr)
