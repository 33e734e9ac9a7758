"""A run's own files (lock, manifest, failures) open with O_NOFOLLOW: a symbolic
link planted at their name is refused with one line, and nothing is written
through it."""

from __future__ import annotations

import pytest

from k400frames import cli
from k400frames.errors import EXIT_USAGE, PreflightError
from k400frames.layout import Layout
from k400frames.run.lock import TargetLock
from k400frames.run.records import RecordWriter, read_records
from k400frames.run.runner import run_extract

from helpers import set_args

VICTIM_TEXT = "a file the link points at\n"


def plant(link, victim, dangling: bool) -> None:
    """A link at ``link`` to ``victim``: an existing file, or (``dangling``) a name that does not exist yet."""
    if not dangling:
        victim.write_text(VICTIM_TEXT)
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(victim)


def untouched(victim, dangling: bool) -> bool:
    return not victim.exists() if dangling else victim.read_text() == VICTIM_TEXT


@pytest.mark.parametrize("dangling", [False, True], ids=["to a file", "dangling"])
@pytest.mark.parametrize("which", ["manifest", "failures", "lock"])
def test_run_refuses_a_link_at_its_own_file(make_clip, config, tmp_path, capsys, which, dangling):
    make_clip("a/x.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=4)
    layout = Layout(cfg.target)
    link = layout.lock() if which == "lock" else layout.record(which)
    victim = tmp_path / "victim.txt"
    plant(link, victim, dangling)
    with pytest.raises(PreflightError, match=f"refusing to open {link}: it is a symbolic link"):
        run_extract(cfg)
    assert untouched(victim, dangling) and link.is_symlink()
    assert not (cfg.target / "a" / "x").exists()  # refused before any work
    # The CLI: one line, exit 2, no traceback.
    argv = ["extract", *set_args(f"source={cfg.source}", f"target={cfg.target}", "num_frames=4")]
    assert cli.main(argv) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"k400frames: error: refusing to open {link}: it is a symbolic link, and k400frames' own files never "
        f"are (remove the link; nothing was written through it)"
    ]
    assert untouched(victim, dangling)


def test_writer_and_lock_never_follow(tmp_path):
    victim = tmp_path / "victim.txt"
    plant(tmp_path / "train.manifest.jsonl", victim, dangling=False)
    for truncate in (False, True):
        with pytest.raises(PreflightError, match="symbolic link"):
            RecordWriter(tmp_path / "train.manifest.jsonl", truncate=truncate)
    with pytest.raises(PreflightError, match="symbolic link"):
        list(read_records([tmp_path / "train.manifest.jsonl"]))
    assert victim.read_text() == VICTIM_TEXT
    target = tmp_path / "out" / "train"
    plant(Layout(target).lock((1, 2)), tmp_path / "elsewhere.lock", dangling=True)
    with pytest.raises(PreflightError, match="symbolic link"):
        TargetLock(target, (1, 2)).acquire()
    assert not (tmp_path / "elsewhere.lock").exists()
    TargetLock(target).acquire().release()  # the whole split's own lock is no link: taken as ever


def test_writer_still_ends_a_torn_line(tmp_path):
    path = tmp_path / "train.manifest.jsonl"
    path.write_bytes(b'{"rel": "a/x"}\n{"rel": "a/y", "dec')
    writer = RecordWriter(path)
    writer.write({"rel": "a/z"})
    writer.close()
    assert [row["rel"] for row in read_records([path])] == ["a/x", "a/z"]
