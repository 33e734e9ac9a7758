"""The shape of the package: stage packages without import cycles, late
imports only where their cost asks for it, one config schema that documents
every key, a generated reference that is current, and a registry of output
kinds that is one line per kind."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from k400frames.clip.outputs import OUTPUTS, Output, output_named
from k400frames.config import SCHEMA, make_config
from k400frames.errors import ConfigError
from k400frames.tools import reference

from helpers import PROJECT

PACKAGE = PROJECT / "k400frames"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    """The k400frames modules an ``import from`` statement loads."""
    if node.level:
        base = module.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if not target.startswith("k400frames"):
        return []
    # `from . import ffmpeg` names a module; `from .config import Config` a name in one.
    names = [f"{target}.{alias.name}" for alias in node.names]
    return [n for n in names if n in MODULES] or [target]


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def top_level_imports(path: Path) -> list[tuple[ast.ImportFrom, bool]]:
    """(import, at module level) for every ``from ... import`` of the module,
    leaving out those under ``if TYPE_CHECKING:`` (annotations only)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom):
                found.append((child, not in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return found


def import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        edges = graph.setdefault(name, set())
        for node, module_level in top_level_imports(path):
            if module_level:
                edges.update(resolve(name, path.name == "__init__.py", node))
        edges.discard(name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            # Importing a.b.c runs a/__init__ and a/b/__init__ first.
            if state.get(nxt) == 1:
                return stack[stack.index(nxt) :] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle_between_modules():
    assert find_cycle(import_graph()) is None


def test_the_cycle_finder_finds_one():
    # A test that could not fail would prove nothing: a planted cycle is found.
    graph = import_graph()
    graph["k400frames.config"] = graph["k400frames.config"] | {"k400frames.run.runner"}
    cycle = find_cycle(graph)
    assert cycle and cycle[0] == cycle[-1]


def test_stages_import_only_downwards():
    """sources and ffmpeg know nothing of clips, clips nothing of runs, runs
    nothing of the tools, and only the CLI sits on top."""
    order = [
        "k400frames.sources",
        "k400frames.ffmpeg",
        "k400frames.stores",
        "k400frames.clip",
        "k400frames.run",
        "k400frames.tools",
    ]
    rank = {stage: i for i, stage in enumerate(order)}

    def stage(module: str) -> str | None:
        return next((s for s in order if module == s or module.startswith(s + ".")), None)

    bad = []
    for module, targets in import_graph().items():
        here = stage(module)
        for target in targets:
            there = stage(target)
            if here and there and rank[there] > rank[here]:
                bad.append(f"{module} -> {target}")
            if target == "k400frames.cli" and module not in ("k400frames.__main__", "k400frames.tools.reference"):
                bad.append(f"{module} -> {target}")
    assert not bad


def test_late_imports_say_why():
    """An import inside a function hides a dependency; outside the CLI (whose
    commands load only what they run) each one says why it waits."""
    silent = []
    for name, path in MODULES.items():
        if name == "k400frames.cli":
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for node, module_level in top_level_imports(path):
            ours = node.level or (node.module or "").startswith("k400frames")
            if ours and not module_level and "#" not in lines[node.lineno - 1]:
                silent.append(f"{path.relative_to(PROJECT)}:{node.lineno}")
    assert not silent


def test_every_config_key_is_documented_and_checked():
    for field in SCHEMA:
        assert field.metadata["doc"].strip(), f"config key {field.name} has no documentation"
        assert callable(field.metadata["check"]), field.name
        assert field.metadata["output"] in (None, "always", "unless-default"), field.name


def test_a_key_without_documentation_fails_the_check(monkeypatch):
    # The check above must be able to fail: a schema field with no doc line.
    field = SCHEMA[2]
    broken = {**field.metadata, "doc": ""}
    monkeypatch.setattr(field, "metadata", broken)
    with pytest.raises(AssertionError, match="has no documentation"):
        test_every_config_key_is_documented_and_checked()


def test_defaults_pass_their_own_checks(tmp_path):
    cfg = make_config({"source": str(tmp_path / "src"), "target": str(tmp_path / "out" / "train")})
    for field in SCHEMA:
        if field.name in ("source", "target"):
            continue
        value = getattr(cfg, field.name)
        raw = list(value) if isinstance(value, tuple) and field.name == "extensions" else value
        if field.name == "size" or value is None:
            continue
        assert field.metadata["check"](field.name, raw) == value, field.name


def test_unknown_key_suggests_the_close_one(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'num_frame'; did you mean 'num_frames'"):
        make_config({"source": str(tmp_path), "target": str(tmp_path / "o" / "t"), "num_frame": 3})


def test_reference_docs_are_current():
    folder = PROJECT / "docs" / "reference"
    stale = [
        name
        for name, text in reference.render().items()
        if not (folder / name).is_file() or (folder / name).read_text(encoding="utf-8") != text
    ]
    assert not stale, f"run `make docs`: {', '.join(stale)} out of date"


def test_reference_names_every_key_and_command():
    pages = reference.render()
    for field in SCHEMA:
        key = field.metadata["yaml_key"] or field.name
        assert f"| `{key}` |" in pages["config.md"], key
    for command in ("extract", "verify", "annotate", "lists", "preview", "demo"):
        assert f"\n## {command}\n" in pages["cli.md"], command


def test_each_output_kind_is_one_registry_line():
    for name, (module, cls, doc) in OUTPUTS.items():
        kind = output_named(name)
        assert isinstance(kind, Output) and kind.name == name and kind.__class__.__name__ == cls
        assert module.startswith("k400frames.clip.") and doc
    config_choices = next(f.metadata["choices"] for f in SCHEMA if f.name == "output")
    assert config_choices == tuple(OUTPUTS)
