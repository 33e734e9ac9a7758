"""Training list files: one line per clip in the form each framework's own
loader reads, ``labels.txt``, and ``lists.md`` with the config keys to paste.

A split folder holds either frame folders (``<class>/<clip>/frame_00001.jpg``)
or videos (``<class>/<clip>.mp4``); the lines follow from which.  Each format
is offered only where its framework's default loader reads that kind of split:

==================  ==========================  ===========================
format              frames split                video split
==================  ==========================  ===========================
mmaction2           ``path total label``        ``path label``
paddlevideo         ``path total label``        (not offered)
videomae            ``path total label``        ``path label``
videomae-pretrain   ``path 1 total``            (not offered)
pytorchvideo        ``path label``              ``path label``
slowfast            (not offered)               ``path label``
==================  ==========================  ===========================

Every path is relative to the folder that holds the split folders (the
"root"), e.g. ``train/abseiling/<clip>``, because VideoMAEv2 and SlowFast join
one prefix to the train and the val list alike.  Fields are split on
whitespace, which is why a path holding a space is refused instead of written
(``class_names``/``clip_names: underscore`` avoid it at extraction).

A frame count is what the folder holds (``frames="all"``: every clip has
``num_frames``, pads included) or, with ``frames="decoded"``, the real
frames the manifest records for the clip, so that a sampler such as
mmaction2's ``SampleFrames`` never lands on a pad while the folders keep
exactly N frames.  The split's pad share is reported either way.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..clip import flow as flow_images
from ..clip.outputs import Output, scan_store
from ..config import Config
from ..errors import ListFormatError
from ..files import replaced_atomically
from ..layout import Layout
from ..run.records import PAD_WARN_SHARE, pad_advice
from ..run.records import decoded_counts as read_decoded
from ..sources.kinetics import clip_names_of, label_key, read_kinetics_csv
from ..sources.tree import output_class_name
from ..stores import Store, locate
from .leakage import Leak, find_leaks
from .pack import mount_text
from .verify import expected_csv, join_csv, join_segments

# The rate pytorchvideo's FrameVideo assumes for a frame folder.
PYTORCHVIDEO_FPS = 30.0
FRAME_COUNTS = ("all", "decoded")

# What a split holds, as Output.lists_kind says it.
FRAMES, VIDEOS = "frames", "videos"
# What a frames list reads: the RGB frames, or the flow pairs beside them (clip/flow.py).
MODALITIES = ("rgb", "flow")
FLOW_FORMATS = ("mmaction2",)  # the loaders that read flow pairs: RawframeDataset(modality='Flow')


@dataclasses.dataclass
class ListsResult:
    """Files written by :func:`write_lists` and what was left out of them."""

    kind: str  # FRAMES or VIDEOS: what the split holds
    lists: dict[str, Path]
    labels: Path
    snippet: Path
    snippet_text: str
    classes: int
    clips: int
    empty: list[str]  # clips without frame 1 (or empty videos): not listed
    short: list[tuple[str, int]]  # (clip, frames) listed with fewer than num_frames (all: than its record's)
    unlabelled: list[str]  # class folders the annotations CSV has no label for: not listed
    labels_grew: list[str]  # classes added to an existing labels.txt
    skipped_formats: list[str] = dataclasses.field(default_factory=list)  # of "all": not for this kind
    not_on_disk: list[str] = dataclasses.field(default_factory=list)  # rows of the CSV/segments without a clip
    known_gone: int = 0  # rows without a clip that the config's missing_ok lists: expected
    listing: Path | None = None  # the CSV (or segments CSV) those rows come from
    pads: PadShare | None = None  # of the frames split, from the manifest
    leaks: list[Leak] = dataclasses.field(default_factory=list)  # recordings in more than one split
    fps_note: str = ""  # the pytorchvideo frame list of a split not at 30 fps
    frames: str = "all"  # the frame counts written: all, or decoded (real frames only)
    unrecorded: int = 0  # with frames="decoded": clips the manifest has no count for (listed with all)


@dataclasses.dataclass(frozen=True)
class PadShare:
    """Pad frames among the frames of a split's clips, from its manifest."""

    pads: int
    frames: int

    @property
    def share(self) -> float:
        return self.pads / self.frames if self.frames else 0.0

    @property
    def high(self) -> bool:
        return self.share > PAD_WARN_SHARE

    def describe(self) -> str:
        return f"{self.share:.0%} of the frames are pads ({self.pads} of {self.frames})"


