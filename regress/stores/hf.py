"""The ``hf`` store (and ``git``, which reads the same way): goldens in a Hub repo, read with
huggingface_hub at the commit sha that ``goldens.lock`` pins.

The data path for one golden (case, platform), at the pinned commit:

1. **listing**: which files the repo holds. A commit never changes, so the listing that
   huggingface_hub keeps in its cache for that commit is used when present (no network);
   otherwise ``HfApi.list_repo_files(revision=sha)``. The listing tells which platforms have a
   golden, so the nearest-platform fallback needs no download.
2. **download**: ``snapshot_download(allow_patterns=["cases/<case>/<platform>/*"])``: only that
   golden's files, cache first (``local_files_only``), the network only for what is missing.
3. **verify**: every file against the sha256 in its ``meta.json``. A mismatch is downloaded once
   more (``force_download``), then it is an error that names the file.

With ``HF_HUB_OFFLINE=1`` steps 1-2 use the cache only and say what to run when it is cold.
Every failure is a one-line :class:`StoreError` that says what to do (:mod:`.hub_access`);
none of them lets a case pass. Publishing (one commit on top of the pinned sha, then the lock)
is the store's other half, :mod:`.hf_publish`, with the commit itself made by a publisher
(:mod:`.publish_hub`, :mod:`.publish_git`).

huggingface_hub is imported inside functions: ``import regress`` must stay light.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..lock import SHA40_RE, Lock
from ..modes import PUBLISH_TARGETS
from ..suite import StoreSpec
from .base import META_FILE, Golden, load_meta, store_relpath
from .hf_publish import HubPublishing
from .hub_access import HubAccess, HubSettings, silent_tqdm
from .publish import PublishResult, golden_dir

if TYPE_CHECKING:
    from ..suite import Suite
    from .registry import OpenOptions

__all__ = ["HfStore", "HubSettings", "RegressWarning"]


class RegressWarning(UserWarning):
    """Something a run should show but that does not fail it (a lock pinning a branch)."""


class HfStore(HubPublishing):
    """Goldens in a Hub repo at a pinned commit (``kind = "hf"``, or ``kind = "git"`` for a repo
    that a Hub-compatible server serves from git and that is written with git)."""

    def __init__(self, spec: StoreSpec, *, lock: Lock | None, lock_path: Path, strict: bool = False,
                 publish: str | None = None, create_pr: bool = False, api: Any = None,
                 settings: HubSettings | None = None) -> None:
        assert spec.repo is not None
        self.kind = spec.kind
        self.spec = spec
        self.repo, self.repo_type, self.branch = spec.repo, spec.repo_type, spec.branch
        self.lock_path = lock_path
        if lock is None:
            raise StoreError(f"missing: a Hub store needs the commit it trusts; run `regress pin` to pin the "
                             f"current '{self.branch}' of {self.repo}", file=lock_path)
        self.lock = lock
        self.settings = settings or HubSettings.from_env()
        self.publish_target = publish or ("git" if spec.kind == "git" else "hub")
        if self.publish_target not in PUBLISH_TARGETS:
            raise StoreError(f"publish target must be one of {', '.join(PUBLISH_TARGETS)}, got "
                             f"{self.publish_target!r}")
        self.create_pr = create_pr
        self.hub = HubAccess(repo=self.repo, repo_type=self.repo_type, settings=self.settings, lock_path=lock_path,
                             api=api)
        self._files: list[str] | None = None
        self.last_publish: PublishResult | None = None
        self.revision: str = self._pin(lock.revision, strict)

    @classmethod
    def from_suite(cls, suite: Suite, *, lock: Lock | None, options: OpenOptions) -> HfStore:
        """The store a suite's ``[store] kind = "hf"`` or ``"git"`` names (see :mod:`.registry`)."""
        return cls(suite.store, lock=lock, lock_path=suite.lock_path, strict=options.strict,
                   publish=options.publish, create_pr=options.create_pr, api=options.api)

    # ------------------------------------------------------------------ naming

    @property
    def where(self) -> str:
        return self.hub.where(self.revision)

    @property
    def api(self) -> Any:
        return self.hub.api

    def cache_folder(self) -> Path:
        """This repo's folder in the HF cache (``datasets--org--name``)."""
        return self.settings.cache_dir / f"{self.repo_type}s--{self.repo.replace('/', '--')}"

    # ------------------------------------------------------------------ the pin

    def _pin(self, revision: str, strict: bool) -> str:
        """The commit to read: the lock's sha; a branch or tag is resolved (and refused under
        strict, with the line that pins it)."""
        if SHA40_RE.match(revision):
            return revision
        try:
            resolved: str | None = self.resolve(revision)
        except StoreError:
            if not strict:
                raise
            resolved = None
        if strict:
            now = f"; '{revision}' is now at {resolved}: revision = \"{resolved}\"" if resolved else ""
            raise StoreError(f"pins '{revision}', a branch or tag that moves; strict runs (CI) need a commit sha: "
                             f"run `regress pin {revision}`{now}", file=self.lock_path, field="revision")
        assert resolved is not None
        warnings.warn(f"{self.lock_path}: pins '{revision}' (a branch or tag), read as {resolved}; "
                      f"`regress pin {revision}` pins the commit", RegressWarning, stacklevel=2)
        return resolved

    def resolve(self, ref: str) -> str:
        """The commit sha a branch, tag or sha names (the cache's refs when offline)."""
        if self.settings.offline:
            if SHA40_RE.match(ref):
                return ref
            refs = self.cache_folder() / "refs"
            cached = refs / ref
            inside = cached.resolve().is_relative_to(refs.resolve()) if refs.exists() else False
            if inside and cached.is_file() and not cached.is_symlink() and cached.stat().st_size <= 64:
                sha = cached.read_text(encoding="utf-8", errors="replace").strip()
                if SHA40_RE.match(sha):
                    return sha
                raise StoreError(f"the HF cache's record of '{ref}' for {self.repo} is not a commit sha (corrupted "
                                 "cache?): pin a commit sha", file=self.lock_path, field="revision")
            raise StoreError(f"cannot resolve '{ref}' of {self.repo} offline (HF_HUB_OFFLINE is set and the HF "
                             "cache has no record of it): pin a commit sha", file=self.lock_path, field="revision")
        self.hub.ensure_reachable()
        if SHA40_RE.match(ref):
            try:  # a sha: prove it exists (a listing is the one call olah and the Hub answer alike)
                self.api.list_repo_files(self.repo, repo_type=self.repo_type, revision=ref)
            except Exception as exc:
                raise self.hub.error(exc, revision=ref) from None
            return ref
        try:
            sha = self.api.repo_info(self.repo, repo_type=self.repo_type, revision=ref).sha
        except Exception as exc:
            raise self.hub.error(exc, revision=ref) from None
        if not sha or not SHA40_RE.match(sha):
            raise StoreError(f"{self.repo_type} repo '{self.repo}': '{ref}' did not resolve to a commit sha",
                             file=self.lock_path, field="revision")
        return sha

    # ------------------------------------------------------------------ reading

    def files(self) -> list[str]:
        """Every file path in the repo at the pinned commit."""
        if self._files is None:
            self._files = self._cached_listing()
            if self._files is None:
                self._files = self._remote_listing()
        return self._files

    def _cached_listing(self) -> list[str] | None:
        import huggingface_hub

        cached_tree = getattr(huggingface_hub, "get_cached_repo_tree", None)
        if cached_tree is not None:
            from huggingface_hub.errors import CachedRepoTreeNotFoundError

            try:
                return sorted(f.path for f in cached_tree(self.repo, repo_type=self.repo_type,
                                                          revision=self.revision,
                                                          cache_dir=self.settings.cache_dir))
            except CachedRepoTreeNotFoundError:
                return None
        if self.settings.offline:  # huggingface_hub without a tree cache: what was downloaded
            snap = self.cache_folder() / "snapshots" / self.revision
            if snap.is_dir():
                return sorted(p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file())
        return None

    def _remote_listing(self) -> list[str]:
        if self.settings.offline:
            raise StoreError(f"{self.where}: the HF cache ({self.settings.cache_dir}) has no listing of this "
                             "commit and HF_HUB_OFFLINE is set: run `regress fetch` once while online")
        self.hub.ensure_reachable()
        try:
            return sorted(self.api.list_repo_files(self.repo, repo_type=self.repo_type, revision=self.revision))
        except Exception as exc:
            raise self.hub.error(exc, revision=self.revision) from None

    def platforms(self, case_id: str) -> list[str]:
        prefix = f"cases/{case_id}/"
        return sorted({p[len(prefix):].split("/", 1)[0] for p in self.files()
                       if p.startswith(prefix) and p.count("/") >= 3})

    def entries(self) -> list[tuple[str, str]]:
        return sorted({(p.split("/")[1], p.split("/")[2]) for p in self.files()
                       if p.startswith("cases/") and p.count("/") >= 3})

    def get(self, case_id: str, platform: str) -> Golden | None:
        """The golden's files from the cache or the Hub, verified; None when the commit has none."""
        prefix = golden_dir(case_id, platform)
        names = [p[len(prefix):] for p in self.files() if p.startswith(prefix)]
        if not names:
            return None
        fix = f"refresh it: `regress refresh -k {case_id}`"
        if META_FILE not in names:
            raise StoreError(f"{self.where}: {prefix}{META_FILE} is missing (every golden needs one; {fix})")
        golden, problem = self._load(case_id, platform, self._download(prefix, names, case_id=case_id))
        absent = [n for n in (golden.meta.get("files") or {}) if n not in names] if golden else []
        if absent:
            raise StoreError(f"{self.where}: {prefix}{absent[0]} is listed in meta.json but not in the repo (the "
                             f"golden is incomplete; {fix})")
        if problem is None:
            return golden
        if self.settings.offline:
            raise StoreError(f"{self.where}: cached {prefix}{problem}, and HF_HUB_OFFLINE is set so it cannot be "
                             f"downloaded again: run `regress fetch -k {case_id}` online, or delete "
                             f"{self.cache_folder()}")
        golden, again = self._load(case_id, platform, self._download(prefix, names, case_id=case_id, force=True))
        if again is not None:
            raise StoreError(f"{self.where}: {prefix}{again}, even after downloading it again: the golden in the "
                             f"repo is broken ({fix})")
        return golden

    def file(self, relpath: str) -> Path | None:
        """A file of the repo outside ``cases/`` (e.g. pinned LPIPS weights under ``_metrics/``)
        at the pinned commit, from the HF cache or the Hub; None when the commit has none."""
        import huggingface_hub

        parts = store_relpath(relpath, pinning=False)
        rel = "/".join(parts)
        if rel not in self.files():
            return None
        kw: dict[str, Any] = dict(repo_type=self.repo_type, revision=self.revision,
                                  cache_dir=str(self.settings.cache_dir))
        cached = huggingface_hub.try_to_load_from_cache(self.repo, rel, **kw)
        if isinstance(cached, str):
            return Path(cached)
        if self.settings.offline:
            raise StoreError(f"{self.where}: {rel} is not in the HF cache ({self.settings.cache_dir}) and "
                             "HF_HUB_OFFLINE is set: run `regress fetch` while online")
        self.hub.ensure_reachable()
        try:
            return Path(huggingface_hub.hf_hub_download(self.repo, rel, endpoint=self.settings.endpoint, **kw))
        except Exception as exc:
            raise self.hub.error(exc, revision=self.revision, path=rel) from None

    def _load(self, case_id: str, platform: str, root: Path) -> tuple[Golden | None, str | None]:
        """The golden in a snapshot folder and, if it is not intact, '<file>: <problem>'."""
        directory = root / golden_dir(case_id, platform)
        try:
            meta = load_meta(directory)
        except StoreError:
            return None, f"{META_FILE}: not a readable meta.json"
        golden = Golden(case_id=case_id, platform=platform, directory=directory, meta=meta, revision=self.revision)
        bad = golden.mismatched()
        return golden, (f"{bad[0][0]}: {bad[0][1]}" if bad else None)

    def _download(self, prefix: str, names: list[str], *, case_id: str, force: bool = False) -> Path:
        """The snapshot folder holding ``prefix``'s files: the cache when it has them all,
        else the Hub (only these files)."""
        import huggingface_hub
        from huggingface_hub.errors import LocalEntryNotFoundError

        kw: dict[str, Any] = dict(repo_type=self.repo_type, revision=self.revision,
                                  cache_dir=str(self.settings.cache_dir), allow_patterns=[prefix + "*"],
                                  endpoint=self.settings.endpoint, tqdm_class=silent_tqdm())
        if not force:
            try:
                root = Path(huggingface_hub.snapshot_download(self.repo, local_files_only=True, **kw))
                if all((root / prefix / n).is_file() for n in names):
                    return root
            except LocalEntryNotFoundError:  # includes IncompleteSnapshotError
                pass
            if self.settings.offline:
                raise StoreError(f"{self.where}: {prefix} is not in the HF cache ({self.settings.cache_dir}) and "
                                 f"HF_HUB_OFFLINE is set: run `regress fetch -k {case_id}` while online")
        self.hub.ensure_reachable()
        try:
            root = Path(huggingface_hub.snapshot_download(self.repo, force_download=force, **kw))
        except Exception as exc:
            raise self.hub.error(exc, revision=self.revision, path=prefix) from None
        missing = [n for n in names if not (root / prefix / n).is_file()]
        if missing:
            raise StoreError(f"{self.where}: {prefix}{missing[0]} could not be downloaded")
        return root
