"""The shape of the package: stage packages that import only downwards and
without cycles, one door for child processes, no exits or signal handlers
in the library, every expected error in errors.py, late imports only where
their cost asks for it, one config schema that documents every key, a
generated reference that is current, and a registry of output kinds that
is one line per kind.

Each guardrail is a function of a package root, so that the test of the
real tree and the test that plants an offence in a copy call the same code:
a guardrail that cannot fail proves nothing."""

from __future__ import annotations

import ast
import dataclasses
import functools
import re
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from k400frames.clip.outputs import OUTPUTS, Output, output_named
from k400frames.config import ONE_WRITER_STORES, OUTPUT_DOCS, SCHEMA, STORE_DOCS, make_config
from k400frames.errors import ConfigError
from k400frames.stores import STORES, Store, store_class
from k400frames.tools import reference

from helpers import PROJECT

PACKAGE = PROJECT / "k400frames"

# Upward imports the real tree is known to have (none): an entry that no
# longer happens fails the test too, so the list cannot go stale.
KNOWN_UPWARD_IMPORTS: set[str] = set()

# The stages, bottom up: a module may import its own stage and those below.
# ffmpeg sits below files because files takes syncfs from ffmpeg.libc.
# stores sit below clip: a store keeps members and never knows the output kind,
# while an output kind reads clips back through a store's views.
STAGES = ("errors", "words", "layout", "ffmpeg", "files", "config", "sources", "stores", "clip", "run", "tools", "cli")
# The one upward import allowed, and why.
UPWARD_ALLOWED = {"tools.reference -> cli": "the CLI reference is generated from the CLI's own parser"}

