"""Thin command-line layer: parse, call the library, turn errors into one line
and an exit code (0 ok, 1 some clips failed or a command stopped part way,
2 usage/config error: nothing done, 130 interrupted, 141 the reader of our
output went away, 143 terminated; ``errors.EXIT_CODES`` says each in full)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from . import __version__
from .config import SCHEMA, Config, load_config, parse_overrides, read_yaml
from .errors import (
    EXIT_BROKEN_PIPE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    ConfigError,
    K400Error,
)
from .stores import store_class
from .words import plural

log = logging.getLogger("k400frames")

# The config keys that change a contact sheet.
PREVIEW_KEYS = ("frame_name", "ffmpeg", "flow_name", "flow_bound")


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


def config_from_args(args: argparse.Namespace, needs: tuple[str, ...] = ("source", "target")) -> Config:
    """The config of ``--config FILE`` and ``--set`` overrides, or of ``--set``
    alone.  A command that never opens the videos (verify, lists, merge)
    ``needs`` only the ``target``; one that writes nothing (doctor) only the
    ``source``: a config without the other key is fine for them."""
    overrides = parse_overrides(args.set or [])
    if getattr(args, "executor", None):
        overrides["executor"] = args.executor
    path = Path(args.config) if args.config else None
    if path is None and any(key not in overrides for key in needs):
        raise ConfigError(f"{args.command}: give --config FILE (or {' '.join(f'--set {k}=...' for k in needs)})")
    written = read_yaml(path) if path else {}
    for key in ("source", "target"):
        if key not in needs and key not in overrides and key not in written:
            # A stand-in that is never a folder keeps the validation of the other keys whole.
            overrides[key] = os.devnull
    return load_config(path, overrides)


class _Interrupts:
    """The process's SIGINT/SIGTERM handler; only the CLI owns the process.

    The first signal (Ctrl-C, ``timeout``, Slurm's ``scancel`` or time limit,
    ``kill``) raises KeyboardInterrupt, which the library turns into an
    orderly stop: no new clips, ffmpegs killed, temp area removed, lock
    released, summary printed.  A terminal, ``timeout`` and ``scancel``
    signal the process *and* its process group, so one stop may arrive
    twice: any signal within :data:`SAME_STOP_S` of the first is the same
    stop and is ignored.  Only a later one means "now": exit at once (ffmpeg
    has the parent-death signal, the kernel drops the lock, and the next run
    clears the temp area)."""

    SAME_STOP_S = 1.0

    def __init__(self) -> None:
        self.first: int | None = None  # the signal that started the stop
        self.first_at = 0.0

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM (128 + the signal, as shells report it)."""
        return EXIT_TERMINATED if self.first == signal.SIGTERM else EXIT_INTERRUPTED

    def __call__(self, signum, frame) -> None:
        now = time.monotonic()
        if self.first is None:
            self.first, self.first_at = signum, now
            raise KeyboardInterrupt
        if now - self.first_at < self.SAME_STOP_S:
            return  # the same stop, delivered again (to the process and to its group)
        # os.write: print() may be in use by the code this signal interrupted.
        os.write(
            2,
            b"k400frames: stopped at once (a second signal); the next run clears the temp area and resumes\n",
        )
        os._exit(self.exit_code)


@contextlib.contextmanager
def _signals_as_interrupts(handler: _Interrupts):
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        if handler.first is None:
            for sig, old in previous.items():
                signal.signal(sig, old)
        else:
            # The work is over and the process about to exit; the second
            # delivery of the same stop may still come.  Ignore it (Python's
            # shutdown would otherwise restore the default action, and the
            # process would die by it with its summary unflushed).
            for sig in previous:
                signal.signal(sig, signal.SIG_IGN)


def _warn_if_running(target: Path) -> None:
    """verify and lists still work beside a run, but say that the tree is moving."""
    from .run.lock import live_holders

    holders = live_holders(target)
    if holders:
        log.warning(
            "a run is in progress on %s (%s): its clips are not all there yet",
            target,
            "; ".join(h.describe() for h in holders),
        )


# ----------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------


def cmd_extract(args: argparse.Namespace) -> int:
    from .run.progress import make_progress
    from .run.runner import format_summary, run_extract

    cfg = config_from_args(args)
    shard = parse_shard(args.shard)
    if args.dry_run:
        return cmd_dry_run(cfg, shard, args)
    progress = make_progress(quiet=args.quiet)
    with _progress_safe_logging():
        summary = run_extract(
            cfg, shard=shard, overwrite=args.overwrite, retry_failed=args.retry_failed, progress=progress
        )
    print(format_summary(summary))
    if summary.failed:
        print("retry: fix those clips, then rerun with --retry-failed to redo only them")
    return summary.exit_code


