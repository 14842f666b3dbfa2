"""A local Hugging Face Hub for tests: ``olah`` serving git repos that the test creates.

The real ``huggingface_hub`` client talks to it over HTTP on 127.0.0.1 (``HF_ENDPOINT``), so
pinned-sha downloads, ``allow_patterns`` and the HF cache are exercised for real. olah has no
write API: tests write by committing to the git repo it serves.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

_CONFIG = """
[basic]
host = "127.0.0.1"
port = {port}
ssl-key = ""
ssl-cert = ""
repos-path = "{cache}"
cache-size-limit = ""
cache-clean-strategy = "LRU"
hf-scheme = "http"
hf-netloc = "127.0.0.1:9"
hf-lfs-netloc = "127.0.0.1:9"
mirror-scheme = "http"
mirror-netloc = "127.0.0.1:{port}"
mirror-lfs-netloc = "127.0.0.1:{port}"
mirrors-path = ["{mirrors}"]

[accessibility]
offline = true

[[accessibility.proxy]]
repo = "*"
allow = true
use_re = false

[[accessibility.proxy]]
repo = "*/*"
allow = true
use_re = false

[[accessibility.cache]]
repo = "*"
allow = true
use_re = false

[[accessibility.cache]]
repo = "*/*"
allow = true
use_re = false
"""

GIT_ENV = {"GIT_AUTHOR_NAME": "regress-tests", "GIT_AUTHOR_EMAIL": "tests@regress.invalid",
           "GIT_COMMITTER_NAME": "regress-tests", "GIT_COMMITTER_EMAIL": "tests@regress.invalid"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def git(repo: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True,
                         env={**os.environ, **GIT_ENV})
    if out.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {out.stderr.strip()}")
    return out.stdout.strip()


class OlahHub:
    """An olah server over ``root/mirrors/{datasets,models}/<org>/<name>`` git repos."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.mirrors = root / "mirrors"
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.log = root / "olah.log"

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def repo_dir(self, repo_id: str, repo_type: str = "dataset") -> Path:
        return self.mirrors / f"{repo_type}s" / repo_id

    def create_repo(self, repo_id: str, repo_type: str = "dataset") -> Path:
        d = self.repo_dir(repo_id, repo_type)
        d.mkdir(parents=True)
        git(d, "init", "-q", "-b", "main")
        return d

    def commit(self, repo_id: str, files: dict[str, bytes] | Path, message: str = "update",
               repo_type: str = "dataset") -> str:
        """Write files (a mapping of path -> bytes, or a directory copied in) and commit; the sha."""
        d = self.repo_dir(repo_id, repo_type)
        if isinstance(files, Path):
            shutil.copytree(files, d, dirs_exist_ok=True)
        else:
            for rel, data in files.items():
                (d / rel).parent.mkdir(parents=True, exist_ok=True)
                (d / rel).write_bytes(data)
        git(d, "add", "-A")
        git(d, "commit", "-q", "--allow-empty", "-m", message)
        return git(d, "rev-parse", "HEAD")

    def start(self, timeout: float = 60.0) -> OlahHub:
        cache = self.root / "olah-cache"
        cache.mkdir(parents=True, exist_ok=True)
        self.mirrors.mkdir(parents=True, exist_ok=True)
        cfg = self.root / "olah.toml"
        cfg.write_text(_CONFIG.format(port=self.port, cache=cache, mirrors=self.mirrors))
        exe = shutil.which("olah-cli") or str(Path(sys.executable).parent / "olah-cli")
        self.proc = subprocess.Popen([exe, "-c", str(cfg), "--port", str(self.port)], stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"olah exited: {self.log.read_text()[-2000:]}")
            try:
                # GET / answers 500 on olah; any HTTP answer means it is up.
                urllib.request.urlopen(f"{self.endpoint}/api/datasets/none/none/refs", timeout=1)
                return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"olah did not start within {timeout}s: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None

    def env(self, cache: Path) -> dict[str, str]:
        """Environment for a client of this hub with its own HF cache."""
        return {"HF_ENDPOINT": self.endpoint, "HF_HUB_CACHE": str(cache), "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_DISABLE_PROGRESS_BARS": "1"}
