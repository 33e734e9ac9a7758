"""encoder: turbo: the same frames as the ffmpeg encoder, encoded by libjpeg-turbo
in the worker; counts, pixels, colours, pads, damage, kills, timeouts, and a
clear error without the wheel."""

import json
import math
import subprocess
import sys
import time

import numpy as np
import pytest
import simplejpeg

from k400frames import ffmpeg
from k400frames.clip import turbo
from k400frames.clip.damage import StageError
from k400frames.errors import ConfigChanged, ConfigError, MissingExtra
from k400frames.run.runner import run_extract
from k400frames.tools.synth import truncate_copy

from helpers import alive, frame_files, live_processes_mentioning, record_file, run_main, wait_for

N = 10


def frames_of(cfg, rel):
    folder = cfg.target / rel
    return [(folder / cfg.frame_name.format(i)).read_bytes() for i in range(1, cfg.num_frames + 1)]


def luma(jpeg: bytes) -> np.ndarray:
    return simplejpeg.decode_jpeg(jpeg, colorspace="GRAY")[:, :, 0].astype(np.float64)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a - b) ** 2)
    return 99.0 if mse == 0 else 10 * math.log10(255**2 / mse)


def both_encoders(config, tmp_path, **keys):
    """Extract tmp_path/src with each encoder; their configs, ffmpeg's first."""
    cfgs = []
    for encoder in ("ffmpeg", "turbo"):
        cfg = config(target=str(tmp_path / encoder / "train"), encoder=encoder, **keys)
        summary = run_extract(cfg)
        assert (summary.done, summary.failed) == (1, 0), encoder
        cfgs.append(cfg)
    return cfgs


@pytest.mark.parametrize("source_frames", [4, N + 7])
def test_same_frames_as_the_ffmpeg_encoder(make_clip, config, tmp_path, source_frames):
    make_clip("cls/clip.mp4", seconds=source_frames / 10, fps=10, size="96x64")
    plain, fast = both_encoders(config, tmp_path, num_frames=N)
    assert frame_files(fast.target / "cls/clip") == frame_files(plain.target / "cls/clip")
    ours, theirs = frames_of(fast, "cls/clip"), frames_of(plain, "cls/clip")
    real = min(source_frames, N)
    # Frame k is the ffmpeg encoder's frame k, encoded differently: close in
    # pixels, and much closer than to its neighbour (testsrc2 moves every frame).
    for k in range(real):
        assert psnr(luma(ours[k]), luma(theirs[k])) > 38
    assert psnr(luma(ours[1]), luma(theirs[0])) < 30
    # Pads are byte-identical copies of the true last frame.
    assert all(frame == ours[real - 1] for frame in ours[real:])
    assert ours[real - 1] != ours[real - 2]
    row = json.loads(record_file(fast.target, "manifest").read_text())
    assert (row["decoded"], row["padded"], row["cut"]) == (real, N - real, source_frames > N)


def test_size_from_the_stream_header(make_clip, config, tmp_path):
    # short_side sizes are computed by ffmpeg expressions: the y4m header tells them.
    make_clip("cls/clip.mp4", seconds=0.3, fps=10, size="96x64")
    plain, fast = both_encoders(config, tmp_path, num_frames=3, short_side=32)
    header = simplejpeg.decode_jpeg_header
    assert header(frames_of(fast, "cls/clip")[0])[:2] == header(frames_of(plain, "cls/clip")[0])[:2] == (32, 48)


COLOURS = [(255, 255, 255), (0, 0, 0), (220, 30, 40), (30, 200, 60), (40, 60, 230), (128, 128, 128)]