def cmd_dry_run(cfg: Config, shard: tuple[int, int] | None, args: argparse.Namespace) -> int:
    from .run.dryrun import dry_run, format_dry_run

    # The dry run refuses what the real run refuses (same errors, raised
    # from the shared preflight); a run in progress is only reported, since
    # looking at a target while it fills is what a dry run is for.
    report = dry_run(cfg, shard=shard, overwrite=args.overwrite, retry_failed=args.retry_failed)
    print(format_dry_run(report))
    return EXIT_OK


def cmd_verify(args: argparse.Namespace) -> int:
    import json

    from .config import check_flow_name, check_frame_name
    from .ffmpeg import find_ffmpeg
    from .run.progress import make_progress
    from .tools.verify import expected_csv, format_report, verify_tree

    from_config = bool(args.config or args.set)
    if from_config and args.frames:
        raise ConfigError("verify: give --config FILE (or --set target=...) or --frames DIR, not both")
    configured_ffmpeg = None
    segments, class_names, clip_names, missing_ok = None, "keep", "keep", None
    flow_name, flow_only = None, False
    if from_config:
        cfg = config_from_args(args, needs=("target",))
        frames, num_frames, frame_name = cfg.target, cfg.num_frames, cfg.frame_name
        if cfg.flow != "none":  # flow pairs are counted with the frames
            flow_name, flow_only = cfg.flow_name, cfg.flow_only
        # What the run was asked for: its annotations (the copy it left beside the split) or segments.
        csv = expected_csv(frames, cfg.annotations) if cfg.annotations or not cfg.segments else None
        segments, class_names, clip_names = cfg.segments, cfg.class_names, cfg.clip_names
        configured_ffmpeg, missing_ok = cfg.ffmpeg, cfg.missing_ok
    elif args.frames:
        if args.num_frames is None:
            raise ConfigError("verify: --frames needs --num-frames N")
        frame_name = check_frame_name(args.frame_name or "frame_{:05d}.jpg", "--frame-name")
        frames, num_frames = Path(args.frames), args.num_frames
        csv = expected_csv(frames)
        if args.flow_name or args.flow_only:
            flow_name = check_flow_name(args.flow_name or "flow_{}_{:05d}.jpg", "--flow-name")
            flow_only = args.flow_only
    else:
        raise ConfigError("verify: give --config FILE (or --set target=...), or --frames DIR --num-frames N")
    if args.csv:
        csv, segments = Path(args.csv), None
    exe = find_ffmpeg(configured_ffmpeg) if args.deep else None
    _warn_if_running(frames)
    with _progress_safe_logging():
        report = verify_tree(
            frames,
            num_frames,
            frame_name,
            csv=csv,
            segments=segments,
            class_names=class_names,
            clip_names=clip_names,
            deep=args.deep,
            ffmpeg_exe=exe,
            progress=make_progress(quiet=args.quiet),
            missing_ok=missing_ok,
            flow_name=flow_name,
            flow_only=flow_only,
        )
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if args.json else format_report(report))
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_card(args: argparse.Namespace) -> int:
    from .run.card import write_card

    cfg = config_from_args(args)
    card = write_card(cfg)
    data = card.data
    print(
        f"card: {card.json_path} and {card.md_path.name}: {data['clips']} clips in {data['classes']} classes, "
        f"{data['failed']} failed, {data['missing']} missing"
    )
    print(f"fingerprint: {card.fingerprint}")
    return EXIT_OK


def cmd_annotate(args: argparse.Namespace) -> int:
    from .run.preflight import whitespace_warning
    from .tools.annotate import annotate, write_annotations

    if bool(args.source) == bool(args.segments):
        raise ConfigError("annotate: give a source folder or --segments CSV (one of the two)")
    if args.segments:
        return cmd_annotate_segments(args)

    result = write_annotations(
        annotate(
            Path(args.source),
            val_fraction=args.val_fraction,
            seed=args.seed,
            class_names=args.class_names,
            clip_names=args.clip_names,
        ),
        Path(args.out_dir),
    )
    print(f"train: {result.train_csv} ({plural(len(result.train), 'clip')})")
    print(f"val: {result.val_csv} ({plural(len(result.val), 'clip')})")
    if result.balance and result.val:
        print(result.balance.describe("clips"))
    for label, count in sorted(result.too_small.items()):
        log.warning("class %r has %s, too few to split: all in train", label, plural(count, "recording"))
    for rel, reason in result.skipped:
        log.warning("skipped %s: %s", rel, reason)
    if result.spaced:
        flags = ("--clip-names", "--class-names")
        log.warning("%s", whitespace_warning(result.spaced[:2], len(result.spaced), flags))
    if result.too_small:
        print(
            f"classes too small to split (all in train): {len(result.too_small)}: {', '.join(sorted(result.too_small))}"
        )
    if result.skipped:
        print(f"skipped clips (not in either CSV): {len(result.skipped)}")
    return EXIT_FAILED if result.skipped else EXIT_OK


