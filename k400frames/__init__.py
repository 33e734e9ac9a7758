"""k400frames: Kinetics-format video folders -> exactly-N frame folders.

The Python API (see the README's "Python API" and docs/guides/python-api.md)::

    import k400frames
    cfg = k400frames.load_config("configs/tiny_k400_train.yaml", {"workers": 4})
    summary = k400frames.run_extract(cfg)        # a Summary; raises K400Error subclasses
    report = k400frames.verify_tree(cfg.target, cfg.num_frames, cfg.frame_name)

Importing the package does no work: each name below is imported from its
module on first use, and ffmpeg is found lazily on first use too.  The
library never prints; it returns results, raises the errors below and logs
to the ``k400frames`` logger, which stays silent until the application
configures logging.
"""

import logging

__version__ = "0.1.0"

# Public name -> the module that defines it: the one table to edit when a
# module moves.  No name may equal a submodule's (``config``, ``run``,
# ``tools``, ...): importing that submodule would replace the export.
_EXPORTS = {
    # configs
    "Config": "config",
    "load_config": "config",
    "make_config": "config",
    # extracting a split
    "run_extract": "run.runner",
    "Summary": "run.runner",
    "format_summary": "run.runner",
    "dry_run": "run.dryrun",
    "BarProgress": "run.progress",
    "LineProgress": "run.progress",
    "RunContext": "clip.context",
    # checking, annotating, listing, looking
    "verify_tree": "tools.verify",
    "VerifyReport": "tools.verify",
    "format_report": "tools.verify",
    "annotate_videos": "tools.annotate",
    "write_annotations": "tools.annotate",
    "AnnotateResult": "tools.annotate",
    "write_lists": "tools.lists",
    "LIST_FORMATS": "tools.lists",
    "diagnose": "tools.doctor",
    "DoctorReport": "tools.doctor",
    "make_subset": "sources.subset",
    "make_preview": "tools.preview",
    "Preview": "tools.preview",
    "find_ffmpeg": "ffmpeg",
    # errors: every one a user can cause and fix is a K400Error
    "K400Error": "errors",
    "ConfigError": "errors",
    "PreflightError": "errors",
    "ConfigChanged": "errors",
    "DiskFull": "errors",
    "FFmpegNotFound": "errors",
    "MissingExtra": "errors",
    "AnnotationError": "errors",
    "ListFormatError": "errors",
    "PreviewError": "errors",
}
# Exported under another name than the module's own.
_RENAMED = {"annotate_videos": "annotate"}

__all__ = ["__version__", *_EXPORTS]

# A library's logger is silent by default (Python's logging HOWTO); the CLI
# installs its own handler.
logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), _RENAMED.get(name, name))
    globals()[name] = value  # later look-ups skip __getattr__
    return value


def __dir__() -> list:
    return sorted({*globals(), *_EXPORTS})