# The one door for child processes.
PROCESS_DOOR = "ffmpeg.process"
# Modules that start processes without the subprocess module, and its kin.
PROCESS_MODULES = ("subprocess", "multiprocessing")
OS_SPAWNERS = (
    "system",
    "popen",
    "posix_spawn",
    "posix_spawnp",
    "fork",
    "forkpty",
    *(f"exec{tail}" for tail in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")),
    *(f"spawn{tail}" for tail in ("l", "le", "lp", "lpe", "v", "ve", "vp", "vpe")),
)
PROCESS_STARTERS = (
    *(f"os.{name}" for name in OS_SPAWNERS),
    "asyncio.create_subprocess_exec",
    "asyncio.create_subprocess_shell",
    "pty.spawn",
    "pty.fork",
)
PROCESS_HEADS = {name.partition(".")[0] for name in (*PROCESS_STARTERS, *PROCESS_MODULES)}
# ffmpeg command lines are built in ffmpeg/ only (ffmpeg.command, ffmpeg.file_url).
FFMPEG_ARGV_WORDS = ("-nostdin", "-hide_banner", "file:")

# Only the CLI exits or handles signals.
EXITS_AND_SIGNALS = ("sys.exit", "os._exit", "signal.signal", "exit", "quit")
EXIT_ALLOWED_MODULES = ("cli", "__main__")
# (module, function, call): the Dask plugin sets SIG_IGN inside the worker
# processes a local cluster starts, never in the caller's process.
EXIT_ALLOWED_CALLS = {("run.dask", "_ignore_sigint_plugin.IgnoreSigint.setup", "signal.signal")}


# ----------------------------------------------------------------------------
# the package as parsed modules
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Module:
    name: str  # "k400frames.tools.pack"
    short: str  # "tools.pack", as offences name it ("" for the package itself)
    rel: str  # "tools/pack.py"
    tree: ast.Module
    is_package: bool


@functools.cache
def parse(source: str) -> ast.Module:
    # By text: a copy of the package parses only the module it changed, and
    # its other modules are equal to the real tree's (so are their uses).
    return ast.parse(source)


@functools.cache
def read_package(root: Path) -> dict[str, Module]:
    """Every module under ``root`` (a package folder), by dotted name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        name = ".".join(parts[:-1] if is_package else parts)
        tree = parse(path.read_text(encoding="utf-8"))
        short = name.partition(".")[2]
        modules[name] = Module(name, short, path.relative_to(root).as_posix(), tree, is_package)
    return modules


@dataclasses.dataclass(frozen=True)
class Offence:
    key: str  # what, stable across edits: "config -> clip.outputs", "tools.pack: subprocess.run"
    where: str  # "config.py:21"

    def __str__(self) -> str:
        return f"{self.where}: {self.key}"


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def from_base(module: Module, node: ast.ImportFrom) -> str:
    """The absolute module a ``from ... import`` statement imports from."""
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    base = base[: len(base) - node.level + (1 if module.is_package else 0)]
    return ".".join(base + ([node.module] if node.module else []))


@dataclasses.dataclass(frozen=True)
class Import:
    node: ast.Import | ast.ImportFrom
    targets: tuple[str, ...]  # the package's modules it names
    module_level: bool


def runtime_imports(module: Module, modules: dict[str, Module]) -> list[Import]:
    """Every import of the package's own modules that runs (at module level or
    in a function), leaving out those under ``if TYPE_CHECKING:``."""
    found: list[Import] = []

    def targets(node: ast.Import | ast.ImportFrom) -> tuple[str, ...]:
        if isinstance(node, ast.Import):
            return tuple(a.name for a in node.names if a.name in modules)
        base = from_base(module, node)
        if base not in modules:
            return ()
        # `from . import ffmpeg` names a module; `from .config import Config` a name in one.
        named = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in modules]
        return tuple(named or [base])

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and is_type_checking(child.test):
                for other in child.orelse:
                    visit(ast.Module(body=[other], type_ignores=[]), in_function)
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                names = targets(child)
                if names:
                    found.append(Import(child, names, not in_function))
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(module.tree, False)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the modules it imports at run time (at module level or in a
    function; not type-only), the packages above an imported module included."""
    modules = read_package(root)
    graph: dict[str, set[str]] = {}
    for name, module in modules.items():
        edges = graph.setdefault(name, set())
        for imp in runtime_imports(module, modules):
            for target in imp.targets:
                parts = target.split(".")
                for depth in range(2, len(parts) + 1):  # importing a.b.c runs a/b/__init__ first
                    edges.add(".".join(parts[:depth]))
        # A module's own packages are already being imported when it runs.
        parts = name.split(".")
        edges.difference_update({".".join(parts[:depth]) for depth in range(1, len(parts) + 1)})
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
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


@functools.cache
def local_names(module: Module) -> dict[str, str]:
    """Local name -> the qualified name it stands for, from every import of
    the module (any scope): ``sp`` -> ``subprocess`` for ``import subprocess
    as sp``, ``PE`` -> ``k400frames.errors.PreflightError``."""
    names: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    names[a.asname] = a.name
                else:
                    top = a.name.partition(".")[0]
                    names[top] = top
        elif isinstance(node, ast.ImportFrom):
            base = from_base(module, node)
            for a in node.names:
                names[a.asname or a.name] = f"{base}.{a.name}"
    return names


def dotted(node: ast.expr, names: dict[str, str]) -> str | None:
    """``a.b.c`` for a name or an attribute chain, its head resolved through ``names``."""
    attrs = []
    while isinstance(node, ast.Attribute):
        attrs.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return ".".join([names.get(node.id, node.id), *reversed(attrs)])


@dataclasses.dataclass(frozen=True)
class Use:
    name: str  # qualified: "subprocess.run", "os.system"
    lineno: int
    scope: str  # the enclosing functions and classes: "_ignore_sigint_plugin.IgnoreSigint.setup"


@functools.cache
def uses(module: Module) -> list[Use]:
    """Every name or attribute chain the module reads, qualified."""
    names = local_names(module)
    found: list[Use] = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(child, f"{scope}.{child.name}" if scope else child.name)
                continue
            if isinstance(child, (ast.Name, ast.Attribute)) and isinstance(child.ctx, ast.Load):
                name = dotted(child, names)
                if name is not None:
                    found.append(Use(name, child.lineno, scope))
                    continue
            visit(child, scope)

    visit(module.tree, "")
    return found


