"""The embedded store: a directory of goldens inside the repository.

Its pin is a content hash of the tree (sha256 over the sorted relative paths and each file's
sha256), checked when the store is opened: goldens edited or replaced by hand no longer
match ``goldens.lock`` and the run stops and says so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import StoreError
from ..lock import EMPTY, Lock, write_lock
from .base import META_FILE, Golden, StagedGolden, load_meta, sha256_file, store_relpath
from .publish import PublishResult
from .publish import fail_point


def tree_hash(root: Path) -> str:
    """``sha256:<hex>`` of the store's content; ``empty`` for a store with no files.
    Hidden files (editor droppings, .gitkeep) do not count."""
    return _hash_files(root, _files(root))


def _hash_files(root: Path, files: list[tuple[str, ...]]) -> str:
    h = hashlib.sha256()
    for rel in files:
        h.update(f"{'/'.join(rel)}\0{sha256_file(root.joinpath(*rel))}\n".encode())
    return f"sha256:{h.hexdigest()}" if files else EMPTY


def _files(root: Path) -> list[tuple[str, ...]]:
    """Every non-hidden file under ``root`` as its path parts, sorted part by part (the order
    of sorted ``Path`` objects, which the pins were made with). ``os.scandir`` rather than
    ``Path.rglob``: this runs at every store open and pathlib's walk was most of its cost.

    Only regular files are content. Anything else (a symbolic link, a FIFO, a device) is an
    error naming it, before any byte is read: reading a FIFO or ``/dev/zero`` would block or
    never end, and a link could point anywhere. Directories are walked without following
    links, so a loop cannot occur."""
    out: list[tuple[str, ...]] = []
    stack: list[tuple[str, tuple[str, ...]]] = [(str(root), ())]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as exc:
            raise StoreError(f"{directory}: unreadable ({exc.strerror or type(exc).__name__})") from None
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_symlink():
                raise StoreError(f"{e.path}: a symbolic link in the golden store (goldens are regular files)")
            if e.is_dir(follow_symlinks=False):
                stack.append((e.path, (*prefix, e.name)))
            elif e.is_file(follow_symlinks=False):
                out.append((*prefix, e.name))
            else:
                raise StoreError(f"{e.path}: not a regular file (a FIFO, socket or device in the golden store)")
    out.sort()
    return out


class FileStore:
    kind = "file"
    last_publish: PublishResult | None = None  # a file store's publish has no commit page to name

    def __init__(self, root: Path, *, lock: Lock | None, lock_path: Path, verify: bool = True) -> None:
        self.root = root
        self.lock = lock
        self.lock_path = lock_path
        self.revision = lock.revision if lock else None
        # (case, platforms) of the tree the pin was verified against: the walk that hashes the
        # store lists every golden anyway, so lookups and the report's entry list need no
        # further directory reads. None (read the disk) until verified and after a publish.
        self._index: dict[str, list[str]] | None = None
        self.recovered: str | None = None
        if root.is_dir() and os.access(root, os.W_OK):  # a read-only store has no publisher to wait for
            # Under the publishers' lock: recover what a killed one left, and read the pin as it
            # is once no publish is half-way (the caller may have read an older lock).
            with publish_lock(root):
                self.recovered = recover(root, lock_path)
                from ..lock import read_lock

                current = read_lock(lock_path)
                if current is not None and current.kind == "file" and (lock is None or current.repo == lock.repo):
                    self.lock, self.revision = current, current.revision
                if verify:
                    self.verify_pin()
        elif verify:
            self.verify_pin()

    def verify_pin(self) -> None:
        files = _files(self.root)
        actual = _hash_files(self.root, files)
        pinned = self.revision
        if pinned is None:
            if actual != EMPTY:
                raise StoreError(f"{self.lock_path}: missing, but {self.root} holds goldens; run `regress refresh` "
                                 "to pin them")
            return
        if actual != pinned:
            raise StoreError(f"{self.root}: content hash {actual} does not match the pin {pinned} in "
                             f"{self.lock_path} (goldens changed outside `regress refresh`; restore them or refresh)")
        index: dict[str, list[str]] = {}
        for rel in files:  # sorted, so each case's platforms come in name order
            if len(rel) == 4 and rel[0] == "cases" and rel[3] == META_FILE:
                index.setdefault(rel[1], []).append(rel[2])
        self._index = index

    # ------------------------------------------------------------------ reading

    def _dir(self, case_id: str, platform: str | None = None) -> Path:
        """Where a golden lives; the one place a store path is built from data, so ids and keys
        are checked here: a path never leaves the store."""
        from ..platform import is_valid_key
        from ..suite import CASE_ID_RE

        if not CASE_ID_RE.match(case_id) or case_id in (".", ".."):
            raise StoreError(f"{case_id!r} is not a case id: it cannot name a directory of the store")
        if platform is not None and not is_valid_key(platform):
            raise StoreError(f"{platform!r} is not a platform key (e.g. cpu-avx2, cuda-sm90)")
        d = self.root / "cases" / case_id
        return d / platform if platform else d

    def platforms(self, case_id: str) -> list[str]:
        if self._index is not None:
            return list(self._index.get(case_id, ()))
        d = self._dir(case_id)
        if not d.is_dir():
            return []
        return sorted(p.name for p in d.iterdir() if p.is_dir() and (p / META_FILE).exists())

    def get(self, case_id: str, platform: str) -> Golden | None:
        d = self._dir(case_id, platform)
        if not (d / META_FILE).exists():
            return None
        return Golden(case_id=case_id, platform=platform, directory=d, meta=load_meta(d), revision=self.revision)

    def file(self, relpath: str) -> Path | None:
        """A file of the store outside ``cases/`` (e.g. pinned LPIPS weights under
        ``_metrics/``), as of the pinned revision (the tree hash covers it), or None."""
        p = self.root.joinpath(*store_relpath(relpath, pinning=False))
        return p if p.is_file() else None

    def entries(self) -> list[tuple[str, str]]:
        if self._index is not None:
            return [(c, p) for c in sorted(self._index) for p in self._index[c]]
        cases = self.root / "cases"
        if not cases.is_dir():
            return []
        return [(c.name, p) for c in sorted(cases.iterdir()) if c.is_dir() for p in self.platforms(c.name)]

    # ------------------------------------------------------------------ writing

    def publish(self, staged: list[StagedGolden], *, message: str = "") -> str:
        """Write every staged golden and rewrite the lock, all or nothing (see :meth:`_swap_in`).
        Returns the new revision."""
        if not staged:
            return self.revision or EMPTY
        return self._swap_in([(self._dir(g.case_id, g.platform), g.write) for g in staged])

    def publish_files(self, files: dict[str, bytes], *, message: str = "") -> str:
        """Write files outside ``cases/`` (e.g. pinned LPIPS weights under ``_metrics/``) and
        rewrite the lock, all or nothing, like :meth:`publish`. Returns the new revision."""
        if not files:
            return self.revision or EMPTY
        items: list[tuple[Path, Callable[[Path], object]]] = []
        for rel, data in files.items():
            items.append((self.root.joinpath(*store_relpath(rel, pinning=True)),
                          lambda path, data=data: path.write_bytes(data)))
        return self._swap_in(items)

    def _swap_in(self, items: list[tuple[Path, Callable[[Path], object]]]) -> str:
        """The one way this store changes, all or nothing, also under SIGKILL, and one
        publisher at a time (an inter-process lock beside the store).

        Each new entry (a golden's directory or a file) is written into a work directory
        inside the store first. A journal naming every target is then written and synced
        *before* anything moves; existing targets are moved aside into the work directory, the
        new ones moved in, the lock replaced (atomically), and the work directory removed. A
        failure moves everything back. A process killed anywhere in between leaves its work
        directory and journal behind, and the next store open (:func:`recover`) finishes the
        publish if the lock already pins the new tree, or rolls it back otherwise."""
        try:
            lock = publish_lock(self.root)
            lock.acquire()
        except OSError as exc:
            raise StoreError(f"cannot publish into {self.root} ({exc.strerror or type(exc).__name__}): nothing "
                             "changed") from None
        try:
            recover(self.root, self.lock_path)
            self._index = None  # from here on the disk is the truth
            try:
                work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=self.root))
            except OSError as exc:
                raise StoreError(f"cannot publish into {self.root} ({exc.strerror or type(exc).__name__}): nothing "
                                 "changed") from None
            moved: list[tuple[Path, Path | None]] = []  # (target, backup or None)
            try:
                for i, (_, write) in enumerate(items):
                    write(work / f"new{i}")
                journal = {"items": [str(t.relative_to(self.root)) for t, _ in items]}
                _write_synced(work / JOURNAL, json.dumps(journal))
                for i, (target, _) in enumerate(items):
                    backup = None
                    if target.exists():
                        backup = work / f"old{i}"
                        os.replace(target, backup)
                    moved.append((target, backup))
                    fail_point("mid-swap")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(work / f"new{i}", target)
                revision = tree_hash(self.root)
                fail_point("before-lock")
                write_lock(self.lock_path, Lock(kind="file", revision=revision))
                fail_point("after-lock")
            except BaseException as exc:
                for target, backup in reversed(moved):
                    _remove(target)
                    if backup is not None:
                        os.replace(backup, target)
                _prune_empty(self.root / "cases")
                shutil.rmtree(work, ignore_errors=True)
                if isinstance(exc, OSError):  # disk full, read-only, immutable lock: one line, nothing changed
                    raise StoreError(f"publishing into {self.root} failed ({exc.strerror or type(exc).__name__}"
                                     f"{': ' + str(exc.filename) if exc.filename else ''}); the store and the lock "
                                     "are unchanged") from None
                raise
            shutil.rmtree(work, ignore_errors=True)
        finally:
            lock.release()
        self.revision = revision
        self.lock = Lock(kind="file", revision=revision)
        return revision


WORK_PREFIX = ".regress-publish-"
JOURNAL = "journal.json"
LOCK_FILE = ".regress-publish.lock"


def publish_lock(root: Path):  # noqa: ANN201 - a filelock context manager
    """Serialises publishers of one store across processes (two refreshes at once)."""
    from filelock import FileLock

    root.mkdir(parents=True, exist_ok=True)
    return FileLock(str(root / LOCK_FILE), timeout=600)


def _write_synced(path: Path, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _remove(target: Path) -> None:
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


def recover(root: Path, lock_path: Path) -> str | None:
    """Finish or undo a publish that a killed process left behind; returns what was done (the
    next run says so), or None when there was nothing to recover.

    The journal is written before anything moves, so a work directory without one never
    touched the store. With one: if the lock already pins the tree as it stands, the publish
    completed and only its leftovers go; otherwise every target is put back from its backup
    (or removed, if it was new), which returns the tree to what the lock pins."""
    if not root.is_dir():
        return None
    works = sorted(p for p in root.iterdir() if p.name.startswith(WORK_PREFIX) and p.is_dir())
    if not works:
        return None
    from ..lock import read_lock

    done: list[str] = []
    for work in works:
        journal = work / JOURNAL
        if not journal.is_file():
            shutil.rmtree(work, ignore_errors=True)
            continue
        try:
            items = json.loads(journal.read_text(encoding="utf-8"))["items"]
        except (OSError, ValueError, KeyError, TypeError):
            raise StoreError(f"{journal}: an interrupted publish left an unreadable journal; restore the store "
                             "from version control") from None
        lock = read_lock(lock_path)
        if lock is not None and lock.revision == tree_hash(root):
            done.append("an interrupted publish had completed (the lock pins its tree); removed its leftovers")
        else:
            for i in reversed(range(len(items))):
                target, new, old = root / items[i], work / f"new{i}", work / f"old{i}"
                if not new.exists():  # the new entry was moved in: take it out
                    _remove(target)
                if old.exists():  # the original was moved aside: put it back
                    _remove(target)
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(old, target)
            _prune_empty(root / "cases")
            done.append(f"an interrupted publish was rolled back ({len(items)} golden(s) restored to the pinned "
                        "state)")
        shutil.rmtree(work, ignore_errors=True)
    if not done:
        return None
    import warnings

    message = f"{root}: " + "; ".join(done)
    warnings.warn(message, RecoveryWarning, stacklevel=2)
    return message


class RecoveryWarning(UserWarning):
    """The store was recovered from an interrupted publish (printed once by the next run)."""


def _prune_empty(root: Path) -> None:
    if not root.is_dir():
        return
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