def decoded_counts(target: Path) -> dict[str, int]:
    """rel -> real frames, from the split's manifest (see :func:`~k400frames.run.records.decoded_counts`)."""
    return read_decoded(Layout(target).all_records("manifest"))


def list_path(target: Path, fmt: str) -> Path:
    """Where the list of split ``target`` in ``fmt`` goes (:meth:`Layout.list_file`)."""
    return Layout(target).list_file(fmt, FORMATS[fmt].csv_folder)


def formats_for(kind: str) -> tuple[str, ...]:
    """The formats that can list a split holding ``kind`` (FRAMES or VIDEOS)."""
    return tuple(name for name, f in FORMATS.items() if kind in f.snippets)


def split_kind(store: Store) -> tuple[Output, list[tuple[str, str]]]:
    """The output kind of the split's clips and its (class, clip) pairs;
    a split that holds clips of two kinds is refused."""
    output, pairs, problems = scan_store(store)
    mixed = [p for p in problems if p.kind == "mixed"]
    if mixed:
        first = pairs[0] if pairs else ("?", "?")
        raise ListFormatError(
            f"{store.path} holds clips of more than one kind: {output.name} ({first[0]}/{first[1]}); "
            f"{mixed[0].detail.split(' where ')[0].removeprefix('a clip of output: ')} ({mixed[0].rel}); "
            f"a split must hold one"
        )
    if not pairs:
        raise ListFormatError(
            f"no clips in {store.path} (expected <class>/<clip>/ frame folders or <class>/<clip>.mp4 videos)"
        )
    return output, pairs


def _read_labels(path: Path) -> list[str]:
    try:
        return [line.rstrip("\n") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except FileNotFoundError:
        return []


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path) as partial:
        partial.write_text(text, encoding="utf-8")


def class_labels(cfg: Config, disk_classes: Sequence[str], existing: Sequence[str]) -> list[str]:
    """The label names, in label-index order.

    With an ``annotations`` CSV: the set of its labels after the
    ``class_names`` policy, so that every split listed against the same
    classes gets the same indices, whatever is on disk.  Without one: the
    class folders.  Either way joined with an existing ``labels.txt`` (the
    other split's), and sorted by :func:`label_key`."""
    if cfg.annotations is not None:
        names = {
            output_class_name(row.label, cfg.class_names) for row in read_kinetics_csv(cfg.annotations) if row.label
        }
        if not names:
            raise ListFormatError(
                f"{cfg.annotations} has no labels (an unlabelled test split?); "
                f"list it without annotations to number the class folders"
            )
    else:
        names = set(disk_classes)
    by_key = {label_key(name): name for name in existing}
    by_key.update((label_key(name), name) for name in names)  # this CSV's spelling wins
    return [by_key[key] for key in sorted(by_key)]


def write_lists(cfg: Config, formats: Sequence[str], frames: str = "all", modality: str = "rgb") -> ListsResult:
    """Write one list file per format for the split ``cfg.target`` (see
    :func:`list_path`), ``labels.txt`` (the class of line i has label index i)
    and ``lists.md`` (the config keys each framework needs), all beside it.

    ``formats`` may be ``["all"]``: every format that reads this kind of split.
    Frame counts are read from disk (``frames="all"``) or, for the real frames
    only, from the manifest (``frames="decoded"``); a clip without frame 1 is
    left out.  With ``modality="flow"``, the lists count the flow pairs by
    ``flow_name`` (mmaction2's ``RawframeDataset(modality='Flow')``), and
    go to ``<root>/<split>.<format>-flow.txt`` and ``lists-flow.md``."""
    if modality not in MODALITIES:
        raise ListFormatError(f"modality: expected {' or '.join(MODALITIES)}, got {modality!r}")
    if frames not in FRAME_COUNTS:
        raise ListFormatError(f"frames: expected {' or '.join(FRAME_COUNTS)}, got {frames!r}")
    target = cfg.target
    unknown = [f for f in formats if f not in FORMATS and f != "all"]
    if unknown or not formats:
        raise ListFormatError(f"format: expected {', '.join(LIST_FORMATS)} or all, got {', '.join(unknown) or 'none'}")
    store_cls, store_path = locate(target)
    if not store_cls.packed and not target.is_dir():
        raise ListFormatError(f"split folder does not exist: {target} (run extract first)")
    store = store_cls.open_split(store_path)
    try:
        return _write_lists(cfg, formats, frames, store, modality)
    finally:
        store.close()


