"""Linux C-library calls that Python's ``os`` module lacks (``prctl`` for the
parent-death signal, ``syncfs`` for durable writes)."""

from __future__ import annotations

import functools
import sys
from typing import Any


@functools.cache
def function(name: str) -> Any:
    """The C library's function ``name``, or None off Linux or where it has none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        return getattr(ctypes.CDLL(None, use_errno=True), name)
    except (OSError, AttributeError):
        return None