def cmd_annotate_segments(args: argparse.Namespace) -> int:
    from .tools.annotate import split_segments

    result = split_segments(Path(args.segments), Path(args.out_dir), val_fraction=args.val_fraction, seed=args.seed)
    print(f"train: {result.train_csv} ({result.train} segments)")
    print(f"val: {result.val_csv} ({result.val} segments)")
    if result.balance and result.val:
        print(result.balance.describe("segments"))
    if result.too_small:
        print(
            f"labels too small to split (all in train): {len(result.too_small)}: {', '.join(sorted(result.too_small))}"
        )
    return EXIT_OK


def cmd_lists(args: argparse.Namespace) -> int:
    from .tools.leakage import format_leaks
    from .tools.lists import pad_advice, write_lists

    cfg = config_from_args(args, needs=("target",))
    _warn_if_running(cfg.target)
    result = write_lists(cfg, (args.format,), frames=args.frames, modality=args.modality)
    for fmt, path in result.lists.items():
        print(f"{fmt}: {path}")
    print(
        f"labels: {result.labels} ({plural(result.classes, 'class', 'classes')}; {plural(result.clips, 'clip')} listed)"
    )
    print(f"config keys to paste: {result.snippet}")
    if not store_class(cfg.store).packed:
        from .tools.pack import mount_hint  # why: only the command line prints it

        print(mount_hint(cfg.target.parent))
    if result.pads is not None:
        counted = "real frames only" if result.frames == "decoded" else "all frames, pads included"
        print(f"pads: {result.pads.describe()}; the lists count {counted}")
        if result.pads.high and result.frames != "decoded":
            log.warning("more than 20%% of the frames are pads: %s", pad_advice())
    if result.unrecorded:
        log.warning(
            "%s without a decoded count in the manifest: listed with all their frames",
            plural(result.unrecorded, "clip"),
        )
    if result.fps_note:
        log.warning("%s", result.fps_note)
    if result.skipped_formats:
        log.info("not written for %s: %s", result.kind, ", ".join(result.skipped_formats))
    for rel in result.empty:
        log.warning("not listed, no frames: %s", rel)
    for name in result.unlabelled:
        log.warning("not listed, class %r has no label in %s", name, cfg.annotations)
    for rel, frames in result.short:
        whole = cfg.frame_cap if cfg.frame_cap is not None else "its recorded"
        log.warning("listed with %d of %s frames: %s (run verify)", frames, whole, rel)
    if result.not_on_disk:
        shown = ", ".join(result.not_on_disk[:5]) + (" ..." if len(result.not_on_disk) > 5 else "")
        log.warning(
            "not listed: %s of %s %s no clip in %s (missing or failed; run verify): %s",
            plural(len(result.not_on_disk), "row"),
            result.listing,
            "has" if len(result.not_on_disk) == 1 else "have",
            cfg.target,
            shown,
        )
    if result.known_gone:
        log.info("not listed, known gone (missing_ok): %s", plural(result.known_gone, "row"))
    if result.leaks:
        log.warning("%s", format_leaks(result.leaks))
    if result.labels_grew:
        log.warning(
            "labels.txt gained %s (%s); list the other splits again so their indices match",
            plural(len(result.labels_grew), "class", "classes"),
            ", ".join(result.labels_grew[:5]),
        )
    return EXIT_FAILED if result.empty or result.unlabelled or result.not_on_disk else EXIT_OK


def cmd_merge(args: argparse.Namespace) -> int:
    from .run.merge import merge_shards

    result = merge_shards(config_from_args(args, needs=("target",)))
    print(
        f"merged {plural(len(result.shards), 'shard store')} ({result.keys:,} keys) into {result.store} "
        f"({result.bytes / 1e6:.1f} MB); removed {', '.join(p.name for p in result.shards)}"
    )
    return EXIT_OK


