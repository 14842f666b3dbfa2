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
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from .. import env
from ..errors import StoreError, SuiteError
from ..lock import EMPTY, Lock, lock_text, restore_lock, write_lock
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
            self._settle(verify)
        elif verify:
            self.verify_pin()

    def _settle(self, verify: bool) -> None:
        """Open a writable store: finish what a killed publisher left, and read the pin as it is
        once no publish is half-way (the caller may have read an older lock).

        The lock file is the commit point, so a reader needs no publishers' lock when the tree
        it finds is the one the lock pins: a live publisher writes its new goldens into its
        hidden work directory first, and only its short swap changes the tree. The publishers'
        lock is taken only to recover a dead publisher's leftovers (never racing a live one:
        recovery runs under it) or when the tree is caught mid-swap; then the reader waits with
        a message naming the publisher, and gives up after ``REGRESS_STORE_WAIT`` seconds."""
        lock = publish_lock(self.root)
        if _work_dirs(self.root) and _try_acquire(lock):  # leftovers and no live publisher: recover now
            try:
                self._recover_and_verify(verify)
            finally:
                _release(lock, self.root)
            return
        self._adopt_lock()
        if not verify:
            return
        try:
            self.verify_pin()
            return
        except (StoreError, OSError):
            if not _work_dirs(self.root):  # no publish in flight: the tree really differs from its pin
                raise
        _acquire(lock, self.root, wait_s=reader_wait_s(), doing="open the store")
        try:
            self._recover_and_verify(verify)
        finally:
            _release(lock, self.root)

    def _recover_and_verify(self, verify: bool) -> None:
        self.recovered = recover(self.root, self.lock_path)
        self._adopt_lock()
        if verify:
            self.verify_pin()

    def _adopt_lock(self) -> None:
        from ..lock import read_lock

        current = read_lock(self.lock_path)
        if current is not None and current.kind == "file" and (self.lock is None or current.repo == self.lock.repo):
            self.lock, self.revision = current, current.revision

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
        lock = publish_lock(self.root)
        _acquire(lock, self.root, wait_s=WRITER_WAIT_S, doing="publish")
        try:
            recover(self.root, self.lock_path)
            self._index = None  # from here on the disk is the truth
            try:
                previous_lock = lock_text(self.lock_path)
                work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=self.root))
            except OSError as exc:
                raise StoreError(f"cannot publish into {self.root} ({exc.strerror or type(exc).__name__}): nothing "
                                 "changed") from None
            moved: list[tuple[int, Path, Path | None]] = []  # (index, target, backup or None)
            lock_written = False
            try:
                for i, (_, write) in enumerate(items):
                    write(work / f"new{i}")
                journal = {"items": [str(t.relative_to(self.root).as_posix()) for t, _ in items]}
                _write_synced(work / JOURNAL, json.dumps(journal))
                for i, (target, _) in enumerate(items):
                    backup = None
                    if target.exists():
                        backup = work / f"old{i}"
                        os.replace(target, backup)
                    moved.append((i, target, backup))
                    fail_point("mid-swap")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(work / f"new{i}", target)
                revision = tree_hash(self.root)
                fail_point("before-lock")
                lock_written = True  # from here on the lock may pin the new tree (write_lock renames last)
                write_lock(self.lock_path, Lock(kind="file", revision=revision))
                fail_point("after-lock")
            except BaseException as exc:
                self._roll_back(work, moved, previous_lock if lock_written else _UNTOUCHED)
                if isinstance(exc, OSError):  # disk full, read-only, immutable lock: one line, nothing changed
                    raise StoreError(f"publishing into {self.root} failed ({exc.strerror or type(exc).__name__}"
                                     f"{': ' + str(exc.filename) if exc.filename else ''}); the store and the lock "
                                     "are unchanged") from None
                raise
            shutil.rmtree(work, ignore_errors=True)
        finally:
            _release(lock, self.root)
        self.revision = revision
        self.lock = Lock(kind="file", revision=revision)
        return revision

    def _roll_back(self, work: Path, moved: list[tuple[int, Path, Path | None]], previous_lock: object) -> None:
        """Undo a failed publish: the lock first (so that from then on it pins the old tree, and
        a kill during the rest leaves a journal that :func:`recover` rolls back), then every
        target. A new entry goes back to ``new<i>`` rather than being deleted, so the journal
        stays true at every step: ``new<i>`` present means 'not moved in'."""
        if previous_lock is not _UNTOUCHED:
            try:
                restore_lock(self.lock_path, previous_lock)  # type: ignore[arg-type]
            except (OSError, StoreError, SuiteError) as exc:
                # The lock still pins the new tree, which is complete: keep it (the rollback
                # would break the pin); only the leftovers go.
                shutil.rmtree(work, ignore_errors=True)
                raise StoreError(f"{self.lock_path}: the publish into {self.root} completed, but it failed after "
                                 f"writing the lock and the lock could not be put back ({exc}); the new goldens "
                                 "stand and the lock pins them") from None
        for i, target, backup in reversed(moved):
            new = work / f"new{i}"
            if not new.exists() and (target.exists() or target.is_symlink()):
                os.replace(target, new)
            if backup is not None:
                os.replace(backup, target)
        _prune_empty(self.root / "cases")
        shutil.rmtree(work, ignore_errors=True)


