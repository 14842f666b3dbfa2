"""A golden's records are runtime types (regress.golden_records), read once where the golden
is read, written back byte for byte, and the modules that judge read them as types, never as
``dict[str, Any]``; a Verdict is final once ``judge()`` returns it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from regress.golden_records import DriftRecord, GoldenMeta, IdentityRecord, NoiseFloorRecord, PerfRecord
from regress.stores.base import META_FILE, Golden, load_meta

ROOT = Path(__file__).resolve().parents[1]
METAS = sorted(ROOT.glob("goldens/store/cases/*/*/meta.json")) + sorted(ROOT.glob("examples/**/meta.json"))


def _write(meta: dict) -> bytes:
    """How StagedGolden.files writes meta.json."""
    return (json.dumps(meta, indent=2, sort_keys=True) + "\n").encode("utf-8")


@pytest.mark.parametrize("path", METAS, ids=lambda p: p.relative_to(ROOT).parent.as_posix())
def test_every_committed_meta_round_trips_byte_for_byte(path: Path) -> None:
    """Re-serialised through the types, every committed golden's meta.json is the same bytes."""
    record = GoldenMeta.from_json(load_meta(path.parent))
    assert _write(record.to_json()) == path.read_bytes()


def test_a_golden_carries_its_typed_record() -> None:
    path = next(p for p in METAS if '"drift"' in p.read_text())
    g = Golden("c", path.parent.name, path.parent, load_meta(path.parent))
    rec = g.record
    assert isinstance(rec.perf, PerfRecord) and isinstance(rec.identity, IdentityRecord)
    assert isinstance(rec.drift, DriftRecord) and rec.drift.thresholds and rec.drift.path_labels
    assert all(isinstance(v, float | int) for v in rec.drift.thresholds.values())
    assert rec.precision == g.meta["precision"] and g.perf is rec.perf


def test_non_finite_numbers_are_floats_in_the_record_and_strings_in_the_file() -> None:
    raw = {"schema": 1, "case": "c", "files": {}, "noise_floor": {"thresholds": {"psnr": "inf"}, "floor": {"psnr": "inf"},
                                                                  "margin": 2, "runs": []}}
    rec = GoldenMeta.from_json(raw)
    assert isinstance(rec.noise_floor, NoiseFloorRecord)
    assert rec.noise_floor.thresholds == {"psnr": math.inf} and rec.noise_floor.margin == 2  # an int stays an int
    assert rec.to_json() == raw


def test_unknown_fields_survive_a_rewrite() -> None:
    """A field a newer regress records (top level or inside a block) is kept, in place."""
    raw = {"schema": 1, "case": "c", "files": {}, "future": [1, 2], "perf": {"wall_s": 1.5, "energy_j": 3.0},
           "drift": {"thresholds": {"ssim": 0.99}, "paths": [{"label": "x", "hue": "blue"}]}}
    rec = GoldenMeta.from_json(raw)
    assert rec.perf is not None and rec.perf.wall_s == 1.5 and rec.drift is not None
    assert rec.drift.path_labels == ["x"]
    assert rec.to_json() == raw and list(rec.to_json()) == list(raw)


def test_a_block_of_the_wrong_type_is_one_line_at_load(tmp_path: Path) -> None:
    """The schema made from the same types refuses a block the record could not hold."""
    from regress.errors import StoreError

    meta = {"schema": 1, "case": "c", "files": {}, "identity": {"installed": {"torch": 2}}}
    (tmp_path / META_FILE).write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=r"identity\.installed\.torch") as exc:
        load_meta(tmp_path)
    assert "\n" not in str(exc.value)


# --------------------------------------------------------------------------- records stay typed

RECORD_MODULES = ["judge", "verdict", "perf_diff", "drift", "staging", "bisect", "evidence", "thresholds", "lpips_policy",
                  "provenance", "calibrate"]
