"""Real checkpoints through the real huggingface_hub client: a tiny SD pipeline saved with
``save_pretrained`` into a git repo that olah serves as a Hub model repo on 127.0.0.1, named
by a case as ``model = "org/tiny-sd"`` at a commit sha.

The repo gets two commits with different weights, so "the pinned case still passes after the
second commit" means something: the second commit's weights give another output.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np
import pytest

from regress.suite import load_suite

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("olah")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
# hypothesis's pytest plugin imports hypothesis (~2 s) in every in-process run that fails
PLUGINS_OFF = ("-p", "no:cacheprovider", "-p", "no:hypothesispytest")

REPO = "org/tiny-sd"
TOKEN = "hf_regressTestSecretToken0123456789"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory):
    """olah serving ``org/tiny-sd`` with two commits: (hub, first sha, second sha)."""
    from hubserver import OlahHub

    from regress.runners import get_runner
    from regress.suite import Case

    root = tmp_path_factory.mktemp("model-hub")
    hub = OlahHub(root / "hub").start()
    try:
        pipe = get_runner("sd").build_tiny(Case(id="save", pipeline="sd"))
        pipe.save_pretrained(root / "v1", safe_serialization=True)
        # what a real repo also holds and regress must not fetch: pickle weights and a variant
        (root / "v1" / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"not loaded: pickle")
        (root / "v1" / "unet" / "diffusion_pytorch_model.fp16.safetensors").write_bytes(b"not loaded: variant")
        hub.create_repo(REPO, repo_type="model")
        first = hub.commit(REPO, root / "v1", "tiny sd", repo_type="model")
        with torch.no_grad():
            for p in pipe.unet.parameters():
                p.mul_(1.5)
        pipe.save_pretrained(root / "v2", safe_serialization=True)
        second = hub.commit(REPO, root / "v2", "new unet weights", repo_type="model")
        yield hub, first, second
    finally:
        hub.stop()


SUITE = """
[store]
kind = "file"
path = "store"

[defaults]
ssim = 0.9999
max_abs = 2

[[case]]
id = "sd-hub"
pipeline = "sd"
model = "{repo}"
model_revision = "{revision}"
prompt = "a squirrel"
height = 32
width = 32
steps = 2
guidance = 5.0
"""


def _project(root: Path, revision: str) -> Path:
    (root / "goldens").mkdir(parents=True, exist_ok=True)
    suite = root / "goldens" / "suite.toml"
    suite.write_text(textwrap.dedent(SUITE.format(repo=REPO, revision=revision)))
    return suite


@pytest.fixture
def hub_env(hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hub's endpoint, a private HF cache, and a token that must never be printed."""
    hub_server, _, _ = hub
    cache = tmp_path / "hf-cache"
    for k, v in hub_server.env(cache).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    return cache