def test_full_range_colours(ffmpeg_exe, config, tmp_path):
    # One 32x32 patch per colour.  Limited-range planes in a JPEG would show
    # white as (235, 235, 235) and black as (16, 16, 16).
    sources = "".join(
        f"color=c=0x{r:02x}{g:02x}{b:02x}:s=32x32:r=10:d=0.2[c{i}];" for i, (r, g, b) in enumerate(COLOURS)
    )
    graph = sources + "".join(f"[c{i}]" for i in range(len(COLOURS))) + f"hstack=inputs={len(COLOURS)}[out0]"
    video = tmp_path / "src" / "cls" / "colours.mp4"
    video.parent.mkdir(parents=True)
    subprocess.run(
        [
            ffmpeg_exe,
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            graph,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-qp",
            "0",
            "-pix_fmt",
            "yuv420p",
            str(video),
        ],
        check=True,
    )
    for cfg in both_encoders(config, tmp_path, num_frames=2):
        rgb = simplejpeg.decode_jpeg(frames_of(cfg, "cls/colours")[0], colorspace="RGB").astype(int)
        for i, colour in enumerate(COLOURS):
            got = rgb[8:24, 32 * i + 8 : 32 * i + 24].reshape(-1, 3).mean(axis=0)
            assert np.abs(got - colour).max() < 6, (cfg.encoder, colour, got)


def test_odd_frame_size(ffmpeg_exe, config, tmp_path):
    # 4:2:0 chroma planes of an odd size are rounded up; the planes must line up.
    video = tmp_path / "src" / "cls" / "odd.mkv"
    video.parent.mkdir(parents=True)
    subprocess.run(
        [
            ffmpeg_exe,
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=64x48:rate=10:duration=0.3",
            "-vf",
            "scale=63:47",
            "-c:v",
            "ffv1",
            "-pix_fmt",
            "yuv420p",
            str(video),
        ],
        check=True,
    )
    plain, fast = both_encoders(config, tmp_path, num_frames=3)
    ours, theirs = frames_of(fast, "cls/odd")[0], frames_of(plain, "cls/odd")[0]
    assert simplejpeg.decode_jpeg_header(ours)[:2] == (47, 63)
    assert psnr(luma(ours), luma(theirs)) > 35
    chroma = [simplejpeg.decode_jpeg(j, colorspace="RGB").astype(float) for j in (ours, theirs)]
    assert psnr(*chroma) > 28  # the colour planes are not shifted


