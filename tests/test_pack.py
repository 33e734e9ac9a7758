"""`k400frames pack` / `unpack`: a frames root as one LMDB store or SquashFS
image and back, byte for byte; names that would leave the root refused;
a killed pack leaves no finished-looking DEST."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import lmdb
import pytest

from k400frames.errors import PackError
from k400frames.run.runner import run_extract
from k400frames.tools.lists import write_lists
from k400frames.tools.pack import DIGESTS_FILE, Member, pack, safe_name, source_digests, stream_tar, unpack

from helpers import SQUASHFS_TOOLS, need_tools, run_cli, wait_for


def tree_of(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` by its path under it."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def frames_root(tmp_path, make_clip, config) -> Path:
    """A real frames root: train extracted by k400frames (2 classes, 4
    frames a clip, one clip padded), val a copy, lists and labels beside."""
    make_clip("abseiling/-dash_id_000001_000011.mp4", seconds=0.4)
    make_clip("tai_chi/clip2.mp4", seconds=0.08, fps=25)  # 2 frames: padded to 4
    cfg = config(num_frames=4)
    assert run_extract(cfg).failed == 0
    write_lists(cfg, ("mmaction2",))
    root = cfg.target.parent
    shutil.copytree(root / "train", root / "val")
    return root


def clip_files(root: Path) -> dict[str, bytes]:
    return {k: v for k, v in tree_of(root).items() if k.startswith(("train/", "val/"))}


def test_lmdb_round_trip_is_byte_identical_with_mmaction2_keys(frames_root, tmp_path):
    expected = clip_files(frames_root)
    assert len(expected) == 16 and "train/abseiling/-dash_id_000001_000011/frame_00004.jpg" in expected
    result = pack(frames_root, tmp_path / "frames.lmdb")
    assert (result.files, result.splits) == (16, ["train", "val"])
    assert "labels.txt" in result.skipped and "train.mmaction2.txt" in result.skipped
    env = lmdb.open(str(tmp_path / "frames.lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        stored = {k.decode("ascii"): bytes(v) for k, v in txn.cursor()}
    env.close()
    records = {k: json.loads(v) for k, v in stored.items() if k.startswith(".record/")}
    stored = {k: v for k, v in stored.items() if not k.startswith(".record/")}
    assert stored == expected  # keys are what mmaction2 builds: <split>/<class>/<clip>/frame_00001.jpg
    # Each clip's digest travels in the store beside its frames (train's clips: the ones a manifest names).
    assert sorted(records) == [".record/train/abseiling/-dash_id_000001_000011", ".record/train/tai_chi/clip2"]

    back = unpack(tmp_path / "frames.lmdb", tmp_path / "back")
    assert back.files == 16
    assert tree_of(tmp_path / "back") == expected

    # A root whose splits are stores (store: lmdb) packs like one of folders.
    stored_root = tmp_path / "stored"
    stored_root.mkdir()
    shutil.copytree(tmp_path / "frames.lmdb", stored_root / "train.lmdb")
    pack(stored_root, tmp_path / "again.lmdb")
    assert tree_of(unpack(tmp_path / "again.lmdb", tmp_path / "again").dest) == expected
    assert not [p for p in tmp_path.iterdir() if p.name.endswith((".partial", ".trash"))]


def test_sqfs_round_trip_is_byte_identical_from_folders_and_from_a_store(frames_root, tmp_path):
    need_tools(*SQUASHFS_TOOLS, package="squashfs-tools")
    expected = clip_files(frames_root)
    pack(frames_root, tmp_path / "a.sqfs")
    assert tree_of(unpack(tmp_path / "a.sqfs", tmp_path / "a").dest) == expected
    pack(frames_root, tmp_path / "s.lmdb")
    pack(tmp_path / "s.lmdb", tmp_path / "b.sqfs", compression="gzip", block_size="64K")
    assert tree_of(unpack(tmp_path / "b.sqfs", tmp_path / "b").dest) == expected

    # An existing DEST is kept unless --overwrite, which replaces it whole.
    out = run_cli("pack", str(frames_root), "--to", str(tmp_path / "a.sqfs"))
    assert out.returncode == 2 and out.stderr.strip().splitlines() == [
        f"k400frames: error: {tmp_path / 'a.sqfs'} exists; remove it or give --overwrite"
    ]
    out = run_cli("pack", str(frames_root), "--to", str(tmp_path / "a.sqfs"), "--overwrite")
    assert out.returncode == 0 and out.stdout.startswith("packed 16 files (")


def test_squashfuse_mount_shows_the_split_folders_at_the_mount_point(frames_root, tmp_path):
    need_tools(*SQUASHFS_TOOLS, package="squashfs-tools")
    need_tools("squashfuse", package="squashfuse")
    if not os.path.exists("/dev/fuse"):
        pytest.skip("no /dev/fuse: FUSE mounts are not possible here")
    pack(frames_root, tmp_path / "f.sqfs")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    mounted = subprocess.run(["squashfuse", str(tmp_path / "f.sqfs"), str(mnt)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"squashfuse cannot mount here: {mounted.stderr.strip()[:120]}")
    try:
        mounted = tree_of(mnt)
        assert json.loads(mounted.pop(DIGESTS_FILE)) == source_digests(frames_root)  # hidden, beside the splits
        assert mounted == clip_files(frames_root)
        assert (mnt / "train" / "tai_chi" / "clip2" / "frame_00004.jpg").is_file()
    finally:
        unmount = [shutil.which("fusermount3") or shutil.which("fusermount") or "umount"]
        subprocess.run([*unmount, *(["-u"] if "fusermount" in unmount[0] else []), str(mnt)], check=True)


@pytest.mark.parametrize(
    "key", [b"../escape.jpg", b"/abs.jpg", b"train/a/../../escape.jpg", b"a//b", b"a/./b", b"a\0b"]
)
def test_store_keys_that_leave_the_root_are_refused(tmp_path, key):
    store = tmp_path / "evil.lmdb"
    env = lmdb.open(str(store), map_size=1 << 20)
    with env.begin(write=True) as txn:
        txn.put(b"train/c/clip/frame_00001.jpg", b"ok")
        txn.put(key, b"evil")
    env.close()
    out = run_cli("unpack", str(store), "--to", str(tmp_path / "work" / "out"))
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"k400frames: error: refused name, it would leave the root: {key.decode()!r}"
    ]
    assert not (tmp_path / "work" / "out").exists()
    assert not [p for p in tmp_path.rglob("*") if "escape" in p.name or p.name.endswith(".partial")]
    assert not Path("/abs.jpg").exists()
    with pytest.raises(PackError, match="refused name"):
        pack(store, tmp_path / "evil.sqfs")
    assert not (tmp_path / "evil.sqfs").exists()


def test_safe_name_keeps_ordinary_names():
    assert (
        safe_name(b"train/tai_chi/-x_000001_000011/frame_00001.jpg") == "train/tai_chi/-x_000001_000011/frame_00001.jpg"
    )
    with pytest.raises(PackError, match="not UTF-8"):
        safe_name(b"train/\xff/x.jpg")


@pytest.mark.parametrize("name", ["../x.jpg", "/etc/x.jpg", "a/../../x.jpg", "a\0b"])
def test_tar_stream_refuses_members_that_leave_the_root(name):
    out = io.BytesIO()
    with pytest.raises(PackError, match="refused name"):
        stream_tar(iter([Member(name, 1, 0.0, lambda: b"x")]), out)
    members = tarfile.open(fileobj=io.BytesIO(out.getvalue())).getnames() if out.getvalue() else []
    assert members == []


def test_crafted_image_with_a_link_is_refused_on_unpack(tmp_path):
    need_tools(*SQUASHFS_TOOLS, package="squashfs-tools")
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
        link = tarfile.TarInfo("train/c/clip")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc"
        tar.addfile(link)
    made = subprocess.run(["sqfstar", "-quiet", "-no-progress", str(tmp_path / "evil.sqfs")], input=stream.getvalue())
    assert made.returncode == 0
    with pytest.raises(PackError, match="'train/c/clip' is neither a folder nor a regular file"):
        unpack(tmp_path / "evil.sqfs", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.sqfs"]


def test_names_lmdb_cannot_serve_to_mmaction2_are_refused(tmp_path):
    clip = tmp_path / "root" / "train" / "café" / "clip"
    clip.mkdir(parents=True)
    (clip / "frame_00001.jpg").write_bytes(b"jpeg")
    with pytest.raises(PackError, match="not ASCII, and mmaction2 encodes LMDB keys as ASCII"):
        pack(tmp_path / "root", tmp_path / "x.lmdb")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["root"]


def test_bad_sources_and_destinations_are_one_line(frames_root, tmp_path):
    cases = [
        (["pack", str(frames_root / "train"), "--to", str(tmp_path / "x.lmdb")], "is a split folder; pack the folder"),
        (["pack", str(frames_root), "--to", str(tmp_path / "x.tar")], "--to: name a store ending in .lmdb"),
        (["pack", str(tmp_path / "nope"), "--to", str(tmp_path / "x.lmdb")], "no such frames root"),
        (["unpack", str(tmp_path / "nope.lmdb"), "--to", str(tmp_path / "d")], "no such store"),
    ]
    for argv, message in cases:
        out = run_cli(*argv)
        assert out.returncode == 2, argv
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (argv, out.stderr)


def test_missing_squashfs_tools_is_one_line_naming_the_package(frames_root, tmp_path):
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {"PATH": str(bare)}
    for argv in (
        ["pack", str(frames_root), "--to", str(tmp_path / "x.sqfs")],
        ["unpack", str(tmp_path / "x.sqfs"), "--to", str(tmp_path / "d")],
    ):
        if argv[0] == "unpack":
            (tmp_path / "x.sqfs").write_bytes(b"hsqs")
        out = run_cli(*argv, env=env)
        assert out.returncode == 2
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "install the package squashfs-tools" in lines[0], out.stderr
    assert not (tmp_path / "d").exists()


def test_a_killed_pack_leaves_no_finished_looking_dest(frames_root, tmp_path):
    """sqfstar stand-in: writes what it reads to the image path, then hangs;
    the pack is killed with SIGKILL meanwhile."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "sqfstar"
    fake.write_text('#!/bin/bash\nfor last; do :; done\ncat > "$last"\nexec sleep 60\n')
    fake.chmod(0o755)
    dest = tmp_path / "img" / "f.sqfs"
    proc = subprocess.Popen(
        [sys.executable, "-m", "k400frames", "pack", str(frames_root), "--to", str(dest)],
        env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        start_new_session=True,
    )
    try:
        assert wait_for(lambda: any(p.name.endswith(".partial") for p in dest.parent.glob(".*")), timeout=60)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir()] == [f".f.sqfs.{proc.pid}.partial"]
    # A later pack removes the dead run's leftover and publishes its own image.
    need_tools(*SQUASHFS_TOOLS, package="squashfs-tools")
    pack(frames_root, dest)
    assert [p.name for p in dest.parent.iterdir()] == ["f.sqfs"]
    assert tree_of(unpack(dest, tmp_path / "u").dest) == clip_files(frames_root)


