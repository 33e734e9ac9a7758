"""The package's one door to ffmpeg.

Every command line starts with :func:`command` (the safe prefix: no stdin,
``file:`` protocol only) and runs through :func:`run` or :func:`stream`
(own process group, timeout, stderr tail, never outlives the call), as an
argv list, never through a shell.  Paths become absolute ``file:`` URLs with
:func:`file_url`, because Kinetics IDs start with ``-`` and names hold
``%``, quotes and spaces; ffmpeg may only use the ``file`` protocol and, for
videos, a short list of demuxers, so a crafted "video" (an HLS playlist, a
concat script, plain text) cannot make it read or fetch anything else.

- :mod:`.find`: which binary;
- :mod:`.argv`: the command lines (ffmpeg-python builds the graphs);
- :mod:`.process`: running them, and the ffmpegs a run owns; the other
  programs the package starts (squashfs-tools for pack) go through it too;
- :mod:`.header`: what a video's header says, one :class:`Header` whoever read it;
- :mod:`.probe`: reading it (``read_header``: from an MP4's index, else ffmpeg);
- :mod:`.mp4`: the same for MP4 files, read in Python from their own index.

Importing this package starts nothing and looks for no binary.
"""

from .argv import (
    FFMPEG_THREADS,
    INPUT_STAND_IN,
    OUTPUT_STAND_IN,
    PIPE_BOUNDARY,
    RAW_FRAME_OPTIONS,
    SCALER_FLAGS,
    VIDEO_DEMUXERS,
    command,
    extract_command,
    file_url,
    from_graph,
    image2_pattern,
    video_filters,
    video_input,
)
from .find import ENV_VAR, ffmpeg_version, find_ffmpeg
from .header import Header
from .probe import probe, probe_duration, probe_header, read_header
from .process import ChildResult, Feeding, FFmpegResult, Processes, Streaming, feed, run, run_checked, stream

__all__ = [
    "ENV_VAR",
    "FFMPEG_THREADS",
    "INPUT_STAND_IN",
    "OUTPUT_STAND_IN",
    "PIPE_BOUNDARY",
    "RAW_FRAME_OPTIONS",
    "SCALER_FLAGS",
    "VIDEO_DEMUXERS",
    "ChildResult",
    "FFmpegResult",
    "Feeding",
    "Header",
    "Processes",
    "Streaming",
    "command",
    "extract_command",
    "feed",
    "file_url",
    "ffmpeg_version",
    "find_ffmpeg",
    "from_graph",
    "image2_pattern",
    "probe",
    "probe_duration",
    "probe_header",
    "read_header",
    "run",
    "run_checked",
    "stream",
    "video_filters",
    "video_input",
]