def matches(name: str, wanted: tuple[str, ...]) -> str | None:
    """The entry of ``wanted`` that ``name`` is, or is an attribute of."""
    return next((w for w in wanted if name == w or name.startswith(w + ".")), None)


# ----------------------------------------------------------------------------
# the guardrails, each a function of a package root
# ----------------------------------------------------------------------------


def processes_outside_the_door(root: Path) -> list[Offence]:
    """(a) Child processes start in the door only: no other module imports
    subprocess or multiprocessing, or reaches for os.system, os.popen,
    os.spawn*, os.exec*, os.fork and their kin."""
    bad = []
    for module in read_package(root).values():
        if module.short == PROCESS_DOOR:
            continue
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                hits = [a.name for a in node.names if a.name.partition(".")[0] in PROCESS_MODULES]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                hits = [node.module] if (node.module or "").partition(".")[0] in PROCESS_MODULES else []
            else:
                continue
            bad += [Offence(f"{module.short}: import {hit}", f"{module.rel}:{node.lineno}") for hit in hits]
        for use in uses(module):
            if use.name.partition(".")[0] not in PROCESS_HEADS:
                continue
            hit = matches(use.name, PROCESS_STARTERS) or matches(use.name, PROCESS_MODULES)
            if hit:
                bad.append(Offence(f"{module.short}: {use.name}", f"{module.rel}:{use.lineno}"))
    return bad


def ffmpeg_argv_outside_ffmpeg(root: Path) -> list[Offence]:
    """ffmpeg command lines are built in ffmpeg/ only: no other module spells
    the safe prefix or a ``file:`` URL itself."""
    bad = []
    for module in read_package(root).values():
        if module.short.partition(".")[0] == "ffmpeg":
            continue
        in_fstrings = {
            id(part) for node in ast.walk(module.tree) if isinstance(node, ast.JoinedStr) for part in node.values
        }
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Constant) and node.value in FFMPEG_ARGV_WORDS and id(node) not in in_fstrings:
                bad.append(
                    Offence(f"{module.short}: {node.value!r} (use ffmpeg.command)", f"{module.rel}:{node.lineno}")
                )
            elif (
                isinstance(node, ast.JoinedStr)
                and node.values
                and isinstance(node.values[0], ast.Constant)
                and str(node.values[0].value).startswith("file:")
            ):
                bad.append(Offence(f"{module.short}: f'file:...' (use ffmpeg.file_url)", f"{module.rel}:{node.lineno}"))
    return bad


def exits_and_signals_in_the_library(root: Path) -> list[Offence]:
    """(b) Only the CLI exits or sets signal handlers: no sys.exit, os._exit,
    exit(), ``raise SystemExit`` or signal.signal elsewhere, bar the named
    Dask worker plugin."""
    bad = []
    for module in read_package(root).values():
        if module.short in EXIT_ALLOWED_MODULES:
            continue
        for use in uses(module):
            hit = use.name if use.name in EXITS_AND_SIGNALS else None
            if hit and (module.short, use.scope, hit) not in EXIT_ALLOWED_CALLS:
                bad.append(Offence(f"{module.short}: {hit} in {use.scope or 'module'}", f"{module.rel}:{use.lineno}"))
        names = local_names(module)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if dotted(exc, names) in ("SystemExit", "builtins.SystemExit"):
                    bad.append(Offence(f"{module.short}: raise SystemExit", f"{module.rel}:{node.lineno}"))
    return bad


