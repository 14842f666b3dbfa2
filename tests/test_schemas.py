"""The JSON Schemas under schemas/ are the models' (regress.models), and the files regress writes
(suite.toml as parsed, every golden's meta.json, results.json of a run and of a merge) hold to them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from regress.models import SCHEMA_DIR, SCHEMAS, render

jsonschema = pytest.importorskip("jsonschema")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def validator(name: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((SCHEMA_DIR / name).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def errors(name: str, doc: object) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(name).iter_errors(doc)]


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_committed_schema_is_the_models(name: str) -> None:
    """`python -m regress.models schemas` rewrites them after a model changes."""
    assert (SCHEMA_DIR / name).read_text() == render(name)


SUITES = [ROOT / "goldens" / "suite.toml", ROOT / "examples" / "custom_runner" / "goldens" / "suite.toml",
          ROOT / "benchmarks" / "sweep_suite.toml"]


@pytest.mark.parametrize("path", SUITES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_shipped_suites_hold_to_the_suite_schema(path: Path) -> None:
    assert errors("suite.schema.json", tomllib.loads(path.read_text())) == []


def test_suite_schema_refuses_what_the_parser_refuses() -> None:
    doc = tomllib.loads((ROOT / "goldens" / "suite.toml").read_text())
    doc["case"][0]["sed"] = 1  # a typo
    doc["defaults"]["ssim"] = 2.0  # out of range
    doc["store"]["kind"] = "s3"
    found = "\n".join(errors("suite.schema.json", doc))
    assert "'sed' was unexpected" in found and "2.0 is greater than the maximum" in found and "'s3'" in found


def test_every_meta_json_of_the_shipped_stores() -> None:
    metas = sorted(ROOT.glob("goldens/store/**/meta.json")) + sorted(ROOT.glob("examples/**/meta.json"))
    assert len(metas) >= 8
    for p in metas:
        assert errors("meta.schema.json", json.loads(p.read_text())) == [], p


def test_meta_written_by_a_run(golden_project: Path) -> None:
    metas = sorted((golden_project / "goldens" / "store").glob("**/meta.json"))
    assert metas
    for p in metas:
        assert errors("meta.schema.json", json.loads(p.read_text())) == [], p


def test_results_of_a_run_and_of_a_merge(merged_reports: dict) -> None:
    for key in ("a", "b_qwen", "complete"):
        doc = json.loads((merged_reports[key] / "results.json").read_text())
        assert doc["cases"]
        assert errors("results.schema.json", doc) == [], key
    doc["cases"][0]["status"] = "flaky"
    doc["cases"][0]["metrics"]["ssim"]["value"] = "big"
    found = "\n".join(errors("results.schema.json", doc))
    assert "'flaky' is not one of" in found and "metrics/ssim/value" in found
