"""Publishing new goldens: ONE commit on top of the pinned sha, then the lock; nothing changes
when any step fails. The Hub API through a stand-in (the Hub cannot be reached here); git end to
end against the repo that olah serves, read back through huggingface_hub."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import MappingProxyType

import httpx2
import numpy as np
import pytest
from suite_edit import edit_suite
from huggingface_hub import CommitInfo, CommitOperationAdd, CommitOperationDelete, HfApi
from huggingface_hub.errors import HfHubHTTPError

from regress.cli import main
from regress.errors import StoreError
from regress.lock import Lock, read_lock, write_lock
from regress.outputs import Output
from regress.stores.base import StagedGolden
from regress.stores.hf import HfStore, HubSettings
from regress.suite import StoreSpec

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PINNED = "a" * 40
NEW = "b" * 40
REPO_URL = "https://huggingface.co/datasets/org/goldens"


class StandInHfApi:
    """Records what a publish asks of HfApi; answers like the Hub, or fails like it."""

    def __init__(self, files: list[str], fail: BaseException | None = None) -> None:
        self.files, self.fail, self.commits = files, fail, []

    def list_repo_files(self, repo_id: str, *, repo_type: str | None = None, revision: str | None = None,
                        token: object = None) -> list[str]:
        assert revision == PINNED  # the listing a publish plans from is the pinned one
        return list(self.files)

    def create_commit(self, repo_id: str, operations: list, *, commit_message: str,
                      commit_description: str | None = None, repo_type: str | None = None,
                      revision: str | None = None, create_pr: bool | None = None,
                      parent_commit: str | None = None, **kw: object) -> CommitInfo:
        self.commits.append(dict(repo_id=repo_id, operations=list(operations), title=commit_message,
                                 body=commit_description, repo_type=repo_type, revision=revision,
                                 create_pr=create_pr, parent_commit=parent_commit))
        if self.fail is not None:
            raise self.fail
        return CommitInfo(commit_url=f"{REPO_URL}/commit/{NEW}", commit_message=commit_message,
                          commit_description=commit_description or "", oid=NEW,
                          pr_url=f"{REPO_URL}/discussions/7" if create_pr else None)


def http_error(status: int, message: str) -> HfHubHTTPError:
    req = httpx2.Request("POST", "https://huggingface.co/api/datasets/org/goldens/commit/main")
    return HfHubHTTPError(message, response=httpx2.Response(status, request=req))


def staged(case: str, platform: str, seed: int = 0) -> StagedGolden:
    img = np.random.default_rng(seed).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    meta = {"case": case, "precision": {"vae": "fp32", "transformer": "bf16"}, "source_commit": "c" * 40,
            "regress_version": "0.1.0",
            "platform": {"key": platform, "device_name": "x86_64", "versions": {"torch": "2.14.1", "diffusers": "0.42.1"}}}
    return StagedGolden(case, platform, Output(image=img), meta)


@pytest.fixture
def hub_store(tmp_path: Path):
    """A hf store pinned to PINNED whose HfApi is a stand-in; the factory takes its listing."""
    lock_path = tmp_path / "goldens.lock"
    write_lock(lock_path, Lock(kind="hf", repo="org/goldens", repo_type="dataset", revision=PINNED))
    settings = HubSettings(endpoint="http://127.0.0.1:9", cache_dir=tmp_path / "hf-cache", offline=False)

    def make(api: StandInHfApi, create_pr: bool = False) -> HfStore:
        return HfStore(StoreSpec(kind="hf", repo="org/goldens"), lock=read_lock(lock_path), lock_path=lock_path,
                       api=api, settings=settings, create_pr=create_pr)

    make.lock_path = lock_path  # type: ignore[attr-defined]
    return make


def test_hub_publish_is_one_commit_on_the_pinned_parent_then_the_lock(hub_store) -> None:
    existing = ["cases/qwen/cpu-avx2/meta.json", "cases/qwen/cpu-avx2/output.npz",  # the old golden was a video
                "cases/wan/cpu-avx2/meta.json", "cases/wan/cpu-avx2/output.npz", ".gitattributes"]
    api = StandInHfApi(existing)
    store = hub_store(api)
    goldens = [staged("qwen", "cpu-avx2"), staged("flux", "cpu-avx2", 1)]
    assert store.publish(goldens, message="regress: goldens for flux, qwen on cpu-avx2") == NEW

    (call,) = api.commits
    assert call["parent_commit"] == PINNED and call["revision"] == "main" and call["repo_type"] == "dataset"
    assert call["create_pr"] is False and call["repo_id"] == "org/goldens"
    adds = {op.path_in_repo: op for op in call["operations"] if isinstance(op, CommitOperationAdd)}
    deletes = [op.path_in_repo for op in call["operations"] if isinstance(op, CommitOperationDelete)]
    assert sorted(adds) == ["cases/flux/cpu-avx2/meta.json", "cases/flux/cpu-avx2/output.png",
                            "cases/qwen/cpu-avx2/meta.json", "cases/qwen/cpu-avx2/output.png"]
    assert deletes == ["cases/qwen/cpu-avx2/output.npz"]  # wan's golden is not touched
    png = adds["cases/qwen/cpu-avx2/output.png"].path_or_fileobj
    assert png == goldens[0].output.encode()["output.png"]
    assert call["title"] == "regress: goldens for flux, qwen on cpu-avx2"
    body = call["body"]
    for line in ("cases: flux, qwen", "platform: cpu-avx2", "versions: diffusers 0.42.1, torch 2.14.1",
                 f"source commit: {'c' * 40}", "precision qwen [cpu-avx2]: transformer=bf16, vae=fp32",
                 f"parent: {PINNED}"):
        assert line in body
    assert read_lock(hub_store.lock_path).revision == NEW and store.revision == NEW
    assert store.last_publish.url == f"{REPO_URL}/commit/{NEW}"


def test_hub_publish_as_a_pull_request(hub_store) -> None:
    api = StandInHfApi([])
    store = hub_store(api, create_pr=True)
    store.publish([staged("qwen", "cpu-avx2")])
    assert api.commits[0]["create_pr"] is True and api.commits[0]["parent_commit"] == PINNED
    assert store.last_publish.pull_request and store.last_publish.url.endswith("/discussions/7")
    assert read_lock(hub_store.lock_path).revision == NEW  # the PR's commit: downloadable by sha


@pytest.mark.parametrize("failure, says", [
    (http_error(412, "A commit has happened since. Please refresh and try again."),
     "'main' has moved past the pinned commit aaaaaaaaaaaa (someone published since); nothing was written"),
    (http_error(403, "Forbidden"), "not allowed to commit; no Hugging Face token is set"),
    (RuntimeError("upload exploded"), "the commit failed (RuntimeError: upload exploded); nothing was written"),
])
def test_a_failed_hub_commit_leaves_the_lock_untouched(hub_store, failure, says) -> None:
    before = hub_store.lock_path.read_bytes()
    api = StandInHfApi([], fail=failure)
    store = hub_store(api)
    with pytest.raises(StoreError) as ei:
        store.publish([staged("qwen", "cpu-avx2")])
    assert says in str(ei.value) and "\n" not in str(ei.value)
    assert len(api.commits) == 1 and hub_store.lock_path.read_bytes() == before and store.revision == PINNED


def test_the_token_never_appears_in_publish_errors(hub_store, monkeypatch) -> None:
    secret = "hf_" + "TopSecretWriteToken" * 2
    monkeypatch.setenv("HF_TOKEN", secret)
    store = hub_store(StandInHfApi([], fail=RuntimeError(f"401 for Authorization: Bearer {secret}")))
    with pytest.raises(StoreError) as ei:
        store.publish([staged("qwen", "cpu-avx2")])
    assert secret not in str(ei.value) and "Bearer ***" in str(ei.value)


def test_fail_points_around_the_hub_commit(hub_store, monkeypatch) -> None:
    before = hub_store.lock_path.read_bytes()
    monkeypatch.setenv("REGRESS_FAIL_AT", "before-publish")
    api = StandInHfApi([])
    with pytest.raises(StoreError, match="injected failure at 'before-publish'"):
        hub_store(api).publish([staged("qwen", "cpu-avx2")])
    assert api.commits == [] and hub_store.lock_path.read_bytes() == before
    # the commit was made but the lock could not be written: nothing pins it, and the error says how to adopt it
    monkeypatch.setenv("REGRESS_FAIL_AT", "before-lock")
    with pytest.raises(StoreError) as ei:
        hub_store(api).publish([staged("qwen", "cpu-avx2")])
    assert f"made commit {NEW}" in str(ei.value) and f"regress pin {NEW}" in str(ei.value)
    assert len(api.commits) == 1 and hub_store.lock_path.read_bytes() == before


# --------------------------------------------------------------------------- git, end to end


def qwen_with_fp32_vae(monkeypatch: pytest.MonkeyPatch) -> None:
    """The change under review: the qwen-image family's default VAE precision moves to fp32."""
    import regress.runners
    from regress.runners.qwen_image import QwenImage

    class QwenImageFp32Vae(QwenImage):
        default_precision = MappingProxyType({**QwenImage.default_precision, "vae": "fp32"})

    monkeypatch.setattr(regress.runners, "_registered", {"qwen-image": QwenImageFp32Vae()})
    monkeypatch.setattr(regress.runners, "_loaded", {})


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def test_refresh_publishes_one_git_commit_and_moves_the_lock(hub_project, pytester, monkeypatch) -> None:
    hp = hub_project
    s = str(hp.suite)

    def golden_run(*extra: str) -> pytest.RunResult:
        return pytester.runpytest_inprocess(s, f"--golden-suite={s}", "-m", "golden", "-p", "no:cacheprovider", *extra)

    golden_run().assert_outcomes(passed=2)
    qwen_with_fp32_vae(monkeypatch)
    r = golden_run()
    r.assert_outcomes(passed=1, failed=1)
    assert "qwen[" in r.stdout.str() and "precision changed: vae bf16 -> fp32" in r.stdout.str()

    assert main(["refresh", "--suite", s, "--only", "failed", "--publish", "git"]) == 0
    new = read_lock(hp.lock).revision
    assert new != hp.first and new == git(hp.repo_dir, "rev-parse", "HEAD")
    assert git(hp.repo_dir, "rev-parse", "HEAD~1") == hp.first  # ONE commit on top of the pinned one
    changed = git(hp.repo_dir, "diff", "--name-only", hp.first, new).splitlines()
    assert changed and all(p.startswith("cases/qwen/") for p in changed)  # wan passed: not rewritten
    message = git(hp.repo_dir, "log", "-1", "--format=%B")
    assert "cases: qwen" in message and "vae=fp32" in message and f"parent: {hp.first}" in message

    # read back through huggingface_hub from the server
    api = HfApi(endpoint=hp.hub.endpoint)
    assert api.dataset_info("org/goldens", revision="main").sha == new
    files = api.list_repo_files("org/goldens", repo_type="dataset", revision=new)
    assert any(f.startswith("cases/qwen/") and f.endswith("meta.json") for f in files)

    golden_run().assert_outcomes(passed=2)  # against olah serving the new commit