def _write_lists(cfg: Config, formats: Sequence[str], frames: str, store: Store, modality: str = "rgb") -> ListsResult:
    target = cfg.target
    if store.pending():  # a list of part of the split would shift no label but miss clips silently
        raise ListFormatError(f"no lists written: {store.pending()}")
    output, pairs = split_kind(store)
    kind = output.lists_kind
    flow = modality == "flow"
    if flow and kind != FRAMES:
        raise ListFormatError(f"{target} holds {kind}, which hold no flow; flow lists need a frames split")
    readable = store.list_formats
    offered = [
        f
        for f in formats_for(kind)
        if (f in readable if readable is not None else not FORMATS[f].store_only) and (not flow or f in FLOW_FORMATS)
    ]
    skipped_formats: list[str] = []
    if "all" in formats:
        # A format of a store's own files is no loss where the store is not of that kind.
        skipped_formats = [f for f in LIST_FORMATS if f not in offered and not FORMATS[f].store_only]
        formats = offered
    for fmt in formats:
        if readable is None and FORMATS[fmt].store_only:
            raise ListFormatError(
                f"{fmt} lists the files of a {fmt} store, and {store.path} is not one; extract with store: {fmt}"
            )
        if flow and fmt not in FLOW_FORMATS:
            raise ListFormatError(
                f"{fmt}'s loader reads no flow; flow lists: {', '.join(FLOW_FORMATS)} "
                "(RawframeDataset with modality='Flow')"
            )
        if readable is not None and fmt not in readable:
            raise ListFormatError(
                f"{fmt}'s loader opens files by path and cannot read the store {store.path}; "
                f"formats for store: {store.name}: {', '.join(readable)} (or extract with store: files)"
            )
        if kind not in FORMATS[fmt].snippets:
            raise ListFormatError(
                f"{target} holds {kind}, which {fmt}'s loader does not read: "
                f"{FORMATS[fmt].instead[kind]}; formats for {kind}: {', '.join(formats_for(kind))}"
            )

    # Whitespace-split readers would take "air drumming/x 300 0" as 4 fields.
    for class_name, clip_name in pairs:
        if any(ch.isspace() for ch in class_name):
            raise ListFormatError(
                f"class folder {class_name!r} contains whitespace, which the list readers of "
                f"{', '.join(formats)} split on; set class_names: underscore in the config and extract "
                f"again (or rename the class folders)"
            )
        if any(ch.isspace() for ch in clip_name):
            raise ListFormatError(
                f"clip {class_name}/{clip_name!r} contains whitespace, which list readers split on; "
                f"set clip_names: underscore in the config and extract again (or rename the source video)"
            )

    layout = Layout(target)
    labels_file = layout.labels
    existing = _read_labels(labels_file)
    classes = class_labels(cfg, sorted({c for c, _ in pairs}), existing)
    if store.classes is not None:  # labels baked into the store's samples: its map is the one
        if existing and [label_key(n) for n in existing] != [label_key(n) for n in store.classes]:
            raise ListFormatError(
                f"{labels_file} differs from the class map baked into {store.path} ({len(store.classes)} classes), "
                f"whose samples carry their labels; move {labels_file} away and list again"
            )
        classes = list(store.classes)
    known = {label_key(name) for name in existing}
    labels_grew = [name for name in classes if label_key(name) not in known] if existing else []
    index = {label_key(name): i for i, name in enumerate(classes)}

    entries: list[tuple[str, int, int]] = []  # (path from the root, frames, label)
    empty: list[str] = []
    short: list[tuple[str, int]] = []
    unlabelled: set[str] = set()
    real = decoded_counts(target) if kind == FRAMES else {}
    cap = cfg.frame_cap  # None: num_frames: all, where a whole clip is frames 1..its record's decoded
    pads = sum(max(cap - n, 0) for n in real.values()) if cap is not None else 0
    unrecorded = 0
    for class_name, clip_name in pairs:
        label = index.get(label_key(class_name))
        if label is None:
            unlabelled.add(class_name)
            continue
        rel = f"{class_name}/{clip_name}{output.suffix}"
        view = store.view(output.key_of(class_name, clip_name))
        # flow: the pairs 1..k by flow_name, which a flow clip holds as many of as frames
        count = (
            flow_images.leading_flows(view.sizes(), cfg.flow_name)
            if flow
            else output.listed_frames(view, cfg.frame_name)
        )
        if count == 0:
            empty.append(rel)  # listing it would make a loader crash mid-epoch
            continue
        whole = cap if cap is not None else real.get(f"{class_name}/{clip_name}")
        if count is not None and whole is not None and count < whole:
            short.append((rel, count))
        if frames == "decoded" and count is not None:
            decoded = real.get(f"{class_name}/{clip_name}")
            if decoded is None:
                unrecorded += 1  # adopted without a count: all its frames, as on disk
            else:
                count = min(count, max(decoded, 1))
        entries.append((f"{target.name}/{rel}", count or 0, label))
    pad_share = PadShare(pads, cap * len(real)) if real and cap is not None else None
    not_on_disk, listing = _not_on_disk(cfg, pairs)
    known_gone = 0
    if cfg.missing_ok is not None and not_on_disk:  # rows known gone are expected: counted, not warned about
        gone = clip_names_of(cfg.missing_ok)
        still = [rel for rel in not_on_disk if rel.rpartition("/")[2] not in gone]
        known_gone, not_on_disk = len(not_on_disk) - len(still), still
    leaks = find_leaks(target, pairs, [p for p in (listing,) if p is not None])
    fps_note = ""
    if kind == FRAMES and "pytorchvideo" in formats and cfg.fps != PYTORCHVIDEO_FPS:
        rate = "the native rate of each video" if cfg.fps is None else f"{cfg.fps:g} fps"
        fps_note = (
            f"pytorchvideo (SlowFast ptvkinetics) reads frame folders at {PYTORCHVIDEO_FPS:g} fps, but this split "
            f"was extracted at {rate}: its clip windows would span the wrong seconds; set fps: 30 and extract "
            f"again with --overwrite"
        )

    written: dict[str, Path] = {}
    for fmt in formats:
        path = flow_list_path(target, fmt) if flow else list_path(target, fmt)
        own = store.list_lines() if FORMATS[fmt].store_only else None  # the store's files, not its clips
        lines = own if own is not None else [FORMATS[fmt].line(kind, *entry) for entry in entries]
        _atomic_write(path, "".join(line + "\n" for line in lines))
        written[fmt] = path
    _atomic_write(labels_file, "".join(f"{name}\n" for name in classes))
    if flow:
        snippet = flow_snippet_text(cfg, len(classes), store)
        snippet_file = layout.snippet.with_name(FLOW_SNIPPET_FILE)
    else:
        snippet = snippet_text(cfg, kind, formats, len(classes), pad_share, frames, fps_note, store)
        snippet_file = layout.snippet
    _atomic_write(snippet_file, snippet)
    return ListsResult(
        kind=kind,
        lists=written,
        labels=labels_file,
        snippet=snippet_file,
        snippet_text=snippet,
        classes=len(classes),
        clips=len(entries),
        empty=empty,
        short=short,
        unlabelled=sorted(unlabelled),
        labels_grew=labels_grew,
        skipped_formats=skipped_formats,
        not_on_disk=not_on_disk,
        known_gone=known_gone,
        listing=listing,
        pads=pad_share,
        leaks=leaks,
        fps_note=fps_note,
        frames=frames,
        unrecorded=unrecorded,
    )


