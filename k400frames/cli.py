"""Thin command-line layer: parse, call the library, turn errors into one line
and an exit code (0 ok, 1 some clips failed, 2 usage/config error, 130 interrupted)."""
from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
from pathlib import Path

from . import __version__
from .config import Config, load_config, parse_overrides
from .errors import ConfigError, K400Error

log = logging.getLogger("k400frames")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"3/8"`` -> ``(3, 8)``."""
    if text is None:
        return None
    k, sep, n = text.partition("/")
    try:
        shard = (int(k), int(n))
    except ValueError:
        shard = None
    if not sep or shard is None or not 0 <= shard[0] < shard[1]:
        raise ConfigError(f"--shard expects K/N with 0 <= K < N, got {text!r}")
    return shard


def config_from_args(args: argparse.Namespace) -> Config:
    overrides = parse_overrides(args.set or [])
    if getattr(args, "executor", None):
        overrides["executor"] = args.executor
    return load_config(Path(args.config) if args.config else None, overrides)


def format_summary(summary) -> str:
    lines = [
        f"clips: {summary.done} extracted ({summary.padded} padded, {summary.cut} cut), "
        f"{summary.skipped} already done, {summary.failed} failed, of {summary.total}",
        f"speed: {summary.frames} frames in {summary.seconds:.1f} s = {summary.frames_per_second:.0f} frames/s, "
        f"{summary.bytes / 1e6:.1f} MB written",
        f"frames: {summary.target}",
        f"manifest: {summary.manifest}",
    ]
    if summary.failed:
        lines.append(f"failures: {summary.failures}  (rerun with --retry-failed after fixing them)")
    if summary.disk_full:
        lines.append(f"stopped: {summary.disk_full}; free some space and rerun to resume")
    if summary.interrupted:
        lines.append("interrupted: rerun the same command to resume")
    return "\n".join(lines)


def _raise_keyboard_interrupt(signum, frame):
    raise KeyboardInterrupt


@contextlib.contextmanager
def _terminate_as_interrupt():
    """SIGTERM (SLURM's scancel, kill) stops a run exactly like Ctrl-C."""
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ----------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------

def cmd_extract(args: argparse.Namespace) -> int:
    from .progress import make_progress
    from .runner import run_extract

    cfg = config_from_args(args)
    shard = parse_shard(args.shard)
    progress = make_progress(quiet=args.quiet)
    with _progress_safe_logging():
        summary = run_extract(cfg, shard=shard, overwrite=args.overwrite, retry_failed=args.retry_failed,
                              progress=progress)
    print(format_summary(summary))
    return summary.exit_code


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    return run_demo(Path(args.dir), quiet=args.quiet, report=print)


@contextlib.contextmanager
def _progress_safe_logging():
    from tqdm.contrib.logging import logging_redirect_tqdm
    with logging_redirect_tqdm(loggers=[logging.getLogger("k400frames")]):
        yield


# ----------------------------------------------------------------------------
# parser
# ----------------------------------------------------------------------------

def _add_config_args(parser: argparse.ArgumentParser, required: bool = True) -> None:
    parser.add_argument("--config", "-c", required=required, metavar="FILE", help="YAML config (see configs/)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE",
                        help="override a config key, e.g. --set num_frames=64 (repeatable)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="k400frames",
                                     description="Turn Kinetics-format video folders into frame folders.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every ffmpeg command")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("extract", help="extract exactly num_frames frames per clip")
    _add_config_args(p, required=False)
    p.add_argument("--overwrite", action="store_true", help="redo clips even if finished, also with new settings")
    p.add_argument("--retry-failed", action="store_true", help="only re-attempt the clips recorded as failed")
    p.add_argument("--shard", metavar="K/N", help="only this shard of the clips (job arrays); 0 <= K < N")
    p.add_argument("--executor", choices=("local", "dask"), help="override the config's executor")
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser("demo", help="make a small synthetic dataset, extract and check it")
    p.add_argument("dir", nargs="?", default="k400frames-demo", help="where to put it (default: %(default)s)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="k400frames: %(message)s", stream=sys.stderr)
    try:
        with _terminate_as_interrupt():
            return args.func(args)
    except K400Error as exc:
        print(f"k400frames: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("k400frames: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:
        # Permission denied, read-only filesystem and the like: expected, so no traceback.
        print(f"k400frames: error: {exc.strerror or exc}: {exc.filename or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USAGE