# Parameters and fields that carry a golden's record (or the session that reads them).
RECORD_NAMES = {"meta", "golden_meta", "old_meta", "new_meta", "drift", "noise_floor", "identity", "perf", "golden",
                "session", "gs", "case"}
# The *verdict's* own results.json block Verdict.golden (platform/match/revision/path): a results record,
# not a golden's record (its schema is results.schema.json, from Verdict itself).
EXEMPT = {("verdict", "Verdict", "golden")}
UNTYPED = ("dict[str, Any]", "Mapping[str, Any]", "Any")


def _annotations(module: str):
    import ast

    tree = ast.parse((ROOT / "regress" / f"{module}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            a = node.args
            for arg in [*a.posonlyargs, *a.args, *a.kwonlyargs]:
                if arg.annotation is not None:
                    yield node.name, arg.arg, ast.unparse(arg.annotation)
        elif isinstance(node, ast.ClassDef):
            for stmt in node.body:
                if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
                    yield node.name, stmt.target.id, ast.unparse(stmt.annotation)


@pytest.mark.parametrize("module", RECORD_MODULES)
def test_records_are_not_untyped_dicts_where_judging_reads_them(module: str) -> None:
    """No meta / drift / noise floor / identity / perf / golden / session / case parameter or
    field annotated ``dict[str, Any]``, ``Mapping[str, Any]`` or ``Any`` (alone or in a union), and
    no ``.meta.get(`` on a golden's raw JSON: they read regress.golden_records' types."""
    bad = _untyped(module, RECORD_NAMES, EXEMPT)
    assert bad == [], f"regress/{module}.py: " + ", ".join(bad)
    source = (ROOT / "regress" / f"{module}.py").read_text()
    assert ".meta.get(" not in source and 'meta.get("' not in source


# The report reads results.json's case records (regress.report.records): no case, perf, numerics,
# metric, ... parameter or field of regress/report/*.py is an untyped dict either.
REPORT_MODULES = sorted(f"report/{p.stem}" for p in (ROOT / "regress" / "report").glob("*.py"))
REPORT_NAMES = RECORD_NAMES | {"cases", "c", "rec", "record", "records", "numerics", "metrics", "m", "precision",
                               "prec", "settings", "ab", "stages", "media", "info", "track", "coverage", "cov",
                               "run", "runs", "r", "gate", "reference", "bisect"}
REPORT_EXEMPT = {
    # The two readers at the boundary: they take a record as json.loads (or Verdict.to_json) gives
    # it, and parse it into the typed CaseResult there, once.
    ("report/records", "case_result", "case"), ("report/summary", "write_drift_lines", "records"),
    # assets.py writes the media block (declared by regress.models.ReportMedia, checked against
    # results.schema.json where a file is read); it builds that JSON, it reads no record.
    *(("report/assets", owner, "media") for owner in ("_image_assets", "_video_assets", "_audio_assets",
                                                       "_mesh_assets", "CaseMedia")),
}
# The views of a report (page, GitHub summary, impact table, terminal lines) read attributes of
# the typed records, never a block out of a dict.
REPORT_VIEWS = ["report/html", "report/github", "report/summary", "report/impact", "report/charts"]
# (Not "golden", "actual", "id": a files map and the templates' view dicts use those keys.)
BLOCK_KEYS = ("perf", "numerics", "identity", "drift", "noise_floor", "metrics", "precision", "settings", "ab",
              "stages", "media", "reference", "bisect", "coverage", "runs", "cases", "status", "reasons", "warnings",
              "gates", "wall_s", "peak_memory", "regime", "line", "unmeasured", "changed", "match", "value",
              "threshold", "passed")


def _untyped(module: str, names: set[str], exempt: set[tuple[str, str, str]]) -> list[str]:
    bad = []
    for owner, name, ann in _annotations(module):
        if name not in names or (module, owner, name) in exempt:
            continue
        parts = [p.strip() for p in ann.replace("Optional[", "").rstrip("]").split("|")]
        if any(p in UNTYPED for p in parts) or any(u in ann for u in UNTYPED[:2]):
            bad.append(f"{owner}({name}: {ann})")
    return bad


@pytest.mark.parametrize("module", REPORT_MODULES)
def test_the_report_reads_typed_records_not_untyped_dicts(module: str) -> None:
    """As for judging: no case / perf / numerics / golden / metrics / ... parameter or field of
    the report annotated ``dict[str, Any]``, ``Mapping[str, Any]`` or ``Any`` (an exemption says
    why), and no view reads a block of a case record out of a dict (``c.get("perf")``,
    ``c["numerics"]``): they read :mod:`regress.report.records`."""
    import re

    bad = _untyped(module, REPORT_NAMES, REPORT_EXEMPT)
    assert bad == [], f"regress/{module}.py: " + ", ".join(bad)
    if module in REPORT_VIEWS:
        keys = "|".join(BLOCK_KEYS)
        source = (ROOT / "regress" / f"{module}.py").read_text()
        found = re.findall(rf"""(?:\.get\(\s*|\[\s*)["']({keys})["']""", source)
        assert found == [], f"regress/{module}.py reads {sorted(set(found))} out of a dict"


def test_the_report_parses_a_document_once_into_records() -> None:
    """Unknown keys load (a newer regress's), empty blocks are None, non-finite metric values
    are floats, and a block of the wrong type in a file is one line naming the field."""
    from regress.errors import RegressError
    from regress.report.records import AbRecord, CaseResult, PerfDiff, results_record

    case = {"id": "c", "platform": "cpu-avx2", "status": "failed", "golden": {}, "future": {"x": 1},
            "metrics": {"psnr": {"value": "inf", "threshold": 40.0, "op": ">=", "source": "suite", "passed": True}},
            "perf": {"golden": None, "current": {"wall_s": 1.5, "energy_j": 2.0}, "ratio": {}},
            "ab": {"status": "passed", "moved": False, "metrics": {}}, "stages": [{"key": "s", "cos": "nan"}]}
    rec = results_record({"cases": [case], "platform": "cpu-avx2", "newer": True})
    (c,) = rec.cases
    assert isinstance(c, CaseResult) and c.golden is None and c.extra == {"future": {"x": 1}}
    assert c.metrics["psnr"].value == math.inf and c.stages[0].cos == "nan"
    assert isinstance(c.perf, PerfDiff) and c.perf.current is not None and c.perf.current.wall_s == 1.5
    assert c.perf.golden is None and isinstance(c.ab, AbRecord) and c.ab.moved is False
    assert results_record(rec) is rec
    bad = {**case, "perf": {"current": {"wall_s": "slow"}}}
    with pytest.raises(RegressError, match=r"results\.json: field 'cases\[0\]\.perf\.current\.wall_s'") as exc:
        results_record({"cases": [bad]}, file="results.json")
    assert "\n" not in str(exc.value)


def test_the_case_or_own_thresholds_switch_is_a_type() -> None:
    """A hand-written test's thresholds are an OwnThresholds record, not a bare mapping told
    apart from a Case by isinstance."""
    from regress.suite import load_suite
    from regress.thresholds import OwnThresholds, resolve_thresholds

    suite = load_suite(ROOT / "goldens" / "suite.toml")
    th = resolve_thresholds(suite, OwnThresholds({"ssim": 0.5}), "cpu-avx2")
    assert th["ssim"].value == 0.5 and th["ssim"].source == "case"
    assert "isinstance(case" not in (ROOT / "regress" / "thresholds.py").read_text()


# --------------------------------------------------------------------------- a verdict is final when judged

def _judged(status_golden: bool = False):
    import numpy as np

    from regress.judge import Evidence, Subject, judge
    from regress.outputs import Output
    from regress.suite import load_suite

    suite = load_suite(ROOT / "goldens" / "suite.toml")
    subject = Subject(id="c", output=Output(image=np.zeros((8, 8, 3), np.uint8)))
    v = judge(subject, Evidence(golden=None, match="missing"), {}, platform="cpu-avx2", suite=suite, strict=True)
    return v, subject


def _frozen(v) -> str:
    return json.dumps(v.to_json(), sort_keys=True)


@pytest.mark.parametrize("force", [False, True], ids=["refused", "written"])
def test_staging_returns_a_decision_and_leaves_the_verdict_as_judged(force: bool) -> None:
    from regress.staging import UpdatePolicy, stage_update
    from regress.status import Status

    v, subject = _judged()
    before = _frozen(v)
    decision = stage_update(v, subject, None, policy=UpdatePolicy("all", force=force), platform="cpu-avx2",
                            drift_cap=None, make_meta=lambda: GoldenMeta.from_json({"schema": 1, "case": "c"}))
    assert _frozen(v) == before  # judged, then staged: unchanged
    recorded = decision.applied(v)
    assert recorded is not v and _frozen(v) == before
    if force:  # a blank image is refused by the quality gate unless forced
        assert decision.staged is not None and decision.status == Status.WRITTEN and recorded.status == Status.WRITTEN
        assert decision.staged.meta == {"schema": 1, "case": "c"} and recorded.reasons == []
    else:
        assert decision.staged is None and decision.refusal and recorded.status == Status.FAILED
        assert recorded.reasons[-1] == decision.refusal


def test_xfail_and_bisect_attach_a_new_record_beside_the_judged_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    import regress.bisect as bisect_mod
    import regress.session as session_mod
    from regress.options import Options

    v, _ = _judged()
    before = _frozen(v)
    assert v.failed  # a missing golden under strict
    gs = SimpleNamespace(verdicts=[v])
    marked = session_mod.GoldenSession.record_xfail(gs, v, "known")  # type: ignore[arg-type]
    assert marked.status == "xfailed" and gs.verdicts == [marked] and _frozen(v) == before

    failed = session_mod.Verdict(id="c", platform="cpu-avx2", status="failed", reasons=["ssim moved"])
    before = _frozen(failed)
    row = bisect_mod.Row([], "failed", "ssim", None, False)
    monkeypatch.setattr(bisect_mod, "bisect", lambda probe, case: bisect_mod.Bisection("c", row, [], [], []))
    monkeypatch.setattr(session_mod, "GoldenSession", lambda *a, **k: SimpleNamespace(close=lambda: None))
    gs = SimpleNamespace(verdicts=[failed], options=Options(), store=None,
                         suite=SimpleNamespace(cases=[SimpleNamespace(id="c")], case=lambda cid: cid))
    bisect_mod.bisect_failures(gs)  # type: ignore[arg-type]
    assert _frozen(failed) == before and failed.bisect == {}
    assert gs.verdicts[0] is not failed and gs.verdicts[0].bisect["case"] == "c"
    assert gs.verdicts[0].warnings[-1].startswith("bisect: no single or paired revert")


def test_report_merge_refuses_a_wrong_typed_block_in_one_line(tmp_path: Path) -> None:
    """A results.json whose perf block holds a string where a number goes is refused where it is
    read, naming the file and the field, not rendered as '-' or a traceback."""
    from regress.errors import RegressError
    from regress.report.merge import merge_reports

    run = tmp_path / "run"
    run.mkdir()
    case = {"id": "c", "platform": "cpu-avx2", "status": "passed", "perf": {"current": {"wall_s": "slow"}}}
    (run / "results.json").write_text(json.dumps({"schema": 1, "cases": [case]}))
    with pytest.raises(RegressError, match=r"run/results\.json: field 'cases\[0\]\.perf\.current\.wall_s': "
                                           r"must be a number") as exc:
        merge_reports([run], tmp_path / "out")
    assert "\n" not in str(exc.value) and not (tmp_path / "out" / "index.html").exists()