def _not_on_disk(cfg: Config, pairs: Sequence[tuple[str, str]]) -> tuple[list[str], Path | None]:
    """Clips the run's CSV (annotations or segments) lists that the split
    lacks, and that CSV: a list without them is no silent surprise."""
    if cfg.segments is not None and cfg.annotations is None:
        if not cfg.segments.is_file():
            return [], None
        return join_segments(pairs, cfg.segments, cfg.class_names, cfg.clip_names)[1], cfg.segments
    listing = expected_csv(cfg.target, cfg.annotations)
    if listing is None or not listing.is_file():
        return [], None
    return join_csv(pairs, listing)[1], listing


# ----------------------------------------------------------------------------
# lists.md: the keys to paste into each framework's config
# ----------------------------------------------------------------------------


def snippet_text(
    cfg: Config,
    kind: str,
    formats: Sequence[str],
    num_classes: int,
    pads: PadShare | None = None,
    frames: str = "all",
    fps_note: str = "",
    store: Store | None = None,
) -> str:
    """Markdown with, per format, the config keys that make its framework
    read these lists (and the frame names this config writes), the split's
    pad share and, where it applies, the frame-rate warning; read from
    ``store`` where it has loader settings of its own (a packed store)."""
    root = cfg.target.parent
    split = cfg.target.name
    tmpl = cfg.frame_name
    default_tmpl = tmpl == "img_{:05d}.jpg"
    parts = [
        f"# Config keys for the lists of {root}\n\n"
        f"Paths in every list are relative to `{root}`, so it is the prefix for every split. "
        f"{num_classes} classes; label index i is line i of `{Layout(cfg.target).labels}`, counting from 0. "
        f"Shown for the split `{split}` ({kind}); the other splits' lists sit beside it.\n"
    ]
    if pads is not None:
        counts = (
            "each line counts the real frames only (`--frames decoded`)"
            if frames == "decoded"
            else f"each line counts all {cfg.num_frames} frames, pads included"
        )
        parts.append(f"\nPads: {pads.describe()} of `{split}`; {counts}.")
        if pads.high and frames != "decoded":
            parts.append(f" **Above {PAD_WARN_SHARE:.0%}**: {pad_advice()}.")
        parts.append("\n")
    if fps_note:
        parts.append(f"\n**Frame rate**: {fps_note}.\n")
    for fmt in formats:
        parts.append(f"\n## {fmt}\n\n")
        own = store.loader_snippet(kind, tmpl, num_classes, list_path(cfg.target, fmt)) if store else None
        if own is not None:
            parts.append(own)
            continue
        parts.append(
            FORMATS[fmt].snippets[kind](
                root=root,
                split=split,
                tmpl=tmpl,
                default_tmpl=default_tmpl,
                n=num_classes,
                list_file=list_path(cfg.target, fmt),
            )
        )
    parts.append(mount_text(root))
    return "".join(parts)


