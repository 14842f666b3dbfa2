"""`regress shard/refresh/fetch -k` select exactly what `pytest -m golden -k` collects: for a
set of expressions, the CLI's selection is compared with a real `pytest --collect-only`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from regress.cli import main
from regress.select import select
from regress.suite import load_suite

pytest.importorskip("torch._dynamo")  # imported outside pytester's in-process runs (see test_custom_runner)
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

PLATFORM = "cpu-avx512bf16"

SUITE = """
[store]
kind = "file"
path = "store"

[[case]]
id = "flux-tiny"
pipeline = "flux"
marks = ["image"]

[[case]]
id = "flux-seed1"
pipeline = "flux"
seed = 1
xfail = [{ platform = "cpu-*", reason = "known" }]

[[case]]
id = "SD-Tiny"
pipeline = "sd"

[[case]]
id = "wan-tiny"
pipeline = "wan"
marks = ["video", "slow_ones"]
skip = [{ platform = "cuda-*", reason = "too slow" }]

[[case]]
id = "ltx2-tiny"
pipeline = "ltx2"
marks = ["video", "audio"]
"""

EXPRESSIONS = [
    "avx512", "avx512bf16", "cpu-avx512bf16]", "tiny[cpu", "flux and not seed1", "sd or wan", "SD", "sd-tiny",
    "flux", "wan-tiny", "video", "audio and not video", "video and not audio", "not video", "golden", "suite",
    "suite.toml", "goldens", "xfail", "image", "slow", "ltx", "flux-tiny[cpu-avx512bf16]", "pipeline", "seed",
    "(flux or wan) and not (tiny and video)", "not not flux", "nothing-matches", "tiny and not avx2",
]


# Evaluates every expression with pytest's own -k code path (deselect_by_keyword) on the items
# of one collection, so that the whole set costs one pytest run instead of one each.
CONFTEST = """
import json
import pytest
from _pytest.mark import deselect_by_keyword


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    golden = [it for it in items if it.get_closest_marker("golden")]
    out = {}
    for expr in json.loads(open("expressions.json").read()):
        kept = list(golden)
        config.option.keyword = expr
        deselect_by_keyword(kept, config)
        out[expr] = sorted(it.name.rsplit("[", 1)[0] for it in kept)
    config.option.keyword = ""
    open("collected.json", "w").write(json.dumps(out))
"""


@pytest.fixture()
def project(pytester: pytest.Pytester) -> Path:
    (pytester.path / "pytest.ini").write_text("[pytest]\n")
    goldens = pytester.path / "goldens"
    (goldens / "store").mkdir(parents=True)
    (goldens / "suite.toml").write_text(SUITE)
    return pytester.path


def _collect(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_inprocess("--collect-only", "-q", "-m", "golden", "-p", "no:cacheprovider",
                                        f"--golden-platform={PLATFORM}", *args, "goldens/suite.toml")


def _pytest_collects(pytester: pytest.Pytester, expr: str) -> list[str]:
    r = _collect(pytester, "-k", expr)
    ids = [line.split("::", 1)[1] for line in r.outlines if line.startswith("goldens/suite.toml::")]
    return sorted(i.rsplit("[", 1)[0] for i in ids)


def _regress_selects(capsys: pytest.CaptureFixture[str], expr: str) -> list[str]:
    capsys.readouterr()
    rc = main(["shard", "1", "-k", expr, "--platform", PLATFORM, "--json", "--suite", "goldens/suite.toml"])
    captured = capsys.readouterr()
    if rc == 2 and "selects no case" in captured.err:  # nothing selected: exit 2 in every command
        return []
    assert rc == 0, captured.out + captured.err
    return sorted(json.loads(captured.out)[0]["cases"])


def test_shard_k_selects_what_pytest_k_collects(pytester: pytest.Pytester, project: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    for expr in ("avx512", "flux and not seed1", "sd or wan"):  # pytest -k itself, one run each
        assert _regress_selects(capsys, expr) == _pytest_collects(pytester, expr), expr
    (project / "expressions.json").write_text(json.dumps(EXPRESSIONS))
    (project / "conftest.py").write_text(CONFTEST)
    _collect(pytester)
    collected = json.loads((project / "collected.json").read_text())
    assert set(collected) == set(EXPRESSIONS)
    for expr in EXPRESSIONS:
        assert _regress_selects(capsys, expr) == collected[expr], expr
    assert len({len(v) for v in collected.values()}) >= 4  # none, some, all: the set discriminates


def test_selection_is_pytests_keyword_matching(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    suite = load_suite(project / "goldens" / "suite.toml")
    pick = lambda expr, platform=PLATFORM: [c.id for c in select(suite, expr, platform=platform)]  # noqa: E731
    assert pick("avx512") == [c.id for c in suite.cases]  # the platform key is in every item's name
    assert pick("avx512", "cuda-sm90") == []
    assert pick("xfail") == ["flux-seed1"] and pick("xfail", "cuda-sm90") == []  # rules are per platform
    assert pick("sd") == ["SD-Tiny"]  # case-insensitive substring, as pytest
    assert pick(None) == pick("") == [c.id for c in suite.cases]


def test_bad_expression_is_one_line(project: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(project)
    assert main(["shard", "1", "-k", "flux and (", "--platform", PLATFORM, "--suite", "goldens/suite.toml"]) == 2
    err = capsys.readouterr().err.strip()
    assert "is not a pytest -k expression" in err and len(err.splitlines()) == 1
