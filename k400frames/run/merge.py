"""``k400frames merge``: the shard stores of a split, each written by its own
run (``<root>/<split>.shard-K-of-N<suffix>``), combined into the split's
store ``<root>/<split><suffix>`` clip by clip, without decoding anything.

It holds the split's lock exclusively, so no shard runs while it merges;
the merged store is on disk before the shard stores are removed, so a
merge killed at any point loses nothing: rerun it.  A shard run after a
merge finds its finished clips in the merged store.  The first run of the
whole split (no ``--shard``) after the shards does the same merge itself
before it starts (the store's ``open_run``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..config import Config
from ..errors import PreflightError
from ..layout import Layout
from ..stores import store_class
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
    remove them.  Raises :class:`PreflightError` when the config's store has
    no shard stores (a folder tree's shards share one tree) or there is
    nothing to merge, :class:`RunInProgress` while a run holds the split."""
    store_cls = store_class(cfg.store)
    layout = Layout(cfg.target)
    whole = store_cls.run_path(layout)
    if not store_cls.packed:
        raise PreflightError(
            f"merge: combines the shard stores of a packed store; this config has store: {cfg.store}, "
            f"whose shards already share one folder tree"
        )
    shards = store_cls.shard_paths(layout)
    if not shards:
        raise PreflightError(
            f"merge: no shard stores beside {cfg.target} (expected "
            f"{store_cls.run_path(Layout(cfg.target, (1, 2))).name.replace('-1-of-2', '-K-of-N')} in "
            f"{layout.root}, written by extract --shard K/N)"
        )
    with TargetLock(cfg.target):  # exclusive: no shard writes while its store is copied
        store = store_cls.open_run(layout, durable=True, **store_cls.run_settings(cfg))  # moves every shard store in
        keys = store.merged_keys
        store.close(compact=True)
    return MergeResult(store=whole, shards=shards, keys=keys, bytes=store_cls.disk_bytes(whole))
