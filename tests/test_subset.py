"""``k400frames subset``: seeded, repeatable subsets of a Kinetics CSV."""

from __future__ import annotations

import random
from collections import Counter

from k400frames.config import make_config
from k400frames.run.preflight import plan
from k400frames.sources.kinetics import Row, read_kinetics_csv, write_kinetics_csv

from helpers import run_main

LABELS = ["abseiling", "air drumming", "archery", "tai chi"]


def big_csv(tmp_path):
    """30 rows per class (5 in 'archery'), written in a shuffled order."""
    rows = [
        Row(label, f"id{label[:3]}{i:03d}-x", i, i + 10, "train")
        for label in LABELS
        for i in range(5 if label == "archery" else 30)
    ]
    random.Random(1).shuffle(rows)
    return write_kinetics_csv(tmp_path / "kinetics400_train.csv", rows), rows


def test_same_seed_same_bytes_other_seed_other_rows(tmp_path, capfd):
    source, rows = big_csv(tmp_path)
    outs = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        out = tmp_path / f"{name}.csv"
        result = run_main(capfd, "subset", str(source), "--per-class", "3", "--seed", str(seed), "--out", str(out))
        assert result.returncode == 0, result.stderr
        outs[name] = out.read_bytes()
    assert outs["a"] == outs["b"]
    assert outs["a"] != outs["c"]
    taken = read_kinetics_csv(tmp_path / "a.csv")
    assert Counter(r.label for r in taken) == {"abseiling": 3, "air drumming": 3, "archery": 3, "tai chi": 3}
    assert set(taken) <= set(rows)  # rows as they were, split and all
    # The CSV's row order does not change the draw.
    reordered = write_kinetics_csv(tmp_path / "sorted.csv", sorted(rows, key=lambda r: r.youtube_id))
    run_main(capfd, "subset", str(reordered), "--per-class", "3", "--seed", "7", "--out", str(tmp_path / "d.csv"))
    assert (tmp_path / "d.csv").read_bytes() == outs["a"]
    # Ready for the annotations key: a flat download plans one clip per row
    # (planning opens no file: one stand-in, the other rows have no file).
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / f"{taken[0].clip_name}.mp4").write_bytes(b"")
    cfg = make_config(
        {"source": str(tmp_path / "src"), "target": str(tmp_path / "o" / "t"), "annotations": str(tmp_path / "a.csv")}
    )
    planned = list(plan(cfg, None))
    assert sorted(item.rel for item in planned) == sorted(f"{r.label}/{r.clip_name}" for r in taken)
    assert sum(item.problem is None for item in planned) == 1


def test_a_small_class_gives_all_it_has_and_says_so(tmp_path, capfd):
    source, _ = big_csv(tmp_path)
    result = run_main(capfd, "subset", str(source), "--per-class", "10", "--out", str(tmp_path / "s.csv"))
    assert result.returncode == 0
    assert "subset: " in result.stdout and "(35 rows, 4 classes)" in result.stdout
    assert "1 class has fewer than 10 rows, all taken: archery (5)" in result.stderr
    counts = Counter(r.label for r in read_kinetics_csv(tmp_path / "s.csv"))
    assert counts == {"abseiling": 10, "air drumming": 10, "archery": 5, "tai chi": 10}


def test_classes_and_ids_filters(tmp_path, capfd):
    source, rows = big_csv(tmp_path)
    (tmp_path / "classes.txt").write_text("# two classes\ntai_chi\nair drumming\n\n")
    out = tmp_path / "c.csv"
    assert (
        run_main(
            capfd,
            "subset",
            str(source),
            "--classes",
            str(tmp_path / "classes.txt"),
            "--per-class",
            "2",
            "--out",
            str(out),
        ).returncode
        == 0
    )
    assert Counter(r.label for r in read_kinetics_csv(out)) == {"air drumming": 2, "tai chi": 2}

    # Mini-Kinetics-200 style: a list of ids, some not in this CSV.
    chosen = [r for r in rows if r.label == "abseiling"][:4]
    ids = tmp_path / "ids.txt"
    ids.write_text("\n".join([r.youtube_id for r in chosen[:3]] + [chosen[3].clip_name, "notthere12345"]) + "\n")
    result = run_main(capfd, "subset", str(source), "--ids", str(ids), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert sorted(read_kinetics_csv(out), key=lambda r: r.youtube_id) == sorted(chosen, key=lambda r: r.youtube_id)
    assert "1 line of" in result.stderr and "notthere12345" in result.stderr


def test_errors_are_one_line(tmp_path, capfd):
    source, _ = big_csv(tmp_path)
    (tmp_path / "bad.txt").write_text("curling\n")
    (tmp_path / "none.txt").write_text("nothing-here\n")
    out = str(tmp_path / "x.csv")
    cases = {
        ("--per-class", "0"): "--per-class must be 1 or more, got 0",
        ("--classes", str(tmp_path / "bad.txt")): "class 'curling' is not a label of the CSV",
        ("--ids", str(tmp_path / "none.txt")): "no rows left after the --classes and --ids filters",
        ("--classes", str(tmp_path / "missing.txt")): "cannot read the classes file",
        (): "subset: give --per-class N, --classes FILE or --ids FILE",
    }
    for extra, message in cases.items():
        result = run_main(capfd, "subset", str(source), *extra, "--out", out)
        assert result.returncode == 2, (extra, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and message in result.stderr, result.stderr
    result = run_main(capfd, "subset", str(tmp_path / "nope.csv"), "--per-class", "1", "--out", out)
    assert result.returncode == 2 and "cannot read annotations" in result.stderr
    assert not (tmp_path / "x.csv").exists()