def cmd_preview(args: argparse.Namespace) -> int:
    from .clip.flow import DEFAULT_BOUND, DEFAULT_FLOW_NAME
    from .config import check_flow_name, check_frame_name
    from .ffmpeg import find_ffmpeg
    from .tools.preview import PreviewError, make_preview, make_store_preview, parse_grid, store_clip

    # A preview reads only these keys, so a config file need not be a whole one.
    overrides = parse_overrides(args.set or [])
    ignored = sorted(set(overrides) - set(PREVIEW_KEYS))
    if ignored:
        raise ConfigError(
            f"preview: --set {ignored[0]} does not change a preview; it reads only "
            f"{', '.join(PREVIEW_KEYS[:-1])} and {PREVIEW_KEYS[-1]}"
        )
    settings = {**(read_yaml(Path(args.config)) if args.config else {}), **overrides}
    frame_name = args.frame_name or (check_frame_name(settings["frame_name"]) if settings.get("frame_name") else None)
    configured_ffmpeg = settings.get("ffmpeg")
    if configured_ffmpeg is not None and not isinstance(configured_ffmpeg, str):
        raise ConfigError(f"ffmpeg: expected a path, got {configured_ffmpeg!r}")
    exe = find_ffmpeg(configured_ffmpeg) if configured_ffmpeg else None
    flow_name = check_flow_name(settings["flow_name"]) if settings.get("flow_name") else DEFAULT_FLOW_NAME
    flow_bound = args.flow_bound if args.flow_bound is not None else settings.get("flow_bound", DEFAULT_BOUND)
    if isinstance(flow_bound, bool) or not isinstance(flow_bound, (int, float)) or not 0 < flow_bound < float("inf"):
        where = "--flow-bound" if args.flow_bound is not None else "flow_bound"
        raise ConfigError(f"{where}: expected a positive number of pixels as in the extract, got {flow_bound!r}")
    try:
        grid = parse_grid(args.grid)
    except PreviewError as exc:  # "grid: expected ...": name the flag the user typed
        raise PreviewError(f"--{exc}") from None
    options: dict[str, Any] = {
        "frame_name": frame_name,
        "ffmpeg_exe": exe,
        "flow": True if args.flow else None,  # None: flow where the clip holds flow and no RGB
        "flow_name": flow_name,
        "flow_bound": flow_bound,
    }
    in_store = store_clip(args.clip_dir)
    if in_store is not None:
        preview = make_store_preview(*in_store, Path(args.output) if args.output else None, grid, **options)
    else:
        preview = make_preview(Path(args.clip_dir), Path(args.output) if args.output else None, grid, **options)
    unit = "flow pairs" if preview.flow else "frames"
    padded = (
        f"{unit} {preview.real_frames + 1}-{preview.total_frames} are padding (red frames)"
        if preview.padded_frames
        else f"no padded {unit}"
    )
    print(
        f"preview: {preview.path} ({'flow colour wheel, ' if preview.flow else ''}{preview.grid[0]}x{preview.grid[1]} "
        f"grid, {preview.size[0]}x{preview.size[1]} px, {preview.total_frames} {unit}, {padded}; "
        f"padding from {preview.padding_source})"
    )
    if preview.flow and preview.flow_scale is not None:
        print(
            f"colour: hue = direction (right red, down yellow-green, left cyan, up violet), white = still, "
            f"full colour = {preview.flow_scale:.2f} px (bound {flow_bound:g})"
        )
    if preview.note:
        print(f"note: {preview.note}")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    import json

    from .run.progress import make_progress
    from .tools.doctor import diagnose, format_report, write_missing, write_redownload

    cfg = config_from_args(args, needs=("source",))  # the doctor writes nothing: no target needed
    csv = Path(args.csv) if args.csv else cfg.annotations
    if csv is None:
        raise ConfigError("doctor: needs the Kinetics CSV: set the config key 'annotations', or give --csv FILE")
    for key, folder in (("source", cfg.source), ("replacements", cfg.replacements)):
        if folder is not None and not folder.is_dir():
            raise ConfigError(f"doctor: {key} is not a folder: {folder}")
    with _progress_safe_logging():
        report = diagnose(
            cfg.source,
            csv,
            extensions=cfg.extensions,
            replacements=cfg.replacements,
            ffmpeg_exe=cfg.ffmpeg,
            workers=cfg.worker_count,
            progress=make_progress(quiet=args.quiet or args.json, unit="file", frames=False, desc="headers"),
            missing_ok=cfg.missing_ok,
            against=[Path(p) for p in args.against or ()],
        )
    if args.redownload:
        write_redownload(report, Path(args.redownload))
    if args.write_missing:
        write_missing(report, Path(args.write_missing))
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if args.json else format_report(report))
    if args.redownload:
        print(f"redownload: {args.redownload} ({plural(len(report.redownload), 'row')})", file=sys.stderr)
    if args.write_missing:
        print(
            f"missing: {args.write_missing} ({plural(len(report.no_file), 'row')} with no file; "
            f"set missing_ok: {args.write_missing} once they are known gone)",
            file=sys.stderr,
        )
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_subset(args: argparse.Namespace) -> int:
    from .sources.kinetics import read_kinetics_csv, write_kinetics_csv
    from .sources.subset import make_subset, present_and_readable, read_list

    if args.per_class is None and not args.classes and not args.ids:
        raise ConfigError("subset: give --per-class N, --classes FILE or --ids FILE (or several)")
    if (args.config or args.set) and not args.only_present:
        raise ConfigError("subset: --config is read only with --only-present (a seed alone gives the subset)")
    rows = read_kinetics_csv(Path(args.csv))
    usable = None
    if args.only_present:
        if not (args.config or args.set):
            raise ConfigError("subset: --only-present needs --config FILE: its source and replacements hold the files")
        cfg = config_from_args(args, needs=("source",))
        if not cfg.source.is_dir():
            raise ConfigError(f"subset: source is not a folder: {cfg.source}")
        usable = present_and_readable(rows, cfg.source, cfg.extensions, cfg.replacements, cfg.ffmpeg)
    result = make_subset(
        rows,
        per_class=args.per_class,
        seed=args.seed,
        classes=read_list(Path(args.classes), "classes") if args.classes else None,
        ids=read_list(Path(args.ids), "ids") if args.ids else None,
        usable=usable,
    )
    write_kinetics_csv(Path(args.out), result.rows)
    print(f"subset: {args.out} ({plural(len(result.rows), 'row')}, {plural(result.classes, 'class', 'classes')})")
    if args.only_present:
        shown = ", ".join(row.clip_name for row in result.passed_over[:5])
        more = ", ..." if len(result.passed_over) > 5 else ""
        print(
            f"passed over: {plural(len(result.passed_over), 'drawn row')} whose file is missing, empty or unreadable"
            + (f" ({shown}{more})" if shown else "")
        )
    if result.short_classes:
        names = ", ".join(f"{label} ({n})" for label, n in sorted(result.short_classes.items())[:10])
        more = f", {len(result.short_classes) - 10} more" if len(result.short_classes) > 10 else ""
        log.warning(
            "%s fewer than %d rows, all taken: %s%s",
            plural(len(result.short_classes), "class has", "classes have"),
            args.per_class,
            names,
            more,
        )
    if result.ids_not_found:
        log.warning(
            "%s of %s name no row: %s%s",
            plural(len(result.ids_not_found), "line"),
            args.ids,
            ", ".join(result.ids_not_found[:5]),
            ", ..." if len(result.ids_not_found) > 5 else "",
        )
    return EXIT_OK


