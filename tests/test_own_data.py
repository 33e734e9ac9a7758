"""The README's own-data path, end to end through the CLI: annotate, extract
each split with only_annotated, verify against the CSVs, write lists."""

import csv

from helpers import run_main


def test_own_videos_to_verified_frames_and_lists(make_clip, tmp_path, capfd):
    for cls in ("tai chi", "juggling"):
        for i in range(5):
            make_clip(f"{cls}/vid{i}_00000{i}_00001{i}.mp4", seconds=0.3, fps=10)
    make_clip("juggling/my_own-clip.mp4", seconds=0.3, fps=10)  # not Kinetics-named
    src, ann, frames = tmp_path / "src", tmp_path / "ann", tmp_path / "frames"
    config = tmp_path / "my_config.yaml"
    config.write_text(f"source: {src}\nnum_frames: 4\nclass_names: underscore\nonly_annotated: true\n")

    proc = run_main(capfd, "annotate", str(src), "--out-dir", str(ann), "--val-fraction", "0.4", "--seed", "1")
    assert proc.returncode == 0, proc.stderr
    splits = {}
    for split in ("train", "val"):
        with open(ann / f"{split}.csv", newline="") as handle:
            splits[split] = list(csv.DictReader(handle))
    assert len(splits["train"]) + len(splits["val"]) == 11 and splits["val"]

    for split, rows in splits.items():
        args = [
            "--config",
            str(config),
            "--set",
            f"annotations={ann / f'{split}.csv'}",
            "--set",
            f"target={frames / split}",
        ]
        proc = run_main(capfd, "extract", *args)
        assert proc.returncode == 0, proc.stderr
        on_disk = sorted(str(p.relative_to(frames / split)) for p in (frames / split).glob("*/*"))
        expected = sorted(
            f"{r['label'].replace(' ', '_')}/"
            + (
                f"{r['youtube_id']}_{int(r['time_start']):06d}_{int(r['time_end']):06d}"
                if r["youtube_id"] != "my_own-clip"
                else "my_own-clip"
            )
            for r in rows
        )
        assert on_disk == expected  # exactly this split's clips, no others
        proc = run_main(capfd, "verify", *args)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "verify OK" in proc.stdout
    proc = run_main(
        capfd,
        "lists",
        "--config",
        str(config),
        "--set",
        f"annotations={ann / 'train.csv'}",
        "--set",
        f"target={frames / 'train'}",
        "--format",
        "all",
    )
    assert proc.returncode == 0, proc.stderr
    lines = (frames / "train.mmaction2.txt").read_text().splitlines()
    assert len(lines) == len(splits["train"])
    assert all(len(line.split()) == 3 and line.split()[1] == "4" for line in lines)


def test_only_annotated_needs_a_csv(tmp_path, capfd):
    proc = run_main(
        capfd,
        "extract",
        "--set",
        f"source={tmp_path}",
        "--set",
        f"target={tmp_path.parent / 'x' / 'train'}",
        "--set",
        "only_annotated=true",
    )
    assert proc.returncode == 2 and "only_annotated: needs 'annotations'" in proc.stderr
