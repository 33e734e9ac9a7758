"""preview: a contact sheet of the right grid size, padding found, nothing written into the tree."""

from __future__ import annotations

import os
import shutil
import struct

import pytest

from k400frames.run.runner import run_extract
from k400frames.tools.preview import GAP, HEADER, choose_tiles, make_preview

from helpers import jpeg_size, run_main


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def expected_size(cols, rows, tile=(64, 48)):
    return cols * tile[0] + (cols + 1) * GAP, HEADER + rows * tile[1] + (rows + 1) * GAP


@pytest.fixture
def short_clip(make_clip, config):
    """A clip of 6 real frames padded to 10 (64x48), with its manifest."""
    make_clip("abseiling/short_000000_000001.mp4", seconds=0.2)
    cfg = config(num_frames=10)
    run_extract(cfg)
    return cfg.target / "abseiling" / "short_000000_000001"


def snapshot(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, files in os.walk(folder) for f in files)


def test_grid_size_and_padding_from_the_manifest(short_clip, tmp_path):
    sheet = make_preview(short_clip, tmp_path / "sheet.jpg", (4, 3))
    assert jpeg_size((tmp_path / "sheet.jpg").read_bytes()) == sheet.size == expected_size(4, 3)
    assert sheet.tiles == list(range(1, 11)) and sheet.total_frames == 10
    assert (sheet.real_frames, sheet.padding_source) == (6, "manifest")
    assert sheet.labelled, sheet.note


def test_png_and_other_grid(short_clip, tmp_path):
    sheet = make_preview(short_clip, tmp_path / "sheet.png", (2, 5))
    assert png_size((tmp_path / "sheet.png").read_bytes()) == expected_size(2, 5)
    # 10 frames in 10 tiles: every frame once; fewer tiles: spread, ends and last real frame kept.
    small = make_preview(short_clip, tmp_path / "small.png", (2, 2))
    assert png_size((tmp_path / "small.png").read_bytes()) == expected_size(2, 2)
    assert small.tiles[0] == 1 and small.tiles[-1] == 10 and 6 in small.tiles and len(small.tiles) == 4
    assert sheet.tiles == list(range(1, 11))


def test_choose_tiles_is_even_and_inclusive():
    assert choose_tiles(300, 30)[:3] == [1, 11, 22] and choose_tiles(300, 30)[-1] == 300
    assert choose_tiles(5, 30) == [1, 2, 3, 4, 5]
    assert choose_tiles(7, 1) == [1]


def test_padding_found_by_bytes_in_an_awkward_folder_without_manifest(short_clip, tmp_path):
    # '%' would be a pattern and a leading '-' an option to ffmpeg, if passed raw.
    awkward = tmp_path / "elsewhere" / "cls" / "-100%_x 'q'"
    shutil.copytree(short_clip, awkward)
    sheet = make_preview(awkward, tmp_path / "a.jpg", (5, 2))
    assert (sheet.real_frames, sheet.padding_source) == (6, "bytes")
    assert "comparing bytes" in sheet.note
    assert jpeg_size((tmp_path / "a.jpg").read_bytes()) == expected_size(5, 2)


def test_cli_default_output_is_outside_the_tree(short_clip, tmp_path, capfd):
    frames_root = short_clip.parent.parent
    before = snapshot(frames_root)
    work = tmp_path / "here"
    work.mkdir()
    out = run_main(capfd, "preview", str(short_clip), "--grid", "3x4", cwd=work)
    assert out.returncode == 0, out.stderr
    made = work / "preview_short_000000_000001.jpg"
    assert str(made) in out.stdout and "frames 7-10 are padding" in out.stdout
    assert jpeg_size(made.read_bytes()) == expected_size(3, 4)
    assert snapshot(frames_root) == before
    assert os.listdir(work) == [made.name]  # no temp file left behind


def test_cli_rejects_bad_grid_and_output(short_clip, tmp_path, capfd):
    bad = run_main(capfd, "preview", str(short_clip), "--grid", "6by5")
    assert bad.returncode == 2 and "--grid" in bad.stderr
    bad = run_main(capfd, "preview", str(short_clip), "-o", str(tmp_path / "x.gif"))
    assert bad.returncode == 2 and ".jpg or .png" in bad.stderr
    assert not (tmp_path / "x.gif").exists()


def test_demo_ends_with_verify_and_a_preview_of_the_padded_clip(tmp_path):
    from k400frames.tools.demo import run_demo

    lines: list[str] = []
    assert run_demo(tmp_path / "demo", quiet=True, report=lines.append) == 0, "\n".join(lines)
    text = "\n".join(lines)
    # verify counts the deliberately broken download as failed in the run (issue 20).
    assert "verify FAILED:" in text and "(8 clips, 2400 frames)" in text and "1 failed in the run" in text
    assert "playing_(guitar)/broken_000000_000010: truncated or incomplete MP4" in text
    assert "whitespace" not in text  # the demo writes list-ready names (class_names, clip_names: underscore)
    sheet = tmp_path / "demo" / "preview_short_clip_000000_000004.jpg"
    assert f"120 real frames padded to 300, padding framed in red): {sheet}" in text
    assert jpeg_size(sheet.read_bytes()) == expected_size(6, 5, tile=(320, 240))
