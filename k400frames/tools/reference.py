"""The reference documentation, made from the code: config keys from the
schema, the CLI from its parser, exit codes and record fields from their
tables.  ``make docs`` (``python -m k400frames.tools.reference``) writes
docs/reference/; a test fails when a page there is out of date."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from pathlib import Path

from ..cli import build_parser
from ..config import SCHEMA, yaml_key
from ..errors import EXIT_CODES
from ..run.records import RECORD_FIELDS

HEADER = "<!-- Made by `make docs` from the code; edit the code, not this file. -->\n\n"
WIDTH = 100  # help text is wrapped at this width whatever the terminal is


def _value(value: object) -> str:
    if isinstance(value, tuple) and value and all(isinstance(v, str) for v in value):
        return "`" + " ".join(value) + "`"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        return f"`{int(value)}`"
    return f"`{value}`"


def config_page() -> str:
    lines = [
        "# Config keys\n\n",
        "A config is YAML (read with `safe_load`). Only `source` and `target` are required. An unknown key, a "
        "wrong type or an impossible value stops the run with one line naming the key. `--set key=value` "
        "overrides any key (the value is read as YAML: `--set fps=null`, `--set size=340x256`, "
        "`--set dask.scheduler=tcp://host:8786`). Relative paths resolve against the folder you run "
        "`k400frames` from.\n\n",
        "*Output* marks the keys that change the bytes written: finished clips made with other values are "
        "not reused (a run refuses to mix them unless told to overwrite).\n\n",
        "| key | default | output | meaning |\n|---|---|---|---|\n",
    ]
    for field in SCHEMA:
        default = "required" if field.default is dataclasses.MISSING else _value(field.default)
        doc = field.metadata["doc"]
        if field.metadata["choices"]:
            doc += " (one of " + ", ".join(f"`{c}`" for c in field.metadata["choices"]) + ")"
        output = "yes" if field.metadata["output"] else ""
        lines.append(f"| `{yaml_key(field)}` | {default} | {output} | {doc} |\n")
    return "".join(lines)


def cli_page() -> str:
    parser = build_parser()
    parts = ["# Command line\n\n", "`k400frames COMMAND --help` prints the same text.\n\n"]

    def help_of(p: argparse.ArgumentParser) -> str:
        p.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=WIDTH)
        return p.format_help().rstrip() + "\n"

    parts.append(f"```\n{help_of(parser)}```\n")
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        parts.append(f"\n## {name}\n\n```\n{help_of(command)}```\n")
    return "".join(parts)


def exit_codes_page() -> str:
    rows = "".join(f"| {code} | {meaning} |\n" for code, meaning in EXIT_CODES.items())
    return (
        "# Exit codes\n\n| code | meaning |\n|---|---|\n" + rows + "\nExpected errors are one line on stderr "
        "(`k400frames: error: ...`), never a traceback. `-v` logs every ffmpeg command, shell-quoted.\n"
    )


def records_page() -> str:
    rows = "".join(f"| `{name}` | {where} | {meaning} |\n" for name, (where, meaning) in RECORD_FIELDS.items())
    return (
        "# Run records\n\n`<split>.manifest.jsonl` gains one JSON line per finished clip and keeps them across "
        "runs; `<split>.failures.jsonl` holds the failed clips of the last run only (emptied when a run starts, "
        "removed when no clip failed). A job array's shards write `<split>.manifest.shard-K-of-N.jsonl` and "
        "`<split>.failures.shard-K-of-N.jsonl`. Each line is written with one `write`, so a crash can only tear "
        "the last line, which readers skip.\n\n| field | in | meaning |\n|---|---|---|\n" + rows
    )


PAGES: dict[str, Callable[[], str]] = {
    "config.md": config_page,
    "cli.md": cli_page,
    "exit-codes.md": exit_codes_page,
    "records.md": records_page,
}


def render() -> dict[str, str]:
    """Every reference page, by file name."""
    return {name: HEADER + make() for name, make in PAGES.items()}


def write(folder: Path) -> list[Path]:
    """Write the pages into ``folder``; the paths of those that changed."""
    folder.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in render().items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/reference")
    for path in write(out):
        print(f"wrote {path}")
