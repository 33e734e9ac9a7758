"""Crash safety with real processes: SIGKILL + resume, SIGINT/SIGTERM, timeouts,
a full disk, config changes, --retry-failed, torn records, leftovers; a library
that stops when asked and never takes the process; durable writes."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from k400frames import cli
from k400frames.config import make_config
from k400frames.errors import ConfigChanged
from k400frames.run.runner import run_extract

from helpers import (
    frame_files,
    gated,
    live_processes_mentioning,
    record_file,
    run_cli,
    set_args,
    started,
    tree_bytes,
    wait_for,
)


def start_cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "k400frames", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def manifest_rows(cfg) -> list[dict]:
    path = record_file(cfg.target, "manifest")
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def clips(make_clip):
    return [
        make_clip(f"{cls}/clip{i}_000000_000001.mp4", seconds=0.5 + i / 10, fps=10)
        for i, cls in enumerate(["a", "a", "b", "b", "c", "c", "d", "d"])
    ]


def test_sigkill_then_rerun_completes_without_redoing(clips, config, wrap_ffmpeg, tmp_path):
    gate = tmp_path / "gate"  # three clips go through, the fourth waits in its ffmpeg
    slow = wrap_ffmpeg(gated(gate, free=3))
    cfg = config(num_frames=8, workers=1)
    proc = start_cli(
        "extract",
        *set_args(f"source={cfg.source}", f"target={cfg.target}", "num_frames=8", "workers=1", f"ffmpeg={slow}"),
    )
    assert wait_for(lambda: started(gate) >= 4 and len(manifest_rows(cfg)) >= 3)
    proc.kill()  # SIGKILL: no handler runs
    proc.wait()
    wait_for(lambda: not live_processes_mentioning(str(tmp_path)), timeout=10)

    finished = {row["rel"] for row in manifest_rows(cfg)}
    assert 3 <= len(finished) < len(clips)
    stamps = {p: p.stat().st_mtime_ns for rel in finished for p in (cfg.target / rel).iterdir()}

    summary = run_extract(cfg)
    assert summary.failed == 0
    assert summary.skipped >= len(finished) and summary.done + summary.skipped == len(clips)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps  # finished clips not redone

    clean = make_config({"source": str(cfg.source), "target": str(tmp_path / "clean" / "train"), "num_frames": 8})
    run_extract(clean)
    assert tree_bytes(cfg.target) == tree_bytes(clean.target)
    assert not (cfg.target.parent / ".train.tmp").exists()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_exits_130_and_leaves_nothing_half_done(clips, config, wrap_ffmpeg, tmp_path, sig):
    started = tmp_path / "slow-started"
    hang = wrap_ffmpeg(f'case "$*" in *clip2_*) touch "{started}"; sleep 60;; esac\nexec "$REAL" "$@"')
    cfg = config(num_frames=8)
    proc = start_cli(
        "extract",
        *set_args(f"source={cfg.source}", f"target={cfg.target}", "num_frames=8", "workers=2", f"ffmpeg={hang}"),
    )
    assert wait_for(started.exists)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == (130 if sig == signal.SIGINT else 143), err
    assert "interrupted" in out
    assert "Traceback" not in err
    assert not (cfg.target / "b" / "clip2_000000_000001").exists()
    assert not (cfg.target.parent / ".train.tmp").exists()
    assert live_processes_mentioning(str(tmp_path)) == []  # no ffmpeg outlives the run
    for row in manifest_rows(cfg):  # whatever finished is complete
        assert len(frame_files(cfg.target / row["rel"])) == 8

    summary = run_extract(cfg)  # and a plain rerun finishes the job
    assert summary.failed == 0 and summary.done + summary.skipped == len(clips)


def test_hung_ffmpeg_is_killed_by_timeout(clips, config, wrap_ffmpeg, tmp_path):
    hang = wrap_ffmpeg('case "$*" in *clip3_*) sleep 60;; esac\nexec "$REAL" "$@"')
    cfg = config(num_frames=8, timeout_s=2, ffmpeg=hang)
    t0 = time.monotonic()
    summary = run_extract(cfg)
    assert time.monotonic() - t0 < 30
    assert summary.failed == 1 and summary.done == len(clips) - 1
    row = json.loads(record_file(cfg.target, "failures").read_text())
    assert row["stage"] == "timeout" and "timeout_s=2" in row["reason"]
    assert not (cfg.target / "b" / "clip3_000000_000001").exists()
    assert live_processes_mentioning(str(tmp_path)) == []


def test_full_disk_from_ffmpeg_stops_the_run(clips, config, wrap_ffmpeg):
    full = wrap_ffmpeg(
        'case "$*" in *clip2_*) head -c 100 /dev/zero > 000001.jpg;'
        ' echo "[image2 @ 0x1] Could not write: No space left on device" >&2; exit 1;; esac\n'
        'exec "$REAL" "$@"'
    )
    cfg = config(num_frames=8, workers=1, ffmpeg=full)
    summary = run_extract(cfg)
    assert summary.disk_full and "no space left" in summary.disk_full
    assert summary.exit_code == 1
    assert summary.done == 2  # clips before it finished, none after it started
    assert not (cfg.target / "b" / "clip2_000000_000001").exists()
    assert not (cfg.target.parent / ".train.tmp").exists()


def test_full_disk_while_padding(make_clip, config, monkeypatch):
    import errno

    from k400frames.stores import folder

    make_clip("a/short.mp4", seconds=0.2, fps=10)  # 2 real frames, then pads
    real_write, written = folder.write_new, []

    def no_space_for_pads(path, data):
        if len(written) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        written.append(path)
        real_write(path, data)

    monkeypatch.setattr(folder, "write_new", no_space_for_pads)
    cfg = config(num_frames=8)
    summary = run_extract(cfg)
    assert summary.disk_full and summary.done == 0
    assert not (cfg.target / "a" / "short").exists()


def test_full_disk_cli_message(make_clip, tmp_path, wrap_ffmpeg):
    make_clip("a/x.mp4", seconds=0.3, fps=10)
    full = wrap_ffmpeg('echo "No space left on device" >&2; exit 1')
    proc = run_cli(
        "extract",
        "--config",
        "/dev/null",
        "--set",
        f"source={tmp_path / 'src'}",
        "--set",
        f"target={tmp_path / 'out/train'}",
        "--set",
        f"ffmpeg={full}",
    )
    assert proc.returncode == 1
    assert "stopped: no space left" in proc.stdout and "Traceback" not in proc.stderr


def test_config_change_is_refused_without_overwrite(clips, config, tmp_path):
    run_extract(config(num_frames=6))
    with pytest.raises(ConfigChanged, match="or overwrite to redo those clips"):
        run_extract(config(num_frames=7))
    proc = run_cli(
        "extract",
        "--config",
        "/dev/null",
        "--set",
        f"source={tmp_path / 'src'}",
        "--set",
        f"target={tmp_path / 'out/train'}",
        "--set",
        "num_frames=7",
    )
    assert proc.returncode == 2 and "other output settings" in proc.stderr
    assert proc.stderr.rstrip().endswith("(the option --overwrite)")
    summary = run_extract(config(num_frames=7), overwrite=True)
    assert summary.done == len(clips)
    assert all(len(frame_files(p)) == 7 for p in config().target.glob("*/*"))
    assert run_extract(config(num_frames=7)).skipped == len(clips)  # settings now agree


def test_retry_failed_only_redoes_failures(make_clip, config, tmp_path):
    make_clip("a/good.mp4", seconds=0.3, fps=10)
    broken = tmp_path / "src" / "a" / "fixme.mp4"
    broken.write_bytes(b"\0" * 100)
    cfg = config(num_frames=4)
    assert run_extract(cfg).failed == 1
    good_stamp = (cfg.target / "a" / "good").stat().st_mtime_ns
    make_clip("a/fixme.mp4", seconds=0.3, fps=10)  # the user repairs the file
    summary = run_extract(cfg, retry_failed=True)
    assert (summary.total, summary.done, summary.failed) == (1, 1, 0)
    assert (cfg.target / "a" / "good").stat().st_mtime_ns == good_stamp
    assert len(frame_files(cfg.target / "a" / "fixme")) == 4
    assert run_extract(cfg, retry_failed=True).total == 0  # nothing left to retry


def test_torn_manifest_line_is_tolerated(clips, config):
    cfg = config(num_frames=4)
    run_extract(cfg)
    with record_file(cfg.target, "manifest").open("a") as handle:
        handle.write('{"rel": "a/clip0_000000_0000')  # a crash mid-write
    (cfg.target / "d" / "clip7_000000_000001").rename(cfg.target.parent / "moved-away")
    summary = run_extract(cfg)
    assert (summary.skipped, summary.done, summary.failed) == (len(clips) - 1, 1, 0)
    # The next line starts on a line of its own, so it stays readable.
    assert manifest_rows_tolerant(cfg)[-1]["rel"] == "d/clip7_000000_000001"


def manifest_rows_tolerant(cfg):
    rows = []
    for line in record_file(cfg.target, "manifest").read_text().splitlines():
        with contextlib.suppress(ValueError):  # a torn line
            rows.append(json.loads(line))
    return rows


def test_folder_without_manifest_row_is_checked_before_trusting(clips, config):
    cfg = config(num_frames=4)
    run_extract(cfg)
    complete = cfg.target / "a" / "clip0_000000_000001"
    broken = cfg.target / "a" / "clip1_000000_000001"
    stamp = complete.stat().st_mtime_ns
    (broken / "frame_00003.jpg").unlink()
    record_file(cfg.target, "manifest").unlink()  # as if the run died after the renames
    summary = run_extract(cfg)
    assert summary.done == 1 and summary.skipped == len(clips) - 1
    assert complete.stat().st_mtime_ns == stamp
    assert len(frame_files(broken)) == 4
    assert summary.failed == 0


def test_leftover_temp_dirs_are_removed(clips, config):
    cfg = config(num_frames=4)
    leftover = cfg.target.parent / ".train.tmp" / "all" / "clip-dead" / "raw"
    leftover.mkdir(parents=True)
    (leftover / "000001.jpg").write_bytes(b"half")
    run_extract(cfg)
    assert not (cfg.target.parent / ".train.tmp").exists()


def test_clutter_is_skipped_and_symlinks_followed(make_clip, config, tmp_path):
    make_clip("real/a.mp4", seconds=0.3, fps=10)
    outside = make_clip("../elsewhere/linked class/b.mp4", seconds=0.3, fps=10)
    src = tmp_path / "src"
    (src / "real" / "._a.mp4").write_bytes(b"\0\5\x16\7")  # AppleDouble twin
    (src / "real" / ".DS_Store").write_bytes(b"\0")
    (src / "real" / "README.md").write_text("notes")
    (src / "real" / "labels.txt").write_text("x")
    (src / ".hidden").mkdir()
    (src / "notes.txt").write_text("x")
    (src / "real" / "link.mp4").symlink_to(src / "real" / "a.mp4")
    (src / "linked class").symlink_to(outside.parent, target_is_directory=True)
    cfg = config(num_frames=4)
    summary = run_extract(cfg)
    assert (summary.total, summary.done, summary.failed) == (3, 3, 0)
    assert sorted(str(p.relative_to(cfg.target)) for p in cfg.target.glob("*/*")) == [
        "linked class/b",
        "real/a",
        "real/link",
    ]


def test_same_stem_two_extensions_is_reported_not_overwritten(make_clip, config):
    make_clip("a/x.mp4", seconds=0.3, fps=10)
    make_clip("a/x.webm", seconds=0.5, fps=10, codec="libvpx")
    cfg = config(num_frames=4)
    summary = run_extract(cfg)
    assert summary.failed == 1 and summary.done == 0
    row = json.loads(record_file(cfg.target, "failures").read_text())
    assert row["stage"] == "collision" and "x.mp4" in row["reason"] and "x.webm" in row["reason"]
    assert not (cfg.target / "a" / "x").exists()


def test_unwritable_class_folder_fails_its_clips_only(make_clip, config):
    make_clip("a/x.mp4", seconds=0.3, fps=10)
    make_clip("b/y.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=4)
    cfg.target.mkdir(parents=True)
    (cfg.target / "a").write_text("a file where the class folder goes")  # root ignores chmod, so this
    summary = run_extract(cfg)
    assert (summary.done, summary.failed) == (1, 1)
    row = json.loads(record_file(cfg.target, "failures").read_text())
    assert row["stage"] == "publish" and row["reason"].startswith(f"cannot write {cfg.target / 'a' / 'x'}")
    assert len(frame_files(cfg.target / "b" / "y")) == 4
    assert not (cfg.target.parent / ".train.tmp").exists()


def test_a_later_second_ctrl_c_exits_at_once(clips, config, wrap_ffmpeg, tmp_path):
    started = tmp_path / "started"
    closing = tmp_path / "closing"  # the first Ctrl-C has reached the shutdown
    handled = tmp_path / "handled"  # one line per signal the CLI's handler took: "TIME RETURNED"
    hang = wrap_ffmpeg(f'touch "{started}"; sleep 60')
    cfg = config(num_frames=8)
    # A shutdown that takes 60 s and swallows KeyboardInterrupt, as a library
    # waiting on its own threads may: only a real exit gets out of it.
    script = (
        "import sys, time\n"
        "from k400frames import cli\n"
        "from k400frames.run import executors\n"
        # each signal the CLI's handler took, noted once the handler has run:
        # the time (not before the handler's own), and whether it returned
        "handle = cli._Interrupts.__call__\n"
        "def noting(self, signum, frame):\n"
        "    returned = False\n"
        "    try:\n"
        "        handle(self, signum, frame)\n"
        "        returned = True\n"
        "    finally:\n"
        f"        with open({str(handled)!r}, 'a') as note:\n"
        "            note.write(f'{time.monotonic()!r} {returned}\\n')\n"
        "cli._Interrupts.__call__ = noting\n"
        "close = executors.LocalExecutor.close\n"
        "def stubborn_close(self):\n"
        f"    open({str(closing)!r}, 'w').close()\n"
        "    deadline = time.monotonic() + 60\n"
        "    while time.monotonic() < deadline:\n"
        "        try:\n"
        "            time.sleep(0.1)\n"
        "        except KeyboardInterrupt:\n"
        "            pass\n"
        "    close(self)\n"
        "executors.LocalExecutor.close = stubborn_close\n"
        "sys.exit(cli.main(sys.argv[1:]))\n"
    )

    def notes() -> list[tuple[float, str]]:
        lines = handled.read_text().splitlines() if handled.exists() else []
        return [(float(at), returned) for at, returned in (line.split() for line in lines)]

    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            script,
            "extract",
            "--set",
            f"source={cfg.source}",
            "--set",
            f"target={cfg.target}",
            "--set",
            f"ffmpeg={hang}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(started.exists)
        proc.send_signal(signal.SIGINT)
        assert wait_for(closing.exists) and wait_for(lambda: len(notes()) == 1)
        # A second signal within a second of the first is the same stop
        # (timeout and scancel deliver to the process and its group) ...
        proc.send_signal(signal.SIGINT)
        assert wait_for(lambda: len(notes()) == 2)
        (first_at, first_returned), (second_at, second_returned) = notes()
        assert second_at - first_at < cli._Interrupts.SAME_STOP_S, "the machine was too slow to test the window"
        assert (first_returned, second_returned) == ("False", "True") and proc.poll() is None
        # ... a later one means "now".
        assert wait_for(lambda: time.monotonic() > first_at + cli._Interrupts.SAME_STOP_S, timeout=5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=20)
        assert time.monotonic() - t0 < 5
    finally:
        proc.kill()  # a no-op when it exited, as it should have
    assert proc.returncode == 130
    assert "stopped at once" in err
    summary = run_extract(cfg)  # the next run starts without help: no lock to remove, temp area cleared
    assert summary.failed == 0 and summary.done + summary.skipped == len(clips)
    assert not (cfg.target.parent / ".train.tmp").exists()
    assert live_processes_mentioning(str(tmp_path)) == []


def test_stop_event_stops_the_library_without_touching_signals(clips, config, wrap_ffmpeg, tmp_path):
    import threading

    started = tmp_path / "slow-started"
    hang = wrap_ffmpeg(f'case "$*" in *clip2_*) touch "{started}"; sleep 60;; esac\nexec "$REAL" "$@"')
    cfg = config(num_frames=8, ffmpeg=hang)
    handlers = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    stop = threading.Event()
    seen = []

    def stop_when_hung():
        wait_for(started.exists)
        seen.append((signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)))
        seen.append(started.exists())
        stop.set()

    asker = threading.Thread(target=stop_when_hung)
    asker.start()
    t0 = time.monotonic()
    summary = run_extract(cfg, stop=stop)
    asker.join()
    assert time.monotonic() - t0 < 20  # the hung ffmpeg was killed, not waited for
    assert summary.interrupted and summary.exit_code == 130 and summary.failed == 0
    assert seen == [handlers, True] and (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers
    assert not (cfg.target / "b" / "clip2_000000_000001").exists()
    assert live_processes_mentioning(str(tmp_path)) == []
    summary = run_extract(config(num_frames=8))  # and the next run finishes the job
    assert summary.failed == 0 and summary.done + summary.skipped == len(clips)


def test_error_during_the_run_ends_it_with_the_summary_and_exit_1(make_clip, tmp_path):
    make_clip("a/x_000000_000001.mp4", seconds=0.3, fps=10)
    csv = tmp_path / "tiny_train.csv"
    csv.write_text("label,youtube_id,time_start,time_end,split,is_cc\na,x,0,1,train,0\n")
    (tmp_path / "out" / "tiny_train.csv" / "in the way").mkdir(parents=True)  # the CSV copy must fail
    proc = run_cli(
        "extract",
        "--config",
        "/dev/null",
        "--set",
        f"source={tmp_path / 'src'}",
        "--set",
        f"target={tmp_path / 'out/train'}",
        "--set",
        f"annotations={csv}",
        "--set",
        "num_frames=4",
    )
    assert proc.returncode == 1, proc.stderr
    assert "1 extracted" in proc.stdout and "stopped: cannot copy the annotations CSV" in proc.stdout
    assert "Traceback" not in proc.stderr
    assert len(frame_files(tmp_path / "out" / "train" / "a" / "x_000000_000001")) == 4


@pytest.mark.parametrize("how", ["syncfs", "fsync per file"])
def test_durable_flushes_frames_and_folders_before_the_manifest_row(clips, config, monkeypatch, how):
    """A power cut cannot be made here, and a kill -9 loses nothing that the
    page cache holds, so what is tested is the order that makes power loss
    safe, on a real run: each clip's frames and folder are flushed before
    its rename, and the rename before its manifest row is written."""
    from k400frames import files
    from k400frames.ffmpeg import libc
    from k400frames.run import records

    events = []
    real_fsync, real_syncfs, real_write = os.fsync, files._syncfs, records.RecordWriter.write

    def fsync(fd):
        real_fsync(fd)
        events.append(("fsync", os.fstat(fd).st_ino))

    def syncfs(folder):
        flushed = real_syncfs(folder)
        if flushed:
            events.append(("syncfs", os.stat(folder).st_ino))
        return flushed

    def write(self, record):
        events.append(("row", self.path.name, record["rel"]))
        real_write(self, record)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(files, "_syncfs", syncfs)
    monkeypatch.setattr(records.RecordWriter, "write", write)
    if how != "syncfs":
        real_function = libc.function  # as on a system without syncfs
        monkeypatch.setattr(libc, "function", lambda name: None if name == "syncfs" else real_function(name))
    cfg = config(num_frames=12, durable=True)  # 12 frames: some clips are padded with copies
    assert run_extract(cfg).done == len(clips)
    rows = [i for i, e in enumerate(events) if e[0] == "row" and "manifest" in e[1]]
    assert len(rows) == len(clips)
    for index in rows:
        folder = cfg.target / events[index][2]  # renamed from the temp dir: same inode
        before = events[:index]
        if how == "syncfs":
            assert ("syncfs", folder.stat().st_ino) in before, events[index]
        else:
            synced = {e[1] for e in before if e[0] == "fsync"}
            assert {p.stat().st_ino for p in folder.iterdir()} | {folder.stat().st_ino} <= synced
        assert ("fsync", folder.parent.stat().st_ino) in before  # the rename
    assert ("fsync", cfg.target.stat().st_ino) in events  # the new class folders

    events.clear()
    run_extract(config(num_frames=12, durable=False), overwrite=True)
    assert not [e for e in events if e[0] != "row"]  # and off means off
