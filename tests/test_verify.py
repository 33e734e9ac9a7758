"""verify: frame counts and names, JPEG integrity, deep decode, CSV join."""

from __future__ import annotations

import json

import pytest

from k400frames.run.runner import run_extract
from k400frames.sources.kinetics import KINETICS_HEADER
from k400frames.tools.verify import verify_tree

from helpers import run_main, write_csv

CLIPS = (
    ("tai chi", "abc-_x_000001_000011.mp4"),
    ("tai chi", "-lead_000005_000015.mp4"),
    ("abseiling", "q_w_000000_000010.mp4"),
)


CSV_ROWS = [("tai chi", "abc-_x", 1, 11), ("tai chi", "-lead", 5, 15), ("abseiling", "q_w", 0, 10)]


def kinetics_csv(path, rows):
    return write_csv(path, [(*row, "train", 0) for row in rows], KINETICS_HEADER)


@pytest.fixture
def tree(make_clip, config):
    """An extracted split with 3 clips of 10 frames, class names kept."""

    def build(**overrides):
        for cls, name in CLIPS:
            make_clip(f"{cls}/{name}", seconds=0.2)  # 6 real frames, padded to 10
        cfg = config(num_frames=10, **overrides)
        assert run_extract(cfg).done == len(CLIPS)
        return cfg

    return build


def check(cfg, **kwargs):
    return verify_tree(cfg.target, cfg.num_frames, cfg.frame_name, **kwargs)


def test_clean_tree_passes(tree):
    cfg = tree()
    report = check(cfg)
    assert report.ok, report.problems
    assert report.clips == 3 and report.frames_checked == 30


def test_deleted_frame_is_reported(tree):
    cfg = tree()
    (cfg.target / "tai chi" / "-lead_000005_000015" / "frame_00007.jpg").unlink()
    report = check(cfg)
    assert not report.ok
    [problem] = report.problems
    assert problem.rel == "tai chi/-lead_000005_000015" and problem.kind == "missing-frames"
    assert "frame_00007.jpg" in problem.detail


def test_truncated_and_empty_jpegs_are_reported(tree):
    cfg = tree()
    clip = cfg.target / "abseiling" / "q_w_000000_000010"
    data = (clip / "frame_00003.jpg").read_bytes()
    (clip / "frame_00003.jpg").write_bytes(data[: len(data) // 2])
    (clip / "frame_00009.jpg").write_bytes(b"")
    [problem] = check(cfg).problems
    assert problem.kind == "bad-jpeg"
    assert "frame_00003.jpg (truncated JPEG" in problem.detail
    assert "frame_00009.jpg (empty file)" in problem.detail


def test_extra_files_are_reported(tree):
    cfg = tree()
    clip = cfg.target / "abseiling" / "q_w_000000_000010"
    (clip / "notes.txt").write_text("hi")
    (clip / "frame_00011.jpg").write_bytes((clip / "frame_00010.jpg").read_bytes())  # N+1
    (cfg.target / "README").write_text("stray file among class folders")
    problems = check(cfg).problems
    extra = [p for p in problems if p.kind == "extra-files"]
    assert len(extra) == 1 and "notes.txt" in extra[0].detail and "frame_00011.jpg" in extra[0].detail
    assert any(p.kind == "stray" and p.rel == "README" for p in problems)


def test_deep_decode_catches_what_the_ends_do_not(tree):
    cfg = tree()
    clip = cfg.target / "abseiling" / "q_w_000000_000010"
    # Right markers at both ends, garbage between: only decoding can tell.
    (clip / "frame_00004.jpg").write_bytes(b"\xff\xd8" + b"not image data" * 20 + b"\xff\xd9")
    assert check(cfg).ok
    report = check(cfg, deep=True)
    problem, changed = sorted(report.problems, key=lambda p: p.kind)
    assert problem.kind == "decode" and "frame_00004.jpg" in problem.detail
    assert problem.detail.startswith("1 frames")
    # ... and the clip's bytes no longer match the digest its manifest line recorded
    assert (changed.kind, changed.rel) == ("digest", "abseiling/q_w_000000_000010")


def test_deep_decode_passes_a_clean_tree(tree):
    assert check(tree(), deep=True).ok


@pytest.mark.parametrize("class_names", ["keep", "underscore"])
def test_csv_join_with_either_class_name_convention(tree, tmp_path, class_names):
    cfg = tree(class_names=class_names)
    assert (cfg.target / ("tai_chi" if class_names == "underscore" else "tai chi")).is_dir()
    report = check(cfg, csv=kinetics_csv(tmp_path / "ann.csv", CSV_ROWS))
    assert report.ok and report.csv_rows == 3, (report.missing, report.unexpected)


def test_csv_label_with_underscores_matches_folder_with_spaces(tree, tmp_path):
    cfg = tree()
    rows = [(label.replace(" ", "_"), *rest) for label, *rest in CSV_ROWS]
    assert check(cfg, csv=kinetics_csv(tmp_path / "ann.csv", rows)).ok


def test_csv_join_reports_missing_and_extra_clips(tree, tmp_path):
    cfg = tree(class_names="underscore")
    rows = CSV_ROWS[1:] + [("tai chi", "gone", 3, 13)]  # drop one on disk, add one not on disk
    report = check(cfg, csv=kinetics_csv(tmp_path / "ann.csv", rows))
    assert not report.ok and not report.problems
    assert report.missing == ["tai_chi/gone_000003_000013"]
    assert report.unexpected == ["tai_chi/abc-_x_000001_000011"]


def test_cli_exit_codes_json_and_config_annotations(tree, tmp_path, capfd):
    csv = kinetics_csv(tmp_path / "ann.csv", CSV_ROWS)
    cfg = tree(annotations=str(csv))
    config_file = tmp_path / "cfg.yaml"
    config_file.write_text(f"source: {cfg.source}\ntarget: {cfg.target}\nnum_frames: 10\nannotations: {csv}\n")
    ok = run_main(capfd, "verify", "--config", str(config_file))
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("verify OK") and "3 CSV rows" in ok.stdout
    deep = run_main(capfd, "verify", "--config", str(config_file), "--deep")
    assert deep.returncode == 0 and "decoded" in deep.stdout, deep.stderr

    (cfg.target / "abseiling" / "q_w_000000_000010" / "frame_00001.jpg").unlink()
    bad = run_main(capfd, "verify", "--frames", str(cfg.target), "--num-frames", "10", "--csv", str(csv), "--json")
    assert bad.returncode == 1, bad.stderr
    data = json.loads(bad.stdout)
    assert data["ok"] is False and data["problems"][0]["rel"] == "abseiling/q_w_000000_000010"
    assert data["missing"] == [] and data["unexpected"] == []

    wrong_n = run_main(capfd, "verify", "--frames", str(cfg.target), "--num-frames", "9")
    assert wrong_n.returncode == 1 and "frame_00010.jpg" in wrong_n.stdout

    usage = run_main(capfd, "verify", "--frames", str(cfg.target))
    assert usage.returncode == 2 and "--num-frames" in usage.stderr and "Traceback" not in usage.stderr
