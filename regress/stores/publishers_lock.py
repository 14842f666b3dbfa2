"""One publisher of an embedded store at a time: an inter-process lock beside the goldens.

A publish (:mod:`.journal`) holds it from start to end; a reader (:mod:`.file`) takes it only
to recover a dead publisher's leftovers or to wait out a swap it caught half-way. The holder
writes a note of who it is, so that one who waits can say whom it waits for (a silent wait
behind a paused publisher looks like a hang). The lock itself is filelock's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from .. import env
from ..atomic import write_atomic
from ..errors import StoreError

LOCK_FILE = ".regress-publish.lock"
OWNER_FILE = ".regress-publish.owner"  # who holds the publishers' lock, for the message of one who waits
WRITER_WAIT_S = 600.0  # a publisher waits this long for another (a big refresh takes minutes)
READER_WAIT_S = 60.0  # a reader waits this long for a publish caught mid-swap (REGRESS_STORE_WAIT)


def reader_wait_s() -> float:
    try:
        return max(0.0, env.number(env.REGRESS_STORE_WAIT, READER_WAIT_S))
    except ValueError as exc:
        raise StoreError(str(exc)) from None


def publish_lock(root: Path):  # noqa: ANN201 - a filelock.FileLock
    """Serialises publishers of one store across processes (two refreshes at once). Its path
    must be a regular file or nothing: a directory or a link there is refused in one line (a
    link would make the lock, and its owner note, land wherever it points)."""
    from filelock import FileLock

    path = root / LOCK_FILE
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the store ({exc.strerror or type(exc).__name__})", file=root) from None
    if path.is_symlink():
        raise StoreError("a symbolic link where the publishers' lock goes; remove it (regress creates the lock "
                         "file itself)", file=path)
    if path.exists() and not path.is_file():
        raise StoreError("not a regular file where the publishers' lock goes; remove it (regress creates the lock "
                         "file itself)", file=path)
    return FileLock(str(path), timeout=WRITER_WAIT_S)


def try_acquire(lock) -> bool:  # noqa: ANN001
    """The publishers' lock if nobody holds it, without waiting."""
    from filelock import Timeout

    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    except OSError as exc:
        raise StoreError(f"cannot take the publishers' lock ({exc.strerror or type(exc).__name__})",
                         file=lock.lock_file) from None
    return True


def acquire(lock, root: Path, *, wait_s: float, doing: str) -> None:  # noqa: ANN001
    """The publishers' lock, waiting at most ``wait_s`` seconds for its holder, and saying so
    once (a silent wait behind a paused publisher looks like a hang)."""
    from filelock import Timeout

    if not try_acquire(lock):
        who = holder(root)
        print(f"regress: waiting up to {wait_s:g} s for {who} to finish before the {doing} "
              f"({root})", file=sys.stderr, flush=True)
        try:
            lock.acquire(timeout=wait_s)
        except Timeout:
            raise StoreError(f"{who} still holds the publishers' lock after {wait_s:g} s; nothing was done (let "
                             f"it finish, or stop it; {env.REGRESS_STORE_WAIT} sets how long a reader waits)",
                             file=root / LOCK_FILE) from None
        except OSError as exc:
            raise StoreError(f"cannot take the publishers' lock ({exc.strerror or type(exc).__name__})",
                             file=root / LOCK_FILE) from None
    note_owner(root)


def release(lock, root: Path) -> None:  # noqa: ANN001
    try:
        (root / OWNER_FILE).unlink(missing_ok=True)
    except OSError:
        pass
    lock.release()


def note_owner(root: Path) -> None:
    """Who holds the lock (pid, host, since when), written beside it after taking it: the lock
    file itself is the lock's, so the note is a file of its own, replaced (never written
    through, if something put a link there). Only a message reads it."""
    import socket
    import time

    text = f"regress pid {os.getpid()} on {socket.gethostname()} (holding it since {time.strftime('%H:%M:%S')})"
    try:
        write_atomic(root / OWNER_FILE, text)
    except OSError:
        pass


def holder(root: Path) -> str:
    """Who holds the lock, as its note says, for a message; a generic phrase without one."""
    path = root / OWNER_FILE
    try:
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= 512:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
            if text.isprintable() and text.startswith("regress pid "):
                return text
    except OSError:
        pass
    return "another regress process (a publish of this store)"
