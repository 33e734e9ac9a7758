"""Expected errors.  The CLI turns each into one line and an exit code;
anything else is a bug and keeps its traceback."""

# The exit codes, in one table.  Only the CLI exits; the library names the
# code an error or an outcome stands for.
EXIT_OK = 0  # all done
EXIT_FAILED = 1  # some clips failed (or the command stopped on an error part way), the rest done
EXIT_USAGE = 2  # usage, config or preflight error: nothing was done
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C (SIGINT); rerun to resume
EXIT_BROKEN_PIPE = 141  # the reader of our output went away (`| head`): 128 + SIGPIPE, as shells report it
EXIT_TERMINATED = 143  # stopped by SIGTERM (kill, timeout, Slurm): 128 + 15; rerun to resume

# What each code means to a user: the reference (docs/reference/exit-codes.md) is made from this.
EXIT_CODES = {
    EXIT_OK: "all clips done",
    EXIT_FAILED: "some clips failed, or the run stopped on an error (a full disk, a read-only filesystem); "
    "the rest are done. Also a command that writes (lists, card, annotate, pack, ...) stopped part way by "
    "an OS error: what it wrote before the error stays",
    EXIT_USAGE: "usage, config or preflight error, or another run holds the target, or an OS error in a "
    "command that only reads (verify, doctor, a dry run): nothing was done",
    EXIT_INTERRUPTED: "interrupted (SIGINT: Ctrl-C, `timeout -s INT`); the stop was orderly: summary printed, "
    "temp area removed, lock released; rerun to resume",
    EXIT_BROKEN_PIPE: "the program reading the output stopped early (`k400frames verify ... | head`); "
    "nothing is reported about the data, and nothing was left half done by it",
    EXIT_TERMINATED: "terminated (SIGTERM: `kill`, `timeout`, Slurm's `scancel` or time limit); stopped like "
    "Ctrl-C; rerun to resume. A second signal more than a second after the first exits at once with the same "
    "code; the next run still starts without help",
}


class K400Error(Exception):
    """Base for every error a user can cause and fix."""

    exit_code = EXIT_USAGE


class ConfigError(K400Error):
    """Bad YAML, an unknown key or an impossible value."""


class FFmpegNotFound(K400Error):
    """No working ffmpeg binary among the candidates."""


class PreflightError(K400Error):
    """The run cannot start: missing source, unwritable target, nothing to do."""


class RunInProgress(PreflightError):
    """Another run holds the target (or this shard of it)."""


class ConfigChanged(K400Error):
    """Finished clips were made with other output settings."""


class CardNotReady(K400Error):
    """A sharded split whose card cannot be written yet: a shard is running or has not run."""


class DiskFull(K400Error):
    """The target filesystem is full; every later clip would fail too."""

    exit_code = EXIT_FAILED


def raise_if_disk_full(exc: OSError, what: object) -> None:
    """Turn ENOSPC or EDQUOT while writing ``what`` into :class:`DiskFull`,
    which stops the run; any other OSError is left to the caller."""
    import errno

    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise DiskFull(f"no space left on the target filesystem (writing {what})") from None


class MissingExtra(K400Error):
    """An optional dependency (such as dask) is not installed."""


class AnnotationError(K400Error):
    """An unreadable Kinetics CSV or impossible annotate options."""


class ListFormatError(K400Error):
    """A list file could not be written in a form its framework reads correctly."""


class PackError(K400Error):
    """pack/unpack cannot proceed: a missing tool, a refused name, a bad source."""


class StoreError(K400Error):
    """A store cannot be opened, read or written (not a store of its kind, damaged, a failed commit)."""


class PreviewError(K400Error):
    """The contact sheet could not be made."""


class FFmpegFailed(K400Error):
    """An ffmpeg that must succeed (not a clip's extraction, whose failure is
    recorded and the run goes on) exited non-zero or timed out; the message
    ends with its stderr tail."""


class SegmentsError(K400Error):
    """The segments CSV cannot be read at all (missing, not a CSV, wrong header)."""
