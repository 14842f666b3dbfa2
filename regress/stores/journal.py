"""The embedded store's journaled publish: the one way its tree changes, all or nothing, also
under SIGKILL, and one publisher at a time.

Each new entry (a golden's directory or a file) is written into a work directory inside the
store first. A journal naming every target is then written and synced *before* anything
moves; existing targets are moved aside into the work directory, the new ones moved in, the
lock replaced (atomically), and the work directory removed. A failure moves everything back.
A process killed anywhere in between leaves its work directory and journal behind, and the
next store open (:func:`.recovery.recover`) finishes the publish if the lock already pins the
new tree, or rolls it back otherwise. The written lock is the commit point.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..atomic import write_atomic
from ..errors import StoreError, SuiteError
from ..lock import Lock, lock_text, restore_lock, write_lock
from .publish import fail_point
from .publishers_lock import WRITER_WAIT_S, acquire, publish_lock, release
from .recovery import JOURNAL, WORK_PREFIX, prune_empty, recover
from .tree import tree_hash

Writer = Callable[[Path], object]  # writes one new entry (a directory or a file) at the path it is given
_UNTOUCHED = object()  # the lock was not written: nothing to put back


def swap_in(root: Path, lock_path: Path, items: list[tuple[Path, Writer]]) -> str:
    """Write every ``(target, writer)`` into the store rooted at ``root`` and pin the new tree
    in the lock at ``lock_path``, all or nothing (see the module's docstring). Returns the new
    revision (the tree hash the lock now pins)."""
    lock = publish_lock(root)
    acquire(lock, root, wait_s=WRITER_WAIT_S, doing="publish")
    try:
        recover(root, lock_path)
        try:
            previous_lock = lock_text(lock_path)
            work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=root))
        except OSError as exc:
            raise StoreError(f"cannot publish into {root} ({exc.strerror or type(exc).__name__}): nothing "
                             "changed") from None
        moved: list[tuple[int, Path, Path | None]] = []  # (index, target, backup or None)
        lock_written = False
        try:
            for i, (_, write) in enumerate(items):
                write(work / f"new{i}")
            journal = {"items": [str(t.relative_to(root).as_posix()) for t, _ in items]}
            write_atomic(work / JOURNAL, json.dumps(journal))
            for i, (target, _) in enumerate(items):
                backup = None
                if target.exists():
                    backup = work / f"old{i}"
                    os.replace(target, backup)
                moved.append((i, target, backup))
                fail_point("mid-swap")
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(work / f"new{i}", target)
            revision = tree_hash(root)
            fail_point("before-lock")
            lock_written = True  # from here on the lock may pin the new tree (write_lock renames last)
            write_lock(lock_path, Lock(kind="file", revision=revision))
            fail_point("after-lock")
        except BaseException as exc:
            _roll_back(root, lock_path, work, moved, previous_lock if lock_written else _UNTOUCHED)
            if isinstance(exc, OSError):  # disk full, read-only, immutable lock: one line, nothing changed
                raise StoreError(f"publishing into {root} failed ({exc.strerror or type(exc).__name__}"
                                 f"{': ' + str(exc.filename) if exc.filename else ''}); the store and the lock "
                                 "are unchanged") from None
            raise
        shutil.rmtree(work, ignore_errors=True)
    finally:
        release(lock, root)
    return revision


def _roll_back(root: Path, lock_path: Path, work: Path, moved: list[tuple[int, Path, Path | None]],
               previous_lock: object) -> None:
    """Undo a failed publish: the lock first (so that from then on it pins the old tree, and
    a kill during the rest leaves a journal that :func:`.recovery.recover` rolls back), then
    every target. A new entry goes back to ``new<i>`` rather than being deleted, so the journal
    stays true at every step: ``new<i>`` present means 'not moved in'."""
    if previous_lock is not _UNTOUCHED:
        try:
            restore_lock(lock_path, previous_lock)  # type: ignore[arg-type]
        except (OSError, StoreError, SuiteError) as exc:
            # The lock still pins the new tree, which is complete: keep it (the rollback
            # would break the pin); only the leftovers go.
            shutil.rmtree(work, ignore_errors=True)
            raise StoreError(f"{lock_path}: the publish into {root} completed, but it failed after writing the "
                             f"lock and the lock could not be put back ({exc}); the new goldens stand and the "
                             "lock pins them") from None
    for i, target, backup in reversed(moved):
        new = work / f"new{i}"
        if not new.exists() and (target.exists() or target.is_symlink()):
            os.replace(target, new)
        if backup is not None:
            os.replace(backup, target)
    prune_empty(root / "cases")
    shutil.rmtree(work, ignore_errors=True)
