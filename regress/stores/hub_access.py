"""The Hub store's line to the Hub: where it is (settings from the environment), the API
client, a bounded reachability check, and one actionable line for every failed read.

Kept apart from the reader (:mod:`.hf`) so that the reader holds the data path (listing,
download, verify) and this module holds what can go wrong on the way; the classification of
an exception (HTTP status, network failure) is :mod:`.hub_errors`', shared with the publisher.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import env
from ..errors import StoreError
from .hub_errors import chain, is_network_error, reach, status_of, token_hint
from .publish import redact


@dataclass(frozen=True)
class HubSettings:
    """Where the Hub is and how hard to try, read from the environment when a store opens."""

    endpoint: str
    cache_dir: Path
    offline: bool
    retries: int = 3
    backoff: float = 1.0

    @classmethod
    def from_env(cls) -> HubSettings:
        hub = env.hub_environment()
        try:
            retries, backoff = env.number(env.REGRESS_HUB_RETRIES, 3), env.number(env.REGRESS_HUB_BACKOFF, 1.0)
        except ValueError as exc:
            raise StoreError(str(exc)) from None
        return cls(endpoint=hub.endpoint, cache_dir=hub.cache_dir, offline=hub.offline,
                   retries=max(1, int(retries)), backoff=max(0.0, backoff))


def silent_tqdm() -> type:
    """huggingface_hub draws a progress bar per download; inside a test run it is noise
    (``regress fetch`` draws its own)."""
    from tqdm.auto import tqdm

    class Silent(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


class HubAccess:
    """One repo on one Hub endpoint, as the reader talks to it. The reachability probe guards
    the real endpoint; a stand-in API (tests) talks to itself and is never probed."""

    def __init__(self, *, repo: str, repo_type: str, settings: HubSettings, lock_path: Path,
                 api: Any = None) -> None:
        self.repo, self.repo_type, self.settings, self.lock_path = repo, repo_type, settings, lock_path
        self._api = api
        self._reachable = api is not None
        self._unreachable: str | None = None

    @property
    def api(self) -> Any:
        if self._api is None:
            from huggingface_hub import HfApi

            self._api = HfApi(endpoint=self.settings.endpoint)
        return self._api

    def where(self, revision: str) -> str:
        return f"{self.repo_type} repo '{self.repo}'@{revision[:12]}"

    def ensure_reachable(self) -> None:
        """Bounded retries with backoff before the first network call of this store, so that a
        server that is down costs seconds and one clear line, not huggingface_hub's per-request
        retries on every file. The retries are huggingface_hub's own (``http_backoff``: the
        transport errors and statuses it retries on); any HTTP answer means reachable."""
        if self._reachable:
            return
        if self._unreachable is None:
            tries, wait = self.settings.retries, self.settings.backoff
            why = reach(self.settings.endpoint, tries=tries, backoff=wait)
            if why is None:
                self._reachable = True
                return
            self._unreachable = self._unreachable_line(f"after {tries} tries ({why})")
        raise StoreError(self._unreachable)

    def _unreachable_line(self, detail: str) -> str:
        return (f"cannot reach the Hub at {self.settings.endpoint} {detail}: check the network or HF_ENDPOINT, "
                "or set HF_HUB_OFFLINE=1 to run from the HF cache (`regress fetch` fills it)")

    def _repo_exists(self) -> bool | None:
        try:
            self.api.list_repo_refs(self.repo, repo_type=self.repo_type)
            return True
        except Exception as exc:
            if is_network_error(exc):
                return None
            return False if status_of(exc) in (401, 403, 404) else None

    def error(self, exc: BaseException, *, revision: str, path: str | None = None) -> StoreError:
        """One actionable line for a failed Hub call at ``revision`` (never the token); ``path``
        is the file or folder asked for, None for the listing itself."""
        from huggingface_hub import get_token
        from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, RepositoryNotFoundError,
                                            RevisionNotFoundError)

        rev, found = revision, list(chain(exc))
        repo = f"{self.repo_type} repo '{self.repo}'"

        def has(t: type) -> bool:
            return any(isinstance(e, t) for e in found)

        def err(msg: str, **kw: Any) -> StoreError:
            return StoreError(redact(msg, get_token()), **kw)

        unknown_rev = err(f"commit {rev} is not in {repo} (force-pushed away, or never pushed?): pin one "
                          "that exists with `regress pin`", file=self.lock_path, field="revision")
        if has(RevisionNotFoundError):
            return unknown_rev
        if has(GatedRepoError):
            return err(f"{repo} is gated: accept its terms on the Hub; {token_hint()}")
        if has(RepositoryNotFoundError) or any(status_of(e) in (401, 403) for e in found):
            return err(f"{repo} not found at {self.settings.endpoint}, or private: check [store] repo; "
                       f"{token_hint()}", file=self.lock_path, field="repo")
        if has(EntryNotFoundError) and not is_network_error(exc):
            if path is None:  # the listing itself: olah answers 404 for an unknown repo and revision alike
                exists = self._repo_exists()
                if exists:
                    return unknown_rev
                if exists is False:
                    return err(f"{repo} not found at {self.settings.endpoint} (check [store] repo in the suite; "
                               f"if it is private, {token_hint()})", file=self.lock_path, field="repo")
            else:
                return err(f"{self.where(rev)}: {path} is not in the repo at this commit (refresh the golden)")
        if is_network_error(exc):
            self._reachable = False
            self._unreachable = self._unreachable_line("(the connection failed)")
            return err(self._unreachable)
        status = next((s for e in found if (s := status_of(e))), None)
        head = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if status and status >= 500:
            return err(f"the Hub at {self.settings.endpoint} answered HTTP {status} for {repo} at {rev[:12]}; "
                       "retry later")
        return err(f"reading {repo} at {rev[:12]} failed: {type(exc).__name__}: {head}")