def test_pytest_golden_update_publishes_to_a_git_store(hub_project, pytester) -> None:
    hp = hub_project
    edit_suite(hp.suite, lambda d: d["store"].update(kind="git"))
    write_lock(hp.lock, Lock(kind="git", repo="org/goldens", repo_type="dataset", revision=hp.first))
    s = str(hp.suite)
    r = pytester.runpytest_inprocess(s, f"--golden-suite={s}", "-m", "golden", "-p", "no:cacheprovider", "-k", "qwen",
                                     "--golden-platform=cpu-sve", "--golden-update=missing")
    r.assert_outcomes(passed=1)
    new = read_lock(hp.lock).revision
    assert read_lock(hp.lock).kind == "git" and new == git(hp.repo_dir, "rev-parse", "HEAD") != hp.first
    assert f"now pins {new}" in r.stdout.str()
    assert sorted(git(hp.repo_dir, "diff", "--name-only", hp.first, new).splitlines()) == [
        "cases/qwen/cpu-sve/meta.json", "cases/qwen/cpu-sve/output.png", "cases/qwen/cpu-sve/stages.safetensors"]
    r = pytester.runpytest_inprocess(s, f"--golden-suite={s}", "-m", "golden", "-p", "no:cacheprovider", "-k", "qwen",
                                     "--golden-platform=cpu-sve", "--golden-strict")
    r.assert_outcomes(passed=1)


