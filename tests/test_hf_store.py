"""The hf store against a local Hub: olah serving a git repo the test creates, read by the real
huggingface_hub client over 127.0.0.1. Pins, selective downloads, the offline cache, integrity,
and the errors users meet."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from suite_edit import edit_suite

from regress.cli import main
from regress.errors import StoreError
from regress.lock import Lock, read_lock, write_lock
from regress.outputs import Output
from regress.stores import open_store
from regress.stores.base import StagedGolden
from regress.suite import load_suite

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def store_of(hp, **kw):
    return open_store(load_suite(hp.suite), **kw)


def pin(hp, revision: str) -> None:
    write_lock(hp.lock, Lock(kind="hf", repo="org/goldens", repo_type="dataset", revision=revision))


def second_commit(hp) -> tuple[str, str, bytes]:
    """Commit a qwen golden with one pixel moved; (sha, platform, the new output.png bytes)."""
    (platform,) = [p.name for p in (hp.repo_dir / "cases" / "qwen").iterdir()]
    d = hp.repo_dir / "cases" / "qwen" / platform
    img = Output.load(d).image.copy()
    img[3, 4, 0] ^= 0xFF
    meta = {k: v for k, v in __import__("json").loads((d / "meta.json").read_text()).items() if k != "files"}
    files = {f"cases/qwen/{platform}/{n}": b for n, b in StagedGolden("qwen", platform, Output(image=img),
                                                                       meta).files().items()}
    for stale in d.iterdir():  # what regress's publisher deletes: files the new golden does not have
        if f"cases/qwen/{platform}/{stale.name}" not in files:
            stale.unlink()
    sha = hp.hub.commit("org/goldens", files, "qwen: one pixel moved")
    return sha, platform, files[f"cases/qwen/{platform}/output.png"]


def snapshot_files(hp, sha: str) -> list[str]:
    snap = hp.cache / "datasets--org--goldens" / "snapshots" / sha
    return sorted(p.relative_to(snap).as_posix() for p in snap.rglob("*") if p.is_file())


def test_the_lock_decides_which_commits_bytes_are_served(hub_project) -> None:
    hp = hub_project
    (platform,) = store_of(hp).platforms("qwen")
    first_png = (hp.repo_dir / "cases" / "qwen" / platform / "output.png").read_bytes()
    second, _, second_png = second_commit(hp)
    assert first_png != second_png

    golden = store_of(hp).get("qwen", platform)
    assert golden.revision == hp.first and (golden.directory / "output.png").read_bytes() == first_png
    first_img = golden.output().image
    pin(hp, second)
    golden = store_of(hp).get("qwen", platform)
    assert golden.revision == second and (golden.directory / "output.png").read_bytes() == second_png
    moved = np.argwhere(golden.output().image != first_img)
    assert moved.tolist() == [[3, 4, 0]]
    pin(hp, hp.first)
    assert (store_of(hp).get("qwen", platform).directory / "output.png").read_bytes() == first_png


def test_fetching_one_case_downloads_only_its_files(hub_project, capsys) -> None:
    hp = hub_project
    assert main(["fetch", "--suite", str(hp.suite), "-k", "qwen", "--platform", "cpu-avx2"]) == 0
    err = capsys.readouterr().err
    assert "fetched 1 golden(s) for cpu-avx2" in err and "HF_HUB_OFFLINE=1 pytest -m golden" in err
    files = snapshot_files(hp, hp.first)
    (platform,) = {f.split("/")[2] for f in files}
    assert files == [f"cases/qwen/{platform}/meta.json", f"cases/qwen/{platform}/output.png",
                     f"cases/qwen/{platform}/stages.safetensors"]
    cached = (hp.cache / "datasets--org--goldens" / "snapshots" / hp.first / files[1]).read_bytes()
    assert cached == (hp.repo_dir / files[1]).read_bytes()
    # and the server saw downloads of those files only
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "output.png" not in hp.hub.log.read_text():
        time.sleep(0.1)
    gets = [ln for ln in hp.hub.log.read_text().splitlines() if '"GET /datasets/org/goldens/resolve/' in ln]
    assert gets and all("/cases/qwen/" in ln for ln in gets)

    assert main(["fetch", "--suite", str(hp.suite), "--all-platforms"]) == 0
    assert {f.split("/")[1] for f in snapshot_files(hp, hp.first)} == {"qwen", "wan"}
    capsys.readouterr()
    assert main(["fetch", "--suite", str(hp.suite), "--platform", "rocm-gfx942"]) == 0  # never across backends
    err = capsys.readouterr().err
    assert "fetched 0 golden(s)" in err and "no golden for qwen on rocm-gfx942" in err


def test_offline_run_from_the_cache_after_the_server_stops(hub_project, pytester, monkeypatch) -> None:
    hp = hub_project
    s = str(hp.suite)

    def run() -> pytest.RunResult:
        return pytester.runpytest_inprocess(s, f"--golden-suite={s}", "-m", "golden", "-p", "no:cacheprovider")

    run().assert_outcomes(passed=2)  # online: fills the cache with what the run needs
    hp.hub.stop()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    r = run()
    r.assert_outcomes(passed=2)
    # a golden that is not cached cannot pass offline: it is an error that says what to run
    pin(hp, hp.first)
    monkeypatch.setenv("HF_HUB_CACHE", str(hp.cache.parent / "cold-cache"))
    r = run()
    r.assert_outcomes(failed=2)
    assert "HF_HUB_OFFLINE is set: run `regress fetch` once while online" in r.stdout.str()


def test_warm_cache_needs_no_server_even_without_offline_mode(hub_project) -> None:
    hp = hub_project
    (platform,) = store_of(hp).platforms("wan")
    store_of(hp).get("wan", platform)
    hp.hub.stop()
    t0 = time.monotonic()
    golden = store_of(hp).get("wan", platform)  # pinned sha + cached listing: no request at all
    assert golden.output().video.shape[0] == 9 and time.monotonic() - t0 < 2


def _blob(hp, sha: str, path: str) -> Path:
    return (hp.cache / "datasets--org--goldens" / "snapshots" / sha / path).resolve()


def test_corrupted_cached_file_is_fetched_again_or_named(hub_project, monkeypatch) -> None:
    hp = hub_project
    (platform,) = store_of(hp).platforms("qwen")
    png = f"cases/qwen/{platform}/output.png"
    good = store_of(hp).get("qwen", platform)
    blob = _blob(hp, hp.first, png)
    intact = blob.read_bytes()
    blob.write_bytes(intact[:-8] + b"\0" * 8)
    # online: detected by the meta.json sha256, downloaded once more, and then it is intact
    again = store_of(hp).get("qwen", platform)
    assert (again.directory / "output.png").read_bytes() == intact
    assert np.array_equal(again.output().image, good.output().image)
    # offline: it cannot be fetched again, so the run stops and names the file
    _blob(hp, hp.first, png).write_bytes(intact[:-8] + b"\0" * 8)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(StoreError) as ei:
        store_of(hp).get("qwen", platform)
    msg = str(ei.value)
    assert png in msg and "sha256 does not match meta.json" in msg and "regress fetch -k qwen" in msg


def test_golden_broken_in_the_repo_fails_after_one_retry(hub_project) -> None:
    hp = hub_project
    (platform,) = store_of(hp).platforms("qwen")
    d = f"cases/qwen/{platform}"
    sha = hp.hub.commit("org/goldens", {f"{d}/output.png": b"\x89PNG not the listed bytes"}, "break it")
    pin(hp, sha)
    with pytest.raises(StoreError, match=rf"{d}/output.png: sha256 does not match meta.json, even after "
                                         "downloading it again"):
        store_of(hp).get("qwen", platform)


def test_missing_file_for_a_case_is_named(hub_project) -> None:
    hp = hub_project
    (platform,) = store_of(hp).platforms("wan")
    (hp.repo_dir / "cases" / "wan" / platform / "output.npz").unlink()
    sha = hp.hub.commit("org/goldens", {}, "lose the wan output")
    pin(hp, sha)
    with pytest.raises(StoreError) as ei:
        store_of(hp).get("wan", platform)
    msg = str(ei.value)
    assert f"cases/wan/{platform}/output.npz is listed in meta.json but not in the repo" in msg
    assert "regress refresh -k wan" in msg and "\n" not in msg


def test_unknown_repo_and_unknown_revision(hub_project) -> None:
    hp = hub_project
    pin(hp, "1" * 40)
    with pytest.raises(StoreError) as ei:
        store_of(hp).platforms("qwen")
    assert f"commit {'1' * 40} is not in dataset repo 'org/goldens'" in str(ei.value)
    assert "field 'revision'" in str(ei.value) and "regress pin" in str(ei.value)

    edit_suite(hp.suite, lambda d: d["store"].update(repo="org/nope"))
    write_lock(hp.lock, Lock(kind="hf", repo="org/nope", repo_type="dataset", revision=hp.first))
    with pytest.raises(StoreError) as ei:
        store_of(hp).platforms("qwen")
    msg = str(ei.value)
    assert "dataset repo 'org/nope' not found at http://127.0.0.1:" in msg and "field 'repo'" in msg
    assert "no Hugging Face token is set: export HF_TOKEN" in msg


def test_unreachable_server_bounded_retries_then_one_line(hub_project, monkeypatch) -> None:
    hp = hub_project
    hp.hub.stop()
    monkeypatch.setenv("REGRESS_HUB_RETRIES", "3")
    t0 = time.monotonic()
    store = store_of(hp)
    with pytest.raises(StoreError) as ei:
        store.platforms("qwen")
    took = time.monotonic() - t0
    msg = str(ei.value)
    assert "cannot reach the Hub at http://127.0.0.1:" in msg and "after 3 tries" in msg
    assert "HF_HUB_OFFLINE=1" in msg and "\n" not in msg
    assert 0.15 <= took < 5  # two backoffs of 0.05 s and 0.1 s, no per-request retry storm
    with pytest.raises(StoreError, match="cannot reach"):  # remembered: the next case fails at once
        store.platforms("wan")


def test_never_a_pass_when_the_golden_cannot_be_fetched(hub_project, pytester) -> None:
    hp = hub_project
    hp.hub.stop()
    s = str(hp.suite)
    r = pytester.runpytest_inprocess(s, f"--golden-suite={s}", "-m", "golden", "-p", "no:cacheprovider", "-k", "qwen")
    r.assert_outcomes(failed=1)
    assert "cannot reach the Hub" in r.stdout.str()


def test_a_branch_in_the_lock_is_refused_under_strict_with_the_fix(hub_project, capsys, pytester) -> None:
    hp = hub_project
    pin(hp, "main")
    with pytest.raises(StoreError) as ei:
        store_of(hp, strict=True)
    msg = str(ei.value)
    assert "field 'revision'" in msg and "a branch or tag that moves" in msg
    assert f"run `regress pin main`; 'main' is now at {hp.first}: revision = \"{hp.first}\"" in msg
    s = str(hp.suite)
    r = pytester.runpytest_inprocess(s, f"--golden-suite={s}", "-m", "golden", "-p", "no:cacheprovider",
                                     "--golden-strict")
    assert r.ret != 0 and f'revision = "{hp.first}"' in r.stdout.str() and "Traceback" not in r.stdout.str()
    capsys.readouterr()
    with pytest.warns(UserWarning, match="pins 'main'"):
        assert store_of(hp).revision == hp.first  # not strict: read at the resolved commit, and said so

    second, _, _ = second_commit(hp)
    assert main(["pin", "--suite", str(hp.suite), "--print"]) == 0
    assert capsys.readouterr().out.strip() == f'revision = "{second}"'
    assert read_lock(hp.lock).revision == "main"  # --print writes nothing
    assert main(["pin", "--suite", str(hp.suite), hp.first]) == 0
    assert read_lock(hp.lock).revision == hp.first
    assert main(["pin", "--suite", str(hp.suite)]) == 0
    assert read_lock(hp.lock).revision == second
    assert main(["pin", "--suite", str(hp.suite), "no-such-branch"]) == 2


def test_check_unused_lists_goldens_no_case_uses_per_platform(hub_project, capsys) -> None:
    hp = hub_project
    (platform,) = store_of(hp).platforms("qwen")
    extra = {f"cases/{c}/{p}/meta.json": b"{}" for c, p in
             (("old-case", platform), ("old-case", "cuda-sm90"), ("gone", "cuda-sm90"))}
    pin(hp, hp.hub.commit("org/goldens", extra, "goldens for cases that were removed"))
    assert main(["check", "--suite", str(hp.suite), "--unused"]) == 1
    out = capsys.readouterr().out
    assert "3 unused golden(s)" in out
    assert "  cuda-sm90: gone, old-case\n" in out and f"  {platform}: old-case\n" in out
    pin(hp, hp.first)
    assert main(["check", "--suite", str(hp.suite), "--unused"]) == 0
    assert "no unused goldens" in capsys.readouterr().out


def test_private_repo_without_a_token_and_the_token_is_never_shown(hub_project, monkeypatch) -> None:
    """olah has no auth, so the Hub's 401 comes from a stand-in API; the mapping is the store's."""
    import httpx2
    from huggingface_hub.errors import RepositoryNotFoundError

    hp = hub_project

    class PrivateHub:
        def list_repo_files(self, *a, **k):
            req = httpx2.Request("GET", "https://hub.invalid/api/datasets/org/goldens/tree")
            raise RepositoryNotFoundError("401 Client Error: Repository Not Found", response=httpx2.Response(401, request=req))

    store = store_of(hp, api=PrivateHub())
    with pytest.raises(StoreError) as ei:
        store.platforms("qwen")
    assert "private" in str(ei.value) and "no Hugging Face token is set: export HF_TOKEN" in str(ei.value)

    secret = "hf_" + "S3cr3tT0k3nValue" * 2
    monkeypatch.setenv("HF_TOKEN", secret)

    class LeakyHub(PrivateHub):
        def list_repo_files(self, *a, **k):
            raise RuntimeError(f"bad auth header 'Bearer {secret}'")

    with pytest.raises(StoreError) as ei:
        store_of(hp, api=LeakyHub()).platforms("qwen")
    assert secret not in str(ei.value) and "***" in str(ei.value)
    with pytest.raises(StoreError) as ei:
        store_of(hp, api=PrivateHub()).platforms("qwen")
    assert "the token in use cannot read it" in str(ei.value) and secret not in str(ei.value)