_UNTOUCHED = object()  # the lock was not written: nothing to put back
WORK_PREFIX = ".regress-publish-"
JOURNAL = "journal.json"
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


def _try_acquire(lock) -> bool:  # noqa: ANN001
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


def _acquire(lock, root: Path, *, wait_s: float, doing: str) -> None:  # noqa: ANN001
    """The publishers' lock, waiting at most ``wait_s`` seconds for its holder, and saying so
    once (a silent wait behind a paused publisher looks like a hang)."""
    from filelock import Timeout

    if not _try_acquire(lock):
        holder = _holder(root)
        print(f"regress: waiting up to {wait_s:g} s for {holder} to finish before the {doing} "
              f"({root})", file=sys.stderr, flush=True)
        try:
            lock.acquire(timeout=wait_s)
        except Timeout:
            raise StoreError(f"{holder} still holds the publishers' lock after {wait_s:g} s; nothing was done (let "
                             f"it finish, or stop it; {env.REGRESS_STORE_WAIT} sets how long a reader waits)",
                             file=root / LOCK_FILE) from None
        except OSError as exc:
            raise StoreError(f"cannot take the publishers' lock ({exc.strerror or type(exc).__name__})",
                             file=root / LOCK_FILE) from None
    _note_owner(root)


def _release(lock, root: Path) -> None:  # noqa: ANN001
    try:
        (root / OWNER_FILE).unlink(missing_ok=True)
    except OSError:
        pass
    lock.release()


def _note_owner(root: Path) -> None:
    """Who holds the lock (pid, host, since when), written beside it after taking it: the lock
    file itself is the lock's, so the note is a file of its own, replaced (never written
    through, if something put a link there). Only a message reads it."""
    import socket
    import time

    text = f"regress pid {os.getpid()} on {socket.gethostname()} (holding it since {time.strftime('%H:%M:%S')})"
    try:
        fd, tmp = tempfile.mkstemp(prefix=OWNER_FILE + ".", dir=root)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, root / OWNER_FILE)
    except OSError:
        pass


def _holder(root: Path) -> str:
    path = root / OWNER_FILE
    try:
        if path.is_file() and not path.is_symlink() and path.stat().st_size <= 512:
            text = path.read_text(encoding="utf-8", errors="replace").strip()
            if text.isprintable() and text.startswith("regress pid "):
                return text
    except OSError:
        pass
    return "another regress process (a publish of this store)"


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


def _work_dirs(root: Path) -> list[Path]:
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
    written, so every journal is read and every entry checked (:func:`_read_journal`) before
    anything moves: recovery can only touch the store."""
    if not root.is_dir():
        return None
    works = _work_dirs(root)
    if not works:
        return None
    from ..lock import read_lock

    plans = [(work, _read_journal(root, work)) for work in works]  # all checked first: refuse before moving
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


_MAX_JOURNAL = 4 * 1024 * 1024


def _read_journal(root: Path, work: Path) -> list[tuple[str, ...]] | None:
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


class RecoveryWarning(UserWarning):
    """The store was recovered from an interrupted publish (printed once by the next run)."""


def _prune_empty(root: Path) -> None:
    if not root.is_dir():
        return
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
