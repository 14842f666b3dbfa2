"""Publish to the Hub: ONE ``HfApi.create_commit`` on top of the pinned commit.

``parent_commit`` is the sha the lock pins, so a branch that moved since (someone else
refreshed) fails the commit instead of silently overwriting their goldens. With ``create_pr``
the commit lands on a Hub pull request (``refs/pr/N``) for review; its sha is downloadable like
any other, so the lock can pin it right away.
"""

from __future__ import annotations

from typing import Any

from ..errors import StoreError
from ..lock import SHA40_RE
from .publish import PublishResult, redact


class HubPublisher:
    def __init__(self, api: Any, repo: str, *, repo_type: str = "dataset", branch: str = "main",
                 create_pr: bool = False, endpoint: str | None = None) -> None:
        self.api = api  # an HfApi, or a stand-in with the same create_commit
        self.repo, self.repo_type, self.branch, self.create_pr = repo, repo_type, branch, create_pr
        self.endpoint = endpoint
        self.target = f"the Hub ({repo_type} repo '{repo}', {'a pull request on ' if create_pr else ''}{branch})"

    def commit(self, files: dict[str, bytes], deletes: list[str], *, parent: str, title: str,
               body: str) -> PublishResult:
        from huggingface_hub import CommitOperationAdd, CommitOperationDelete

        operations: list[Any] = [CommitOperationAdd(path_in_repo=p, path_or_fileobj=data)
                                 for p, data in sorted(files.items())]
        operations += [CommitOperationDelete(path_in_repo=p) for p in deletes]
        try:
            info = self.api.create_commit(self.repo, operations, commit_message=title, commit_description=body,
                                          repo_type=self.repo_type, revision=self.branch, parent_commit=parent,
                                          create_pr=self.create_pr)
        except Exception as exc:
            raise self._error(exc, parent) from None
        sha = getattr(info, "oid", None)
        if not isinstance(sha, str) or not SHA40_RE.match(sha):
            raise StoreError(f"{self.target}: the commit call returned no commit sha ({sha!r}); the lock is "
                             "unchanged")
        pr_url = getattr(info, "pr_url", None)
        return PublishResult(sha=sha, url=pr_url or getattr(info, "commit_url", None), pull_request=bool(pr_url))

    def _error(self, exc: BaseException, parent: str) -> StoreError:
        from huggingface_hub import get_token

        from .hub_errors import is_network_error, status_of, token_hint

        status = status_of(exc)
        head = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if status in (409, 412) or "parent" in head.lower():
            msg = (f"{self.target}: '{self.branch}' has moved past the pinned commit {parent[:12]} (someone "
                   "published since); nothing was written: `regress pin`, then refresh again")
        elif status in (401, 403):
            msg = f"{self.target}: not allowed to commit; {token_hint('write')}"
        elif is_network_error(exc):
            msg = f"{self.target}: cannot reach the Hub at {self.endpoint or 'HF_ENDPOINT'}; nothing was written"
        else:
            msg = f"{self.target}: the commit failed ({type(exc).__name__}: {head}); nothing was written"
        return StoreError(redact(msg, get_token()))
