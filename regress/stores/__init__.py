"""Where goldens live. Layout (identical in every store kind):

    cases/<case-id>/<platform-key>/{output.png | output.npz | audio.npz, meta.json}

``file`` is a directory in the repository (the embedded default), pinned by a content hash
of its tree (:mod:`.file`). ``hf`` is a Hub repo read with huggingface_hub at the commit sha
the lock pins (:mod:`.hf`); ``git`` reads the same way and publishes with git
(:mod:`.publish_git`). The suite's ``[store] kind`` names the class through a registry
(:mod:`.registry`), where a third-party store registers like a runner does.
"""

from __future__ import annotations

from .base import Golden, StagedGolden, Store
from .registry import OpenOptions, known_kinds, open_store, register_store, unregister_store

__all__ = ["Golden", "StagedGolden", "Store", "OpenOptions", "open_store", "register_store", "unregister_store",
           "known_kinds"]
