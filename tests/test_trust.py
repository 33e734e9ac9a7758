"""Training data you can trust (issue 20): splits by recording and leakage
reports, a verify that counts missing and failed clips, lists that tell real
frames from pads, and the frame-rate warning of pytorchvideo frame lists.
Real clips, real runs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from k400frames.errors import AnnotationError
from k400frames.run.runner import format_summary, run_extract
from k400frames.tools.verify import verify_tree

from helpers import run_main, write_csv


def read_rows(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# Several spans per video; rec3 holds spans of both labels.
SPANS = [
    (label, video, start, start + 0.5)
    for label, video in (("jump", "rec1"), ("jump", "rec2"), ("jump", "rec3"), ("run", "rec3"), ("run", "rec4"))
    + (("run", "rec5"), ("run", "rec6"), ("jump", "rec7"))
    for start in (0, 0.5, 1)
]


@pytest.fixture
def recordings(make_clip, tmp_path):
    for i in range(1, 8):
        make_clip(f"long/rec{i}.mp4", seconds=1.6, fps=10)
    return write_csv(tmp_path / "segments.csv", SPANS)


def test_annotate_segments_keeps_every_span_of_a_recording_in_one_split(recordings, tmp_path, capfd):
    for seed in range(5):
        out = tmp_path / f"split{seed}"
        proc = run_main(
            capfd,
            "annotate",
            "--segments",
            str(recordings),
            "--out-dir",
            str(out),
            "--val-fraction",
            "0.34",
            "--seed",
            str(seed),
        )
        assert proc.returncode == 0, proc.stderr
        train = {r["youtube_id"] for r in read_rows(out / "train.csv")}
        val = {r["youtube_id"] for r in read_rows(out / "val.csv")}
        assert train and val and not train & val, (seed, train, val)
        assert len(read_rows(out / "train.csv")) + len(read_rows(out / "val.csv")) == len(SPANS)
        # The summary says how far whole recordings moved the shares.
        assert "split by recording (youtube_id)" in proc.stdout and "none in both" in proc.stdout
        assert "(asked 34%)" in proc.stdout


def test_annotate_of_a_tree_keeps_spans_of_one_video_together(make_clip, tmp_path, capfd):
    for video in ("v1", "v2", "v3", "v4"):
        for start in (0, 10, 20):
            make_clip(f"wave/{video}_{start:06d}_{start + 10:06d}.mp4", seconds=0.2, fps=10)
    proc = run_main(
        capfd, "annotate", str(tmp_path / "src"), "--out-dir", str(tmp_path / "ann"), "--val-fraction", "0.5"
    )
    assert proc.returncode == 0, proc.stderr
    train = [r["youtube_id"] for r in read_rows(tmp_path / "ann" / "train.csv")]
    val = [r["youtube_id"] for r in read_rows(tmp_path / "ann" / "val.csv")]
    assert len(train) == len(val) == 6 and not set(train) & set(val)


def extract_split(capture, tmp_path: Path, csv_path: Path, split: str, **extra) -> Path:
    cfg = tmp_path / f"{split}.yaml"
    cfg.write_text(
        f"source: {tmp_path / 'src'}\nsegments: {csv_path}\ntarget: {tmp_path / 'out' / split}\n"
        f"num_frames: 4\nworkers: 2\n" + "".join(f"{k}: {v}\n" for k, v in extra.items())
    )
    proc = run_main(capture, "extract", "--config", str(cfg), "-q")
    assert proc.returncode in (0, 1), proc.stderr
    return cfg


def test_verify_and_lists_report_a_recording_in_two_splits(recordings, tmp_path, capfd):
    run_main(
        capfd, "annotate", "--segments", str(recordings), "--out-dir", str(tmp_path / "ann"), "--val-fraction", "0.34"
    )
    train_cfg = extract_split(capfd, tmp_path, tmp_path / "ann" / "train.csv", "train")
    extract_split(capfd, tmp_path, tmp_path / "ann" / "val.csv", "val")
    clean = run_main(capfd, "verify", "--config", str(train_cfg))
    assert clean.returncode == 0 and clean.stdout.startswith("verify OK"), clean.stdout
    lists = run_main(capfd, "lists", "--config", str(train_cfg), "--format", "mmaction2")
    assert lists.returncode == 0 and "more than one split" not in lists.stderr, lists.stderr

    # A split made by rows, as annotate did before: one span of a train recording lands in "test".
    train_row = read_rows(tmp_path / "ann" / "train.csv")[0]
    leaky = write_csv(tmp_path / "leaky.csv", [[train_row[k] for k in ("label", "youtube_id")] + ["1.5", "1.6"]])
    extract_split(capfd, tmp_path, leaky, "test")
    proc = run_main(capfd, "verify", "--config", str(train_cfg))
    assert proc.returncode == 1, proc.stdout
    assert f"{train_row['youtube_id']} in test (jump) and train (jump) (split folders)" in proc.stdout
    lists = run_main(capfd, "lists", "--config", str(train_cfg), "--format", "mmaction2")
    assert "1 recording (youtube_id) in more than one split" in lists.stderr
    assert f"{train_row['youtube_id']} in test (jump) and train (jump)" in lists.stderr


def test_kinetics_csvs_beside_the_splits_are_compared_too(make_clip, tmp_path):
    make_clip("a/x_000000_000001.mp4", seconds=0.3, fps=10)
    make_clip("a/y_000000_000001.mp4", seconds=0.3, fps=10)
    header = ("label", "youtube_id", "time_start", "time_end", "split", "is_cc")
    out = tmp_path / "out"
    out.mkdir()
    write_csv(out / "tiny_train.csv", [("a", "x", 0, 1, "train", 0), ("a", "y", 0, 1, "train", 0)], header)
    write_csv(out / "tiny_val.csv", [("a", "y", 4, 5, "val", 0)], header)  # another span of y
    assert run_extract(_cfg(tmp_path)).failed == 0
    report = verify_tree(out / "train", 4, csv=out / "tiny_train.csv")
    assert [leak.describe() for leak in report.leaks] == ["y in train (a) and val (a) (CSVs)"]
    assert not report.ok


def _cfg(tmp_path, **extra):
    from k400frames.config import make_config

    return make_config(
        {"source": str(tmp_path / "src"), "target": str(tmp_path / "out" / "train"), "num_frames": 4, **extra}
    )


def test_verify_lists_failed_and_missing_segments_and_exits_1(recordings, tmp_path, capfd):
    rows = [("jump", "rec1", 0, 0.5), ("jump", "nosuchvideo", 0, 1), ("jump", "rec2", 2, 1)]
    cfg = extract_split(capfd, tmp_path, write_csv(tmp_path / "three.csv", rows), "train")
    proc = run_main(capfd, "verify", "--config", str(cfg))
    assert proc.returncode == 1
    assert proc.stdout.startswith("verify FAILED") and "2 failed in the run" in proc.stdout, proc.stdout
    assert "video not found" in proc.stdout and "time_end must be after time_start" in proc.stdout
    # A clip the run never reached (no record at all) is missing.
    (tmp_path / "out" / "train.failures.jsonl").unlink()
    proc = run_main(capfd, "verify", "--config", str(cfg), "--json")
    report = json.loads(proc.stdout)
    assert proc.returncode == 1 and len(report["missing"]) == 2 and report["clips"] == 1


def test_verify_of_a_plain_tree_counts_failed_downloads(make_clip, tmp_path, capfd):
    make_clip("a/good.mp4", seconds=0.3, fps=10)
    (tmp_path / "src" / "a" / "empty.mp4").write_bytes(b"")
    (tmp_path / "src" / "a" / "text.mp4").write_text("not a video\n")
    assert run_extract(_cfg(tmp_path)).failed == 2
    proc = run_main(capfd, "verify", "--frames", str(tmp_path / "out" / "train"), "--num-frames", "4")
    assert proc.returncode == 1, proc.stdout
    assert "a/empty:" in proc.stdout and "a/text:" in proc.stdout and "2 failed in the run" in proc.stdout


def test_verify_without_csv_uses_the_copy_beside_the_split(make_clip, tmp_path, capfd):
    make_clip("a/x_000000_000001.mp4", seconds=0.3, fps=10)
    ann = write_csv(
        tmp_path / "tiny_train.csv",
        [("a", "x", 0, 1, "train", 0), ("a", "gone", 0, 1, "train", 0)],
        ("label", "youtube_id", "time_start", "time_end", "split", "is_cc"),
    )
    assert run_extract(_cfg(tmp_path, annotations=str(ann))).done == 1
    ann.unlink()  # only the run's copy beside the split is left
    proc = run_main(capfd, "verify", "--frames", str(tmp_path / "out" / "train"), "--num-frames", "4")
    assert proc.returncode == 1 and "a/gone_000000_000001" in proc.stdout, proc.stdout
    assert f"in {tmp_path / 'out' / 'tiny_train.csv'} but not on disk" in proc.stdout


def test_a_bad_csv_is_refused_before_any_frame_is_read(make_clip, tmp_path):
    make_clip("a/x.mp4", seconds=0.3, fps=10)
    run_extract(_cfg(tmp_path))
    bad = tmp_path / "bad.csv"
    bad.write_text("name,start\nx,0\n")
    started = []

    class Progress:
        def start(self, total):
            started.append(total)

        def update(self, rel, counts): ...
        def close(self): ...

    with pytest.raises(AnnotationError, match="label,youtube_id,time_start,time_end; split and is_cc are optional"):
        verify_tree(tmp_path / "out" / "train", 4, csv=bad, progress=Progress())
    assert started == []


def test_pads_are_counted_and_lists_can_count_real_frames_only(make_clip, tmp_path, capfd):
    make_clip("a/short_000000_000001.mp4", seconds=0.5, fps=10)  # 5 real frames of 8
    make_clip("a/long_000000_000001.mp4", seconds=1.0, fps=10)  # 8 of 10: cut
    cfg = _cfg(tmp_path, num_frames=8)
    summary = run_extract(cfg)
    text = format_summary(summary)
    assert "pads: 19% of the split's frames are copies of a last frame (3 of 16)" in text
    assert "above 20%" not in text
    config_file = tmp_path / "c.yaml"
    config_file.write_text(f"source: {cfg.source}\ntarget: {cfg.target}\nnum_frames: 8\n")
    proc = run_main(capfd, "lists", "--config", str(config_file), "--format", "mmaction2")
    assert proc.returncode == 0, proc.stderr
    assert sorted((cfg.target.parent / "train.mmaction2.txt").read_text().split("\n")[:2]) == [
        "train/a/long_000000_000001 8 0",
        "train/a/short_000000_000001 8 0",
    ]
    assert "pads: 19% of the frames are pads (3 of 16)" in proc.stdout
    proc = run_main(capfd, "lists", "--config", str(config_file), "--format", "mmaction2", "--frames", "decoded")
    assert proc.returncode == 0, proc.stderr
    assert sorted((cfg.target.parent / "train.mmaction2.txt").read_text().split("\n")[:2]) == [
        "train/a/long_000000_000001 8 0",
        "train/a/short_000000_000001 5 0",
    ]
    assert len(list((cfg.target / "a" / "short_000000_000001").iterdir())) == 8  # the folder keeps N frames
    assert "real frames only (`--frames decoded`)" in (cfg.target.parent / "lists.md").read_text()


def test_a_split_mostly_of_pads_is_warned_about(make_clip, tmp_path, capfd):
    make_clip("a/short_000000_000001.mp4", seconds=0.3, fps=10)  # 3 real frames of 8
    cfg = _cfg(tmp_path, num_frames=8)
    text = format_summary(run_extract(cfg))
    assert "pads: 62% of the split's frames" in text and "sampling: uniform" in text
    make_clip("a/long_000000_000001.mp4", seconds=1.0, fps=10)  # a later run: the share is the split's
    assert "pads: 31% of the split's frames are copies of a last frame (5 of 16)" in format_summary(run_extract(cfg))
    proc = run_main(capfd, "lists", "--set", f"target={cfg.target}", "--set", "num_frames=8", "--format", "videomae")
    assert "more than 20% of the frames are pads" in proc.stderr and "--frames decoded" in proc.stderr
    assert "**Above 20%**" in (cfg.target.parent / "lists.md").read_text()


@pytest.mark.parametrize(("fps", "warned"), [(None, True), (25, True), (30, False)])
def test_pytorchvideo_frame_lists_warn_unless_extracted_at_30_fps(make_clip, tmp_path, fps, warned, capfd):
    make_clip("a/x_000000_000001.mp4", seconds=0.4, fps=10)
    cfg = _cfg(tmp_path, fps=fps)
    run_extract(cfg)
    args = ["lists", "--set", f"target={cfg.target}", "--set", "num_frames=4", "--set", f"fps={fps or 'null'}"]
    proc = run_main(capfd, *args, "--format", "pytorchvideo")
    assert proc.returncode == 0, proc.stderr
    assert ("reads frame folders at 30 fps" in proc.stderr) == warned, proc.stderr
    assert ("set fps: 30" in (cfg.target.parent / "lists.md").read_text()) == warned
    mm = run_main(capfd, *args, "--format", "mmaction2")  # other readers take the frames as they are
    assert "30 fps" not in mm.stderr


def test_whitespace_in_clip_names_is_found_before_any_work(make_clip, tmp_path, capfd):
    make_clip("jump/my clip (1).mp4", seconds=0.3, fps=10)
    make_clip("jump/plain.mp4", seconds=0.3, fps=10)
    sets = ["--set", f"source={tmp_path / 'src'}", "--set", f"target={tmp_path / 'out' / 'train'}"]
    sets += ["--set", "num_frames=4"]
    annotate = run_main(capfd, "annotate", str(tmp_path / "src"), "--out-dir", str(tmp_path / "ann"))
    assert "1 clip has whitespace in the class or clip name (e.g. 'jump/my clip (1)')" in annotate.stderr
    assert "--clip-names underscore" in annotate.stderr
    dry = run_main(capfd, "extract", *sets, "--dry-run")
    assert dry.returncode == 0 and dry.stderr.count("whitespace in the class or clip name") == 1, dry.stderr
    assert "set clip_names: underscore" in dry.stderr and not (tmp_path / "out" / "train").exists()
    run = run_main(capfd, "extract", *sets)
    assert run.returncode == 0 and run.stderr.count("whitespace in the class or clip name") == 1, run.stderr
    assert run.stderr.index("whitespace") < run.stderr.index("progress")  # before any clip
    refused = run_main(capfd, "lists", *sets, "--format", "mmaction2")
    assert refused.returncode == 2 and "set clip_names: underscore" in refused.stderr

    # The way out: clip_names: underscore, in the folders and the lists.
    under = [*sets[:2], "--set", f"target={tmp_path / 'out2' / 'train'}", "--set", "num_frames=4"]
    under += ["--set", "clip_names=underscore"]
    run = run_main(capfd, "extract", *under)
    assert run.returncode == 0 and "whitespace" not in run.stderr, run.stderr
    assert len(list((tmp_path / "out2" / "train" / "jump" / "my_clip_(1)").iterdir())) == 4
    lists = run_main(capfd, "lists", *under, "--format", "mmaction2")
    assert lists.returncode == 0, lists.stderr
    assert "train/jump/my_clip_(1) 4 0" in (tmp_path / "out2" / "train.mmaction2.txt").read_text()


def test_a_truncated_file_under_uniform_sampling_is_not_said_to_end_after_the_picks(tmp_path, ffmpeg_exe):
    import subprocess

    good = tmp_path / "whole.mp4"
    lavfi = "testsrc2=size=320x240:rate=30:duration=8"
    subprocess.run(
        [ffmpeg_exe, "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", lavfi, "-c:v", "libx264", "-preset"]
        + ["ultrafast", "-pix_fmt", "yuv420p", "-g", "30", "-movflags", "+faststart", str(good)],
        check=True,
    )
    cut = tmp_path / "src" / "a" / "cut.mp4"
    cut.parent.mkdir(parents=True)
    cut.write_bytes(good.read_bytes()[: int(good.stat().st_size * 0.5)])
    summary = run_extract(_cfg(tmp_path, num_frames=8, sampling="uniform"))
    assert summary.damaged_failed == 1
    reason = json.loads(summary.failures.read_text())["reason"]
    assert reason.startswith("truncated: the file ends before its header says; sampling: uniform picked "), reason
    assert "ends early after" not in reason


def test_video_output_says_num_frames_does_not_apply_and_its_summary_names_videos(make_clip, tmp_path, capfd):
    make_clip("a/x_000000_000001.mp4", seconds=0.5, fps=10)
    sets = ["--set", f"source={tmp_path / 'src'}", "--set", f"target={tmp_path / 'out' / 'train'}"]
    proc = run_main(capfd, "extract", *sets, "--set", "output=video", "--set", "num_frames=64")
    assert proc.returncode == 0, proc.stderr
    assert "num_frames (64) does not apply to output: video" in proc.stderr
    assert f"videos: {tmp_path / 'out' / 'train'}" in proc.stdout and "frames: /" not in proc.stdout
    assert "padded" not in proc.stdout and "pads:" not in proc.stdout
    assert "clips: 1 extracted, 0 already done, 0 failed, of 1" in proc.stdout


def test_the_segments_example_says_how_to_switch_to_video(tmp_path):
    from k400frames.config import ConfigError, load_config

    from helpers import PROJECT

    example = PROJECT / "configs" / "own_segments_example.yaml"
    assert "video needs sampling: first" in example.read_text()
    overrides = {"source": str(tmp_path / "v"), "target": str(tmp_path / "f" / "train"), "output": "video"}
    with pytest.raises(ConfigError, match=r"set sampling: first \(--set sampling=first\)"):
        load_config(example, overrides)
    assert load_config(example, {**overrides, "sampling": "first"}).output == "video"


def test_every_failure_stage_the_code_writes_is_in_the_records_table():
    import re

    from k400frames.run.records import RECORD_FIELDS

    from helpers import PROJECT

    code = "\n".join(p.read_text() for p in (PROJECT / "k400frames").rglob("*.py"))
    written = set(re.findall(r'failed\(\s*"([a-z]+)"', code)) | set(re.findall(r'stage="([a-z]+)"', code))
    written |= set(re.findall(r'problem = \(\s*"([a-z]+)"', code))  # a segments row's problem
    assert {"damaged", "segment", "span", "collision", "input", "decode", "timeout"} <= written, written
    table = (PROJECT / "docs" / "reference" / "records.md").read_text()
    for stage in written:
        assert f"`{stage}`" in RECORD_FIELDS["stage"][1] and f"`{stage}`" in table, stage


def test_preview_labels_fit_portrait_tiles(make_clip, tmp_path):
    from k400frames.tools.preview import label_font_size, make_preview

    make_clip("a/phone_000000_000001.mp4", seconds=0.3, fps=10, size="48x96")  # portrait, 3 real of 8
    cfg = _cfg(tmp_path, num_frames=8)
    run_extract(cfg)
    sheet = make_preview(cfg.target / "a" / "phone_000000_000001", tmp_path / "sheet.png", (4, 2))
    assert sheet.labelled and sheet.padded_frames == 5
    # A glyph is at most about 0.6 em wide: the longest label fits inside the tile with its 4 px inset.
    for tile in ((48, 96), (180, 320), (320, 568), (320, 240)):
        assert 4 + label_font_size(tile) * 0.6 * len("300 pad") <= tile[0] * 0.8, tile


def test_preview_into_a_folder_it_cannot_write_names_that_file(make_clip, tmp_path):
    from k400frames.tools.preview import PreviewError, make_preview

    make_clip("a/x_000000_000001.mp4", seconds=0.3, fps=10)
    cfg = _cfg(tmp_path)
    run_extract(cfg)
    out = Path("/sys/k400frames-preview.png")  # refused even to root
    with pytest.raises(PreviewError) as caught:
        make_preview(cfg.target / "a" / "x_000000_000001", out)
    assert str(caught.value).startswith(f"cannot write {out}: ") and "partial" not in str(caught.value)


def test_verify_into_a_closed_pipe_ends_quietly(make_clip, tmp_path):
    import subprocess
    import sys

    make_clip("a/good.mp4", seconds=0.2, fps=10)
    for i in range(30):  # failed downloads: a report longer than a pipe's first read
        (tmp_path / "src" / "a" / f"broken{i}.mp4").write_text("x")
    run_extract(_cfg(tmp_path))
    proc = subprocess.Popen(
        [sys.executable, "-m", "k400frames", "verify", "--frames", str(tmp_path / "out" / "train"), "--num-frames"]
        + ["4", "--json", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    proc.stdout.close()  # as `| head` does once it has its lines
    err = proc.stderr.read().decode()
    proc.wait(timeout=60)
    assert "Broken pipe" not in err and "Traceback" not in err and "Exception ignored" not in err, err
    assert proc.returncode == 141


def test_the_bar_redrawn_under_a_failure_line_counts_that_failure(make_clip, tmp_path):
    import fcntl
    import os
    import pty
    import struct
    import sys
    import termios

    make_clip("a/good.mp4", seconds=0.2, fps=10)
    (tmp_path / "src" / "a" / "zbad.mp4").write_text("not a video\n")  # after a clip that went well
    argv = [sys.executable, "-m", "k400frames", "extract", "--set", f"source={tmp_path / 'src'}"]
    argv += ["--set", f"target={tmp_path / 'out' / 'train'}", "--set", "num_frames=4", "--set", "workers=1"]
    pid, fd = pty.fork()  # a terminal, so the run draws its tqdm bar
    if pid == 0:
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))  # a bar needs columns
        os.execv(sys.executable, argv)
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    text = b"".join(chunks).decode(errors="replace")
    after = text[text.index("failed: a/zbad") :]
    drawn = [part for part in after.split("\r") if "failed]" in part]
    assert drawn and "1 failed" in drawn[0] and "0 failed" not in drawn[0], repr(after[:400])


def test_lists_names_csv_rows_without_a_clip(make_clip, tmp_path, capfd):
    make_clip("a/x_000000_000001.mp4", seconds=0.3, fps=10)
    (tmp_path / "src" / "a" / "broken_000000_000001.mp4").write_text("not a video\n")
    ann = write_csv(
        tmp_path / "ann.csv",
        [("a", "x", 0, 1, "train", 0), ("a", "broken", 0, 1, "train", 0)],
        ("label", "youtube_id", "time_start", "time_end", "split", "is_cc"),
    )
    cfg = _cfg(tmp_path, annotations=str(ann))
    assert run_extract(cfg).failed == 1
    sets = ["--set", f"target={cfg.target}", "--set", "num_frames=4", "--set", f"annotations={ann}"]
    proc = run_main(capfd, "lists", *sets, "--format", "mmaction2")
    assert proc.returncode == 1, proc.stderr
    assert "1 clip listed" in proc.stdout
    assert "not listed: 1 row of" in proc.stderr and "a/broken_000000_000001" in proc.stderr


def test_the_pad_warning_is_written_once_for_summary_and_lists(tmp_path):
    """One sentence of advice, from run/records.py, in the run summary and in lists.md alike."""
    from k400frames.run import records, runner
    from k400frames.run.runner import Summary, format_summary
    from k400frames.tools import lists

    summary = Summary(tmp_path, tmp_path / "m", tmp_path / "f", split_pads=(5, 16))
    assert f"(above 20%: {records.pad_advice()})" in format_summary(summary)
    assert lists.pad_advice is records.pad_advice and lists.PAD_WARN_SHARE is records.PAD_WARN_SHARE
    assert not hasattr(runner, "pad_advice") or runner.pad_advice is records.pad_advice
    source = (Path(runner.__file__)).read_text(encoding="utf-8")
    assert "frozen copies" not in source and "PAD_WARN_SHARE = " not in source