def errors_outside_errors_py(root: Path) -> list[Offence]:
    """(c) Every K400Error subclass, however indirect, is defined in errors.py."""
    modules = read_package(root)
    package = root.name
    errors_module = f"{package}.errors"
    # A module's own classes by their bare names, then what it imports.
    names = {
        name: {
            **{node.name: f"{name}.{node.name}" for node in module.tree.body if isinstance(node, ast.ClassDef)},
            **local_names(module),
        }
        for name, module in modules.items()
    }

    def canonical(qualified: str) -> str:
        # Follow re-exports: k400frames.tools.lists.ListFormatError -> k400frames.errors.ListFormatError.
        for _ in range(10):
            module, _, attr = qualified.rpartition(".")
            target = names.get(module, {}).get(attr)
            if target is None or target == qualified:
                break
            qualified = target
        return qualified

    classes = [
        (module, node)
        for module in modules.values()
        for node in ast.walk(module.tree)
        if isinstance(node, ast.ClassDef)
    ]
    family = {f"{errors_module}.K400Error"}
    grew = True
    while grew:  # a subclass of a subclass, in any order of the modules
        grew = False
        for module, node in classes:
            qualified = f"{module.name}.{node.name}"
            if qualified in family:
                continue
            bases = (dotted(base, names[module.name]) for base in node.bases)
            if any(base and canonical(base) in family for base in bases):
                family.add(qualified)
                grew = True
    return [
        Offence(f"{module.short}: class {node.name}", f"{module.rel}:{node.lineno}")
        for module, node in classes
        if module.name != errors_module and f"{module.name}.{node.name}" in family
    ]


def stage_of(short: str) -> str | None:
    """The stage a module belongs to (the package itself and __main__ sit with the CLI)."""
    head = short.partition(".")[0]
    if head in ("", "__main__"):
        return "cli"
    return head if head in STAGES else None


def upward_imports(root: Path) -> list[Offence]:
    """(d) A runtime import (module level or in a function, not under
    ``if TYPE_CHECKING:``) goes to the importer's own stage or one below."""
    modules = read_package(root)
    rank = {stage: i for i, stage in enumerate(STAGES)}
    bad = []
    for module in modules.values():
        here = stage_of(module.short)
        if here is None:
            bad.append(Offence(f"{module.short}: in no stage (add it to STAGES)", module.rel))
            continue
        for imp in runtime_imports(module, modules):
            for target in imp.targets:
                short = modules[target].short
                there = stage_of(short)
                key = f"{module.short} -> {short}"
                if there is not None and rank[there] > rank[here] and key not in UPWARD_ALLOWED:
                    bad.append(Offence(key, f"{module.rel}:{imp.node.lineno}"))
    return bad


def import_cycles(root: Path) -> list[Offence]:
    """(e) No runtime import cycle among the modules, through imports at module
    level or in functions."""
    cycle = find_cycle(import_graph(root))
    return [Offence(" -> ".join(cycle), "import cycle")] if cycle else []


# ----------------------------------------------------------------------------
# the real tree
# ----------------------------------------------------------------------------


def test_child_processes_start_in_the_door_only():
    assert not processes_outside_the_door(PACKAGE), [str(o) for o in processes_outside_the_door(PACKAGE)]


def test_ffmpeg_command_lines_are_built_in_ffmpeg_only():
    assert not ffmpeg_argv_outside_ffmpeg(PACKAGE), [str(o) for o in ffmpeg_argv_outside_ffmpeg(PACKAGE)]


def test_only_the_cli_exits_or_handles_signals():
    assert not exits_and_signals_in_the_library(PACKAGE), [str(o) for o in exits_and_signals_in_the_library(PACKAGE)]


def test_every_expected_error_is_defined_in_errors_py():
    assert not errors_outside_errors_py(PACKAGE), [str(o) for o in errors_outside_errors_py(PACKAGE)]


def test_stages_import_only_downwards():
    """Each stage imports only itself and the stages below it, at module level
    and in functions alike; config, at the bottom, imports no stage above it."""
    found = upward_imports(PACKAGE)
    unknown = [str(o) for o in found if o.key not in KNOWN_UPWARD_IMPORTS]
    assert not unknown
    stale = KNOWN_UPWARD_IMPORTS - {o.key for o in found}
    assert not stale, f"gone from the tree: remove from KNOWN_UPWARD_IMPORTS: {sorted(stale)}"


