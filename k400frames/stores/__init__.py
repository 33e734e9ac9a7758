"""Where finished clips are kept: a folder tree (``store: files``) or one
packed store per split (``store: lmdb``, :mod:`.lmdb`).

A store holds a clip's members under keys that are the paths a folder tree
would have, relative to the folder that holds the split folders:
``<split>/<class>/<clip>/frame_00001.jpg`` or ``<split>/<class>/<clip>.mp4``.
"""

from __future__ import annotations

STORES = ("files", "lmdb")