def test_damaged_video_is_classified_alike(ffmpeg_exe, config, tmp_path):
    # An MP4 with bytes flipped inside its video data: the decoder complains;
    # both encoders see the same stderr and say the same.
    video = tmp_path / "src" / "cls" / "hurt.mp4"
    video.parent.mkdir(parents=True)
    subprocess.run(
        [
            ffmpeg_exe,
            "-nostdin",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=96x64:rate=10:duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "5",
            "-pix_fmt",
            "yuv420p",
            str(video),
        ],
        check=True,
    )
    data = bytearray(video.read_bytes())
    for offset in range(len(data) // 3, len(data) // 3 + 400, 2):  # the moov atom is at the end
        data[offset] ^= 0xFF
    video.write_bytes(bytes(data))
    reasons = {}
    for encoder in ("ffmpeg", "turbo"):
        cfg = config(target=str(tmp_path / encoder / "train"), encoder=encoder, num_frames=30)
        summary = run_extract(cfg)
        assert summary.failed == 1
        row = json.loads(record_file(cfg.target, "failures").read_text())
        reasons[encoder] = (row["stage"], row["reason"])
    assert reasons["turbo"] == reasons["ffmpeg"]
    assert reasons["turbo"][0] == "damaged" and "decode errors" in reasons["turbo"][1]


def test_truncated_video_fails_alike(make_clip, config, tmp_path):
    good = make_clip("cls/good.mp4", seconds=0.5, fps=10)
    truncate_copy(good, tmp_path / "src" / "cls" / "cut.mp4")
    good.unlink()
    cfg = config(num_frames=N, encoder="turbo")
    summary = run_extract(cfg)
    assert (summary.done, summary.failed) == (0, 1)
    row = json.loads(record_file(cfg.target, "failures").read_text())
    assert row["stage"] == "decode" and "moov atom not found" in row["reason"]
    assert not (cfg.target / "cls" / "cut").exists()


def test_ffmpeg_killed_mid_frame_fails_the_clip(make_clip, config, wrap_ffmpeg, tmp_path):
    make_clip("cls/a.mp4", seconds=1, fps=10)
    # A first frame and a half, then ffmpeg dies (as the OOM killer would).
    killed = wrap_ffmpeg('"$REAL" "$@" | head -c 15000\nkill -9 $$')
    cfg = config(num_frames=N, encoder="turbo", ffmpeg=killed)
    summary = run_extract(cfg)
    assert summary.failed == 1
    row = json.loads(record_file(cfg.target, "failures").read_text())
    assert row["stage"] == "decode" and "code -9" in row["reason"], row
    assert not (cfg.target / "cls" / "a").exists()


def test_a_stream_that_is_not_frames_fails_the_clip_at_decode(make_clip, config, wrap_ffmpeg):
    make_clip("cls/a.mp4", seconds=1, fps=10)
    garbage = wrap_ffmpeg('printf "NOT A YUV4MPEG2 STREAM\\n"')
    cfg = config(num_frames=N, encoder="turbo", ffmpeg=garbage)
    assert run_extract(cfg).failed == 1
    row = json.loads(record_file(cfg.target, "failures").read_text())
    assert row["stage"] == "decode" and row["reason"].startswith("ffmpeg's frame stream: not a YUV4MPEG2 stream"), row


def test_a_stream_cut_inside_a_frame_fails_the_clip_at_decode(make_clip, config, wrap_ffmpeg):
    make_clip("cls/a.mp4", seconds=1, fps=10)
    # A frame and a half, and ffmpeg's exit code says all is well.
    cut = wrap_ffmpeg('"$REAL" "$@" | head -c 15000\nexit 0')
    cfg = config(num_frames=N, encoder="turbo", ffmpeg=cut)
    assert run_extract(cfg).failed == 1
    row = json.loads(record_file(cfg.target, "failures").read_text())
    assert row["stage"] == "decode" and "stream ended inside frame" in row["reason"], row


def test_stalled_stream_is_killed_by_timeout(make_clip, config, wrap_ffmpeg, tmp_path):
    make_clip("cls/a.mp4", seconds=1, fps=10)
    # Part of the stream, then the pipe stays open and silent.
    marker = tmp_path / "sleeper-pid"
    stall = wrap_ffmpeg(f'"$REAL" "$@" | head -c 15000\nsleep 60 &\necho $! > "{marker}"\nwait')
    cfg = config(num_frames=N, encoder="turbo", ffmpeg=stall, timeout_s=1)
    t0 = time.monotonic()
    summary = run_extract(cfg)
    assert time.monotonic() - t0 < 20
    assert summary.failed == 1
    row = json.loads(record_file(cfg.target, "failures").read_text())
    assert row["stage"] == "timeout" and "timeout_s=1" in row["reason"]
    assert not (cfg.target / "cls" / "a").exists()
    assert live_processes_mentioning(str(tmp_path)) == []
    assert wait_for(lambda: not alive(int(marker.read_text())), timeout=5)  # the group died, not only ffmpeg


def test_raw_frames_argv_keeps_the_safe_invocation(ffmpeg_exe, tmp_path):
    argv = ffmpeg.extract_command(ffmpeg_exe, tmp_path / "-x.mp4", 11, short_side=256, raw_frames=True)
    plain = ffmpeg.extract_command(ffmpeg_exe, tmp_path / "-x.mp4", 11, short_side=256)
    assert argv[-1] == "pipe:1"
    joined = " ".join(argv)
    assert "-f yuv4mpegpipe" in joined and "-pix_fmt yuv420p" in joined and "-color_range pc" in joined
    assert "-q:v" not in argv and "image2" not in argv
    # Everything before the output options is the ffmpeg encoder's command.
    cut = argv.index("-filter_complex") + 2
    assert argv[:cut] == plain[:cut]


def test_no_ffmpeg_survives_an_encoder_error(make_clip, config, ffmpeg_exe, tmp_path, monkeypatch):
    video = make_clip("cls/long.mp4", seconds=20, fps=10)
    calls, alive_then = [], []

    def fail_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            alive_then.append(live_processes_mentioning(str(video)))
            raise RuntimeError("encoder broke")
        return encode(*args, **kwargs)

    encode = simplejpeg.encode_jpeg_yuv_planes
    monkeypatch.setattr(simplejpeg, "encode_jpeg_yuv_planes", fail_on_third)
    argv = ffmpeg.extract_command(ffmpeg_exe, video, 200, raw_frames=True)
    (tmp_path / "frames").mkdir()
    with pytest.raises(StageError, match="cannot encode frame 3: encoder broke") as caught:
        turbo.encode(argv, tmp_path / "frames", "{:05d}.jpg", 2, timeout=60)
    assert caught.value.stage == "encode"
    assert alive_then[0] != []  # ffmpeg was still running when the encoder failed (200 frames > a pipe)
    assert live_processes_mentioning(str(video)) == []
    # Through the runner: one failed clip, nothing published, no ffmpeg left.
    calls.clear()
    cfg = config(num_frames=N, encoder="turbo")
    summary = run_extract(cfg)
    assert summary.failed == 1
    row = json.loads(record_file(cfg.target, "failures").read_text())
    assert row["stage"] == "encode" and "encoder broke" in row["reason"], row  # not "internal": no bug of ours
    assert not (cfg.target / "cls" / "long").exists()
    assert live_processes_mentioning(str(video)) == []


def test_encoder_change_is_refused_on_resume(make_clip, config):
    make_clip("cls/a.mp4", seconds=0.3, fps=10)
    run_extract(config(num_frames=N))
    with pytest.raises(ConfigChanged, match="encoder"):  # the message names every output key
        run_extract(config(num_frames=N, encoder="turbo"))


def test_missing_wheel_is_a_clear_error_before_any_work(make_clip, config, monkeypatch):
    make_clip("cls/a.mp4", seconds=0.3, fps=10)
    monkeypatch.setitem(sys.modules, "simplejpeg", None)  # import simplejpeg now raises ImportError
    cfg = config(encoder="turbo")  # reading a config loads no encoder: preflight checks the wheel
    with pytest.raises(MissingExtra, match=r"encoder 'turbo' needs simplejpeg.*pip install"):
        run_extract(cfg)
    assert not cfg.target.exists()
    with pytest.raises(MissingExtra):
        turbo.load_codec()
    assert config(encoder="ffmpeg").encoder == "ffmpeg"  # the ffmpeg encoder does not need it
    with pytest.raises(ConfigError, match="encoder: expected one of ffmpeg, turbo"):
        config(encoder="pillow")


def test_missing_wheel_cli_says_one_line(make_clip, tmp_path, capfd, monkeypatch):
    make_clip("cls/a.mp4", seconds=0.3, fps=10)
    hide = tmp_path / "hide"
    hide.mkdir()
    (hide / "simplejpeg.py").write_text("raise ImportError('No module named simplejpeg')\n")
    monkeypatch.syspath_prepend(str(hide))  # found before the installed wheel
    monkeypatch.delitem(sys.modules, "simplejpeg", raising=False)  # so the import looks again
    proc = run_main(
        capfd,
        "extract",
        "--config",
        "/dev/null",
        "--set",
        f"source={tmp_path / 'src'}",
        "--set",
        f"target={tmp_path / 'out/train'}",
        "--set",
        "encoder=turbo",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "k400frames: error: encoder 'turbo' needs simplejpeg, which is not installed "
        "(No module named simplejpeg); install with pip install 'k400frames[turbo]' (or pip install simplejpeg), "
        "or use encoder: ffmpeg"
    ]
    assert not (tmp_path / "out").exists()