def test_pinned_checkpoint_loads_and_a_later_commit_does_not_change_it(hub, hub_env: Path, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from regress.session import GoldenSession, Options

    _, first, second = hub
    suite = load_suite(_project(tmp_path / "project", first))
    case = suite.cases[0]

    # 1. the golden, made from the first commit (the second one already exists on the Hub)
    maker = GoldenSession(suite, Options(update="missing", device="cpu", strict=True))
    made = maker.check(case)
    assert made.verdict.status == "written", made.verdict.message()
    assert made.result.versions["model_commit"] == first
    assert made.result.fingerprint == {"unet": "fp16", "vae": "fp32", "text_encoder": "fp16"}
    maker.publish()

    # 2. only what the pipeline reads was fetched: no pickle weights, no variants
    snapshot = hub_env / "models--org--tiny-sd" / "snapshots" / first
    fetched = sorted(str(p.relative_to(snapshot)) for p in snapshot.rglob("*") if p.is_file())
    assert "unet/diffusion_pytorch_model.safetensors" in fetched and "model_index.json" in fetched
    assert not [f for f in fetched if f.endswith(".bin") or ".fp16." in f]

    # 3. a fresh run, strict, after the second commit: the pinned case passes, from the first commit
    checker = GoldenSession(load_suite(suite.path), Options(device="cpu", strict=True))
    run = checker.check(case)
    assert run.verdict.status == "passed", run.verdict.message()
    assert run.verdict.metrics["max_abs"].value == 0
    assert run.result.versions["model_commit"] == first

    # 4. ... and the second commit really is different weights: pinned to it, the case fails
    moved = load_suite(_project(tmp_path / "project", second)).cases[0]
    other = GoldenSession(load_suite(suite.path), Options(device="cpu")).run(moved)
    assert other.versions["model_commit"] == second
    assert not np.array_equal(other.output.image, run.result.output.image)

    # 5. offline, with the endpoint pointing nowhere: the pinned case loads from the HF cache
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    offline = GoldenSession(load_suite(suite.path), Options(device="cpu", strict=True)).check(case)
    assert offline.verdict.status == "passed", offline.verdict.message()

    # the token went to the Hub and nowhere else
    written = "".join(p.read_text() for p in (tmp_path / "project").rglob("*.json"))
    assert TOKEN not in written and TOKEN not in run.verdict.message()


def test_branch_revision_is_refused_under_strict_in_one_line(hub, hub_env: Path, tmp_path: Path,
                                                             pytester: pytest.Pytester) -> None:
    suite = _project(tmp_path / "project", "main")
    r = pytester.runpytest_inprocess(str(suite), f"--golden-suite={suite}", "-m", "golden", *PLUGINS_OFF,
                                     "--golden-strict")
    r.assert_outcomes(failed=1)
    line = next(ln for ln in r.stdout.lines if ln.startswith("sd-hub ["))
    assert "case 'sd-hub'" in line and "field 'model_revision'" in line
    assert "model_revision 'main' is a branch or tag, not a commit" in line
    assert 'pin it: model_revision = "<40-hex commit sha>"' in line and "model_info('org/tiny-sd'" in line
    assert "Traceback" not in r.stdout.str()


def test_branch_revision_without_strict_loads_and_warns(hub, hub_env: Path, tmp_path: Path) -> None:
    from regress.session import GoldenSession, Options

    _, _, second = hub
    suite = load_suite(_project(tmp_path / "project", "main"))
    session = GoldenSession(suite, Options(device="cpu", update="missing"))
    run = session.check(suite.cases[0])
    assert run.verdict.status == "written"
    assert any("is a branch or tag, not a commit" in w for w in run.verdict.warnings)
    # main's head at the time, recorded in the golden's provenance
    assert run.result.versions["model_commit"] == second
    session.publish()
    meta = json.loads(next((tmp_path / "project").rglob("meta.json")).read_text())
    assert meta["platform"]["versions"]["model_commit"] == second


@pytest.mark.parametrize("model,revision,field,message", [
    ("not a repo", None, "model", "neither \"tiny\" nor a Hub model id"),
    ("tiny", "0" * 40, "model_revision", "applies to Hub models only"),
])
def test_malformed_model_reference_is_a_one_line_error(model, revision, field, message) -> None:
    from regress.errors import RunnerError
    from regress.runners.checkpoint import check_model_pin
    from regress.suite import Case

    with pytest.raises(RunnerError, match=message) as err:
        check_model_pin(Case(id="c", pipeline="sd", model=model, model_revision=revision), strict=False)
    assert f"field '{field}'" in str(err.value)


def test_file_selection_skips_pickles_and_variants_and_keeps_shards() -> None:
    from regress.runners.checkpoint import select_files

    files = ["model_index.json", "README.md", "v1-5-pruned.ckpt", "unet/config.json",
             "unet/diffusion_pytorch_model.safetensors", "unet/diffusion_pytorch_model.fp16.safetensors",
             "unet/diffusion_pytorch_model.non_ema.bin", "text_encoder/model-00001-of-00002.safetensors",
             "text_encoder/model-00002-of-00002.safetensors", "text_encoder/model.safetensors.index.json",
             "tokenizer/vocab.json", "safety_checker/model.safetensors", "vae/diffusion_pytorch_model.bin"]
    chosen, pickle_only = select_files(files, ["unet", "text_encoder", "tokenizer", "vae"])
    assert chosen == ["model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
                      "text_encoder/model-00001-of-00002.safetensors",
                      "text_encoder/model-00002-of-00002.safetensors", "text_encoder/model.safetensors.index.json",
                      "tokenizer/vocab.json"]
    assert pickle_only == ["vae"]
