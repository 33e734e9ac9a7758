"""``k400frames doctor``: a real download tree with every kind of problem
planted, each reported with its clip; the exit code, --redownload, --json."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess

import pytest

from k400frames.ffmpeg.mp4 import TRUNCATED, BadVideo, mp4_video_track
from k400frames.sources.kinetics import Row, read_kinetics_csv, write_kinetics_csv
from k400frames.tools.doctor import KIND_NAMES, diagnose

from helpers import run_main, write_config

GOOD = [Row("abseiling", "good-1", 0, 1), Row("tai chi", "--good_2", 3, 4)]


@pytest.fixture
def download(tmp_path, make_clip, ffmpeg_exe):
    """A flat download: two good clips and a webm, then one of each problem."""
    src = tmp_path / "src"
    real = make_clip("good-1_000000_000001.mp4", seconds=1, fps=10)
    shutil.copy(real, src / "--good_2_000003_000004.mp4")
    make_clip("sub/webm_000000_000001.webm", seconds=1, fps=15, codec="libvpx")
    rows = [*GOOD, Row("archery", "webm", 0, 1)]
    return src, real, rows


def plant_problems(src, real, rows, ffmpeg_exe):
    rows += [
        Row("archery", "gone", 0, 10),  # missing
        Row("archery", "moved", 0, 10),  # renamed: the file says 000002_000012
        Row("bowling", "twice", 0, 1),  # duplicate row
        Row("bowling", "twice", 0, 1),
        Row("bowling", "double", 0, 1),  # two files
        Row("bowling", "zero", 0, 1),  # 0 bytes
        Row("capoeira", "text", 0, 1),  # text named .mp4
        Row("capoeira", "audio", 0, 1),  # audio only
        Row("capoeira", "cut", 0, 1),  # truncated
        Row("dancing", "brief", 0, 10),  # 1 s of a 10 s span
    ]
    for name in ("moved_000002_000012", "twice_000000_000001", "double_000000_000001", "brief_000000_000010"):
        shutil.copy(real, src / f"{name}.mp4")
    (src / "other").mkdir()
    shutil.copy(real, src / "other" / "double_000000_000001.mp4")
    shutil.copy(real, src / "stray_000005_000015.mp4")  # no row
    (src / "zero_000000_000001.mp4").write_bytes(b"")
    (src / "text_000000_000001.mp4").write_text("<html>404 not found</html>\n")
    subprocess.run(
        [ffmpeg_exe, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "sine=duration=1", "-c:a", "aac"]
        + [f"file:{src / 'audio_000000_000001.mp4'}"],
        check=True,
    )
    data = real.read_bytes()
    (src / "cut_000000_000001.mp4").write_bytes(data[: len(data) // 2])


def test_a_clean_download_exits_0(tmp_path, download, capfd):
    src, _, rows = download
    config = write_config(
        tmp_path / "config.yaml",
        source=src,
        target=tmp_path / "out" / "train",
        annotations=write_kinetics_csv(tmp_path / "train.csv", rows),
    )
    result = run_main(capfd, "doctor", "--config", str(config), "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "clean: every row has one readable video" in result.stdout
    # The mix counts the MP4s (read in Python) and the webm (read by ffmpeg) alike.
    assert "fps mix: 10 x2, 15 x1" in result.stdout
    assert "size mix: 64x48 x3" in result.stdout
    assert "codec mix: h264 x2, vp8 x1" in result.stdout
    assert "(1 headers read by ffmpeg)" in result.stdout
    assert not (tmp_path / "out").exists()


def test_every_planted_problem_is_reported_with_its_clip(tmp_path, download, ffmpeg_exe, capfd):
    src, real, rows = download
    plant_problems(src, real, rows, ffmpeg_exe)
    table = write_kinetics_csv(tmp_path / "train.csv", rows)
    write_kinetics_csv(tmp_path / "val.csv", [Row("tai chi", "brief", 30, 40, "val")])  # a leak: val has brief too
    config = write_config(
        tmp_path / "config.yaml", source=src, target=tmp_path / "out" / "train", annotations=tmp_path / "elsewhere.csv"
    )  # --csv wins over the config's
    redownload = tmp_path / "again.csv"
    args = ("doctor", "--config", str(config), "--csv", str(table), "--redownload", str(redownload))
    text = run_main(capfd, *args, "-q")
    assert text.returncode == 1, text.stderr
    expected = {
        "missing": ["gone_000000_000010"],
        "renamed": ["moved_000000_000010"],
        "no_row": ["stray_000005_000015"],
        "duplicate_row": ["twice_000000_000001"],
        "duplicate_file": ["double_000000_000001"],
        "leak": ["brief"],
        "empty": ["zero_000000_000001"],
        "unreadable": ["text_000000_000001"],
        "no_video": ["audio_000000_000001"],
        "truncated": ["cut_000000_000001"],
        "short": ["brief_000000_000010", "moved_000000_000010"],  # the renamed file is 1 s too
    }
    assert set(expected) == set(KIND_NAMES)
    for kind, clips in expected.items():
        assert f"\n{kind} ({len(clips)}): " in text.stdout
        for clip in clips:
            assert f"  {clip}" in text.stdout
    assert "moved_000000_000010 (archery) [moved_000002_000012.mp4]" in text.stdout
    assert "double_000000_000001.mp4, other/double_000000_000001.mp4" in text.stdout
    assert "1.00 s of a 10 s span" in text.stdout
    assert "brief: in train (dancing) and val (tai chi)" in text.stdout
    assert "not clean: 10 findings; 5 rows to download again" in text.stdout

    # --redownload: the download faults, as Kinetics rows in CSV order (not
    # the renamed, extra, duplicate or short ones: a fresh download fixes none of those).
    again = read_kinetics_csv(redownload)
    assert [(r.label, r.youtube_id, r.time_start, r.time_end) for r in again] == [
        ("archery", "gone", 0, 10),
        ("bowling", "zero", 0, 1),
        ("capoeira", "text", 0, 1),
        ("capoeira", "audio", 0, 1),
        ("capoeira", "cut", 0, 1),
    ]
    with open(redownload, newline="") as handle:
        assert next(csv.reader(handle)) == ["label", "youtube_id", "time_start", "time_end", "split", "is_cc"]

    # --json: every finding with its clip, label and file.
    report = json.loads(run_main(capfd, *args, "--json").stdout)
    assert report["ok"] is False
    assert {kind: [f["clip"] for f in found] for kind, found in report["findings"].items()} == expected
    assert report["findings"]["truncated"][0] == {
        "kind": "truncated",
        "clip": "cut_000000_000001",
        "path": "cut_000000_000001.mp4",
        "detail": "box 'mdat' runs past the end of the file (truncated)",
        "label": "capoeira",
    }
    assert report["findings"]["renamed"][0]["path"] == "moved_000002_000012.mp4"
    assert [r["youtube_id"] for r in report["redownload"]] == ["gone", "zero", "text", "audio", "cut"]
    assert report["rows"] == 13 and report["counts"]["duplicate_row"] == 1


def test_a_replacement_cures_its_broken_original(tmp_path, download):
    src, real, rows = download
    data = real.read_bytes()
    (src / "cut_000000_000001.mp4").write_bytes(data[: len(data) - 100])
    rows.append(Row("capoeira", "cut", 0, 1))
    table = write_kinetics_csv(tmp_path / "train.csv", rows)
    assert not diagnose(src, table, extensions=(".mp4", ".webm")).ok
    fixes = tmp_path / "replacements"
    fixes.mkdir()
    shutil.copy(real, fixes / "cut_000000_000001.mp4")
    report = diagnose(src, table, extensions=(".mp4", ".webm"), replacements=fixes)
    assert report.ok and report.findings == [] and report.files == 4


def test_a_file_cut_inside_a_faststart_mp4_is_truncated(tmp_path, ffmpeg_exe):
    # moov first, then mdat: ffmpeg reads such a header happily; the index
    # still says the file should be longer.
    whole = tmp_path / "fast.mp4"
    subprocess.run(
        [ffmpeg_exe, "-nostdin", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10:duration=1"]
        + ["-c:v", "libx264", "-movflags", "+faststart", f"file:{whole}"],
        check=True,
    )
    track = mp4_video_track(whole)
    assert track is not None and (track.frames, track.fps, track.width, track.height) == (10, 10.0, 64, 48)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[:-10])
    with pytest.raises(BadVideo) as caught:
        mp4_video_track(cut)
    assert caught.value.fault == TRUNCATED


def test_doctor_needs_a_csv_and_names_the_key(tmp_path, capfd):
    (tmp_path / "src").mkdir()
    result = run_main(capfd, "doctor", "--set", f"source={tmp_path / 'src'}")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "k400frames: error: doctor: needs the Kinetics CSV: set the config key 'annotations', or give --csv FILE"
    )


def test_doctor_errors_are_one_line(tmp_path, capfd):
    (tmp_path / "src").mkdir()
    cases = {
        ("--set", f"source={tmp_path / 'nope'}", "--csv", "x.csv"): "doctor: source is not a folder",
        ("--set", f"source={tmp_path / 'src'}", "--csv", str(tmp_path / "x.csv")): "cannot read annotations",
        (
            "--set",
            f"source={tmp_path / 'src'}",
            "--set",
            f"annotations={tmp_path / 'x.csv'}",
            "--set",
            f"replacements={tmp_path / 'gone'}",
        ): "doctor: replacements is not a folder",
    }
    for args, message in cases.items():
        result = run_main(capfd, "doctor", *args)
        assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert message in result.stderr
