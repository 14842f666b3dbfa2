"""sha256 of files, each file version hashed once per process (goldens, LPIPS weights).

A golden run hashes each file twice (the file store's pin check over the whole tree at open,
then each golden's meta check when it is loaded), and LPIPS weights (a 233 MB checkpoint) are
checked on every case that computes LPIPS: the repeats are answered from memory while the
file's inode, size, mtime and ctime are unchanged (a rewrite or a re-download changes them,
so a changed file is always hashed again).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["sha256_file"]

_DIGESTS: dict[tuple[int, ...], str] = {}
_DIGESTS_MAX = 8192


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, remembered for the life of the process per file version."""
    st = os.stat(path)
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        if len(_DIGESTS) >= _DIGESTS_MAX:
            _DIGESTS.clear()
        _DIGESTS[key] = digest
    return digest
