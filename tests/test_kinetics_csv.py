"""The one reader of Kinetics-style CSVs (sources/kinetics.py) and its three users:
annotations (read_kinetics_csv), segments (iter_rows) and the leakage check."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

import pytest

from k400frames.errors import AnnotationError, SegmentsError
from k400frames.sources.kinetics import Row, iter_kinetics_records, read_kinetics_csv
from k400frames.sources.segments import read_segments
from k400frames.sources.tree import output_class_name
from k400frames.tools.leakage import csv_ids_by_split

PACKAGE = Path(__file__).resolve().parent.parent / "k400frames"


def write(tmp_path: Path, text: str, name: str = "a.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text, records",
    [
        # Header names and fields are stripped; columns are found by name, in any order.
        (" youtube_id , label,time_start,time_end\n abc ,tai chi, 1,2\n", [(2, "abc", "tai chi", "1")]),
        # Blank lines and rows of empty fields are skipped; line numbers stay the file's.
        ("label,youtube_id,time_start,time_end\n\n,,,\nx,abc,1,2\n", [(4, "abc", "x", "1")]),
        # A short row's missing fields read as empty; fields past the header are dropped.
        ("label,youtube_id,time_start,time_end\nx,abc\n", [(2, "abc", "x", "")]),
        ("youtube_id,label,time_start,time_end\nabc,x,1,2,extra,more\n", [(2, "abc", "x", "1")]),
    ],
)
def test_records(tmp_path, text, records):
    got = [(r.line, r["youtube_id"], r["label"], r["time_start"]) for r in iter_kinetics_records(write(tmp_path, text))]
    assert got == records


def test_absent_column_reads_empty(tmp_path):
    (record,) = iter_kinetics_records(write(tmp_path, "youtube_id,time_start,time_end\nabc,1,2\n"))
    assert record["split"] == "" and record["label"] == ""


@pytest.mark.parametrize(
    "text, message",
    [
        ("label,youtube_id\nx,abc\n", "not a Kinetics CSV; the header lacks time_end, time_start \\(expected at least"),
        ("", "not a Kinetics CSV; the header lacks time_end, time_start, youtube_id"),
        ("label,youtube_id,time_start,time_end\n ,  ,1,2\n", "line 2: empty youtube_id"),
        ("label,youtube_id,time_start,time_end\nx,abc,1.5,2\n", "line 2: time_start must be a whole number"),
        ("label,youtube_id,time_start,time_end\nx,abc,one,2\n", "line 2: time_start must be a number of seconds"),
    ],
)
def test_annotation_errors(tmp_path, text, message):
    with pytest.raises(AnnotationError, match=message):
        read_kinetics_csv(write(tmp_path, text))


def test_annotation_unreadable(tmp_path):
    with pytest.raises(AnnotationError, match="^cannot read annotations .*missing.csv"):
        read_kinetics_csv(tmp_path / "missing.csv")
    bad = tmp_path / "latin1.csv"
    bad.write_bytes(b"label,youtube_id,time_start,time_end\ncaf\xe9,abc,1,2\n")
    with pytest.raises(AnnotationError, match="not UTF-8 text"):
        read_kinetics_csv(bad)


def test_annotation_rows(tmp_path):
    path = write(
        tmp_path, "label,youtube_id,time_start,time_end,split,is_cc\ntai chi, -abc ,10,20.0,val,1\nx,d,0,10,,\n"
    )
    assert read_kinetics_csv(path) == [Row("tai chi", "-abc", 10, 20, "val", 1), Row("x", "d", 0, 10, "", 0)]


def test_segments_read_through_the_one_reader(tmp_path):
    path = write(tmp_path, "label,youtube_id,time_start,time_end,is_cc\nx, v ,12.50,20,1\n\ny,w,a,3\n")
    first, second = read_segments(path)
    assert (first.line, first.youtube_id, first.start, first.end, first.is_cc) == (2, "v", Decimal("12.50"), 20, "1")
    assert (second.line, second.time_start, second.start) == (4, "a", None)
    with pytest.raises(
        SegmentsError, match="not a segments CSV; the header lacks label, time_end .*more columns allowed"
    ):
        read_segments(write(tmp_path, "youtube_id,time_start\n", "b.csv"))
    with pytest.raises(SegmentsError, match="^cannot read segments "):
        read_segments(tmp_path / "missing.csv")


def test_leakage_reads_through_the_one_reader(tmp_path):
    path = write(tmp_path, " youtube_id ,split\na,train\nb,\n\n , val\n", "k400.csv")
    assert csv_ids_by_split(path) == {"train": {"a"}, "k400": {"b"}}
    # Not a Kinetics-style CSV, or not a readable one: nothing to compare, no error.
    assert csv_ids_by_split(write(tmp_path, "id,split\na,train\n", "c.csv")) == {}
    assert csv_ids_by_split(tmp_path / "missing.csv") == {}


def test_label_spaces_map_to_underscores():
    assert output_class_name("tai chi", "underscore") == "tai_chi"
    assert output_class_name("tai chi", "keep") == "tai chi"


def test_no_other_module_reads_csv():
    """sources/kinetics.py is the one CSV reader: no other module makes a csv.reader or csv.DictReader."""
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            named = isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "csv"
            if named and node.attr in ("reader", "DictReader"):
                readers.append(path.relative_to(PACKAGE).as_posix())
    assert readers == ["sources/kinetics.py"]