def test_pack_removes_the_leftovers_of_dead_runs_only(frames_root, tmp_path):
    dest = tmp_path / "packs" / "f.lmdb"
    dest.parent.mkdir()
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    running = subprocess.Popen(["sleep", "60"])  # another pack of the same destination, still running
    dead_pid, live_pid = int(gone.stdout), running.pid
    leftovers = {
        f".f.lmdb.{dead_pid}.partial": True,  # (name, removed?)
        f".f.lmdb.{dead_pid}.trash": True,
        f".f.lmdb.{live_pid}.partial": False,  # a pack still running: not ours to touch
        f".other.lmdb.{dead_pid}.partial": False,  # another destination's
    }
    for name in leftovers:
        (dest.parent / name).mkdir()
        (dest.parent / name / "data.mdb").write_bytes(b"x" * 100)
    try:
        pack(frames_root, dest)
    finally:
        running.kill()
        running.wait()
    left = {p.name for p in dest.parent.iterdir()}
    assert left == {"f.lmdb", *(name for name, removed in leftovers.items() if not removed)}


def test_lists_say_how_to_mount_an_image(frames_root, tmp_path, config):
    cfg = config(num_frames=4)
    text = write_lists(cfg, ("mmaction2",)).snippet_text
    assert f"k400frames pack {frames_root} --to frames.sqfs" in text
    assert "squashfuse frames.sqfs /data" in text and "--bind frames.sqfs:/data:image-src=/" in text
    out = run_cli("lists", "--format", "paddlevideo", "--set", f"target={cfg.target}")
    assert out.returncode == 0 and "apptainer exec --bind frames.sqfs:/data:image-src=/" in out.stdout