def cmd_pack(args: argparse.Namespace) -> int:
    from .tools.pack import pack

    result = pack(
        Path(args.src),
        Path(args.to),
        overwrite=args.overwrite,
        compression=args.compression,
        block_size=args.block_size,
        fragments=args.fragments,
    )
    ratio = result.dest_bytes / result.bytes if result.bytes else 0.0
    print(
        f"packed {plural(result.files, 'file')} ({result.bytes / 1e6:.1f} MB) of "
        f"{plural(len(result.splits), 'split')} ({', '.join(result.splits)}) into {result.dest} "
        f"({result.dest_bytes / 1e6:.1f} MB, {ratio:.3f}x)"
    )
    if result.skipped:
        shown = ", ".join(result.skipped[:3]) + (", ..." if len(result.skipped) > 3 else "")
        log.info("not packed, not clip files: %s (%s)", plural(len(result.skipped), "file"), shown)
    return EXIT_OK


def cmd_unpack(args: argparse.Namespace) -> int:
    from .tools.pack import unpack

    result = unpack(Path(args.store), Path(args.to), overwrite=args.overwrite)
    print(
        f"unpacked {plural(result.files, 'file')} ({result.bytes / 1e6:.1f} MB) into {result.dest}: "
        f"{', '.join(result.splits)}"
    )
    if result.checked:
        print(f"checked: {plural(result.checked, 'clip')} equal to the digests they were made with")
    else:
        print(f"not checked: {args.store} carries no clip digests (packed before digests travelled with clips)")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from .tools.demo import run_demo

    return run_demo(Path(args.dir), quiet=args.quiet, report=print)


