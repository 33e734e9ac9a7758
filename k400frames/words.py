"""Counted nouns for messages: "1 clip", "2 clips", never "1 clips"."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``plural(1, "clip")`` -> ``"1 clip"``; ``plural(2, "class", "classes")`` -> ``"2 classes"``."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
