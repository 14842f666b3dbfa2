"""``goldens/goldens.lock``: which revision of the golden store this checkout trusts.

For a Hub store the revision is a 40-hex commit sha (never a branch in CI); for the embedded
file store it is a content hash of the tree. A refresh rewrites exactly one line: the
``revision``. Written atomically (:mod:`regress.atomic`), so an interrupted refresh cannot
leave half a lock, and rendered by tomli-w, so any repo name is quoted as TOML requires.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .atomic import write_atomic
from .errors import SuiteError
from .suite import StoreSpec, tomllib

SHA40_RE = re.compile(r"^[0-9a-f]{40}$")
CONTENT_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
# A branch or tag name (refused under strict), as git allows them: no '..', no '//', no trailing '/'
# or '.lock' (a ref is also a path in the HF cache's refs/ folder: it must never climb out).
REF_RE = re.compile(r"^(?!.*\.\.)(?!.*//)(?!.*/$)(?!.*\.lock$)[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$")
EMPTY = "empty"  # a file store with no goldens yet

_HEADER = ("# Pins the golden store. `regress refresh` rewrites `revision`; review its diff like code.\n")


@dataclass(frozen=True)
class Lock:
    kind: str
    revision: str
    repo: str | None = None
    repo_type: str | None = None

    def render(self) -> str:
        """The lock file's text: the header comment, then the keys in a fixed order (a refresh's
        diff is the one ``revision`` line). tomli-w writes plain strings exactly as the lock has
        always been written (``key = "value"``), and escapes what an f-string would not."""
        import tomli_w

        data = {"kind": self.kind}
        if self.repo:
            data.update(repo=self.repo, repo_type=self.repo_type or "dataset")
        data["revision"] = self.revision
        return _HEADER + tomli_w.dumps(data)

    @property
    def is_commit_sha(self) -> bool:
        return bool(SHA40_RE.match(self.revision))


def read_lock(path: Path, store: StoreSpec | None = None) -> Lock | None:
    """The lock beside the suite, or None when there is none yet. Checked against the suite's
    ``[store]``: a lock for another repo or kind is an error, not a silent mismatch."""
    if not path.exists() and not path.is_symlink():
        return None
    _lock_file(path)
    if path.stat().st_size > 64 * 1024:
        raise SuiteError("larger than a lock can be (64 KiB)", file=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SuiteError(f"not valid TOML: {exc}", file=path) from None
    except OSError as exc:
        raise SuiteError(f"unreadable ({exc.strerror or type(exc).__name__})", file=path) from None
    for k in data:
        if k not in ("kind", "revision", "repo", "repo_type"):
            raise SuiteError("unknown key (expected kind, repo, repo_type, revision)", file=path, field=k)
        if not isinstance(data[k], str):
            raise SuiteError("must be a string", file=path, field=k)
    for k in ("kind", "revision"):
        if k not in data:
            raise SuiteError("required field is missing", file=path, field=k)
    lock = Lock(kind=data["kind"], revision=data["revision"], repo=data.get("repo"), repo_type=data.get("repo_type"))
    if lock.kind == "file" and not (CONTENT_RE.match(lock.revision) or lock.revision == EMPTY):
        raise SuiteError("a file store's revision is 'sha256:<64 hex>' (run `regress refresh` to write it)",
                         file=path, field="revision")
    if lock.kind in ("hf", "git"):
        if not lock.repo:
            raise SuiteError("a Hub store's lock names its repo ('org/name'; `regress pin` writes it)", file=path,
                             field="repo")
        if not (lock.is_commit_sha or REF_RE.match(lock.revision)):
            raise SuiteError(f"{lock.revision!r} is neither a 40-hex commit sha nor a branch or tag name "
                             "(`regress pin` writes the sha)", file=path, field="revision")
    if store is not None:
        if lock.kind != store.kind:
            raise SuiteError(f"lock is for a '{lock.kind}' store but the suite's [store] is '{store.kind}'",
                             file=path, field="kind")
        if store.repo and lock.repo != store.repo:
            raise SuiteError(f"lock pins repo '{lock.repo}' but the suite's [store] names '{store.repo}'",
                             file=path, field="repo")
        if store.repo and lock.repo_type and lock.repo_type != store.repo_type:
            raise SuiteError(f"lock pins a {lock.repo_type} repo but the suite's [store] names a {store.repo_type} "
                             "repo", file=path, field="repo_type")
    return lock


def write_lock(path: Path, lock: Lock) -> None:
    """Atomically replace the lock file."""
    write_atomic(_lock_file(path), lock.render())


def restore_lock(path: Path, previous: str | None) -> None:
    """Put back the lock as it was before a publish wrote it (``previous``: its text, or None
    when there was none): a publish that fails after its lock was written must leave the pin
    it found, or every later open would compare the rolled-back tree with the new pin."""
    target = _lock_file(path)
    if previous is None:
        target.unlink(missing_ok=True)
    else:
        write_atomic(target, previous)


def lock_text(path: Path) -> str | None:
    """The lock's text as it is now (None when there is none), to :func:`restore_lock` later;
    a lock path that cannot be written (a directory, a link out of the project) is refused
    here, before a publish changes anything."""
    target = _lock_file(path)
    if not target.exists():
        return None
    return target.read_text(encoding="utf-8")


def _lock_file(path: Path) -> Path:
    """The file the lock at ``path`` is read from and written to, refused in one line when it
    is a directory, a FIFO or a device, or a symbolic link that leaves the project.

    A link that stays inside the project (one lock shared by two suites, say) is followed for
    reading and writing alike: the rename then replaces its target, and the link stays. A link
    out of the project is refused both ways: the project's pin would not be what the project
    reviews, and a write through it would change a file that is not the project's."""
    if path.is_symlink():
        try:
            target = path.resolve()
        except (OSError, RuntimeError):  # a loop of links
            raise SuiteError("a symbolic link that does not resolve (a loop?); replace it with the lock file",
                             file=path) from None
        root = _project_of(path.parent.resolve())
        if not target.is_relative_to(root):
            raise SuiteError(f"a symbolic link to {target}, outside the project ({root}); regress neither reads "
                             "nor writes a pin through it: replace the link with the lock file", file=path)
        if target.exists() and not target.is_file():
            raise SuiteError("a symbolic link to something that is not a regular file (the lock is a small TOML "
                             "file)", file=path)
        if not target.exists():
            raise SuiteError(f"a dangling symbolic link (to {target}); replace it with the lock file", file=path)
        return target
    if path.exists() and not path.is_file():
        raise SuiteError("not a regular file (the lock is a small TOML file; remove what is there)", file=path)
    return path


# pytest's rootdir markers and git's, as regress.project.project_root reads them (not imported:
# regress.project imports the plugin's side of regress, and the lock sits below all of it).
_ROOT_MARKERS = ("pytest.ini", "pyproject.toml", "tox.ini", "setup.cfg", ".git")


def _project_of(directory: Path) -> Path:
    """The project a lock's directory belongs to: its nearest ancestor with a root marker, else
    the directory above it (the suite's ``goldens/`` sits at a project's top)."""
    for d in (directory, *directory.parents):
        if any((d / m).exists() for m in _ROOT_MARKERS):
            return d
    return directory.parent
