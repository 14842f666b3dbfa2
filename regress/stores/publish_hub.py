"""Publish to the Hub: ONE ``HfApi.create_commit`` on top of the pinned commit.

``parent_commit`` is the sha the lock pins, so a branch that moved since (someone else
refreshed) fails the commit instead of silently overwriting their goldens. With ``create_pr``
the commit lands on a Hub pull request (``refs/pr/N``, opened from the pinned commit) for
review; its sha is downloadable like any other, so the lock can pin it right away.

A lock that pins a pull request's head is not on the branch, so the next publish cannot be a
commit on the branch on top of it (the Hub refuses it as a stale parent). When the Hub says so,
the pull request whose head the lock pins is looked up: while it is open, the publish becomes
one more commit on that pull request (still on top of the pinned commit); once it is merged
or closed, the error says to pin the branch. Only a branch that really moved is reported as
moved.
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
            if not _is_conflict(exc):
                raise self._error(exc, parent) from None
            pr = self._open_pull_request_at(parent)  # the lock pins a pull request's head?
            if pr is None:
                raise self._error(exc, parent) from None
            try:
                info = self.api.create_commit(self.repo, operations, commit_message=title, commit_description=body,
                                              repo_type=self.repo_type, revision=f"refs/pr/{pr}",
                                              parent_commit=parent, create_pr=False)
            except Exception as again:
                raise self._error(again, parent, revision=f"refs/pr/{pr}") from None
            sha = self._sha(info)
            kind = "" if self.repo_type == "model" else f"{self.repo_type}s/"
            url = f"{(self.endpoint or 'https://huggingface.co').rstrip('/')}/{kind}{self.repo}/discussions/{pr}"
            return PublishResult(sha=sha, url=url, pull_request=True)
        sha = self._sha(info)
        pr_url = getattr(info, "pr_url", None)
        return PublishResult(sha=sha, url=pr_url or getattr(info, "commit_url", None), pull_request=bool(pr_url))

    def _sha(self, info: Any) -> str:
        sha = getattr(info, "oid", None)
        if not isinstance(sha, str) or not SHA40_RE.match(sha):
            raise StoreError(f"{self.target}: the commit call returned no commit sha ({sha!r}); the lock is "
                             "unchanged")
        return sha

    def _open_pull_request_at(self, parent: str) -> int | None:
        """The number of the Hub pull request whose head is ``parent`` (what a lock pins after
        ``--create-pr``), or None. A merged or closed one is an error that says what to pin."""
        try:
            refs = self.api.list_repo_refs(self.repo, repo_type=self.repo_type, include_pull_requests=True)
        except Exception:  # cannot tell: the Hub's own answer (the branch moved) stands
            return None
        for ref in getattr(refs, "pull_requests", None) or []:
            number = ref.ref.rpartition("/")[2]
            if ref.target_commit != parent or not ref.ref.startswith("refs/pr/") or not number.isdigit():
                continue
            try:
                status = self.api.get_discussion_details(self.repo, int(number), repo_type=self.repo_type).status
            except Exception:
                status = "open"  # unknown: try the commit; the Hub refuses one to a closed pull request
            if status != "open":
                raise StoreError(f"{self.target}: the lock pins the head of pull request #{number}, which is "
                                 f"{status}; nothing was written: `regress pin {self.branch}`, then refresh again")
            return int(number)
        return None

    def _error(self, exc: BaseException, parent: str, *, revision: str | None = None) -> StoreError:
        from huggingface_hub import get_token

        from .hub_errors import is_network_error, status_of, token_hint

        status = status_of(exc)
        head = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if status in (409, 412):
            msg = (f"{self.target}: '{revision or self.branch}' has moved past the pinned commit {parent[:12]} "
                   "(someone published since); nothing was written: `regress pin`, then refresh again")
        elif status in (401, 403):
            msg = f"{self.target}: not allowed to commit; {token_hint('write')}"
        elif is_network_error(exc):
            msg = f"{self.target}: cannot reach the Hub at {self.endpoint or 'HF_ENDPOINT'}; nothing was written"
        else:
            msg = f"{self.target}: the commit failed ({type(exc).__name__}: {head}); nothing was written"
        return StoreError(redact(msg, get_token()))


def _is_conflict(exc: BaseException) -> bool:
    """The Hub refused the commit's parent (HTTP 409 / 412): the revision's head is not it."""
    from .hub_errors import status_of

    return status_of(exc) in (409, 412)
