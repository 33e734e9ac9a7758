"""The dataset card: what a finished split is, written beside it.

``<root>/<split>.card.json`` (everything) and ``<root>/<split>.card.md`` (a
few lines for people) say which tool, ffmpeg and output settings made the
split, how many clips each class holds, which clips failed or are missing,
how many were padded, what the sources looked like, how many bytes and
files it takes, and its **fingerprint**.

The fingerprint is SHA-256 over the sorted lines ``<rel> TAB <digest>`` of
the finished clips, where ``digest`` is the clip's own content hash
(:func:`~k400frames.files.members_digest`: every member name and byte, taken
by the worker before the clip is put, kept with the clip and in the manifest).  Nothing that
depends on the machine or the run enters it: no absolute path, no time, no
worker count, shard or run order, not the pad mode (a hardlinked pad has the
same bytes as a copy).  So two trees with the same clips and the same bytes
have the same fingerprint, and one changed byte changes it.  A manifest row
without a digest (a clip adopted after a crash, or a manifest of an older
version) has its clip hashed from disk when the card is written.

The source mix (frame rate, size, codec) comes from the headers of a
repeatable sample of at most :data:`SOURCE_SAMPLE` source videos, read as
``doctor`` reads them (:func:`k400frames.ffmpeg.read_header`: an MP4's own
index, in Python and without a process; ``ffmpeg -i`` only for other
containers), so a card costs little whatever the size of the split; the card
says how many it read.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime
import hashlib
import heapq
import json
import logging
from collections import Counter
from collections.abc import Collection
from pathlib import Path
from typing import Any, NamedTuple

from .. import __version__, ffmpeg
from ..clip.outputs import output_named
from ..config import Config
from ..errors import CardNotReady
from ..files import members_digest, replaced_atomically
from ..layout import Layout
from ..sources.tree import in_shard, shard_of
from ..stores import ClipKey, Store, store_class
from ..words import plural
from .lock import live_holders
from .preflight import check_source, plan
from .records import read_records

log = logging.getLogger(__name__)

CARD_FORMAT = 1
SOURCE_SAMPLE = 32  # source headers read for the fps / size / codec mix
_NAMED = 20  # failed and missing clips named in the card (all are counted)
MOSTLY_PAD_NAMED = 10  # clips with under half of num_frames real, named in the card and the run's summary


@dataclasses.dataclass(frozen=True)
class Card:
    """A written card: its two files and what a summary line needs."""

    json_path: Path
    md_path: Path
    fingerprint: str
    clips: int
    data: dict[str, Any]


def fingerprint(digests: dict[str, str]) -> str:
    """SHA-256 (hex) over the sorted ``rel TAB digest`` lines of the clips."""
    outer = hashlib.sha256()
    for rel in sorted(digests):
        outer.update(f"{rel}\t{digests[rel]}\n".encode("utf-8", "surrogateescape"))
    return outer.hexdigest()


class _Row(NamedTuple):
    """What the card needs of a clip's manifest row (a whole row is about
    1.5 KB as a dict: 360 MB at 240,000 clips; this is about 200 bytes)."""

    digest: str | None
    size: int | None
    decoded: int | None
    padded: int
    cut: bool
    damaged: bool


def _finished_rows(cfg: Config, layout: Layout) -> tuple[dict[str, _Row], list[str]]:
    """The last manifest row of each clip, over every shard, where it was
    made with the current output settings; and the sources of a repeatable
    sample of them (the clips whose names hash lowest)."""
    current = cfg.output_hash()
    last: dict[str, _Row | None] = {}
    candidates: list[tuple[bytes, str, str]] = []  # a max-heap by -hash of the lowest ones
    for row in read_records(layout.all_records("manifest")):
        rel = row["rel"]
        if row.get("config") != current:
            last[rel] = None  # a later row with other settings replaces an earlier one
            continue
        digest, size, decoded, padded = row.get("digest"), row.get("bytes"), row.get("decoded"), row.get("padded")
        last[rel] = _Row(
            digest if isinstance(digest, str) and digest else None,
            size if isinstance(size, int) else None,
            decoded if isinstance(decoded, int) else None,
            padded if isinstance(padded, int) else 0,
            bool(row.get("cut")),
            bool(row.get("damaged")),
        )
        source = row.get("source")
        if isinstance(source, str):
            key = bytes(255 - b for b in hashlib.sha1(rel.encode("utf-8", "surrogateescape")).digest())
            if len(candidates) < 2 * SOURCE_SAMPLE:
                heapq.heappush(candidates, (key, rel, source))
            elif key > candidates[0][0]:
                heapq.heapreplace(candidates, (key, rel, source))
    rows = {rel: row for rel, row in last.items() if row is not None}
    sample: dict[str, str] = {}
    for _, rel, source in sorted(candidates, reverse=True):
        if rel in rows:
            sample.setdefault(rel, source)
    return rows, list(sample.values())[:SOURCE_SAMPLE]


def check_ready(cfg: Config, planned: set[str], done: Collection[str], failed: Collection[str]) -> None:
    """Refuse (one line) while any run holds the split, or while clips are
    unaccounted for because a shard of a job array has not run."""
    holders = live_holders(cfg.target)
    if holders:
        raise CardNotReady(
            f"cannot write the card of {cfg.target} yet: {holders[0].describe()} is still running"
            f"{f' (and {len(holders) - 1} more)' if len(holders) > 1 else ''}; run `card` when it ends"
        )
    layout = Layout(cfg.target)
    unaccounted = planned.difference(done, failed)
    for n in sorted(layout.shard_counts()):
        never_ran = [k for k in range(n) if not layout.shard_has_records((k, n))]
        waiting = [k for k in never_ran if any(in_shard(rel, (k, n)) for rel in unaccounted)]
        if waiting:
            clips = sum(shard_of(rel, n) in waiting for rel in unaccounted)
            raise CardNotReady(
                f"cannot write the card of {cfg.target} yet: shard {', '.join(f'{k}/{n}' for k in waiting)} "
                f"{'has' if len(waiting) == 1 else 'have'} not run ({plural(clips, 'clip')} missing); "
                f"run {'it' if len(waiting) == 1 else 'them'}, then `card`"
            )


def _source_mix(cfg: Config, sample: list[str], clips: int) -> dict[str, Any]:
    """fps, size and codec of the sources in ``sample`` (read from their headers)."""
    fps: Counter[str] = Counter()
    size: Counter[str] = Counter()
    codec: Counter[str] = Counter()
    unreadable = 0
    if sample:
        exe = ffmpeg.find_ffmpeg(cfg.ffmpeg)

        def read(source: str) -> ffmpeg.Header | None:
            # An MP4's own index (no process), as doctor reads it; ffmpeg for other containers.
            try:
                return ffmpeg.read_header(Path(source), lambda: exe)[0]
            except OSError:  # gone or unreadable since it was extracted
                return None

        with cf.ThreadPoolExecutor(max_workers=max(1, min(cfg.worker_count, 4))) as pool:
            headers = list(pool.map(read, sample))
        for header in headers:
            if header is None:
                unreadable += 1
                continue
            fps[format(round(header.fps, 2), "g") if header.fps else "unknown"] += 1
            size[f"{header.width}x{header.height}" if header.width else "unknown"] += 1
            codec[header.codec or "unknown"] += 1
    return {
        "sampled": len(sample),
        "of": clips,
        "unreadable": unreadable,
        "fps": dict(fps.most_common()),
        "size": dict(size.most_common()),
        "codec": dict(codec.most_common()),
    }


def build_card(cfg: Config, planned: set[str] | None = None) -> dict[str, Any]:
    """The card of ``cfg.target`` as a dict (see the module docstring);
    ``planned``: the split's clips, where the caller has its plan in hand."""
    check_source(cfg)
    layout = Layout(cfg.target)
    output = output_named(cfg.output)
    rows, sample = _finished_rows(cfg, layout)
    if planned is None:
        planned = {item.rel for item in plan(cfg, None)}
    failed_rows = {
        row["rel"]: (str(row.get("stage", "")), str(row.get("reason", "")))
        for row in read_records(layout.all_records("failures"))
        if row["rel"] not in rows
    }
    check_ready(cfg, planned, rows.keys(), failed_rows.keys())
    digests: dict[str, str] = {}
    total_bytes = decoded = padded_frames = padded_clips = cut = damaged = hashed_now = 0
    cap = cfg.frame_cap  # None: num_frames: all, where each clip's count is its record's
    mostly_pad: list[str] = []  # clips whose real frames are under half of num_frames
    store_cls = store_class(cfg.store)
    store = store_cls.open_split(store_cls.run_path(layout)) if store_cls.run_path(layout).exists() else None
    try:
        for rel, row in rows.items():
            digest, size = row.digest, row.size
            if digest is None or size is None:
                assert store is not None
                size, digest = _clip_digest(store, output.key_of(*rel.split("/", 1)), store.path)
                hashed_now += 1
            digests[rel] = digest
            total_bytes += size
            real = row.decoded
            if real is None:  # adopted without its record: the clip itself says
                if cap is not None:
                    real = cap - row.padded
                else:
                    assert store is not None
                    real = len(store.view(output.key_of(*rel.split("/", 1))).sizes())
            decoded += real
            if output.is_folder and cap is not None and 2 * real < cap:
                mostly_pad.append(rel)
            padded_frames += row.padded
            padded_clips += row.padded > 0
            cut += row.cut
            damaged += row.damaged
        store_facts, store_line = store.card_facts() if store is not None else ({}, "")
    finally:
        if store is not None:
            store.close()
    frames = decoded + padded_frames
    per_class = Counter(rel.partition("/")[0] for rel in rows)
    missing = sorted(planned.difference(rows, failed_rows))
    exe = ffmpeg.find_ffmpeg(cfg.ffmpeg)
    return {
        "card_format": CARD_FORMAT,
        "split": layout.split,
        "fingerprint": fingerprint(digests),
        "fingerprint_method": "sha256 over sorted '<rel>\\t<digest>\\n' lines; digest: blake2b-128 of each "
        "clip's file names and bytes",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "tool": {"name": "k400frames", "version": __version__},
        "ffmpeg": ffmpeg.ffmpeg_version(exe),
        "output": cfg.output,
        "config": json.loads(json.dumps(cfg.output_settings(), default=str)),
        "config_hash": cfg.output_hash(),
        "clips": len(rows),
        "classes": len(per_class),
        "per_class": dict(sorted(per_class.items())),
        "planned": len(planned),
        "failed": len(failed_rows),
        "failed_clips": [
            {"rel": rel, "stage": stage, "reason": reason}
            for rel, (stage, reason) in sorted(failed_rows.items())[:_NAMED]
        ],
        "missing": len(missing),
        "missing_clips": missing[:_NAMED],
        "padded_clips": padded_clips,
        "mostly_pad_clips": len(mostly_pad),
        "mostly_pad_named": sorted(mostly_pad)[:MOSTLY_PAD_NAMED],
        "pad_frames": padded_frames,
        "pad_share": round(padded_frames / frames, 6) if frames else 0.0,
        "cut_clips": cut,
        "damaged_kept": damaged,
        "frames": frames if output.is_folder else None,
        "bytes": total_bytes,
        "files": frames if output.is_folder else len(rows),
        "hashed_at_card_time": hashed_now,
        "shards": sorted(
            f"{k}/{n}" for n in layout.shard_counts() for k in range(n) if layout.shard_has_records((k, n))
        ),
        "sources": _source_mix(cfg, sample, len(rows)),
        "store": {"kind": cfg.store, **store_facts, "line": store_line},
    }


