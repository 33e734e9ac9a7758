"""`unpack` adds the splits a store carries to a frames root and touches
nothing else; `--overwrite` replaces only those splits.  An image's entries
land in plain modes, owned by whoever unpacks."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import tarfile

import pytest

from k400frames.errors import PackError
from k400frames.run.runner import run_extract
from k400frames.tools.pack import unpack

from helpers import SQUASHFS_TOOLS, need_tools, run_main, tree_bytes


@pytest.fixture
def split_stores(make_clip, config, tmp_path):
    """train.lmdb and val.lmdb beside each other, as store: lmdb leaves them."""
    make_clip("a/one.mp4", seconds=0.3, fps=10)
    make_clip("b/two.mp4", seconds=0.3, fps=10)
    for split in ("train", "val"):
        assert run_extract(config(num_frames=3, store="lmdb", target=str(tmp_path / "out" / split))).failed == 0
    return tmp_path / "out"


def test_unpack_adds_a_split_beside_another_and_keeps_what_it_did_not_write(split_stores, tmp_path, capfd):
    dest = tmp_path / "unpacked"
    assert unpack(split_stores / "train.lmdb", dest).splits == ["train"]
    (dest / "notes.txt").write_text("mine")
    train = tree_bytes(dest / "train")
    assert len(train) == 6
    out = run_main(capfd, "unpack", str(split_stores / "val.lmdb"), "--to", str(dest))
    assert out.returncode == 0, out.stderr
    assert sorted(os.listdir(dest)) == ["notes.txt", "train", "val"]
    assert tree_bytes(dest / "train") == train and tree_bytes(dest / "val") == train  # same clips, same bytes
    # Again: that split exists; refused with the way out, and nothing changes.
    again = run_main(capfd, "unpack", str(split_stores / "val.lmdb"), "--to", str(dest))
    assert again.returncode == 2 and f"{dest / 'val'} exists" in again.stderr and "--overwrite" in again.stderr
    assert again.stderr.count("\n") == 1
    # --overwrite replaces val only: train and the user's file stay as they were.
    (dest / "val" / "a" / "stale.txt").write_text("old")
    over = run_main(capfd, "unpack", str(split_stores / "val.lmdb"), "--to", str(dest), "--overwrite")
    assert over.returncode == 0, over.stderr
    assert not (dest / "val" / "a" / "stale.txt").exists()
    assert tree_bytes(dest / "train") == train and (dest / "notes.txt").read_text() == "mine"
    assert sorted(os.listdir(dest)) == ["notes.txt", "train", "val"]  # no partial or trash left


def test_unpack_refuses_a_file_as_its_destination(split_stores, tmp_path):
    (tmp_path / "dest").write_text("a file")
    with pytest.raises(PackError, match="exists and is not a folder"):
        unpack(split_stores / "train.lmdb", tmp_path / "dest")
    assert (tmp_path / "dest").read_text() == "a file"


def _image(tmp_path, entries) -> str:
    need_tools(*SQUASHFS_TOOLS, package="squashfs-tools")
    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    image = tmp_path / "crafted.sqfs"
    made = subprocess.run(["sqfstar", "-quiet", "-no-progress", str(image)], input=stream.getvalue())
    assert made.returncode == 0
    return str(image)


def test_an_image_lands_in_plain_modes_and_our_owner(tmp_path):
    folder = tarfile.TarInfo("train/c")
    folder.type, folder.mode, folder.uid, folder.gid = tarfile.DIRTYPE, 0o7777, 4321, 4321
    evil = tarfile.TarInfo("train/c/clip.mp4")
    evil.size, evil.mode, evil.uid, evil.gid = 4, 0o6777, 4321, 4321  # setuid, setgid, world-writable
    image = _image(tmp_path, [(folder, None), (evil, b"data")])
    result = unpack(image, tmp_path / "out")
    assert (result.files, result.splits) == (1, ["train"])
    for path, mode in (("train", 0o755), ("train/c", 0o755), ("train/c/clip.mp4", 0o644)):
        st = os.lstat(tmp_path / "out" / path)
        assert stat.S_IMODE(st.st_mode) == mode, path
        assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid()), path


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.CHRTYPE, tarfile.FIFOTYPE])  # a hard link is a file
def test_an_image_with_a_link_or_a_device_is_refused_before_anything_is_extracted(tmp_path, kind):
    target = tarfile.TarInfo("train/c/real")
    target.size = 1
    odd = tarfile.TarInfo("train/c/odd")
    odd.type = kind
    odd.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else "train/c/real"
    image = _image(tmp_path, [(target, b"x"), (odd, None)])
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine").write_text("kept")
    with pytest.raises(PackError, match="'train/c/odd' is neither a folder nor a regular file"):
        unpack(image, tmp_path / "out")
    assert sorted(os.listdir(tmp_path / "out")) == ["mine"]


def _rot(path, key: bytes) -> None:
    """Flip one byte in the middle of the value of ``key`` in the LMDB at ``path``, as bit rot would."""
    import lmdb

    env = lmdb.open(str(path), subdir=True)
    with env.begin(write=True) as txn:
        value = bytearray(txn.get(key))
        value[len(value) // 2] ^= 0xFF
        txn.put(key, bytes(value))
    env.close()


def test_a_rotten_clip_is_named_by_unpack_and_verify_deep(split_stores, tmp_path, capfd):
    store = split_stores / "train.lmdb"
    _rot(store, b"train/a/one/frame_00002.jpg")
    out = run_main(capfd, "unpack", str(store), "--to", str(tmp_path / "u"))
    assert out.returncode == 2 and "1 clips differ from the digests they were made with (train/a/one)" in out.stderr
    assert not (tmp_path / "u").exists()
    deep = run_main(
        capfd, "verify", "--config", "/dev/null", "--set", f"target={split_stores / 'train'}", "--set", "num_frames=3",
        "--deep",
    )  # fmt: skip
    assert deep.returncode == 1 and "a/one" in deep.stdout and "digest" in deep.stdout
    assert "a/one" not in run_main(capfd, "verify", str(split_stores / "val.lmdb"), "--num-frames", "3").stdout


def test_an_image_carries_the_digests_and_unpack_checks_them(make_clip, config, tmp_path, capfd):
    need_tools(*SQUASHFS_TOOLS, package="squashfs-tools")
    make_clip("a/one.mp4", seconds=0.3, fps=10)
    make_clip("b/two.mp4", seconds=0.3, fps=10)
    cfg = config(num_frames=3, target=str(tmp_path / "root" / "train"))
    assert run_extract(cfg).failed == 0
    assert run_main(capfd, "pack", str(tmp_path / "root"), "--to", str(tmp_path / "good.sqfs")).returncode == 0
    good = run_main(capfd, "unpack", str(tmp_path / "good.sqfs"), "--to", str(tmp_path / "good"))
    assert "checked: 2 clips equal to the digests" in good.stdout
    assert sorted(os.listdir(tmp_path / "good")) == ["train"]  # the carried digests stay out of the tree
    # A frame changed after it was made: the manifest's digest, carried into the image, disagrees.
    (cfg.target / "b" / "two" / "frame_00001.jpg").write_bytes(b"\xff\xd8changed\xff\xd9")
    assert run_main(capfd, "pack", str(tmp_path / "root"), "--to", str(tmp_path / "r.sqfs")).returncode == 0
    out = run_main(capfd, "unpack", str(tmp_path / "r.sqfs"), "--to", str(tmp_path / "back"))
    assert out.returncode == 2 and "(train/b/two)" in out.stderr


def test_a_store_without_digests_is_unpacked_with_a_line_saying_so(tmp_path, capfd):
    from k400frames.stores.lmdb import LmdbEnv

    env = LmdbEnv.open_write(tmp_path / "old.lmdb")  # as a release before the records wrote it
    env.put_clip("train/c/x", [("/frame_00001.jpg", b"\xff\xd8jpeg\xff\xd9")])
    env.close()
    out = run_main(capfd, "unpack", str(tmp_path / "old.lmdb"), "--to", str(tmp_path / "u"))
    assert out.returncode == 0 and "not checked:" in out.stdout
    assert (tmp_path / "u" / "train" / "c" / "x" / "frame_00001.jpg").read_bytes() == b"\xff\xd8jpeg\xff\xd9"
