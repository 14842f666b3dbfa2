"""Where goldens live. Layout (identical in every store kind):

    cases/<case-id>/<platform-key>/{output.png | output.npz | audio.npz, meta.json}

``file`` is a directory in the repository (the embedded default), pinned by a content hash
of its tree. Other kinds (the Hub, a git repo) read the same layout at a pinned commit.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from ..lock import read_lock
from ..suite import Suite
from .base import Golden, StagedGolden, Store

__all__ = ["Golden", "StagedGolden", "Store", "open_store"]


def open_store(suite: Suite, *, verify: bool = True) -> Store:
    """The store the suite names, at the revision its lock pins."""
    lock = read_lock(suite.lock_path, suite.store)
    if suite.store.kind == "file":
        from .file import FileStore

        assert suite.store.path is not None
        return FileStore(Path(suite.store.path), lock=lock, lock_path=suite.lock_path, verify=verify)
    raise StoreError(f"store kind '{suite.store.kind}' is not available in this version (use kind = \"file\")",
                     file=suite.path, field="store.kind")
