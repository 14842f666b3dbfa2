"""Write a file so that a reader sees the old bytes or the new ones, never half of them.

The one write-then-replace of regress (the lock, results.json, the HTML report, the probe
cache, the file store's journal and owner note): a temporary file in the same directory (a
rename is atomic only within one file system), its bytes synced to disk, then ``os.replace``.
Why the sync: after a power loss, a rename that reached the disk before the data would leave
an empty file under the real name, which for ``goldens.lock`` means a checkout that trusts
nothing. The temporary name is unique (pid and random bits, created exclusively), so two
processes writing the same file (xdist workers, two refreshes) never share one, and it starts
with a dot, so the file store's tree hash, which skips hidden files, never counts a leftover.
It is created with mode 0o666 less the umask, as ``open()`` would create the file itself
(``mkstemp``'s 0o600 would make a report or a lock unreadable to a CI upload or a web server).
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: str | bytes, *, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``data`` (text is encoded with ``encoding``), creating its
    directory. On any failure, a Ctrl-C included, the temporary file is removed and ``path``
    is as it was; the exception propagates (callers turn an ``OSError`` into their one line)."""
    payload = data.encode(encoding) if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temp(path)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _create_temp(path: Path) -> tuple[int, Path]:
    """A new, exclusively created temporary file beside ``path``: (descriptor, its path)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOFOLLOW", 0)
    while True:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # pragma: no cover - 32 random bits taken by another writer
            continue
