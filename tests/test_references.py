"""Cross-references in docstrings and comments name things that exist: a
renamed or moved function must not leave a stale pointer behind."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "k400frames"
PROJECT = PACKAGE.parent

# :func:`~k400frames.run.preflight.preflight`, :class:`k400frames.ffmpeg.Header`, ...
ROLE = re.compile(r":(?:func|class|meth|mod|data|attr|exc):`~?(k400frames(?:\.\w+)+)`")
# A docs/*.md file a comment points at.
DOC_FILE = re.compile(r"\bdocs/[\w./-]+\.md\b")


def resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


def test_every_dotted_reference_resolves():
    stale = [
        f"{path.relative_to(PROJECT)}: {dotted}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for dotted in ROLE.findall(path.read_text(encoding="utf-8"))
        if not resolves(dotted)
    ]
    assert stale == []


def test_every_docs_file_named_in_the_code_exists():
    missing = [
        f"{path.relative_to(PROJECT)}: {name}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name in DOC_FILE.findall(path.read_text(encoding="utf-8"))
        if not (PROJECT / name).is_file()
    ]
    assert missing == []


def test_no_pointer_to_a_readme_section():
    """The README stays short; its old sections moved to docs/ (turbo.py once
    pointed at a Performance section of the README that is gone)."""
    pointers = [
        f"{path.relative_to(PROJECT)}"
        for path in sorted(PACKAGE.rglob("*.py"))
        if re.search(r"section of the README|README's \w+ section", path.read_text(encoding="utf-8"))
    ]
    assert pointers == []


def test_every_relative_method_reference_exists():
    """:meth:`Class.method` without a module: the class is looked up in the same module."""
    stale = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(("k400frames", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        text = path.read_text(encoding="utf-8")
        for cls, name in re.findall(r":meth:`(\w+)\.(\w+)`", text):
            owner = getattr(importlib.import_module(module), cls, None)
            if owner is not None and not hasattr(owner, name):
                stale.append(f"{path.relative_to(PROJECT)}: {cls}.{name}")
    assert stale == []
