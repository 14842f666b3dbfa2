"""Where goldens live. Layout (identical in every store kind):

    cases/<case-id>/<platform-key>/{output.png | output.npz | audio.npz, meta.json}

``file`` is a directory in the repository (the embedded default), pinned by a content hash
of its tree. ``hf`` is a Hub repo read with huggingface_hub at the commit sha the lock pins
(:mod:`.hf`); ``git`` reads the same way and publishes with git (:mod:`.publish_git`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import StoreError
from ..lock import read_lock
from ..suite import Suite
from .base import Golden, StagedGolden, Store

__all__ = ["Golden", "StagedGolden", "Store", "open_store"]


def open_store(suite: Suite, *, verify: bool = True, strict: bool = False, publish: str | None = None,
               create_pr: bool = False, api: Any = None) -> Store:
    """The store the suite names, at the revision its lock pins.

    ``strict`` refuses a lock that pins a branch instead of a commit; ``publish`` ('hub' or
    'git') picks where a Hub store's new goldens are committed (default: by store kind);
    ``api`` stands in for ``huggingface_hub.HfApi`` (tests)."""
    lock = read_lock(suite.lock_path, suite.store)
    if suite.store.kind == "file":
        from .file import FileStore

        if publish or create_pr:
            raise StoreError("--publish / --create-pr need a Hub store ([store] kind = \"hf\" or \"git\"); this "
                             "suite's goldens are files in the repository", file=suite.path, field="store.kind")
        assert suite.store.path is not None
        return FileStore(Path(suite.store.path), lock=lock, lock_path=suite.lock_path, verify=verify)
    if suite.store.kind in ("hf", "git"):
        from .hf import HfStore

        return HfStore(suite.store, lock=lock, lock_path=suite.lock_path, strict=strict, publish=publish,
                       create_pr=create_pr, api=api)
    raise StoreError(f"store kind '{suite.store.kind}' is not available in this version (use kind = \"file\")",
                     file=suite.path, field="store.kind")