FLOW_SNIPPET_FILE = "lists-flow.md"


def flow_list_path(target: Path, fmt: str) -> Path:
    """Where the flow list of split ``target`` in ``fmt`` goes: ``<root>/<split>.<fmt>-flow.txt``."""
    return Layout(target).list_file(f"{fmt}-flow", False)


def flow_snippet_text(cfg: Config, num_classes: int, store: Store) -> str:
    """lists-flow.md: mmaction2 reading the flow lists (``modality='Flow'``)
    and how the flow images map back to pixels (clip/flow.py)."""
    root, tmpl, bound = cfg.target.parent, cfg.flow_name, cfg.flow_bound
    list_file = flow_list_path(cfg.target, "mmaction2")
    packed = (
        f"\nThe clips are in a packed store: read it with the `RawFrameDecode` arguments that `lists.md` "
        f"(`lists --format mmaction2`) shows for the RGB frames; the flow keys are `path/{tmpl.format('x', 1)}` "
        f"and `path/{tmpl.format('y', 1)}`.\n"
        if store.packed
        else ""
    )
    return (
        f"# Config keys for the flow lists of {root}\n\n"
        f"{num_classes} classes; label index i is line i of `{Layout(cfg.target).labels}`, counting from 0. "
        f"Each line is `path total_frames label`, and `total_frames` counts the flow pairs, which a clip holds "
        f"as many of as RGB frames (flow k: frame k to k+1).\n\n"
        f"## mmaction2\n\nmmaction2 1.x `RawframeDataset` with `modality='Flow'`: `RawFrameDecode` reads "
        f"`filename_tmpl.format('x', i)` and `.format('y', i)` as two grayscale images.\n\n```python\n"
        f"dataset = dict(type='RawframeDataset', ann_file='{list_file}',\n"
        f"               data_prefix=dict(img='{root}'),\n"
        f"               filename_tmpl='{tmpl}', modality='Flow', start_index=1)\n"
        f"model = dict(cls_head=dict(num_classes={num_classes}))\n```\n{packed}\n"
        f"A flow image's value v is the flow in pixels f = v * {2 * bound:g} / 255 - {bound:g} "
        f"(`flow_bound: {bound:g}`; zero flow is 128): mmaction2's flow configs normalise with "
        f"mean 128 and std 128.\n"
    )


