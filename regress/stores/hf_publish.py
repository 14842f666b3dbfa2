"""Writing a Hub store: which publisher commits (the Hub API or git), and the commit first,
the lock after it.

A mixin of :class:`.hf.HfStore` (the reader), kept in its own module because it is the other
half of the store's job: the reader never writes, and this half reads only the listing it
needs to plan a commit. The commit itself is made by a publisher (:mod:`.publish_hub`,
:mod:`.publish_git`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import StoreError
from ..lock import Lock, write_lock
from .base import StagedGolden, store_relpath
from .publish import Publisher, PublishResult, fail_point, plan, provenance

if TYPE_CHECKING:
    from pathlib import Path

    from ..suite import StoreSpec
    from .hub_access import HubSettings


class HubPublishing:
    """Publishing for a Hub store; the store provides the attributes below."""

    spec: StoreSpec
    repo: str
    repo_type: str
    branch: str
    lock: Lock
    lock_path: Path
    revision: str
    settings: HubSettings
    publish_target: str
    create_pr: bool
    last_publish: PublishResult | None
    _files: list[str] | None

    api: Any

    def files(self) -> list[str]: ...

    def publisher(self) -> Publisher:
        """Where a publish commits: the Hub API (``hub``) or a git remote (``git``)."""
        if self.publish_target == "git":
            from .publish_git import GitPublisher

            # Without a url: the Hub's own git remote for the repo.
            kind_path = "" if self.repo_type == "model" else f"{self.repo_type}s/"
            return GitPublisher(self.spec.url or f"{self.settings.endpoint}/{kind_path}{self.repo}", branch=self.branch)
        from .publish_hub import HubPublisher

        return HubPublisher(self.api, self.repo, repo_type=self.repo_type, branch=self.branch,
                            create_pr=self.create_pr, endpoint=self.settings.endpoint)

    def publish(self, staged: list[StagedGolden], *, message: str = "") -> str:
        """ONE commit with every staged golden on top of the pinned commit, then the lock.

        The lock is rewritten only after the commit exists, atomically; a failure or a kill at
        any earlier step leaves it (and so what every checkout tests against) as it was. A
        commit made when the lock then cannot be written is named in the error, to adopt with
        ``regress pin <sha>``.
        """
        if not staged:
            return self.revision
        files, deletes = plan(staged, self.files())
        title = message or f"regress: goldens for {len(staged)} case(s)"
        return self._commit(files, deletes, *provenance(staged, parent=self.revision, title=title))

    def publish_files(self, files: dict[str, bytes], *, message: str = "") -> str:
        """ONE commit adding files outside ``cases/`` (e.g. pinned LPIPS weights under
        ``_metrics/``) on top of the pinned commit, then the lock, like :meth:`publish`."""
        if not files:
            return self.revision
        paths = {"/".join(store_relpath(rel, pinning=True)): data for rel, data in files.items()}
        body = f"files: {', '.join(sorted(paths))}\non top of: {self.revision}"
        return self._commit(paths, [], message or f"regress: pin {len(paths)} file(s)", body)

    def _commit(self, files: dict[str, bytes], deletes: list[str], title: str, body: str) -> str:
        publisher = self.publisher()
        fail_point("before-publish")
        result = publisher.commit(files, deletes, parent=self.revision, title=title, body=body)
        new = Lock(kind=self.lock.kind, revision=result.sha, repo=self.repo, repo_type=self.repo_type)
        try:
            fail_point("before-lock")
            write_lock(self.lock_path, new)
        except Exception as exc:
            raise StoreError(f"{publisher.target}: made commit {result.sha}, but {self.lock_path} still pins "
                             f"{self.revision} ({exc}); adopt the commit with `regress pin {result.sha}`") from None
        self.lock, self.revision, self._files, self.last_publish = new, result.sha, None, result
        return result.sha
