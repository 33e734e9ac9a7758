"""The fixtures of test_loaders.py (the extracted sample, the frameworks'
imports) shared with the modules beside it, such as test_packed.py."""

from test_loaders import mmaction, paddlevideo, sample  # noqa: F401
