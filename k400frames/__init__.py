"""k400frames: Kinetics-format video folders -> exactly-N frame folders.

Importing the package does no work: ffmpeg is found lazily on first use.
"""
__version__ = "0.1.0"
