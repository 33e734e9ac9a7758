"""A frames tree as one file, and back: ``pack`` and ``unpack``.

A frames root (the folder that holds the split folders) becomes

* a **packed store** (``DEST`` with the store's suffix, see
  :mod:`k400frames.stores`), whose keys are the tree's paths,
  ``<split>/<class>/<clip>/frame_00001.jpg`` (``<split>/<class>/<clip>.mp4``
  for videos): exactly the path a framework builds from a list line and its
  ``filename_tmpl``; or
* a **SquashFS image** (``DEST.sqfs``) whose root holds the split folders:
  mounted at ``/data`` (``squashfuse``, or Apptainer's
  ``--bind img.sqfs:/data:image-src=/``) it shows
  ``/data/train/<class>/<clip>/frame_00001.jpg`` to any path-based loader.
  The image is made by ``sqfstar`` from a tar stream that :mod:`tarfile`
  writes to its stdin, file by file: the tree is never copied.

What is packed: the files of clips, ``<split>/<class>/<clip>/<frame>`` and
``<split>/<class>/<clip>.<ext>``, hidden names skipped at every level (temp
areas, locks, ``.DS_Store``).  Lists, ``labels.txt``, manifests and other
files beside the split folders stay where they are: they are small, and the
lists already hold paths relative to the root, so they work unchanged with
the mount point as the prefix.

``unpack`` gives back that folder tree byte for byte.  Every name that goes
into a store or a tar stream or comes out of one is checked first: no
absolute path, no ``..`` or ``.`` component, no NUL, no empty component, so
a crafted store can never write outside the folder it is unpacked into.
Every result is written under a temp name beside ``DEST`` and renamed when
whole, so a name that exists is a finished one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import json
import os
import shutil
import stat
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

from ..errors import PackError
from ..ffmpeg import process
from ..files import fsync_path, measure_tree, publish
from ..layout import (
    LABELS_FILE,
    SQUASHFS_SUFFIX,
    Layout,
    dead_packing_leftovers,
    hidden,
    packing_partial,
    walk_split,
)
from ..run.records import read_records
from ..sources.kinetics import label_key
from ..stores import STORES, Store, TreeInfo, packed_store_named, store_class
from ..words import some

SQUASHFS_PACKAGE = "squashfs-tools"
COMPRESSIONS = ("none", "gzip", "lz4", "zstd", "xz")
# Measured by bench/read_speed.py (docs/performance.md): frames are JPEG, which
# no compressor shrinks, and uncompressed blocks spare every read a
# decompression; without fragments a frame is its own block, so reading it
# reads its bytes only, not a 128 KB block shared with other frames.
DEFAULT_COMPRESSION = "none"
DEFAULT_BLOCK_SIZE = "128K"
DEFAULT_FRAGMENTS = False
_STDERR_TAIL = 600


@dataclasses.dataclass(frozen=True)
class Member:
    """One file of a packed tree: its path under the root and how to read it."""

    name: str  # "<split>/<class>/<clip>/frame_00001.jpg", checked by safe_name
    size: int
    mtime: float
    read: Callable[[], bytes]


@dataclasses.dataclass
class PackResult:
    dest: Path
    files: int
    bytes: int  # of the files packed
    dest_bytes: int  # of the store or image made
    skipped: list[str]  # files under the root that are no clip files: not packed
    splits: list[str]


@dataclasses.dataclass
class UnpackResult:
    dest: Path
    files: int
    bytes: int
    splits: list[str] = dataclasses.field(default_factory=list)  # the split folders written into dest
    checked: int = 0  # clips whose bytes were checked against their digests


# ----------------------------------------------------------------------------
# names
# ----------------------------------------------------------------------------


def safe_name(name: str | bytes) -> str:
    """``name`` as a relative path that stays inside the root, else :class:`PackError`.

    Refused: a name that is not UTF-8, empty, absolute, holds NUL, or has an
    empty, ``.`` or ``..`` component (``a//b``, ``a/./b``, ``../x``)."""
    if isinstance(name, bytes):
        try:
            name = name.decode("utf-8")
        except UnicodeDecodeError:
            raise PackError(f"refused name, not UTF-8: {name!r}") from None
    parts = name.split("/")
    if not name or "\0" in name or name.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise PackError(f"refused name, it would leave the root: {name!r}")
    return name


def container_of(path: Path) -> type[Store] | str:
    """A packed store's class, ``sqfs`` or ``folder``, by suffix (a folder otherwise)."""
    if path.name.endswith(SQUASHFS_SUFFIX):
        return "sqfs"
    return packed_store_named(path) or "folder"


def _suffixes() -> str:
    """What ``--to`` may end in, for messages."""
    packed = [store_class(name).suffix for name in STORES if store_class(name).packed]
    return f"a store ending in {' or '.join(packed)} or an image ending in {SQUASHFS_SUFFIX}"


# ----------------------------------------------------------------------------
# sources: a frames root, or a packed store
# ----------------------------------------------------------------------------


def _reader(path: str) -> Callable[[], bytes]:
    def read() -> bytes:
        with open(path, "rb") as f:
            return f.read()

    return read


def folder_members(root: Path, skipped: list[str]) -> Iterator[Member]:
    """The clip files of every split folder of ``root`` (and the files of
    every packed ``<split>`` store in it), in sorted order; other visible
    files go to ``skipped`` (as paths under ``root``)."""
    for split in sorted(e.name for e in os.scandir(root) if not hidden(e.name)):
        top = root / split
        packed = packed_store_named(top)
        if packed is not None and packed.locate(top) == top:
            # A split extracted into a packed store; a shard's store is merged into it later.
            if ".shard-" in split:
                skipped.append(split)
            else:
                yield from store_members(packed, top)
            continue
        if not top.is_dir():
            skipped.append(split)
            continue
        for entry in walk_split(top):
            if not entry.class_name or not entry.name:
                if entry.is_file:
                    skipped.append(f"{split}/{entry.rel}")
                continue
            if entry.is_file:
                st = os.stat(entry.path)
                yield Member(f"{split}/{entry.rel}", st.st_size, st.st_mtime, _reader(entry.path))
                continue
            if not entry.is_dir:
                continue
            with os.scandir(entry.path) as children:
                for child in sorted((c for c in children if not hidden(c.name)), key=lambda c: c.name):
                    rel = f"{split}/{entry.rel}/{child.name}"
                    if not child.is_file():
                        skipped.append(rel)
                        continue
                    st = child.stat()
                    yield Member(rel, st.st_size, st.st_mtime, _reader(child.path))


def _constant(data: bytes) -> Callable[[], bytes]:
    return lambda: data


def store_members(store: type[Store], path: Path) -> Iterator[Member]:
    """Every file of the packed store ``path`` as a member (names checked), in name order."""
    mtime = max((entry.stat().st_mtime for entry in os.scandir(path) if entry.is_file()), default=0.0)
    for name, data in store.read_files(path):
        yield Member(safe_name(name), len(data), mtime, _constant(data))


def _split_folder_hint(src: Path) -> None:
    """A split folder given where its root is meant would pack every key one level short."""
    if any(Layout(src).record(record).exists() for record in ("manifest", "failures")):
        raise PackError(f"{src} is a split folder; pack the folder that holds the split folders: {src.parent}")


def members_of(src: Path, skipped: list[str]) -> Iterator[Member]:
    container = container_of(src)
    if not isinstance(container, str):
        return store_members(container, src)
    if container == "sqfs":
        raise PackError(
            f"{src} is a SquashFS image already; to make a store of it, mount it (squashfuse {src} MOUNTPOINT) "
            "and pack the mount point, or unpack it first"
        )
    if not src.is_dir():
        raise PackError(f"no such frames root (the folder that holds the split folders): {src}")
    _split_folder_hint(src)
    return folder_members(src, skipped)


# ----------------------------------------------------------------------------
# sinks: a packed store, a SquashFS image, a folder
# ----------------------------------------------------------------------------


def squashfs_command(
    image: Path,
    compression: str = DEFAULT_COMPRESSION,
    block_size: str = DEFAULT_BLOCK_SIZE,
    fragments: bool = DEFAULT_FRAGMENTS,
) -> list[str]:
    """The argv that makes ``image`` from a tar stream on stdin: ``sqfstar``,
    else ``mksquashfs - IMAGE -tar`` (both squashfs-tools >= 4.5)."""
    if compression not in COMPRESSIONS:
        raise PackError(f"compression: expected one of {', '.join(COMPRESSIONS)}, got {compression!r}")
    opts = ["-b", block_size, "-root-mode", "755", "-quiet", "-no-progress", "-no-xattrs", "-all-root"]
    opts += ["-noI", "-noD", "-noF", "-noX"] if compression == "none" else ["-comp", compression]
    if not fragments:
        opts.append("-no-fragments")
    sqfstar = shutil.which("sqfstar")
    if sqfstar:
        return [sqfstar, *opts, str(image)]
    mksquashfs = shutil.which("mksquashfs")
    if mksquashfs:
        return [mksquashfs, "-", str(image), "-tar", *opts]
    raise PackError(f"making a SquashFS image needs sqfstar (>= 4.5): install the package {SQUASHFS_PACKAGE}")


def _tail(result: process.ChildResult) -> str:
    """The end of what a squashfs tool printed, as one line."""
    text = (result.stdout.decode("utf-8", "replace") + result.stderr).strip()
    return " ".join(text[-_STDERR_TAIL:].split())


def _tar_dir(name: str, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = mtime
    return info


def stream_tar(members: Iterator[Member], out: IO[bytes]) -> tuple[int, int]:
    """Write ``members`` (and their parent folders) to ``out`` as one tar
    stream: regular files and folders only, owned by root, mode 644/755."""
    files = total = 0
    dirs: set[str] = set()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for m in members:
            parts = safe_name(m.name).split("/")  # every source checks; a sink checks again
            for depth in range(1, len(parts)):
                parent = "/".join(parts[:depth])
                if parent not in dirs:
                    dirs.add(parent)
                    tar.addfile(_tar_dir(parent, m.mtime))
            data = m.read()
            info = tarfile.TarInfo(m.name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = m.mtime
            tar.addfile(info, io.BytesIO(data))
            files += 1
            total += len(data)
    return files, total


def _write_squashfs(members: Iterator[Member], work: Path, argv: list[str]) -> tuple[int, int]:
    with process.feed(argv) as sqfstar:
        try:
            counts = stream_tar(members, sqfstar.stdin)
        except BrokenPipeError:
            counts = (0, 0)  # it stopped reading: its own message says why
    assert sqfstar.result is not None
    if sqfstar.result.returncode != 0:
        raise PackError(f"{Path(argv[0]).name} failed (exit {sqfstar.result.returncode}): {_tail(sqfstar.result)}")
    fsync_path(work)
    return counts


def _write_folder(members: Iterator[Member], work: Path) -> tuple[int, int]:
    files = total = 0
    work.mkdir()
    for m in members:
        path = work.joinpath(*safe_name(m.name).split("/"))
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL|O_NOFOLLOW: never through a link, never over a file written before.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except (FileExistsError, NotADirectoryError):
            raise PackError(f"{m.name!r} clashes with another file of the store") from None
        with os.fdopen(fd, "wb") as f:
            f.write(m.read())
        os.utime(path, (m.mtime, m.mtime))
        files += 1
        total += m.size
    return files, total


def _unsquashfs(image: Path, work: Path) -> None:
    """Extract ``image`` into the new folder ``work``, having first read its
    listing and refused any entry that is not a folder or a regular file:
    old unsquashfs releases write through a link of a crafted image while
    extracting (CVE-2021-40153, CVE-2021-41072), so a link must never reach
    extraction, whatever squashfs-tools is installed."""
    tool = shutil.which("unsquashfs")
    if tool is None:
        raise PackError(f"unpacking a SquashFS image needs unsquashfs: install the package {SQUASHFS_PACKAGE}")
    listing = process.run([tool, "-lls", "-no-progress", str(image)], capture_stdout=True)
    if listing.returncode != 0:
        raise PackError(f"unsquashfs cannot read {image} (exit {listing.returncode}): {_tail(listing)}")
    for line in (listing.stdout or b"").decode("utf-8", "replace").splitlines():
        perms, _, rest = line.partition(" ")
        if len(perms) == 10 and perms[0] not in "d-" and perms[1] in "r-":
            name = rest.partition(" squashfs-root/")[2].partition(" -> ")[0] or rest.strip()
            raise PackError(f"refused image {image}: {name!r} is neither a folder nor a regular file")
    result = process.run(
        [tool, "-quiet", "-no-progress", "-no-xattrs", "-dest", str(work), str(image)], capture_stdout=True
    )
    if result.returncode != 0:
        raise PackError(f"unsquashfs failed on {image} (exit {result.returncode}): {_tail(result)}")
    # The listing said folders and files only; check what landed all the same.
    for folder, dirs, names in os.walk(work):
        for name in dirs + names:
            mode = os.lstat(os.path.join(folder, name)).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                rel = os.path.relpath(os.path.join(folder, name), work)
                raise PackError(f"refused image {image}: {rel!r} is neither a folder nor a regular file")


# ----------------------------------------------------------------------------
# pack, unpack
# ----------------------------------------------------------------------------


@contextlib.contextmanager
def _building(dest: Path, overwrite: bool) -> Iterator[Path]:
    """A temp name beside ``dest`` to build into; renamed to ``dest`` when the
    body returns, removed when it raises (a killed run leaves only a hidden
    ``.NAME.PID.partial``, never a ``dest``, and the next run removes it)."""
    if os.path.lexists(dest) and not overwrite:
        raise PackError(f"{dest} exists; remove it or give --overwrite")
    dest.parent.mkdir(parents=True, exist_ok=True)
    for leftover in dead_packing_leftovers(dest):  # a whole image's worth of disk each
        _remove(leftover)
    work = packing_partial(dest)
    trash = packing_partial(dest, "trash")
    _remove(work)
    try:
        yield work
        publish(work, dest, trash, durable=True)
    finally:
        _remove(work)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def pack(
    src: Path,
    dest: Path,
    *,
    overwrite: bool = False,
    compression: str = DEFAULT_COMPRESSION,
    block_size: str = DEFAULT_BLOCK_SIZE,
    fragments: bool = DEFAULT_FRAGMENTS,
    seed: int = 0,
    shard_size: int = 10**9,
) -> PackResult:
    """Pack the frames root (or packed store) ``src`` into ``dest``: a packed
    store if it ends in that store's suffix, a SquashFS image if ``.sqfs``.
    A store whose samples carry labels (``.wds``) is a folder of one store
    per split, ``DEST/<split>.wds``, in the ``seed``ed order of a run, cut at
    ``shard_size``."""
    src, dest = Path(src), Path(dest)
    container = container_of(dest)
    if container == "folder":
        raise PackError(f"--to: name {_suffixes()}: {dest}")
    if src.resolve() == dest.resolve():
        raise PackError(f"{src} is both the source and the destination")
    skipped: list[str] = []
    splits: set[str] = set()

    def counted(members: Iterator[Member]) -> Iterator[Member]:
        for m in members:
            splits.add(m.name.split("/", 1)[0])
            yield m

    members = counted(members_of(src, skipped))
    digests = source_digests(src)
    tree = None
    if not isinstance(container, str) and container.carries_labels:
        tree = source_tree(src, seed=seed, shard_size=shard_size)
    argv = squashfs_command(dest, compression, block_size, fragments) if container == "sqfs" else []
    with _building(dest, overwrite) as work:
        if not isinstance(container, str):
            files, total = container.write_files(((m.name, m.read()) for m in members), work, digests, tree=tree)
        else:
            argv[argv.index(str(dest))] = str(work)
            if digests:  # the clips' digests travel in the image, for unpack to check
                blob = json.dumps(digests, sort_keys=True).encode()
                members = itertools.chain([Member(DIGESTS_FILE, len(blob), 0.0, _constant(blob))], members)
            files, total = _write_squashfs(members, work, argv)
            files -= bool(digests)
        if files == 0:
            raise PackError(f"nothing to pack in {src}: no <split>/<class>/<clip> files")
    dest_bytes = (
        sum(os.path.getsize(os.path.join(d, f)) for d, _, names in os.walk(dest) for f in names)
        if dest.is_dir()
        else dest.stat().st_size
    )
    return PackResult(dest, files, total, dest_bytes, skipped, sorted(splits))


# The clips' digests in an image: a hidden file at its root, which loaders never list.
DIGESTS_FILE = ".k400frames-digests.json"


def source_rows(src: Path) -> dict[str, dict]:
    """``<split>/<class>/<clip>`` -> the latest manifest row of every clip
    of the frames root ``src`` (none for a packed store: it keeps no rows)."""
    rows: dict[str, dict] = {}
    if not isinstance(container_of(src), str) or not src.is_dir():
        return rows
    splits = {_split_name(e.name) for e in os.scandir(src) if not hidden(e.name) and e.is_dir()}
    for split in sorted(splits):
        for row in read_records(Layout(src / split).all_records("manifest")):
            rows[f"{split}/{row['rel']}"] = row
    return rows


def _split_name(name: str) -> str:
    packed = packed_store_named(Path(name))
    return name[: -len(packed.suffix)] if packed is not None else name


def source_classes(src: Path) -> list[str]:
    """The class map of the tree ``src``: its root's ``labels.txt`` where
    there is one (the map ``lists`` wrote), else every class of every split,
    sorted as ``lists`` numbers them, so that each split gets the same map
    and a class missing from one split shifts no other's index."""
    labels = src / LABELS_FILE
    if isinstance(container_of(src), str) and labels.is_file():
        return [line for line in labels.read_text(encoding="utf-8").splitlines() if line]
    names = {m.name.split("/")[1] for m in members_of(src, []) if m.name.count("/") >= 2}
    by_key = {label_key(name): name for name in names}
    return [by_key[key] for key in sorted(by_key)]


def source_tree(src: Path, *, seed: int = 0, shard_size: int = 10**9) -> TreeInfo:
    """What a store whose samples carry labels needs of ``src`` beyond its files."""
    return TreeInfo(classes=source_classes(src), rows=source_rows(src), seed=seed, shard_size=shard_size)


def source_digests(src: Path) -> dict[str, str]:
    """``<split>/<class>/<clip>`` -> digest of every clip of ``src`` that
    carries one: a packed store's records, or a frames root's manifests (and
    the records of the packed split stores in it)."""
    container = container_of(src)
    if not isinstance(container, str):
        return container.read_digests(src)
    digests: dict[str, str] = {}
    if not src.is_dir():
        return digests
    for entry in sorted(os.scandir(src), key=lambda e: e.name):
        packed = packed_store_named(Path(entry.path))
        if packed is not None and packed.locate(Path(entry.path)) == Path(entry.path):
            digests.update(packed.read_digests(Path(entry.path)))
        elif entry.is_dir() and not hidden(entry.name):
            for row in read_records(Layout(Path(entry.path)).all_records("manifest")):
                key = f"{entry.name}/{row['rel']}"
                digests.pop(key, None)  # the latest line of a clip wins
                if isinstance(row.get("digest"), str) and row["digest"]:
                    digests[key] = row["digest"]
    return digests


def check_digests(tree: Path, digests: dict[str, str]) -> list[str]:
    """The clips under ``tree`` whose bytes differ from their ``digests``."""
    bad = []
    for clip, digest in sorted(digests.items()):
        path = tree / clip
        if not os.path.lexists(path) and os.path.isfile(f"{path}.mp4"):
            path = Path(f"{path}.mp4")  # a video's manifest line names its clip without the suffix
        if os.path.lexists(path) and measure_tree(path)[1] != digest:
            bad.append(clip)
    return bad


def unpack(store: Path, dest: Path, *, overwrite: bool = False) -> UnpackResult:
    """Write the folder tree held by ``store`` (a packed store or ``.sqfs``)
    into ``dest``, byte for byte, in plain modes (0644 files, 0755 folders)
    owned by whoever runs it.

    ``dest`` may be a new folder or an existing frames root: the splits the
    store carries are added beside what is there.  A split that exists
    already is refused, or with ``overwrite`` replaced (only that split);
    nothing else in ``dest`` is touched."""
    store, dest = Path(store), Path(dest)
    container = container_of(store)
    if container == "folder":
        raise PackError(f"unpack: expected {_suffixes()}")
    if not store.exists():
        raise PackError(f"no such store: {store}")
    if os.path.lexists(dest) and not dest.is_dir():
        raise PackError(f"--to: {dest} exists and is not a folder")
    parent = dest if dest.is_dir() else dest.parent
    parent.mkdir(parents=True, exist_ok=True)
    for leftover in dead_packing_leftovers(dest):  # a whole tree's worth of disk each
        _remove(leftover)
    work = packing_partial(dest)
    _remove(work)
    try:
        os.mkdir(work, 0o700)  # nobody else reaches the tree until its modes are plain
        tree = work / "tree"
        if not isinstance(container, str):
            files, total = _write_folder(store_members(container, store), tree)
            digests = container.read_digests(store)
        else:
            _unsquashfs(store, tree)
            carried = tree / DIGESTS_FILE
            digests = json.loads(carried.read_bytes()) if carried.is_file() else {}
            carried.unlink(missing_ok=True)
            files, total = _plain_modes(tree)
        bad = check_digests(tree, digests)
        if bad:
            shown = some(bad)
            raise PackError(
                f"refused {store}: {len(bad)} clips differ from the digests they were made with ({shown}); "
                f"nothing unpacked"
            )
        splits = sorted(os.listdir(tree)) if tree.is_dir() else []
        if not splits:
            raise PackError(f"nothing to unpack in {store}: it holds no split folders")
        if not dest.is_dir():
            os.chmod(tree, 0o755)
            publish(tree, dest, work / "trash", durable=True)
        else:
            there = [split for split in splits if os.path.lexists(dest / split)]
            if there and not overwrite:
                raise PackError(
                    f"{', '.join(str(dest / split) for split in there)} exists; remove it or give --overwrite, "
                    f"which replaces only the split folders {store.name} holds ({', '.join(splits)})"
                )
            for split in splits:  # each split by one rename; an old one goes to the trash first
                publish(tree / split, dest / split, work / "trash", durable=True)
    finally:
        _remove(work)
    return UnpackResult(dest, files, total, splits, checked=len(digests))


def _plain_modes(tree: Path) -> tuple[int, int]:
    """Give every entry of an unpacked image plain modes (0644 files, 0755
    folders: no setuid, setgid, sticky or world-write bits) and, as root,
    our own owner (an image carries its maker's); (files, bytes)."""
    files = total = 0
    me = (os.getuid(), os.getgid())
    for folder, dirs, names in os.walk(tree):
        for name in dirs + names:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if me == (0, 0) and (st.st_uid, st.st_gid) != me:
                os.lchown(path, *me)
            os.chmod(path, 0o755 if stat.S_ISDIR(st.st_mode) else 0o644)
            if stat.S_ISREG(st.st_mode):
                files += 1
                total += st.st_size
    os.chmod(tree, 0o755)
    return files, total


# ----------------------------------------------------------------------------
# how to use an image (lists.md and `lists` print this)
# ----------------------------------------------------------------------------


# How an image is mounted, without root: FUSE, or Apptainer's image binding.
SQUASHFUSE_MOUNT = "squashfuse frames.sqfs /data"
APPTAINER_MOUNT = "apptainer exec --bind frames.sqfs:/data:image-src=/ IMAGE.sif python train.py"


def mount_text(root: Path) -> str:
    """Markdown: how to pack ``root`` into an image, mount it and which prefix to use."""
    return (
        "\n## A SquashFS image of this tree\n\n"
        f"`k400frames pack {root} --to frames.sqfs` packs the split folders into one file. "
        "Mount it and use the mount point as the prefix in place of the root above; the lists stay as they are:\n\n"
        "```sh\n"
        f"{SQUASHFUSE_MOUNT}          # no root needed; fusermount3 -u /data (or fusermount -u, or umount) unmounts\n"
        f"{APPTAINER_MOUNT}\n"
        "```\n\n"
        "Then `train/<class>/<clip>` in a list reads `/data/train/<class>/<clip>`.\n"
    )


def mount_hint(root: Path) -> str:
    """The same in one line, for the command line."""
    return (
        f"one file instead of a tree: k400frames pack {root} --to frames.sqfs, then {SQUASHFUSE_MOUNT} "
        f"(or {APPTAINER_MOUNT}); the prefix becomes /data"
    )
