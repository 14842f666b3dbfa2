"""Finish or undo a publish of the embedded store that a killed process left behind.

A publish (:mod:`.journal`) writes its new entries into a hidden work directory of the store
and a journal naming every target before anything moves. The next open of the store, under
the publishers' lock (:mod:`.publishers_lock`), reads what such a directory says and puts the
store back to what the lock pins. Kept apart from the publish because the journal is data on
disk that anyone may have written: this module is the one that must trust none of it.
"""

from __future__ import annotations

import json
import os
import shutil
import warnings
from pathlib import Path

from ..errors import StoreError
from ..lock import read_lock
from .tree import tree_hash

WORK_PREFIX = ".regress-publish-"
JOURNAL = "journal.json"
_MAX_JOURNAL = 4 * 1024 * 1024


class RecoveryWarning(UserWarning):
    """The store was recovered from an interrupted publish (printed once by the next run)."""


def work_dirs(root: Path) -> list[Path]:
    """The work directories publishes left in the store (a live one's, or a killed one's)."""
    try:
        return sorted(p for p in root.iterdir() if p.name.startswith(WORK_PREFIX)
                      and (p.is_dir() or p.is_symlink()))
    except OSError:
        return []


def recover(root: Path, lock_path: Path) -> str | None:
    """Finish or undo a publish that a killed process left behind; returns what was done (the
    next run says so), or None when there was nothing to recover. Call it under the
    publishers' lock (it must not race a live publisher).

    The journal is written before anything moves, so a work directory without one never
    touched the store. With one: if the lock already pins the tree as it stands, the publish
    completed and only its leftovers go; otherwise every target is put back from its backup
    (or removed, if it was new), which returns the tree to what the lock pins.

    A journal is data on disk that anyone (a bad merge, a hostile pull request) may have
    written, so every journal is read and every entry checked (:func:`read_journal`) before
    anything moves: recovery can only touch the store."""
    if not root.is_dir():
        return None
    works = work_dirs(root)
    if not works:
        return None
    plans = [(work, read_journal(root, work)) for work in works]  # all checked first: refuse before moving
    done: list[str] = []
    for work, items in plans:
        if items is None:  # no journal: nothing of it was moved into the store
            shutil.rmtree(work, ignore_errors=True)
            continue
        lock = read_lock(lock_path)
        if lock is not None and lock.revision == tree_hash(root):
            done.append("an interrupted publish had completed (the lock pins its tree); removed its leftovers")
        else:
            for i in reversed(range(len(items))):
                target, new, old = root.joinpath(*items[i]), work / f"new{i}", work / f"old{i}"
                if not new.exists():  # the new entry was moved in: take it out
                    _remove(target)
                if old.exists():  # the original was moved aside: put it back
                    _remove(target)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(old, target)
            prune_empty(root / "cases")
            done.append(f"an interrupted publish was rolled back ({len(items)} golden(s) restored to the pinned "
                        "state)")
        shutil.rmtree(work, ignore_errors=True)
    if not done:
        return None
    message = f"{root}: " + "; ".join(done)
    warnings.warn(message, RecoveryWarning, stacklevel=2)
    return message


def read_journal(root: Path, work: Path) -> list[tuple[str, ...]] | None:
    """The targets a work directory's journal names, each as path parts inside the store, or
    None when it has no journal. Refused in one line (the journal kept, nothing moved) unless
    the work directory is a real directory of the store (not a link: it is where the backups
    are), the journal a small JSON object ``{"items": [str, ...]}``, and every item a relative
    path of a golden directory (``cases/<id>/<platform>``) or a pinned file, without ``..``,
    hidden parts or links, that resolves inside the store; its ``new<i>`` and ``old<i>`` must
    be entries of the work directory itself."""
    journal = work / JOURNAL

    def refuse(why: str, field: str | None = None) -> StoreError:
        return StoreError(f"refused to recover an interrupted publish: {why}; nothing was moved and the journal "
                          "is kept for inspection (restore the store from version control, then delete the "
                          f"{WORK_PREFIX}* directory)", file=journal, field=field)

    real_root = root.resolve()
    if work.is_symlink() or not work.is_dir() or work.resolve().parent != real_root:
        raise refuse("its work directory (where the backups are) is a symbolic link or not a directory of "
                     "the store")
    if not journal.exists() and not journal.is_symlink():
        return None
    if journal.is_symlink() or not journal.is_file():
        raise refuse("the journal is not a regular file")
    try:
        if journal.stat().st_size > _MAX_JOURNAL:
            raise refuse(f"the journal is larger than {_MAX_JOURNAL // (1024 * 1024)} MiB")
        data = json.loads(journal.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise refuse(f"the journal is unreadable or not JSON ({type(exc).__name__})") from None
    if not isinstance(data, dict) or set(data) != {"items"} or not isinstance(data["items"], list):
        raise refuse('the journal is not {"items": [path, ...]}')
    from ..platform import is_valid_key
    from ..suite import CASE_ID_RE

    out: list[tuple[str, ...]] = []
    for i, item in enumerate(data["items"]):
        field = f"items[{i}]"
        shown = repr(item) if len(repr(item)) <= 80 else repr(item)[:77] + "..."
        if not isinstance(item, str) or not item:
            raise refuse(f"entry {shown} is not a path (a non-empty string)", field)
        parts = tuple(item.split("/"))
        if item.startswith("/") or "\\" in item or "\0" in item or Path(item).is_absolute():
            raise refuse(f"entry {shown} is an absolute path", field)
        if any(part in ("", ".", "..") or part.startswith(".") for part in parts):
            raise refuse(f"entry {shown} is not a plain relative path inside the store ('..', '.', '//' or a "
                         "hidden part)", field)
        if parts[0] == "cases":
            if not (len(parts) == 3 and CASE_ID_RE.match(parts[1]) and is_valid_key(parts[2])):
                raise refuse(f"entry {shown} is not a golden's directory (cases/<case-id>/<platform-key>)", field)
        target = root.joinpath(*parts)
        try:
            inside = target.resolve().is_relative_to(real_root)
        except (OSError, RuntimeError):
            inside = False
        if not inside or any(p.is_symlink() for p in (target, *target.parents) if p != root and
                             p.is_relative_to(root)):
            raise refuse(f"entry {shown} resolves outside the store or through a symbolic link", field)
        if parts in out:
            raise refuse(f"entry {shown} is named twice", field)
        for name in (f"new{i}", f"old{i}"):
            entry = work / name
            if entry.is_symlink() or (entry.exists() and entry.resolve().parent != work.resolve()):
                raise refuse(f"the backup {name} of entry {shown} is a symbolic link (a backup lives in the work "
                             "directory itself)", name)
        out.append(parts)
    return out


def prune_empty(root: Path) -> None:
    """Remove the directories under ``root`` that a rollback left empty, deepest first."""
    if not root.is_dir():
        return
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()


def _remove(target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)
