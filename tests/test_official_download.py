"""The official Kinetics download as it comes (the CVDF layout), built from
lavfi clips: flat ``train/`` and ``val/`` folders of
``<youtube_id>_<start:06d>_<end:06d>.mp4``, one shared
``replacement/replacement_for_corrupted_k400/`` for every split, the
official CSV header, labels with spaces and parentheses, ids starting with
``-``.  Planted: a row with no file, an empty file, a corrupt original with
its replacement, and (where a test asks) a recording in train and val under
different labels.  Walked from ``doctor`` to a clean ``verify`` with rows
gone for good (``missing_ok``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from k400frames.sources.kinetics import Row, read_kinetics_csv, write_kinetics_csv
from k400frames.sources.subset import make_subset, present_and_readable
from k400frames.tools.doctor import diagnose
from k400frames.tools.leakage import find_leaks

from helpers import run_main, write_config

FOOTBALL = "passing American football (in game)"
TRAIN = [
    Row("abseiling", "-abs1", 0, 1, "train"),
    Row("abseiling", "--abs2", 0, 1, "train"),  # its train/ file is cut short; the replacement is whole
    Row("abseiling", "gone-1", 0, 1, "train"),  # no file anywhere: gone for good
    Row("tai chi", "-tc1", 0, 1, "train"),
    Row("tai chi", "empty-1", 0, 1, "train"),  # a 0-byte file: worth fetching again, never "gone"
    Row(FOOTBALL, "-fb1", 0, 1, "train"),
]
VAL = [
    Row("abseiling", "-vabs", 0, 1, "val"),
    Row("tai chi", "--vtc", 0, 1, "val"),
    Row(FOOTBALL, "-vfb", 0, 1, "val"),
]


@pytest.fixture
def k400(tmp_path, make_clip):
    """tmp_path/k400 as the CVDF tarballs extract, with the planted faults."""
    real = make_clip("real.mp4", seconds=1, fps=10)
    root = tmp_path / "k400"
    shared = root / "replacement" / "replacement_for_corrupted_k400"
    for folder in (root / "train", root / "val", shared, root / "annotations"):
        folder.mkdir(parents=True)
    for row in TRAIN + VAL:
        if row.youtube_id not in ("gone-1", "empty-1"):
            shutil.copy(real, root / row.split / f"{row.clip_name}.mp4")
    (root / "train" / "empty-1_000000_000001.mp4").write_bytes(b"")
    data = real.read_bytes()
    (root / "train" / "--abs2_000000_000001.mp4").write_bytes(data[: len(data) // 2])
    shutil.copy(real, shared / "--abs2_000000_000001.mp4")
    write_kinetics_csv(root / "annotations" / "train.csv", TRAIN)
    write_kinetics_csv(root / "annotations" / "val.csv", VAL)
    return root


def split_config(tmp_path: Path, root: Path, split: str, **extra) -> Path:
    return write_config(
        tmp_path / f"k400_{split}.yaml",
        source=root / split,
        replacements=root / "replacement" / "replacement_for_corrupted_k400",
        annotations=root / "annotations" / f"{split}.csv",
        target=tmp_path / "frames" / split,
        class_names="underscore",
        num_frames=4,
        workers=2,
        **extra,
    )


def test_the_csv_is_the_official_one(k400):
    header = (k400 / "annotations" / "train.csv").read_text().splitlines()[0]
    assert header == "label,youtube_id,time_start,time_end,split,is_cc"
    assert "passing American football (in game),-fb1,0,1,train,0" in (k400 / "annotations" / "train.csv").read_text()


def test_doctor_counts_the_replacements_and_val_has_no_strays_from_train(tmp_path, k400, capfd):
    train = run_main(capfd, "doctor", "--config", str(split_config(tmp_path, k400, "train")), "-q")
    assert "truncated" not in train.stdout  # the replacement wins over the cut original
    assert "replacements: 1 row of this split take their file from" in train.stdout, train.stdout
    assert "gone-1_000000_000001 (abseiling): no file for this row" in train.stdout
    assert "empty-1_000000_000001 (tai chi)" in train.stdout

    val = run_main(capfd, "doctor", "--config", str(split_config(tmp_path, k400, "val")), "-q")
    assert val.returncode == 0, val.stdout
    assert "no_row" not in val.stdout  # train's replacement is train's, not a stray of val
    assert "replacements: 0 rows of this split take their file from" in val.stdout
    assert "1 more file there is other splits'" in val.stdout
    assert "clean: every row has one readable video" in val.stdout
    assert "leakage: no recording of this split in another split (train.csv;" in val.stdout


def test_a_replacement_file_no_csv_names_is_still_a_stray(tmp_path, k400, make_clip):
    shutil.copy(
        make_clip("x.mp4"), k400 / "replacement" / "replacement_for_corrupted_k400" / "nobody_000000_000001.mp4"
    )
    report = diagnose(
        k400 / "val",
        k400 / "annotations" / "val.csv",
        extensions=(".mp4",),
        replacements=k400 / "replacement" / "replacement_for_corrupted_k400",
    )
    assert [f.clip for f in report.of_kind("no_row")] == ["nobody_000000_000001"]
    assert report.for_other_splits == 1 and report.replaced == 0


def test_extract_val_skips_no_file_of_the_shared_replacements(tmp_path, k400, capfd):
    run = run_main(capfd, "extract", "--config", str(split_config(tmp_path, k400, "val")), "-q")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "no CSV row" not in run.stdout, run.stdout
    assert "skipped" not in run.stdout
    assert sorted(p.name for p in (tmp_path / "frames" / "val").iterdir()) == [
        "abseiling",
        "passing_American_football_(in_game)",
        "tai_chi",
    ]


def test_from_doctor_to_a_clean_verify_with_rows_gone_for_good(tmp_path, k400, capfd, make_clip):
    config = split_config(tmp_path, k400, "train")
    gone = k400 / "annotations" / "missing_train.csv"
    doctor = run_main(capfd, "doctor", "--config", str(config), "--write-missing", str(gone), "-q")
    assert doctor.returncode == 1
    # Only the row with no file: the empty one is worth fetching again.
    assert [row.youtube_id for row in read_kinetics_csv(gone)] == ["gone-1"]
    assert f"missing: {gone} (1 row with no file" in doctor.stderr

    # Without missing_ok the gone row fails the run, verify and lists.
    shutil.copy(make_clip("fetched.mp4"), k400 / "train" / "empty-1_000000_000001.mp4")  # fetched again
    assert run_main(capfd, "extract", "--config", str(config), "-q").returncode == 1
    failing = run_main(capfd, "verify", "--config", str(config))
    assert failing.returncode == 1 and "gone-1_000000_000001" in failing.stdout
    assert run_main(capfd, "lists", "--config", str(config), "--format", "mmaction2").returncode == 1

    # With it: a count, and exit 0 everywhere.
    config = split_config(tmp_path, k400, "train", missing_ok=gone)
    doctor = run_main(capfd, "doctor", "--config", str(config), "-q")
    assert doctor.returncode == 0, doctor.stdout
    assert f"known gone: 1 row of {gone} have no file" in doctor.stdout
    run = run_main(capfd, "extract", "--config", str(config), "-q")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "known gone: 1 row of missing_ok without a file" in run.stdout
    assert "skipped" not in run.stdout
    verify = run_main(capfd, "verify", "--config", str(config))
    assert verify.returncode == 0, verify.stdout
    assert verify.stdout.startswith("verify OK") and "1 known gone (missing_train.csv)" in verify.stdout
    lists = run_main(capfd, "lists", "--config", str(config), "--format", "mmaction2")
    assert lists.returncode == 0, lists.stderr
    assert "not listed, known gone (missing_ok): 1 row" in lists.stderr
    assert "not listed:" not in lists.stderr

    # Rewriting the CSV keeps the rows still gone, and a row that came back leaves it.
    assert run_main(capfd, "doctor", "--config", str(config), "--write-missing", str(gone), "-q").returncode == 0
    assert [row.youtube_id for row in read_kinetics_csv(gone)] == ["gone-1"]
    shutil.copy(make_clip("back.mp4"), k400 / "train" / "gone-1_000000_000001.mp4")
    run_main(capfd, "doctor", "--config", str(config), "--write-missing", str(gone), "-q")
    assert read_kinetics_csv(gone) == []


def test_doctor_finds_a_leak_before_extraction_with_both_labels(tmp_path, k400, capfd, make_clip):
    # val holds a span of train's -abs1 recording, labelled otherwise.
    write_kinetics_csv(k400 / "annotations" / "val.csv", [*VAL, Row("tai chi", "-abs1", 5, 6, "val")])
    shutil.copy(make_clip("leak.mp4"), k400 / "val" / "-abs1_000005_000006.mp4")
    val = run_main(capfd, "doctor", "--config", str(split_config(tmp_path, k400, "val")), "-q")
    assert val.returncode == 1, val.stdout
    assert "leak (1): " in val.stdout
    assert "  -abs1: in train (abseiling) and val (tai chi)" in val.stdout

    # --against: a CSV from elsewhere (Kinetics-700's train, say).
    other = write_kinetics_csv(tmp_path / "k700_train.csv", [Row("rock climbing", "-vfb", 0, 10, "k700_train")])
    against = run_main(
        capfd, "doctor", "--config", str(split_config(tmp_path, k400, "val")), "--against", str(other), "-q"
    )
    assert "leak (2): " in against.stdout
    assert f"  -vfb: in k700_train (rock climbing) and val ({FOOTBALL})" in against.stdout


def test_a_leak_is_one_recording_after_extraction(tmp_path, k400, capfd, make_clip):
    write_kinetics_csv(k400 / "annotations" / "val.csv", [*VAL, Row("tai chi", "-abs1", 5, 6, "val")])
    shutil.copy(make_clip("leak.mp4"), k400 / "val" / "-abs1_000005_000006.mp4")
    for split in ("train", "val"):
        run_main(capfd, "extract", "--config", str(split_config(tmp_path, k400, split)), "-q")
    verify = run_main(capfd, "verify", "--config", str(split_config(tmp_path, k400, "val")))
    assert verify.returncode == 1
    assert "1 recording in more than one split" in verify.stdout, verify.stdout
    # Seen in the split folders and in the CSVs beside them: one recording, with both labels.
    assert "-abs1 in train (abseiling) and val (tai_chi) (split folders and CSVs)" in verify.stdout
    leaks = find_leaks(tmp_path / "frames" / "val", [("tai_chi", "-abs1_000005_000006")])
    assert [leak.youtube_id for leak in leaks] == ["-abs1"]


def test_subset_only_present_passes_over_rows_without_a_good_file(tmp_path, k400, capfd):
    rows = read_kinetics_csv(k400 / "annotations" / "train.csv")
    config = split_config(tmp_path, k400, "train")
    usable = present_and_readable(
        rows, k400 / "train", (".mp4",), k400 / "replacement" / "replacement_for_corrupted_k400"
    )
    assert {row.youtube_id for row in rows if usable(row)} == {"-abs1", "--abs2", "-tc1", "-fb1"}
    passed = 0
    for seed in range(12):
        out = tmp_path / f"sub{seed}.csv"
        result = run_main(
            capfd, "subset", str(k400 / "annotations" / "train.csv"), "--per-class", "1", "--seed", str(seed),
            "--only-present", "--config", str(config), "--out", str(out),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        taken = read_kinetics_csv(out)
        assert len(taken) == 3 and all(usable(row) for row in taken), taken  # every class kept, none broken
        n = int(result.stdout.split("passed over: ")[1].split(" ")[0])
        passed += n
        # Without the option the seed alone decides, as before.
        plain = make_subset(rows, per_class=1, seed=seed).rows
        if n == 0:
            assert taken == plain  # where every drawn file is there, the same subset
        else:
            assert any(not usable(row) for row in plain)
    assert passed > 0  # some seed drew gone-1 or empty-1, and drew on


def test_subset_without_the_option_refuses_a_config(tmp_path, k400, capfd):
    result = run_main(
        capfd, "subset", str(k400 / "annotations" / "train.csv"), "--per-class", "1",
        "--config", str(split_config(tmp_path, k400, "train")), "--out", str(tmp_path / "s.csv"),
    )  # fmt: skip
    assert result.returncode == 2 and "--only-present" in result.stderr