def _mmaction2_frames(root, split, tmpl, default_tmpl, n, list_file):
    note = (
        "With `frame_name: img_{:05d}.jpg` mmaction2 needs neither key: both are its defaults.\n"
        if not default_tmpl
        else "`frame_name` is `img_{:05d}.jpg`, mmaction2's default: no key is needed.\n"
    )
    return (
        f"mmaction2 1.x `RawframeDataset`; a line is `path total_frames label`.\n\n```python\n"
        f"dataset = dict(type='RawframeDataset', ann_file='{list_file}',\n"
        f"               data_prefix=dict(img='{root}'),\n"
        f"               filename_tmpl='{tmpl}', start_index=1)\n"
        f"model = dict(cls_head=dict(num_classes={n}))\n```\n\n{note}"
    )


def _mmaction2_videos(root, split, tmpl, default_tmpl, n, list_file):
    return (
        f"mmaction2 1.x `VideoDataset`; a line is `path label`.\n\n```python\n"
        f"dataset = dict(type='VideoDataset', ann_file='{list_file}',\n"
        f"               data_prefix=dict(video='{root}'))\n"
        f"model = dict(cls_head=dict(num_classes={n}))\n```\n"
    )


def _paddlevideo_frames(root, split, tmpl, default_tmpl, n, list_file):
    note = (
        "With `frame_name: img_{:05d}.jpg` PaddleVideo needs no `suffix`: it is its default. "
        if not default_tmpl
        else "`frame_name` is `img_{:05d}.jpg`, PaddleVideo's default: `suffix` may go. "
    )
    return (
        f"PaddleVideo `FrameDataset`; a line is `path total_frames label`, frames are read from 1.\n\n```yaml\n"
        f'DATASET:\n  {split}:  # train, valid or test\n    format: "FrameDataset"\n'
        f'    data_prefix: "{root}"\n    file_path: "{list_file}"\n    suffix: \'{tmpl}\'\n'
        f"MODEL:\n  head:\n    num_classes: {n}\n```\n\n"
        f"{note}Without the right `suffix` PaddleVideo does not fail: its FrameDataset catches the missing "
        f"files and retries other clips, and training stalls.\n"
    )


def _videomae_frames(root, split, tmpl, default_tmpl, n, list_file):
    return (
        f"VideoMAEv2 `RawFrameClsDataset` (fine-tuning); a line is `path total_frames label`. It reads "
        f"`<data_path>/train.csv` and `val.csv` (test mode too), which is where these lists are.\n\n```sh\n"
        f"--data_path {list_file.parent} --data_root {root} \\\n"
        f"--fname_tmpl '{tmpl}' --start_idx 1 --nb_classes {n}\n```\n\n"
        f"VideoMAEv2's `dataset/build.py` builds `RawFrameClsDataset` only for `--data_set SSV2` and then checks "
        f"for 174 classes: add a branch for your data set that builds it the same way with {n} classes.\n"
    )


def _videomae_videos(root, split, tmpl, default_tmpl, n, list_file):
    return (
        f"VideoMAE(v2) `VideoClsDataset` (`--data_set Kinetics-400` and the other video sets); a line is "
        f"`path label`. It reads `<data_path>/train.csv` and `val.csv`.\n\n```sh\n"
        f"--data_path {list_file.parent} --data_root {root} --nb_classes {n}\n```\n\n"
        f"VideoMAE v1 has no `--data_root` and opens each path as it stands: run it from `{root}`.\n"
    )


def _videomae_pretrain_frames(root, split, tmpl, default_tmpl, n, list_file):
    return (
        f"VideoMAEv2 pre-training (`HybridVideoMAE`); a line is `path start_index total_frames`, "
        f"start 1.\n\n```sh\n--data_path {list_file} --data_root {root} --fname_tmpl '{tmpl}'\n```\n"
    )


