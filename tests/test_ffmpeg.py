"""ffmpeg discovery and the command builder."""

import stat
import time
from pathlib import Path

import pytest

from k400frames import ffmpeg
from k400frames.clip import codec
from k400frames.errors import FFmpegFailed, FFmpegNotFound, K400Error
from k400frames.ffmpeg import find
from k400frames.tools.synth import make_video

from helpers import alive, wait_for


def argv_for(jpeg_quality=2, **kwargs):
    return ffmpeg.extract_command(
        "/opt/ff/ffmpeg",
        "/data/tai chi/--uWuXty1jw_000010_000020.mp4",
        301,
        encoder_options=codec.ffmpeg_output_options(jpeg_quality),
        **kwargs,
    )


def test_safe_invocation():
    argv = argv_for()
    assert argv[0] == "/opt/ff/ffmpeg"
    assert "-nostdin" in argv and "-hide_banner" in argv
    # The input is an absolute file: URL, so a leading '-' is never an option.
    i = argv.index("-i")
    assert argv[i + 1] == "file:/data/tai chi/--uWuXty1jw_000010_000020.mp4"
    assert argv[argv.index("-protocol_whitelist") + 1] == "file"
    assert "hls" not in argv[argv.index("-format_whitelist") + 1].split(",")
    assert argv.index("-protocol_whitelist") < i and argv.index("-format_whitelist") < i
    assert argv[-1] == "./frame_%05d.jpg"  # relative: ffmpeg runs inside our temp dir


def graph_of(argv):
    return argv[argv.index("-filter_complex") + 1]


def test_native_rate_maps_first_video_stream_only():
    argv = argv_for()
    graph = graph_of(argv)
    assert graph.startswith("[0:V:0]")  # the first real video stream: no cover art / thumbnails
    assert "fps=" not in graph and "-r" not in argv  # native rate
    # Time starts at the first decoded video frame, not at the file's start.
    assert graph.startswith("[0:V:0]setpts=expr=PTS-STARTPTS[")
    assert argv[argv.index("-frames:v") + 1] == "301"
    assert argv[argv.index("-q:v") + 1] == "2"
    assert argv[argv.index("-f") + 1] == "image2"


def test_fps_and_size_filters():
    argv = argv_for(fps=30, size=(340, 256), jpeg_quality=5)
    graph = graph_of(argv)
    assert graph.startswith("[0:V:0]setpts=expr=PTS-STARTPTS[")
    assert "fps=eof_action=pass:fps=30" in graph  # a clip shorter than one period keeps its frame
    assert "scale=" in graph and "w=340" in graph and "h=256" in graph
    assert f"flags={ffmpeg.SCALER_FLAGS}" in graph
    assert argv[argv.index("-threads") + 1] == str(ffmpeg.FFMPEG_THREADS)
    assert argv[argv.index("-huffman") + 1] == "default"
    assert graph.index("fps") < graph.index("scale")
    assert argv[argv.index("-q:v") + 1] == "5"


def test_short_side_filter_keeps_display_aspect():
    graph = graph_of(argv_for(short_side=256))
    assert "scale=" in graph and "256*dar" in graph and "fps" not in graph
    assert "setsar=sar=1" in graph
    # Storage pixels: the aspect of the stored frame, no 1:1 stamp.
    graph = graph_of(argv_for(short_side=256, square_pixels=False))
    assert "-2" in graph and "dar" not in graph and "setsar" not in graph


def test_square_pixels_at_native_size():
    assert "scale=flags=bilinear:h=ih:w=round(ih*dar)" in graph_of(argv_for())
    assert "scale" not in graph_of(argv_for(square_pixels=False))


def test_undecodable_utf8_name_reaches_ffmpeg_as_its_bytes():
    # os.fsdecode keeps bytes that are not UTF-8 as surrogates; ffmpeg-python
    # cannot hash those, so the URL is put in after the build.
    name = b"/d/bad\xff\xfe.mp4".decode("utf-8", "surrogateescape")
    argv = ffmpeg.extract_command("ffmpeg", name, 11)
    assert f"file:{name}" in argv and "file:k400frames-input" not in argv


def test_percent_and_quotes_pass_verbatim():
    argv = ffmpeg.extract_command("ffmpeg", "/d/100%_o'brien (1).mp4", 11)
    assert "file:/d/100%_o'brien (1).mp4" in argv


def test_relative_input_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ffmpeg.extract_command("ffmpeg", "-x.mp4", 11)
    assert f"file:{tmp_path}/-x.mp4" in argv