def test_a_stale_base_fails_instead_of_overwriting(hub_project, capsys) -> None:
    hp = hub_project
    theirs = hp.hub.commit("org/goldens", {"cases/other/cpu-avx2/meta.json": b"{}"}, "someone else's refresh")
    before = hp.lock.read_bytes()
    assert main(["refresh", "--suite", str(hp.suite), "-k", "qwen", "--precision", "vae=fp32",
                 "--publish", "git"]) == 1
    err = capsys.readouterr().err
    assert f"'main' is at {theirs[:12]}, not at the pinned commit {hp.first[:12]}" in err
    assert "store and lock unchanged" in err
    assert hp.lock.read_bytes() == before and git(hp.repo_dir, "rev-parse", "HEAD") == theirs


def test_killing_the_refresh_before_the_push_leaves_everything(hub_project, tmp_path: Path) -> None:
    """A real SIGKILL at the last step before anything leaves this machine."""
    hp = hub_project
    before = hp.lock.read_bytes()
    env = {**os.environ, "REGRESS_FAIL_AT": "before-push:kill", "TMPDIR": str(tmp_path),
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent),
                                          os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-m", "regress.cli", "refresh", "--suite", str(hp.suite), "-k", "qwen",
                        "--precision", "vae=fp32", "--publish", "git"], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == -9, r.stderr[-2000:]
    assert hp.lock.read_bytes() == before
    assert git(hp.repo_dir, "rev-parse", "HEAD") == hp.first and git(hp.repo_dir, "status", "--porcelain") == ""