def _pytorchvideo(root, split, tmpl, default_tmpl, n, list_file, kind=FRAMES):
    what = (
        "frame folders (pytorchvideo's `FrameVideo` reads every file of a clip folder in name order, at 30 fps)"
        if kind == FRAMES
        else "videos"
    )
    return (
        f"SlowFast with `DATASET: ptvkinetics`, or pytorchvideo's `Kinetics` itself; a line is `path label`; "
        f"{what}.\n\n```yaml\nTRAIN:\n  DATASET: ptvkinetics\nTEST:\n  DATASET: ptvkinetics\n"
        f"DATA:\n  PATH_TO_DATA_DIR: {list_file.parent}\n  PATH_PREFIX: {root}\n"
        f"MODEL:\n  NUM_CLASSES: {n}\n```\n\n"
        f"SlowFast reads `<PATH_TO_DATA_DIR>/train.csv`, `val.csv` and, in test mode, `test.csv`. "
        f"pytorchvideo: `Kinetics(data_path='{list_file}', video_path_prefix='{root}', ...)`.\n"
    )


def _slowfast_videos(root, split, tmpl, default_tmpl, n, list_file):
    return (
        f"SlowFast's default `Kinetics` dataset (PyAV or torchvision decoding); a line is `path label`.\n\n"
        f"```yaml\nDATA:\n  PATH_TO_DATA_DIR: {list_file.parent}\n  PATH_PREFIX: {root}\n"
        f"MODEL:\n  NUM_CLASSES: {n}\n```\n\n"
        f"SlowFast reads `<PATH_TO_DATA_DIR>/train.csv`, `val.csv` and, in test mode, `test.csv`.\n"
    )


# ----------------------------------------------------------------------------
# the formats
# ----------------------------------------------------------------------------


def _path_total_label(path: str, frames: int, label: int) -> str:
    return f"{path} {frames} {label}"


def _path_label(path: str, frames: int, label: int) -> str:
    return f"{path} {label}"


def _path_start_total(path: str, frames: int, label: int) -> str:
    return f"{path} 1 {frames}"  # start index, then the frame count


@dataclasses.dataclass(frozen=True)
class ListFormat:
    """One framework's list: which splits its loader reads, with the line and
    the config snippet for each, and where the file goes."""

    name: str
    # Per kind of split it reads (FRAMES, VIDEOS): the config keys to paste.
    snippets: Mapping[str, Callable[..., str]]
    # The line of a frame folder; a video's line is always `path label`.
    frames_line: Callable[[str, int, int], str] = _path_total_label
    # True: <root>/<name>/<split>.csv, because the framework reads a folder of
    # <split>.csv files (VideoMAEv2 --data_path, SlowFast PATH_TO_DATA_DIR).
    csv_folder: bool = False
    # Per kind it does not read: where to turn instead.
    instead: Mapping[str, str] = dataclasses.field(default_factory=dict)
    # Offered only for a store that names it in its list_formats (a list of the store's own files).
    store_only: bool = False

    def line(self, kind: str, path: str, frames: int, label: int) -> str:
        return (self.frames_line if kind == FRAMES else _path_label)(path, frames, label)


_FORMATS = (
    ListFormat("mmaction2", {FRAMES: _mmaction2_frames, VIDEOS: _mmaction2_videos}),
    ListFormat(
        "paddlevideo",
        {FRAMES: _paddlevideo_frames},
        instead={VIDEOS: "this tool offers PaddleVideo's FrameDataset only, which reads frame folders"},
    ),
    ListFormat("videomae", {FRAMES: _videomae_frames, VIDEOS: _videomae_videos}, csv_folder=True),
    ListFormat(
        "videomae-pretrain",
        {FRAMES: _videomae_pretrain_frames},
        frames_line=_path_start_total,
        instead={VIDEOS: "it is offered for frame folders only"},
    ),
    ListFormat(
        "pytorchvideo",
        {FRAMES: _pytorchvideo, VIDEOS: lambda **kw: _pytorchvideo(**kw, kind=VIDEOS)},
        frames_line=_path_label,
        csv_folder=True,
    ),
    ListFormat(
        "slowfast",
        {VIDEOS: _slowfast_videos},
        csv_folder=True,
        instead={
            FRAMES: "SlowFast's Kinetics dataset opens every path as a video file; for frame folders "
            "use the pytorchvideo format (SlowFast with DATASET: ptvkinetics)"
        },
    ),
)


def _webdataset(root, split, tmpl, default_tmpl, n, list_file):
    return f"The `webdataset` loader reads the shard files that `{list_file}` lists (paths relative to `{root}`).\n"


FORMATS = {
    f.name: f
    for f in (*_FORMATS, ListFormat("webdataset", {FRAMES: _webdataset, VIDEOS: _webdataset}, store_only=True))
}
LIST_FORMATS = tuple(FORMATS)