def test_no_import_cycle_between_modules():
    assert not import_cycles(PACKAGE), [str(o) for o in import_cycles(PACKAGE)]


def test_every_module_has_its_stage():
    assert {stage_of(m.short) for m in read_package(PACKAGE).values()} == set(STAGES)


# ----------------------------------------------------------------------------
# each guardrail fails on an offence planted in a copy of the package
# ----------------------------------------------------------------------------


@pytest.fixture
def package_copy(tmp_path) -> Callable[..., Path]:
    """``plant(rel, code, in_function=True)``: a fresh copy of the package
    with ``code`` appended to the module ``rel`` (in a function of its own,
    or at module level); returns the copy's root."""

    copies = iter(range(1000))

    def plant(rel: str, code: str, in_function: bool = True) -> Path:
        root = tmp_path / f"copy{next(copies)}" / PACKAGE.name  # a new root: read_package caches by root
        shutil.copytree(PACKAGE, root, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        code = textwrap.dedent(code).strip("\n")
        if in_function:
            code = "def _planted():\n" + textwrap.indent(code, "    ")
        path = root / rel
        path.write_text(path.read_text(encoding="utf-8") + "\n\n" + code + "\n", encoding="utf-8")
        return root

    return plant


def keys(offences: list[Offence]) -> set[str]:
    return {o.key for o in offences}


CHECKS = (
    processes_outside_the_door,
    ffmpeg_argv_outside_ffmpeg,
    exits_and_signals_in_the_library,
    errors_outside_errors_py,
    upward_imports,
    import_cycles,
)


def test_a_copy_reads_as_the_real_tree(package_copy):
    # What the planted tests compare against: the copy differs by its plant only.
    root = package_copy("errors.py", "pass")
    for check in CHECKS:
        assert keys(check(root)) == keys(check(PACKAGE)), check.__name__


@pytest.mark.parametrize(
    "rel, code, key",
    [
        ("tools/pack.py", "import subprocess\nsubprocess.run(['true'])", "tools.pack: subprocess.run"),
        ("run/runner.py", "from subprocess import Popen as P\nP(['true'])", "run.runner: subprocess.Popen"),
        ("clip/frames.py", "import subprocess\nsubprocess.check_output(['true'])", "clip.frames: import subprocess"),
        ("stores/lmdb.py", "import os\nos.system('true')", "stores.lmdb: os.system"),
        ("sources/tree.py", "import os\nos.popen('true')", "sources.tree: os.popen"),
        ("tools/verify.py", "import os as o\no.spawnlp(o.P_WAIT, 'true', 'true')", "tools.verify: os.spawnlp"),
        ("run/card.py", "from os import execv\nexecv('/bin/true', ['true'])", "run.card: os.execv"),
        ("ffmpeg/find.py", "import subprocess\nsubprocess.call(['true'])", "ffmpeg.find: subprocess.call"),
    ],
)
def test_a_child_process_outside_the_door_is_found(package_copy, rel, code, key):
    assert key not in keys(processes_outside_the_door(PACKAGE))
    assert key in keys(processes_outside_the_door(package_copy(rel, code)))


def test_an_ffmpeg_command_line_outside_ffmpeg_is_found(package_copy):
    root = package_copy("clip/video.py", "return ['ffmpeg', '-nostdin', f'file:{1}']")
    assert keys(ffmpeg_argv_outside_ffmpeg(root)) == {
        "clip.video: '-nostdin' (use ffmpeg.command)",
        "clip.video: f'file:...' (use ffmpeg.file_url)",
    }


@pytest.mark.parametrize(
    "rel, code, key",
    [
        ("run/runner.py", "import sys\nsys.exit(1)", "run.runner: sys.exit in _planted"),
        (
            "stores/lmdb.py",
            "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)",
            "stores.lmdb: signal.signal in _planted",
        ),
        ("tools/verify.py", "from os import _exit\n_exit(3)", "tools.verify: os._exit in _planted"),
        ("clip/extract.py", "raise SystemExit(2)", "clip.extract: raise SystemExit"),
        ("config.py", "exit(2)", "config: exit in _planted"),
        # The Dask allowance names one function: the same call elsewhere in run/dask.py is found.
        (
            "run/dask.py",
            "import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)",
            "run.dask: signal.signal in _planted",
        ),
    ],
)
def test_an_exit_or_a_signal_handler_in_the_library_is_found(package_copy, rel, code, key):
    assert key not in keys(exits_and_signals_in_the_library(PACKAGE))
    assert key in keys(exits_and_signals_in_the_library(package_copy(rel, code)))


@pytest.mark.parametrize(
    "rel, code, found",
    [
        (
            "stores/lmdb.py",
            "from ..errors import PreflightError\nclass X(PreflightError): pass",
            {"stores.lmdb: class X"},
        ),
        ("run/merge.py", "from .. import errors\nclass Y(errors.K400Error): pass", {"run.merge: class Y"}),
        # through a re-export: tools/lists.py imports ListFormatError from errors
        (
            "tools/preview.py",
            "from .lists import ListFormatError\nclass Z(ListFormatError): pass",
            {"tools.preview: class Z"},
        ),
        # a subclass of a subclass defined outside errors.py, in another module
        (
            "tools/verify.py",
            "from ..stores.lmdb import StoreError\nclass Base(StoreError): pass\nclass Leaf(Base): pass",
            {"tools.verify: class Base", "tools.verify: class Leaf"},
        ),
    ],
)
def test_an_expected_error_outside_errors_py_is_found(package_copy, rel, code, found):
    assert not found & keys(errors_outside_errors_py(PACKAGE))
    assert keys(errors_outside_errors_py(package_copy(rel, code, in_function=False))) == found


def test_an_indirect_error_subclass_in_another_module_is_found(package_copy):
    root = package_copy(
        "sources/tree.py", "from ..errors import AnnotationError\nclass Odd(AnnotationError): pass", False
    )
    path = root / "clip" / "decode.py"
    path.write_text(
        path.read_text(encoding="utf-8") + "\nfrom ..sources.tree import Odd\n\nclass Odder(Odd):\n    pass\n"
    )
    assert keys(errors_outside_errors_py(root)) == {"sources.tree: class Odd", "clip.decode: class Odder"}


def test_internal_exceptions_may_stay_where_they_are_used(package_copy):
    root = package_copy("clip/decode.py", "class Internal(ValueError): pass", in_function=False)
    assert not errors_outside_errors_py(root)


@pytest.mark.parametrize(
    "rel, code, in_function, key",
    [
        ("clip/frames.py", "from ..tools import verify", True, "clip.frames -> tools.verify"),
        ("stores/lmdb.py", "from ..run import runner", False, "stores.lmdb -> run.runner"),
        ("config.py", "import k400frames.run.card", True, "config -> run.card"),
        ("errors.py", "from .layout import Layout", True, "errors -> layout"),
        ("sources/tree.py", "from ..clip.codec import FFMPEG_ENCODER_OPTIONS", False, "sources.tree -> clip.codec"),
        ("files.py", "from .config import Config", True, "files -> config"),
    ],
)
def test_an_upward_import_is_found(package_copy, rel, code, in_function, key):
    assert key not in keys(upward_imports(PACKAGE))
    assert key in keys(upward_imports(package_copy(rel, code, in_function)))


def test_a_type_only_upward_import_is_no_offence(package_copy):
    code = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..tools.verify import Report\n"
    assert "clip.frames -> tools.verify" not in keys(upward_imports(package_copy("clip/frames.py", code, False)))
    code += "else:\n    from ..tools import verify\n"
    assert "clip.frames -> tools.verify" in keys(upward_imports(package_copy("clip/frames.py", code, False)))


def test_a_module_outside_every_stage_is_found(package_copy):
    root = package_copy("errors.py", "pass")
    (root / "extra").mkdir()
    (root / "extra" / "__init__.py").write_text("")
    assert "extra: in no stage (add it to STAGES)" in keys(upward_imports(root))


@pytest.mark.parametrize("in_function", [False, True])
def test_an_import_cycle_is_found(package_copy, in_function):
    # Within one stage, so that only the cycle check can see it: flat imports tree.
    root = package_copy("sources/tree.py", "from . import flat", in_function)
    (cycle,) = import_cycles(root)
    assert "k400frames.sources.tree -> k400frames.sources.flat" in cycle.key


def test_an_import_cycle_through_a_package_init_is_found(package_copy):
    # ffmpeg/__init__ imports ffmpeg.probe: probe importing clip.codec, which
    # imports the ffmpeg package, closes a circle.
    root = package_copy("ffmpeg/probe.py", "from ..clip import codec", in_function=False)
    assert import_cycles(root)


def test_late_imports_say_why():
    """An import inside a function hides a dependency; outside the CLI (whose
    commands load only what they run) each one says why it waits."""
    modules = read_package(PACKAGE)
    silent = []
    for module in modules.values():
        if module.short == "cli":
            continue
        lines = (PACKAGE / module.rel).read_text(encoding="utf-8").splitlines()
        for imp in runtime_imports(module, modules):
            if not imp.module_level and "#" not in lines[imp.node.lineno - 1]:
                silent.append(f"{module.rel}:{imp.node.lineno}")
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
    for name, (module, cls) in OUTPUTS.items():
        kind = output_named(name)
        assert isinstance(kind, Output) and kind.name == name and kind.__class__.__name__ == cls
        assert module.startswith("k400frames.clip.") and OUTPUT_DOCS[name]
    config_choices = next(f.metadata["choices"] for f in SCHEMA if f.name == "output")
    assert config_choices == tuple(OUTPUTS) == tuple(OUTPUT_DOCS)


def test_each_store_is_one_registry_line():
    for name, (module, cls) in STORES.items():
        store = store_class(name)
        assert issubclass(store, Store) and store.name == name and store.__name__ == cls
        assert module.startswith("k400frames.stores.") and STORE_DOCS[name]
    config_choices = next(f.metadata["choices"] for f in SCHEMA if f.name == "store")
    assert config_choices == tuple(STORES) == tuple(STORE_DOCS)
    assert set(ONE_WRITER_STORES) <= set(STORES)


def stores_named_outside_stores(root: Path) -> list[str]:
    """``module: what`` for each module outside ``stores/`` that names a store
    class, imports a store's own module, or compares the ``store`` key with a
    store's name (a new store must be one module plus one registry line)."""
    classes = "|".join(store_class(name).__name__ for name in STORES) + "|LmdbEnv"
    modules = "|".join(module.rsplit(".", 1)[1] for module, _ in STORES.values())
    names = "|".join(STORES)
    rules = {
        "names a store class": rf"\b({classes})\b",
        "imports a store's module": rf"stores\.({modules})\b",
        "branches on a store's name": rf"\.store\s*(==|!=|in\b)|[=!]=\s*[\"']({names})[\"']",
    }
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith("stores/"):
            continue
        text = path.read_text(encoding="utf-8")
        found.extend(f"{rel}: {what}" for what, pattern in rules.items() if re.search(pattern, text))
    return found


def test_no_module_outside_stores_names_a_store():
    assert stores_named_outside_stores(PACKAGE) == []


@pytest.mark.parametrize(
    "rel, code, found",
    [
        ("run/runner.py", "from ..stores.lmdb import LmdbStore", "run/runner.py: names a store class"),
        ("tools/verify.py", "import k400frames.stores.folder", "tools/verify.py: imports a store's module"),
        ("run/dryrun.py", "if cfg.store != 'files': pass", "run/dryrun.py: branches on a store's name"),
        ("cli.py", "x = cfg.store in ('lmdb',)", "cli.py: branches on a store's name"),
    ],
)
def test_a_store_named_outside_stores_is_found(package_copy, rel, code, found):
    assert found not in stores_named_outside_stores(PACKAGE)
    assert found in stores_named_outside_stores(package_copy(rel, code))
