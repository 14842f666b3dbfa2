"""Publish to a git repository: ONE commit on top of the pinned sha, pushed.

For golden repos that live in git (a Hub repo through its git remote, or any git server that a
Hub-compatible mirror such as olah serves). The commit is built with plumbing in a scratch
repository that holds only the branch head's commit and trees (a depth-1, blob-less fetch where
the server allows filters) and an index: the existing goldens are never downloaded or checked
out, whatever their size. The head must be the pinned sha (a stale base fails), and the push is
a fast-forward, which the server refuses if the branch moved in between.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

from ..errors import StoreError
from .publish import PublishResult, fail_point, redact

GIT_TIMEOUT_S = 600.0  # one git command (a fetch or push of big goldens over a slow link included)

_FALLBACK_IDENT = {"GIT_AUTHOR_NAME": "regress", "GIT_AUTHOR_EMAIL": "regress@localhost",
                   "GIT_COMMITTER_NAME": "regress", "GIT_COMMITTER_EMAIL": "regress@localhost"}


class GitPublisher:
    def __init__(self, url: str, *, branch: str = "main") -> None:
        self.url, self.branch = url, branch
        self.target = f"git {redact(url)} ({branch})"

    def commit(self, files: dict[str, bytes], deletes: list[str], *, parent: str, title: str,
               body: str) -> PublishResult:
        with tempfile.TemporaryDirectory(prefix="regress-publish-") as tmp:
            work = Path(tmp)
            self._git(work, "init", "-q")
            self._git(work, "remote", "add", "origin", self.url)
            env = self._identity(work)
            base = "refs/regress/base"
            self._git(work, "fetch", "-q", "--depth=1", "--filter=blob:none", "origin",
                      f"refs/heads/{self.branch}:{base}", what=f"fetch '{self.branch}'")
            head = self._git(work, "rev-parse", base).strip()
            if head != parent:
                raise StoreError(f"{self.target}: '{self.branch}' is at {head[:12]}, not at the pinned commit "
                                 f"{parent[:12]} (someone published since); nothing was written: `regress pin`, "
                                 "then refresh again")
            self._git(work, "read-tree", head)
            entries = []
            for path, data in sorted(files.items()):
                blob = self._git(work, "hash-object", "-w", "--stdin", stdin=data).strip()
                entries.append(f"100644 {blob}\t{path}\n")
            self._git(work, "update-index", "--index-info", stdin="".join(entries).encode())
            if deletes:
                self._git(work, "update-index", "--force-remove", "--", *deletes)
            tree = self._git(work, "write-tree", "--missing-ok").strip()  # old blobs stay on the server
            sha = self._git(work, "commit-tree", tree, "-p", head, "-F", "-", stdin=f"{title}\n\n{body}".encode(),
                            env=env).strip()
            fail_point("before-push")
            self._git(work, "push", "-q", "origin", f"{sha}:refs/heads/{self.branch}", what="push")
        return PublishResult(sha=sha)

    def _identity(self, work: Path) -> dict[str, str] | None:
        """git needs a committer; CI runners often have none configured."""
        try:
            ok = subprocess.run(["git", "var", "GIT_COMMITTER_IDENT"], cwd=work, capture_output=True,
                                timeout=GIT_TIMEOUT_S).returncode == 0
        except subprocess.TimeoutExpired:
            raise self._timed_out("var") from None
        except OSError as exc:
            raise StoreError(f"{self.target}: cannot run git ({exc.strerror or type(exc).__name__}); nothing was "
                             "written") from None
        return None if ok else {**os.environ, **_FALLBACK_IDENT}

    def _timed_out(self, what: str) -> StoreError:
        """A git that does not answer (a server that accepts the connection and never replies,
        a credential helper waiting for input) must not hold the run forever."""
        return StoreError(redact(f"{self.target}: git {what} did not finish within {GIT_TIMEOUT_S:g} s; nothing "
                                 "was written (check the remote and the network, then refresh again)"))

    def _git(self, work: Path, *args: str, stdin: bytes | None = None, what: str | None = None,
             env: dict[str, str] | None = None) -> str:
        run_env = dict(env or os.environ)
        run_env["GIT_TERMINAL_PROMPT"] = "0"  # never wait for a password in CI
        try:
            out = subprocess.run(["git", *args], cwd=work, input=stdin, capture_output=True, env=run_env,
                                 timeout=GIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise self._timed_out(what or args[0]) from None
        except OSError as exc:  # no git on PATH
            raise StoreError(f"{self.target}: cannot run git ({exc.strerror or type(exc).__name__}); nothing was "
                             "written") from None
        if out.returncode != 0:
            err = out.stderr.decode(errors="replace").strip().splitlines()
            tail = next((ln for ln in reversed(err) if not ln.startswith("hint:")), "") if err else ""
            text = " ".join(err).lower()
            if args[0] == "push" and ("non-fast-forward" in text or "fetch first" in text):
                raise StoreError(redact(f"{self.target}: the push was refused ('{self.branch}' moved since the "
                                        f"pinned commit); nothing was written: `regress pin`, then refresh again"))
            raise StoreError(redact(f"{self.target}: git {what or args[0]} failed: {tail or out.returncode}; "
                                    "nothing was written"))
        return out.stdout.decode()