def _script(path, body):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_find_prefers_config_then_env(tmp_path, monkeypatch, ffmpeg_exe):
    ffmpeg.find_ffmpeg.cache_clear()
    monkeypatch.setenv(ffmpeg.ENV_VAR, ffmpeg_exe)
    assert ffmpeg.find_ffmpeg() == ffmpeg_exe
    wrapper = _script(tmp_path / "ff", f'exec "{ffmpeg_exe}" "$@"\n')
    assert ffmpeg.find_ffmpeg(wrapper) == wrapper
    ffmpeg.find_ffmpeg.cache_clear()


def test_named_but_broken_ffmpeg_is_an_error(tmp_path, monkeypatch):
    ffmpeg.find_ffmpeg.cache_clear()
    monkeypatch.setenv(ffmpeg.ENV_VAR, str(tmp_path / "missing-ffmpeg"))
    with pytest.raises(FFmpegNotFound, match=ffmpeg.ENV_VAR):
        ffmpeg.find_ffmpeg()
    broken = _script(tmp_path / "ff", "exit 1\n")
    with pytest.raises(FFmpegNotFound, match="config key 'ffmpeg'"):
        ffmpeg.find_ffmpeg(broken)
    ffmpeg.find_ffmpeg.cache_clear()


def test_nothing_found_says_what_was_tried(monkeypatch):
    ffmpeg.find_ffmpeg.cache_clear()
    monkeypatch.delenv(ffmpeg.ENV_VAR, raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(find, "_bundled_ffmpeg", lambda: None)
    with pytest.raises(FFmpegNotFound) as info:
        ffmpeg.find_ffmpeg()
    message = str(info.value)
    assert "PATH" in message and "imageio-ffmpeg" in message and ffmpeg.ENV_VAR in message
    ffmpeg.find_ffmpeg.cache_clear()


def test_run_reports_exit_code_and_stderr_tail(ffmpeg_exe, tmp_path):
    result = ffmpeg.run([ffmpeg_exe, "-nostdin", "-hide_banner", "-i", f"file:{tmp_path}/missing.mp4"])
    assert result.returncode != 0
    assert "No such file or directory" in result.stderr_tail
    assert not result.timed_out


def test_run_timeout_kills_the_process_group(tmp_path):
    marker = tmp_path / "child-pid"
    script = _script(tmp_path / "hang", f'sleep 60 &\necho $! > "{marker}"\nwait\n')
    result = ffmpeg.run([script], timeout=1)
    assert result.timed_out
    child = int(marker.read_text())
    deadline = time.monotonic() + 5  # SIGKILL is asynchronous: allow the kernel a moment
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not alive(child)  # the grandchild died with its group


def test_feed_writes_a_childs_stdin_and_keeps_what_it_printed(tmp_path):
    # The door for programs that read a stream (sqfstar reading pack's tar).
    script = _script(tmp_path / "upper", "tr a-z A-Z\necho done >&2\n")
    with ffmpeg.feed([script]) as child:
        child.stdin.write(b"a tar stream")
    assert child.result is not None and child.result.returncode == 0
    assert child.result.stderr == "A TAR STREAMdone\n" and not child.result.timed_out


def test_feed_kills_a_child_that_stopped_reading_when_the_block_fails(tmp_path):
    marker = tmp_path / "pid"
    script = _script(tmp_path / "stuck", f'echo $$ > "{marker}.tmp"\nmv "{marker}.tmp" "{marker}"\nexec sleep 60\n')
    started = time.monotonic()
    with pytest.raises(RuntimeError, match="tar failed"), ffmpeg.feed([script], timeout=30) as child:
        assert wait_for(marker.exists)
        child.stdin.write(b"x" * 65536)  # fills the pipe nobody reads (Linux: 64 KiB)
        child.stdin.write(b"y")  # left in the buffer: closing would flush into the full pipe
        raise RuntimeError("tar failed")
    assert time.monotonic() - started < 20, "the block's end waited for the timeout instead of killing"
    assert not alive(int(marker.read_text()))


@pytest.mark.parametrize(
    "template, pattern",
    [
        ("frame_{:05d}.jpg", "./frame_%05d.jpg"),
        ("img_{}.jpg", "./img_%d.jpg"),
        ("{:d}.jpg", "./%d.jpg"),
        ("x{:6d}.jpg", "./x%6d.jpg"),
        ("100%_{:04d}.jpg", "./100%%_%04d.jpg"),
        ("-{{literal}}_{:03d}.jpg", "./-{literal}_%03d.jpg"),
    ],
)
def test_image2_pattern(template, pattern):
    assert ffmpeg.image2_pattern(template) == pattern
    for n in (1, 42, 300):  # printf and Python agree on every frame number
        assert pattern[2:] % n == template.format(n)


@pytest.mark.parametrize("template", ["f_{:>5}.jpg", "f_{:x}.jpg", "f_{!r}.jpg", "f_{:05.1f}.jpg"])
def test_image2_pattern_refuses_what_printf_cannot_say(template):
    with pytest.raises(ValueError):
        ffmpeg.image2_pattern(template)


def test_command_puts_the_safe_prefix_first():
    assert ffmpeg.command("/opt/ff", "-i", "file:/a.mp4", "-f", "null", "-") == [
        "/opt/ff",
        "-nostdin",
        "-hide_banner",
        "-nostats",
        "-loglevel",
        "error",
        "-protocol_whitelist",
        "file",
        "-i",
        "file:/a.mp4",
        "-f",
        "null",
        "-",
    ]
    argv = ffmpeg.command("ff", "-i", "file:/a.mp4", loglevel="info")
    assert argv[argv.index("-loglevel") + 1] == "info"


def test_command_refuses_a_second_input_without_its_own_whitelist():
    with pytest.raises(ValueError, match="file:/b.mp4"):
        ffmpeg.command("ff", "-i", "file:/a.mp4", "-i", "file:/b.mp4", "-f", "null", "-")
    argv = ffmpeg.command("ff", "-i", "file:/a.mp4", "-protocol_whitelist", "file", "-i", "file:/b.mp4")
    assert argv.count("-protocol_whitelist") == 2


def test_file_url_is_absolute_and_verbatim(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ffmpeg.file_url("-x.mp4") == f"file:{tmp_path}/-x.mp4"
    assert ffmpeg.file_url(Path("/d/100%_o'brien (1):2.mp4")) == "file:/d/100%_o'brien (1):2.mp4"
    assert ffmpeg.file_url("/d/../e/%06d.jpg") == "file:/e/%06d.jpg"


@pytest.mark.parametrize("second_input", [False, True])
def test_whitelist_refuses_other_protocols_on_every_input(ffmpeg_exe, second_input):
    # A closed local port: were the whitelist missing, ffmpeg would try to connect.
    url = "http://127.0.0.1:9/clip.mp4"
    inputs = (
        ["-f", "lavfi", "-i", "testsrc2=duration=0.1", "-protocol_whitelist", "file", "-i", url]
        if second_input
        else ["-i", url]
    )
    result = ffmpeg.run(ffmpeg.command(ffmpeg_exe, *inputs, "-f", "null", "-"), timeout=30)
    assert result.returncode != 0 and "not on whitelist" in result.stderr_tail


def test_run_checked_raises_with_the_stderr_tail(ffmpeg_exe, tmp_path):
    argv = ffmpeg.command(ffmpeg_exe, "-i", ffmpeg.file_url(tmp_path / "missing.mp4"), "-f", "null", "-")
    with pytest.raises(FFmpegFailed, match="probing the clip.*No such file or directory"):
        ffmpeg.run_checked(argv, "probing the clip")
    endless = ffmpeg.command(ffmpeg_exe, "-f", "lavfi", "-i", "testsrc2", "-f", "null", "-")
    with pytest.raises(FFmpegFailed, match="timed out after 0.5s"):
        ffmpeg.run_checked(endless, "decoding forever", timeout=0.5)


def test_synth_failure_is_a_clear_error_and_leaves_no_file(ffmpeg_exe, tmp_path):
    out = tmp_path / "--bad clip.mp4"
    with pytest.raises(FFmpegFailed) as info:
        make_video(out, seconds=0.2, codec="no_such_encoder", ffmpeg_exe=ffmpeg_exe)
    assert isinstance(info.value, K400Error)
    message = str(info.value)
    assert f"making {out}" in message and "no_such_encoder" in message
    assert not out.exists()


def test_synth_goes_through_the_door(ffmpeg_exe, tmp_path):
    made = make_video(tmp_path / "-a%b.mp4", seconds=0.2, fps=10, size="32x24", audio=True, ffmpeg_exe=ffmpeg_exe)
    assert ffmpeg.probe_duration(ffmpeg_exe, made) == pytest.approx(0.2, abs=0.05)