def _mix(counts: dict[str, int], top: int = 3) -> str:
    shown = ", ".join(f"{key} ({n})" for key, n in list(counts.items())[:top])
    more = len(counts) - top
    return (shown + (f", {more} more" if more > 0 else "")) or "none read"


def card_markdown(card: dict[str, Any]) -> str:
    """The card's few lines for people (the JSON holds everything)."""
    src = card["sources"]
    lines = [
        f"# {card['split']}: dataset card",
        "",
        f"- fingerprint: `{card['fingerprint']}`",
        f"- clips: {card['clips']} in {card['classes']} classes; failed {card['failed']}, "
        f"missing {card['missing']} (of {card['planned']} in the source)",
        f"- padded: {card['padded_clips']} clips, {card['pad_share']:.1%} of frames; cut: {card['cut_clips']}",
        *_mostly_pad_line(card),
        f"- size: {card['bytes'] / 1e6:.1f} MB in {card['files']} files ({card['output']})",
        *([card["store"]["line"]] if card.get("store", {}).get("line") else []),
        f"- sources (a fixed sample: {src['sampled']} of {src['of']} headers read, to keep the card fast; "
        f"`doctor` reads them all): fps {_mix(src['fps'])}; size {_mix(src['size'])}; "
        f"codec {_mix(src['codec'])}",
        f"- made by k400frames {card['tool']['version']} with {card['ffmpeg'] or 'an unknown ffmpeg'}",
        "- output settings: " + ", ".join(f"{k}={v}" for k, v in sorted(card["config"].items())),
        "",
    ]
    return "\n".join(lines)


