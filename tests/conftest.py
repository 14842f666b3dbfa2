"""Shared fixtures: a throw-away project with a small suite and goldens made by regress itself."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).parent))  # tests/hubserver.py

SUITE = """
[suite]
fingerprint = "fail"

[store]
kind = "file"
path = "store"

[defaults]
ssim = 0.9999
psnr = 60.0
max_abs = 2
mean_abs = 0.05

[fallback]
ssim = 0.98
psnr = 30.0
max_abs = 64

[[case]]
id = "qwen"
pipeline = "qwen-image"
prompt = "dance monkey"
negative_prompt = "bad quality"
height = 32
width = 32
steps = 2
guidance = 3.0
max_sequence_length = 32

[[case]]
id = "wan"
pipeline = "wan"
prompt = "dance monkey"
negative_prompt = "negative"
height = 16
width = 16
frames = 9
fps = 16
steps = 2
guidance = 6.0
max_sequence_length = 16
"""


@pytest.fixture(scope="session")
def golden_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory with goldens/suite.toml and goldens for this platform, made once per run
    through the same API the plugin uses (GoldenSession with update=missing)."""
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    root = tmp_path_factory.mktemp("golden-project")
    (root / "goldens").mkdir()
    (root / "goldens" / "suite.toml").write_text(textwrap.dedent(SUITE))
    suite = load_suite(root / "goldens" / "suite.toml")
    session = GoldenSession(suite, Options(update="missing", device="cpu"))
    for case in suite.cases:
        assert session.check(case).verdict.status == "written"
    session.publish()
    return root


@pytest.fixture
def project(golden_project: Path, tmp_path: Path) -> Path:
    """A private copy of the golden project that a test may change."""
    dst = tmp_path / "project"
    shutil.copytree(golden_project, dst)
    return dst


@pytest.fixture
def olah_hub(tmp_path: Path):
    """A fresh olah server on 127.0.0.1 with no repos; the test creates and commits them."""
    from hubserver import OlahHub

    hub = OlahHub(tmp_path / "hub").start()
    yield hub
    hub.stop()


@pytest.fixture
def hub_project(project: Path, olah_hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The golden project with its goldens moved into a dataset repo that olah serves (a git repo
    on disk, also the suite's git remote): ``[store] kind = "hf"``, the lock pinned to the commit,
    and the HF environment pointing at the server with a cache of its own."""
    from types import SimpleNamespace

    from hubserver import git

    from regress.lock import Lock, write_lock

    repo_dir = olah_hub.create_repo("org/goldens")
    git(repo_dir, "config", "receive.denyCurrentBranch", "updateInstead")  # accept pushes to its main
    git(repo_dir, "config", "uploadpack.allowFilter", "true")  # as Hub-like servers do: blob-less fetches
    first = olah_hub.commit("org/goldens", project / "goldens" / "store", "goldens from the tiny suite")
    shutil.rmtree(project / "goldens" / "store")
    suite = project / "goldens" / "suite.toml"
    suite.write_text(suite.read_text().replace(
        'kind = "file"\npath = "store"', f'kind = "hf"\nrepo = "org/goldens"\nurl = "{repo_dir}"'))
    lock = project / "goldens" / "goldens.lock"
    write_lock(lock, Lock(kind="hf", repo="org/goldens", repo_type="dataset", revision=first))
    cache = tmp_path / "hf-cache"
    for k, v in olah_hub.env(cache).items():
        monkeypatch.setenv(k, v)
    for k in ("HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "CI"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("REGRESS_HUB_BACKOFF", "0.05")
    return SimpleNamespace(root=project, hub=olah_hub, repo_dir=repo_dir, first=first, cache=cache, suite=suite,
                           lock=lock)