def _packed_suffixes() -> list[str]:
    """The name endings of the packed stores, for help texts."""
    from .stores import STORES  # why: only the parser's help names them

    return [store_class(name).suffix for name in STORES if store_class(name).packed]


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
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set num_frames=64 (repeatable)",
    )


def _choices(key: str) -> tuple[str, ...]:
    """The values the config schema allows for ``key``: one source for both."""
    return next(f.metadata["choices"] for f in SCHEMA if f.name == key)


def build_parser() -> argparse.ArgumentParser:
    from .tools.lists import LIST_FORMATS

    parser = argparse.ArgumentParser(
        prog="k400frames", description="Turn Kinetics-format video folders into frame folders."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every ffmpeg command")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    # The same flags after the command (`extract -v`); SUPPRESS keeps a flag
    # given before the command from being reset by the subcommand's default.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log every ffmpeg command"
    )
    common.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS, help="no progress bar")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("extract", help="extract exactly num_frames frames per clip", parents=[common])
    _add_config_args(p, required=False)
    p.add_argument("--overwrite", action="store_true", help="redo clips even if finished, also with new settings")
    p.add_argument("--retry-failed", action="store_true", help="only re-attempt the clips recorded as failed")
    p.add_argument("--shard", metavar="K/N", help="only this shard of the clips (job arrays); 0 <= K < N")
    p.add_argument("--executor", choices=_choices("executor"), help="override the config's executor")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="write nothing: list clips done and to do, estimate bytes and inodes against free space",
    )
    p.set_defaults(func=cmd_extract)

    p = sub.add_parser(
        "verify", help="check a frames tree: N intact frames per clip, and the CSV's clips", parents=[common]
    )
    _add_config_args(p, required=False)
    p.add_argument("--frames", metavar="DIR", help="split folder to check (instead of --config)")
    p.add_argument("--num-frames", type=int, metavar="N", help="frames per clip (with --frames)")
    p.add_argument("--frame-name", metavar="TEMPLATE", help="frame file template (default frame_{:05d}.jpg)")
    p.add_argument(
        "--flow-name",
        metavar="TEMPLATE",
        help="with --frames: each clip also holds flow pairs 1..N by this template (flow_{}_{:05d}.jpg)",
    )
    p.add_argument("--flow-only", action="store_true", help="with --frames: clips hold flow pairs only, no RGB frames")
    p.add_argument(
        "--csv",
        metavar="FILE",
        help="Kinetics CSV to join to the folders (default: the copy of the config's annotations beside the "
        "split, the config's segments, or the one CSV beside the split whose split column names it)",
    )
    p.add_argument("--deep", action="store_true", help="also decode every frame with ffmpeg (slow)")
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser(
        "card",
        help="write the dataset card (<split>.card.json and .md, with its fingerprint) once every shard is done",
        parents=[common],
    )
    _add_config_args(p, required=False)
    p.set_defaults(func=cmd_card)

    p = sub.add_parser(
        "annotate", help="write Kinetics CSVs (train.csv, val.csv) for your own <class>/<clip> tree", parents=[common]
    )
    p.add_argument("source", nargs="?", help="folder of class folders of videos")
    p.add_argument(
        "--segments",
        metavar="CSV",
        help="instead of a folder: split the rows of this segments CSV into train.csv and val.csv",
    )
    p.add_argument("--out-dir", required=True, metavar="DIR", help="where to write train.csv and val.csv")
    p.add_argument("--val-fraction", type=float, default=0.2, help="share of each class for val (default 0.2)")
    p.add_argument("--seed", type=int, default=0, help="split seed; same seed, same split (default 0)")
    p.add_argument(
        "--class-names",
        choices=_choices("class_names"),
        default="keep",
        help="labels as folder names (keep) or with spaces as underscores",
    )
    p.add_argument(
        "--clip-names",
        choices=_choices("clip_names"),
        default="keep",
        help="the youtube_id of a plain clip name as it is (keep) or with whitespace as underscores; "
        "extract with the same clip_names",
    )
    p.set_defaults(func=cmd_annotate)

    p = sub.add_parser(
        "lists", help="write training list files and labels.txt beside the split folder", parents=[common]
    )
    _add_config_args(p, required=False)
    p.add_argument(
        "--format",
        required=True,
        choices=(*LIST_FORMATS, "all"),
        help="the framework whose loader reads the list; all: every one that reads this split "
        "(frames or videos); also writes labels.txt and lists.md, the config keys to paste",
    )
    p.add_argument(
        "--frames",
        choices=("all", "decoded"),
        default="all",
        help="the frame count of each line: all frames in the folder (default), or decoded: the real frames "
        "only, from the manifest, so samplers never draw a pad",
    )
    p.add_argument(
        "--modality",
        choices=("rgb", "flow"),
        default="rgb",
        help="what the lists read: the RGB frames (default), or flow: the flow pairs beside them "
        "(flow: tvl1|farneback|dis), for mmaction2's RawframeDataset(modality='Flow')",
    )
    p.set_defaults(func=cmd_lists)

    p = sub.add_parser(
        "merge",
        help="combine the shard stores of a split (a packed store) into the split's store, without decoding",
        parents=[common],
    )
    _add_config_args(p, required=False)
    p.set_defaults(func=cmd_merge)

    p = sub.add_parser("preview", help="contact sheet of one clip folder (JPEG or PNG)", parents=[common])
    p.add_argument(
        "clip_dir",
        help="a clip folder, e.g. frames/train/abseiling/<clip>, or a clip in a packed store: "
        f"STORE:<class>/<clip>, e.g. frames/train{_packed_suffixes()[0]}:abseiling/<clip>",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="image to write, .jpg or .png (default: preview_<clip>.jpg in the current folder, "
        "never inside the frames tree)",
    )
    p.add_argument("--grid", default="6x5", metavar="CxR", help="columns x rows of tiles (default 6x5)")
    p.add_argument(
        "--frame-name",
        metavar="TEMPLATE",
        help="frame file template (default: the config's frame_name, else every .jpg but flow images, numbered "
        "by the last number in its name)",
    )
    p.add_argument(
        "--flow",
        action="store_true",
        help="draw the clip's flow pairs (the config's flow_name) on the colour wheel: hue = direction, "
        "white = still (the default for a clip of flow and no RGB frames; docs/guides/flow.md)",
    )
    p.add_argument(
        "--flow-bound",
        type=float,
        metavar="PIXELS",
        help="the bound the flow was quantised with (default: the config's flow_bound, else 20)",
    )
    _add_config_args(p, required=False)
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser(
        "doctor",
        help="check a download against its Kinetics CSV before extracting: missing, renamed, extra, "
        "duplicate, empty, unreadable, truncated and short clips; the fps, size and codec mix",
        parents=[common],
    )
    _add_config_args(p, required=False)
    p.add_argument("--csv", metavar="FILE", help="Kinetics CSV to check against (default: the config's annotations)")
    p.add_argument(
        "--redownload",
        metavar="FILE",
        help="write the rows to fetch again (missing, empty, unreadable, no video, truncated) as a Kinetics CSV",
    )
    p.add_argument(
        "--write-missing",
        metavar="FILE",
        help="write the rows with no file at all (those of missing_ok included; not empty or broken files, "
        "which are worth fetching again) as a Kinetics CSV for the missing_ok key",
    )
    p.add_argument(
        "--against",
        action="append",
        metavar="CSV",
        help="also look for this split's recordings in this Kinetics CSV (repeatable; "
        "the CSVs beside --csv are always read), e.g. Kinetics-700's train.csv",
    )
    p.add_argument("--json", action="store_true", help="print the full report as JSON")
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser(
        "subset", help="a seeded, repeatable subset of a Kinetics CSV (for the annotations key)", parents=[common]
    )
    p.add_argument("csv", help="the Kinetics CSV to draw from")
    p.add_argument("--per-class", type=int, metavar="N", help="rows per class (all of a smaller class)")
    p.add_argument("--seed", type=int, default=0, help="same seed, same subset (default 0)")
    p.add_argument("--classes", metavar="FILE", help="only these classes: one label per line")
    p.add_argument(
        "--ids",
        metavar="FILE",
        help="only these clips: one youtube_id (or <id>_<start>_<end>) per line, e.g. Mini-Kinetics-200's lists",
    )
    p.add_argument("--out", required=True, metavar="FILE", help="the subset CSV to write")
    p.add_argument(
        "--only-present",
        action="store_true",
        help="draw only rows whose video is present and readable under the --config's source and replacements, "
        "passing over the rest (without it, the seed alone decides)",
    )
    _add_config_args(p, required=False)
    p.set_defaults(func=cmd_subset)

    from .tools.pack import COMPRESSIONS, DEFAULT_BLOCK_SIZE, DEFAULT_COMPRESSION

    p = sub.add_parser(
        "pack", help="pack a frames root into one packed store or SquashFS image (.sqfs)", parents=[common]
    )
    packed = " or ".join(f"DEST{suffix}" for suffix in _packed_suffixes())
    p.add_argument("src", help="the folder that holds the split folders (train/, val/), or a packed store")
    p.add_argument("--to", required=True, metavar="DEST", help=f"{packed} (a packed store) or DEST.sqfs")
    p.add_argument("--overwrite", action="store_true", help="replace an existing DEST (in one rename, when done)")
    p.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        default=DEFAULT_COMPRESSION,
        help=".sqfs: compression of the image (default: %(default)s; JPEG frames do not shrink)",
    )
    p.add_argument(
        "--block-size", default=DEFAULT_BLOCK_SIZE, metavar="SIZE", help=".sqfs: block size (default: %(default)s)"
    )
    p.add_argument(
        "--fragments",
        action="store_true",
        help=".sqfs: pack small files together into shared fragment blocks (default: each frame its own block, "
        "faster to read)",
    )
    p.set_defaults(func=cmd_pack)

    p = sub.add_parser("unpack", help="give back the folder tree of a packed store or .sqfs image", parents=[common])
    p.add_argument("store", help="a packed store or .sqfs image (made by extract or pack)")
    p.add_argument(
        "--to",
        required=True,
        metavar="DIR",
        help="a new folder, or a frames root to add the store's split folders to (nothing else in it is touched)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace the split folders the store holds that DIR has already"
    )
    p.set_defaults(func=cmd_unpack)

    p = sub.add_parser("demo", help="make a small synthetic dataset, extract and check it", parents=[common])
    p.add_argument("dir", nargs="?", default="k400frames-demo", help="where to put it (default: %(default)s)")
    p.set_defaults(func=cmd_demo)
    return parser


