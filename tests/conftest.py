"""Shared fixtures: a throw-away project with a small suite and goldens made by regress itself."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from suite_edit import case_table, edit_suite

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


def _make_golden_project(tmp_path_factory: pytest.TempPathFactory, name: str, suite_text: str) -> Path:
    """A directory with goldens/suite.toml and goldens for this platform for every case, made
    through the same API the plugin uses (GoldenSession with update=missing)."""
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    root = tmp_path_factory.mktemp(name)
    (root / "goldens").mkdir()
    (root / "goldens" / "suite.toml").write_text(textwrap.dedent(suite_text))
    suite = load_suite(root / "goldens" / "suite.toml")
    session = GoldenSession(suite, Options(update="missing", device="cpu"))
    for case in suite.cases:
        assert session.check(case).verdict.status == "written"
    session.publish()
    return root


@pytest.fixture(scope="session")
def golden_project_factory(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """``golden_project_factory(name, suite_text)``: a golden project for another suite."""
    return lambda name, suite_text: _make_golden_project(tmp_path_factory, name, suite_text)


@pytest.fixture(scope="session")
def golden_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The qwen + wan golden project, made once per run (see _make_golden_project)."""
    return _make_golden_project(tmp_path_factory, "golden-project", SUITE)


@pytest.fixture
def project(golden_project: Path, tmp_path: Path) -> Path:
    """A private copy of the golden project that a test may change."""
    dst = tmp_path / "project"
    shutil.copytree(golden_project, dst)
    return dst


@pytest.fixture(autouse=True)
def _no_github_output(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run inside GitHub Actions too: their deliberate failures must not become the job's
    annotations or summary. Tests of that output set the variables themselves."""
    for var in ("GITHUB_ACTIONS", "GITHUB_STEP_SUMMARY", "GITHUB_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)


def _tamper(store, case_id: str, change) -> None:
    """Republish a case's golden with its output changed (the run then fails against it)."""
    from regress.stores.base import StagedGolden

    (platform,) = store.platforms(case_id)
    g = store.get(case_id, platform)
    store.publish([StagedGolden(case_id, platform, change(g.output()),
                                {k: v for k, v in g.meta.items() if k != "files"})])


@pytest.fixture(scope="session")
def report_project(golden_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The golden project plus a second image case, with goldens tampered so that a run holds a
    passing image case (qwen), a failing image case (qwen-b) and a failing video case (wan),
    and with a golden no case uses (retired)."""
    import numpy as np

    from regress.outputs import Output
    from regress.session import GoldenSession, Options
    from regress.stores import open_store
    from regress.suite import load_suite

    root = tmp_path_factory.mktemp("report-project")
    shutil.copytree(golden_project, root, dirs_exist_ok=True)
    suite_path = root / "goldens" / "suite.toml"
    edit_suite(suite_path, lambda d: d["case"].append({**case_table(d, "qwen"), "id": "qwen-b", "prompt": "a red fox"}))
    suite = load_suite(suite_path)
    session = GoldenSession(suite, Options(update="missing", device="cpu"))
    assert session.check(suite.case("qwen-b")).verdict.status == "written"
    session.publish()
    store = open_store(suite)

    def brighten(out: Output) -> Output:
        img = out.image.astype(np.int16)
        img[8:20, 8:20] += 60
        return Output(image=np.clip(img, 0, 255).astype(np.uint8))

    def invert_frame_4(out: Output) -> Output:
        frames = out.video.copy()
        frames[4] = 255 - frames[4]
        return Output(video=frames, fps=out.fps)

    _tamper(store, "qwen-b", brighten)
    _tamper(store, "wan", invert_frame_4)
    from regress.stores.base import StagedGolden

    g = store.get("qwen", store.platforms("qwen")[0])
    store.publish([StagedGolden("retired", g.platform, g.output(), {**g.meta, "case": "retired"})])
    return root


@pytest.fixture
def write_golden():  # noqa: ANN201
    """``write_golden(suite_path, case_id, device=..., update=...)``: make (or remake) one case's
    golden through the session API and publish it."""
    return _write_golden


def _write_golden(suite_path: Path, case_id: str, *, device: str = "cpu", update: str = "missing") -> None:
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    maker = GoldenSession(load_suite(suite_path), Options(device=device, update=update))
    assert maker.check(maker.suite.case(case_id)).verdict.status == "written"
    maker.publish()


def run_session(project: Path, report: Path, *, platform: str | None = None, only: str | None = None) -> Path:
    """A real run through GoldenSession (the API under the plugin): judge the selected cases,
    write results.json, index.html and media into ``report``."""
    from regress.select import select
    from regress.session import GoldenSession, Options
    from regress.suite import load_suite

    suite = load_suite(project / "goldens" / "suite.toml")
    session = GoldenSession(suite, Options(device="cpu", platform=platform, report_dir=report))
    for case in select(suite, only, platform=lambda: session.platform):
        session.check(case)
    session.write_report()
    return report


@pytest.fixture(scope="session")
def failing_report(report_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of a real run: qwen passes, qwen-b and wan fail."""
    return run_session(report_project, tmp_path_factory.mktemp("failing-report"))


OTHER_PLATFORM = "cpu-sve256"  # a second platform key: judged against the nearest (this machine's) goldens


@pytest.fixture(scope="session")
def merged_reports(report_project: Path, failing_report: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Runs on two platform keys, the second in two shards (qwen*, wan), and their merge."""
    import json

    from regress.report.merge import merge_reports

    base = tmp_path_factory.mktemp("merge")
    b_qwen = run_session(report_project, base / "b-qwen", platform=OTHER_PLATFORM, only="qwen")
    b_wan = run_session(report_project, base / "b-wan", platform=OTHER_PLATFORM, only="wan")
    platform_a = json.loads((failing_report / "results.json").read_text())["platform"]
    complete = base / "complete"
    merge_reports([failing_report, b_qwen, b_wan], complete, expect_platforms=[platform_a, OTHER_PLATFORM])
    return {"a": failing_report, "b_qwen": b_qwen, "b_wan": b_wan, "platform_a": platform_a,
            "platform_b": OTHER_PLATFORM, "complete": complete}


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
    edit_suite(suite, lambda d: d.update(store={"kind": "hf", "repo": "org/goldens", "url": str(repo_dir)}))
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
