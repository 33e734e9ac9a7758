"""Words for messages: counted nouns ("1 clip", "2 clips", never "1 clips"),
and a few names out of many."""

from __future__ import annotations


def plural(count: int, noun: str, many: str | None = None) -> str:
    """``plural(1, "clip")`` -> ``"1 clip"``; ``plural(2, "class", "classes")`` -> ``"2 classes"``."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def some(names: list[str], shown: int = 5) -> str:
    """The first ``shown`` of ``names`` and how many more: ``"a, b and 3 more"``."""
    more = len(names) - shown
    return ", ".join(names[:shown]) + (f" and {more} more" if more > 0 else "")
