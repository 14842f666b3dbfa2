"""The embedded store: a directory of goldens inside the repository.

Its pin is a content hash of the tree (sha256 over the sorted relative paths and each file's
sha256), checked when the store is opened: goldens edited or replaced by hand no longer
match ``goldens.lock`` and the run stops and says so.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import StoreError
from ..lock import EMPTY, Lock, write_lock
from .base import META_FILE, Golden, StagedGolden, load_meta, sha256_file
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
    ``Path.rglob``: this runs at every store open and pathlib's walk was most of its cost."""
    out: list[tuple[str, ...]] = []
    stack: list[tuple[str, tuple[str, ...]]] = [(str(root), ())]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            if e.is_dir(follow_symlinks=False):
                stack.append((e.path, (*prefix, e.name)))
            elif not e.is_dir():  # a link to a directory is not content
                out.append((*prefix, e.name))
    out.sort()
    return out


class FileStore:
    kind = "file"

    def __init__(self, root: Path, *, lock: Lock | None, lock_path: Path, verify: bool = True) -> None:
        self.root = root
        self.lock = lock
        self.lock_path = lock_path
        self.revision = lock.revision if lock else None
        # (case, platforms) of the tree the pin was verified against: the walk that hashes the
        # store lists every golden anyway, so lookups and the report's entry list need no
        # further directory reads. None (read the disk) until verified and after a publish.
        self._index: dict[str, list[str]] | None = None
        if verify:
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
        parts = Path(relpath).parts
        if not parts or Path(relpath).is_absolute() or ".." in parts:
            raise StoreError(f"{relpath!r}: not a path inside the store")
        p = self.root.joinpath(*parts)
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
            parts = Path(rel).parts
            if not parts or Path(rel).is_absolute() or ".." in parts or parts[0] == "cases":
                raise StoreError(f"{rel!r}: not a path this store can pin (outside cases/, inside the store)")
            items.append((self.root.joinpath(*parts), lambda path, data=data: path.write_bytes(data)))
        return self._swap_in(items)

    def _swap_in(self, items: list[tuple[Path, Callable[[Path], object]]]) -> str:
        """The one way this store changes: each new entry (a golden's directory or a file) is
        written into a staging directory first; existing targets are moved aside, the new ones
        moved in, the lock replaced; any failure moves everything back."""
        self._index = None  # from here on the disk is the truth
        self.root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".regress-publish-", dir=self.root))
        moved: list[tuple[Path, Path | None]] = []  # (target, backup or None)
        try:
            for i, (_, write) in enumerate(items):
                write(work / f"new{i}")
            for i, (target, _) in enumerate(items):
                backup = None
                if target.exists():
                    backup = work / f"old{i}"
                    os.replace(target, backup)
                moved.append((target, backup))
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(work / f"new{i}", target)
            revision = tree_hash(self.root)
            fail_point("before-lock")
            write_lock(self.lock_path, Lock(kind="file", revision=revision))
        except BaseException:
            for target, backup in reversed(moved):
                if target.is_dir():
                    shutil.rmtree(target)
                else:
                    target.unlink(missing_ok=True)
                if backup is not None:
                    os.replace(backup, target)
            _prune_empty(self.root / "cases")
            shutil.rmtree(work, ignore_errors=True)
            raise
        shutil.rmtree(work, ignore_errors=True)
        self.revision = revision
        self.lock = Lock(kind="file", revision=revision)
        return revision


def _prune_empty(root: Path) -> None:
    if not root.is_dir():
        return
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
