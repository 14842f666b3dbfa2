"""The embedded store: a directory of goldens inside the repository.

Its pin is a content hash of the tree (:mod:`.tree`), checked when the store is opened:
goldens edited or replaced by hand no longer match ``goldens.lock`` and the run stops and says
so. This module reads; a publish goes through the journal (:mod:`.journal`), one publisher at
a time (:mod:`.publishers_lock`), and a killed publisher's leftovers are finished or undone by
:mod:`.recovery` when the store is next opened.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..lock import EMPTY, Lock, read_lock
from .base import META_FILE, Golden, StagedGolden, load_meta, store_relpath
from .journal import swap_in
from .publish import PublishResult
from .publishers_lock import LOCK_FILE, acquire, publish_lock, reader_wait_s, release, try_acquire
from .recovery import WORK_PREFIX, RecoveryWarning, recover, work_dirs
from .tree import hash_files, list_files, tree_hash

if TYPE_CHECKING:
    from ..suite import Suite
    from .registry import OpenOptions

# Names other code and tests import from here (the store's public face).
__all__ = ["FileStore", "LOCK_FILE", "WORK_PREFIX", "RecoveryWarning", "tree_hash"]


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

    @classmethod
    def from_suite(cls, suite: Suite, *, lock: Lock | None, options: OpenOptions) -> FileStore:
        """The store a suite's ``[store] kind = "file"`` names (see :mod:`.registry`)."""
        if options.publish or options.create_pr:
            raise StoreError("--publish / --create-pr need a Hub store ([store] kind = \"hf\" or \"git\"); this "
                             "suite's goldens are files in the repository", file=suite.path, field="store.kind")
        assert suite.store.path is not None
        return cls(Path(suite.store.path), lock=lock, lock_path=suite.lock_path, verify=options.verify)

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
        if work_dirs(self.root) and try_acquire(lock):  # leftovers and no live publisher: recover now
            try:
                self._recover_and_verify(verify)
            finally:
                release(lock, self.root)
            return
        self._adopt_lock()
        if not verify:
            return
        try:
            self.verify_pin()
            return
        except (StoreError, OSError):
            if not work_dirs(self.root):  # no publish in flight: the tree really differs from its pin
                raise
        acquire(lock, self.root, wait_s=reader_wait_s(), doing="open the store")
        try:
            self._recover_and_verify(verify)
        finally:
            release(lock, self.root)

    def _recover_and_verify(self, verify: bool) -> None:
        self.recovered = recover(self.root, self.lock_path)
        self._adopt_lock()
        if verify:
            self.verify_pin()

    def _adopt_lock(self) -> None:
        current = read_lock(self.lock_path)
        if current is not None and current.kind == "file" and (self.lock is None or current.repo == self.lock.repo):
            self.lock, self.revision = current, current.revision

    def verify_pin(self) -> None:
        files = list_files(self.root)
        actual = hash_files(self.root, files)
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
        from ..platform import KEY_RE  # (the pattern itself, as CASE_ID_RE: no call out per path)
        from ..suite import CASE_ID_RE

        if not CASE_ID_RE.match(case_id) or case_id in (".", ".."):
            raise StoreError(f"{case_id!r} is not a case id: it cannot name a directory of the store")
        if platform is not None and not KEY_RE.match(platform):
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
        items: list[tuple[Path, Callable[[Path], Any]]] = []
        for rel, data in files.items():
            items.append((self.root.joinpath(*store_relpath(rel, pinning=True)),
                          lambda path, data=data: path.write_bytes(data)))
        return self._swap_in(items)

    def _swap_in(self, items: list[tuple[Path, Callable[[Path], Any]]]) -> str:
        """The one way this store changes (:func:`.journal.swap_in`); the pin moves with it."""
        self._index = None  # from here on the disk is the truth
        revision = swap_in(self.root, self.lock_path, items)
        self.revision = revision
        self.lock = Lock(kind="file", revision=revision)
        return revision
