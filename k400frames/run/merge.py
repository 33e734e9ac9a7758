"""``k400frames merge``: the shard stores of a split, each written by its own
run (``<root>/<split>.shard-K-of-N.lmdb``), combined into the split's store
``<root>/<split>.lmdb`` key by key, without decoding anything.

It holds the split's lock exclusively, so no shard runs while it merges;
the merged store is on disk before the shard stores are removed, so a
merge killed at any point loses nothing: rerun it.  A shard run after a
merge finds its finished clips in the merged store.  The first run of the
whole split (no ``--shard``) after the shards does the same merge itself
before it starts (:func:`~k400frames.run.runner.open_run_stores`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import Config
from ..errors import PreflightError
from ..layout import Layout
from .lock import TargetLock


@dataclasses.dataclass
class MergeResult:
    """What :func:`merge_shards` did."""

    store: Path
    shards: list[Path]
    keys: int  # keys copied from the shards
    bytes: int  # the merged store's size (apparent, all its files)


def merge_shards(cfg: Config) -> MergeResult:
    """Combine the shard stores of ``cfg.target``'s split into its store and
    remove them.  Raises :class:`PreflightError` when the config has no
    store or there is nothing to merge, :class:`RunInProgress` while a run
    holds the split."""
    if cfg.store != "lmdb":
        raise PreflightError(
            f"merge: combines the shard stores of store: lmdb; this config has store: {cfg.store}, "
            f"whose shards already share one folder tree"
        )
    from ..stores.lmdb import LmdbStore, move_into, store_bytes  # why: only a store run loads the lmdb binding

    layout = Layout(cfg.target)
    whole = layout.store(None)
    shards = layout.shard_stores()
    if not shards:
        raise PreflightError(
            f"merge: no shard stores beside {cfg.target} (expected {cfg.target.name}.shard-K-of-N.lmdb in "
            f"{layout.root}, written by extract --shard K/N)"
        )
    with TargetLock(cfg.target):  # exclusive: no shard writes while its store is copied
        target = LmdbStore.open_write(whole, durable=True)
        try:
            keys = move_into(target, shards)
        finally:
            target.close(compact=True)
    return MergeResult(store=whole, shards=shards, keys=keys, bytes=store_bytes(whole))