# The library's messages name what to change, not this CLI's options (they
# must make sense from Python); the option that does it is named here.
_OPTION_FOR = {"ConfigChanged": "--overwrite"}


def _option_hint(exc: K400Error) -> str:
    option = _OPTION_FOR.get(type(exc).__name__)
    return f" (the option {option})" if option else ""


def _setup_logging(verbose: bool) -> None:
    """Our messages on stderr as 'k400frames: ...'.  One handler on our own
    logger, not propagated, so that logging_redirect_tqdm can swap it for a
    bar-safe one without the root logger printing every line a second time."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("k400frames: %(message)s"))
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.DEBUG if verbose else logging.INFO)


def _may_have_written(args: argparse.Namespace) -> bool:
    """Whether the command may have written part of its output when an error
    stopped it: every command but those that only read."""
    if args.func is cmd_verify:
        return False
    if args.func is cmd_doctor:
        return bool(args.redownload or args.write_missing)
    if args.func is cmd_extract:
        return not args.dry_run
    return True


def main(argv: list[str] | None = None) -> int:
    # A file name that is not valid UTF-8 must never crash a report: print its
    # odd bytes as escapes rather than raise UnicodeEncodeError.
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    interrupts = _Interrupts()
    try:
        with _signals_as_interrupts(interrupts):
            code = args.func(args)
            sys.stdout.flush()  # the summary reaches a pipe before any late signal
        # A run stopped by a signal exits 130 for SIGINT, 143 for SIGTERM.
        return interrupts.exit_code if code == EXIT_INTERRUPTED else code
    except K400Error as exc:
        print(f"k400frames: error: {exc}{_option_hint(exc)}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("k400frames: interrupted", file=sys.stderr)
        return interrupts.exit_code
    except BrokenPipeError:
        # `verify ... | head`: the reader has all it wanted.  Point stdout at
        # /dev/null so the flush at exit does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except OSError as exc:
        # Permission denied, a read-only filesystem and the like (an error while
        # a run extracts ends it with its summary instead).  Only a command that
        # reads alone may say that nothing was done.
        what = f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")
        if _may_have_written(args):
            print(f"k400frames: error: {what} (stopped part way: what was written before stays)", file=sys.stderr)
            return EXIT_FAILED
        print(f"k400frames: error: {what}", file=sys.stderr)
        return EXIT_USAGE