def _mostly_pad_line(card: dict[str, Any]) -> list[str]:
    """The card's line naming the clips that are mostly pads, if any."""
    count = card.get("mostly_pad_clips") or 0
    if not count:
        return []
    named = ", ".join(card["mostly_pad_named"])
    more = count - len(card["mostly_pad_named"])
    return [
        f"- mostly pads: {plural(count, 'clip')} with under half of num_frames real "
        f"({card['config'].get('num_frames')}): {named}{f' and {more} more' if more > 0 else ''}"
    ]


def write_card(cfg: Config, planned: set[str] | None = None) -> Card:
    """Build the card of ``cfg.target`` (all shards) and write its two files
    atomically.  Raises :class:`~k400frames.errors.CardNotReady` while a run
    holds the split or a shard that still owes clips has not run."""
    card = build_card(cfg, planned)
    layout = Layout(cfg.target)
    with replaced_atomically(layout.card_json) as partial:
        partial.write_text(json.dumps(card, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")
    with replaced_atomically(layout.card_md) as partial:
        partial.write_text(card_markdown(card), encoding="utf-8")
    return Card(layout.card_json, layout.card_md, card["fingerprint"], card["clips"], card)


def _clip_digest(store: Store, key: ClipKey, where: Path) -> tuple[int, str]:
    """(bytes, digest) of a clip in its store, as :func:`files.members_digest`
    makes them when the clip is put."""
    members = list(store.view(key).items())
    if not members:
        raise OSError(f"clip {key.rel} is in the manifest but not in {where}")
    return sum(len(v) for _, v in members), members_digest(members, key.folder)
