"""preview --flow: a flow clip's pairs as colour-wheel tiles in the contact
sheet, with real ffmpeg and real OpenCV: a texture moving right is red, still
flow is white, pads are framed in red; automatic for flow-only clips; a clip
in a store; the refusals."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from k400frames.errors import MissingExtra, PreviewError
from k400frames.run.runner import run_extract
from k400frames.tools.preview import GAP, HEADER, flow_polar, flow_wheel, make_preview

from helpers import run_main

cv2 = pytest.importorskip("cv2", reason="the flow sheet needs OpenCV (pip install 'k400frames[flow]')")
np = pytest.importorskip("numpy")

TILE = (96, 64)
SHIFT = 4  # pixels a frame the texture moves right (even: yuv420p crops on even columns)


@pytest.fixture
def rightward(tmp_path, ffmpeg_exe):
    """A 1 s clip at 10 fps of a blurred noise texture moving SHIFT px right a frame."""
    path = tmp_path / "src" / "a" / "right.mp4"
    path.parent.mkdir(parents=True)
    graph = (
        "color=gray:size=240x160:rate=10,noise=alls=100:allf=u,gblur=sigma=2,"
        f"loop=loop=-1:size=1:start=0,crop={TILE[0]}:{TILE[1]}:x='120-{SHIFT}*n':y=40,format=yuv420p"
    )
    subprocess.run(
        [ffmpeg_exe, "-loglevel", "error", "-y", "-f", "lavfi", "-i", graph, "-t", "1", "-c:v", "libx264", str(path)],
        check=True,
    )
    return path


@pytest.fixture
def flow_clip(rightward, config):
    """The clip with farneback flow: 10 real frames padded to 12; flow 10 is
    zero (no frame 11 in the source), 11 and 12 are pads."""
    cfg = config(num_frames=12, flow="farneback")
    assert run_extract(cfg).failed == 0
    return cfg.target / "a" / "right"


def expected_size(cols, rows):
    return cols * TILE[0] + (cols + 1) * GAP, HEADER + rows * TILE[1] + (rows + 1) * GAP


def tile_pixel(sheet, position, cols, dx=None, dy=None):
    """RGB of a pixel of the tile at ``position`` (reading order), its centre by default."""
    col, row = position % cols, position // cols
    x = GAP + col * (TILE[0] + GAP) + (TILE[0] // 2 if dx is None else dx)
    y = HEADER + GAP + row * (TILE[1] + GAP) + (TILE[1] // 2 if dy is None else dy)
    b, g, r = sheet[y, x]
    return int(r), int(g), int(b)


def read_png(path):
    return cv2.imread(str(path), cv2.IMREAD_COLOR)


def is_red(rgb):
    r, g, b = rgb
    return r > 200 and g < 90 and b < 90


def is_white(rgb):
    return min(rgb) > 240


def test_wheel_colours_by_direction():
    step = 40.0 / 255.0

    def colour(qx, qy):
        x, y = np.full((4, 4), qx, np.uint8), np.full((4, 4), qy, np.uint8)
        magnitude, angle = flow_polar(cv2, np, x, y, 20.0)
        b, g, r = flow_wheel(cv2, np, magnitude, angle, 10 * step)[0, 0]
        return int(r), int(g), int(b)

    assert colour(128, 128) == (255, 255, 255)  # the quantised zero is still: white
    assert colour(138, 128) == (255, 0, 0)  # right: red
    assert colour(118, 128) == (0, 255, 255)  # left: cyan
    r, g, b = colour(128, 138)  # down (y grows downwards): yellow-green
    assert g == 255 and 100 < r < 160 and b == 0
    r, g, b = colour(128, 118)  # up: violet
    assert b == 255 and 100 < r < 160 and g == 0
    r, g, b = colour(133, 128)  # half the scale: half saturated
    assert r == 255 and 126 <= g == b <= 129


def test_flow_sheet_grid_colours_and_pads(flow_clip, tmp_path):
    sheet = make_preview(flow_clip, tmp_path / "flow.png", (4, 3), flow=True)
    assert sheet.flow and sheet.tiles == list(range(1, 13)) and sheet.total_frames == 12
    assert (sheet.real_frames, sheet.padding_source) == (10, "manifest")
    assert sheet.labelled, sheet.note
    assert SHIFT * 0.8 < sheet.flow_scale < SHIFT * 1.25  # full colour: about the motion
    image = read_png(tmp_path / "flow.png")
    assert (image.shape[1], image.shape[0]) == sheet.size == expected_size(4, 3)
    for position in range(9):  # flows 1-9: frame k to k+1, the texture moving right
        assert is_red(tile_pixel(image, position, 4)), (position, tile_pixel(image, position, 4))
    assert is_white(tile_pixel(image, 9, 4))  # flow 10: the source ends, zero flow, white
    for position in (10, 11):  # pads: zero flow, framed in red as in the RGB sheet
        assert is_white(tile_pixel(image, position, 4))
        assert is_red(tile_pixel(image, position, 4, dx=1))
    assert not is_red(tile_pixel(image, 9, 4, dx=1))  # a real tile has no frame


def test_jpeg_output_and_a_bound_scales_the_pixels(flow_clip, tmp_path):
    at_20 = make_preview(flow_clip, tmp_path / "a.jpg", (3, 2), flow=True)
    at_10 = make_preview(flow_clip, tmp_path / "b.jpg", (3, 2), flow=True, flow_bound=10.0)
    assert (tmp_path / "a.jpg").read_bytes()[:2] == b"\xff\xd8"
    assert at_20.tiles == at_10.tiles and at_20.tiles[-1] == 12 and 10 in at_20.tiles
    assert at_10.flow_scale == pytest.approx(at_20.flow_scale / 2, rel=1e-4)  # same picture, half the pixels
    image = cv2.imread(str(tmp_path / "a.jpg"))
    assert (image.shape[1], image.shape[0]) == expected_size(3, 2)
    assert is_red(tile_pixel(image, 0, 3))


def test_automatic_for_flow_only_and_rgb_sheets_skip_flow_images(rightward, config, tmp_path):
    both = config(num_frames=12, flow="dis", target=str(tmp_path / "both" / "train"))
    only = config(num_frames=12, flow="dis", flow_only=True, target=str(tmp_path / "only" / "train"))
    assert run_extract(both).failed == 0 and run_extract(only).failed == 0
    rgb = make_preview(both.target / "a" / "right", tmp_path / "rgb.png", (4, 3))
    assert not rgb.flow and rgb.total_frames == 12 and rgb.real_frames == 10  # not 36 files as frames
    flow_only = make_preview(only.target / "a" / "right", tmp_path / "flow.png", (4, 3))
    assert flow_only.flow and flow_only.total_frames == 12 and flow_only.real_frames == 10
    assert is_red(tile_pixel(read_png(tmp_path / "flow.png"), 0, 4))


def test_padding_found_by_bytes_without_a_manifest(flow_clip, tmp_path):
    elsewhere = tmp_path / "copy" / "cls" / "right"
    shutil.copytree(flow_clip, elsewhere)
    sheet = make_preview(elsewhere, tmp_path / "c.png", (4, 3), flow=True)
    # pads repeat the zero flow of the last real frame, which the run of equal pairs starts at
    assert (sheet.real_frames, sheet.padding_source) == (10, "bytes")
    assert "last flow pair" in sheet.note


def test_cli_flow_default_name_and_a_store(rightward, config, tmp_path, capfd):
    pytest.importorskip("lmdb")
    cfg = config(num_frames=12, flow="farneback", store="lmdb")
    assert run_extract(cfg).failed == 0
    work = tmp_path / "here"
    work.mkdir()
    store = tmp_path / "out" / "train.lmdb"
    proc = run_main(capfd, "preview", f"{store}:a/right", "--flow", "--grid", "4x3", cwd=work)
    assert proc.returncode == 0, proc.stderr
    made = work / "preview_flow_right.jpg"
    assert f"preview: {made} (flow colour wheel, 4x3 grid" in proc.stdout
    assert "12 flow pairs, flow pairs 11-12 are padding (red frames); padding from manifest" in proc.stdout
    assert "hue = direction (right red" in proc.stdout and "white = still" in proc.stdout
    image = cv2.imread(str(made))
    assert (image.shape[1], image.shape[0]) == expected_size(4, 3)
    assert is_red(tile_pixel(image, 0, 4)) and is_white(tile_pixel(image, 10, 4))
    assert sorted(p.name for p in work.iterdir()) == [made.name]
    # the bound from --set (the extract's), or the flag
    proc = run_main(capfd, "preview", f"{store}:a/right", "--flow", "--set", "flow_bound=10", "-o", str(work / "b.png"))
    assert proc.returncode == 0 and "(bound 10)" in proc.stdout, proc.stderr


def test_refusals(flow_clip, rightward, config, tmp_path, capfd, monkeypatch):
    plain = config(num_frames=4, target=str(tmp_path / "plain" / "train"))
    assert run_extract(plain).failed == 0
    out = tmp_path / "x.png"
    proc = run_main(capfd, "preview", str(plain.target / "a" / "right"), "--flow", "-o", str(out))
    assert proc.returncode == 2 and "no flow pairs in" in proc.stderr
    assert "named like flow_x_00001.jpg and flow_y_00001.jpg" in proc.stderr
    for args, word in ((["--flow-bound", "0"], "--flow-bound"), (["--set", "flow_bound=-3"], "flow_bound")):
        proc = run_main(capfd, "preview", str(flow_clip), "--flow", *args, "-o", str(out))
        assert proc.returncode == 2 and f"{word}: expected a positive number of pixels" in proc.stderr
    with pytest.raises(PreviewError, match="flow_bound"):
        make_preview(flow_clip, out, flow=True, flow_bound=float("nan"))
    monkeypatch.setitem(sys.modules, "cv2", None)  # import cv2 now raises ImportError
    with pytest.raises(MissingExtra, match=r"preview --flow: .*needs OpenCV.*pip install 'k400frames\[flow\]'"):
        make_preview(flow_clip, out, flow=True)
    proc = run_main(capfd, "preview", str(flow_clip), "--flow", "-o", str(out))
    assert proc.returncode == 2 and "pip install 'k400frames[flow]'" in proc.stderr
    assert not out.exists()
    # without --flow a clip of RGB and flow is the RGB sheet, which needs no OpenCV
    proc = run_main(capfd, "preview", str(flow_clip), "-o", str(out))
    assert proc.returncode == 0 and "12 frames" in proc.stdout, proc.stderr
