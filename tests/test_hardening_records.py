"""Records from disk, hostile: meta.json and results.json through one bounded reader and the
project's own schema (one line naming file and field, never a traceback), drift bounds and
noise floors finite or not written, a golden's meta that cannot switch its own judging off,
stage checkpoints that cannot be compared, and track files the meta does not list.

Every test is synthetic (no pipeline runs) and each failed on the code before its fix."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from regress.golden_records import GoldenMeta
from regress.cli import main
from regress.errors import OutputError, RegressError, StoreError
from regress.outputs import Output

HOSTILE = {
    "deep": lambda: '{"schema": 1, "files": {}, "x": ' + "[" * 5000 + "]" * 5000 + "}",
    "huge int": lambda: '{"schema": 1, "files": {}, "x": ' + "9" * 5000 + "}",
    "1e999": lambda: '{"schema": 1, "files": {}, "x": {"y": [1, 1e999]}}',
    "NaN": lambda: '{"schema": 1, "files": {}, "x": NaN}',
    "Infinity": lambda: '{"schema": 1, "files": {}, "x": -Infinity}',
}


def _one_line(exc: BaseException, path: Path) -> str:
    text = str(exc)
    assert "\n" not in text and str(path) in text, text
    return text


# --------------------------------------------------------------------------- 1. hostile JSON

@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_meta_json_is_one_line(kind: str, tmp_path: Path) -> None:
    from regress.stores.base import load_meta

    (tmp_path / "meta.json").write_text(HOSTILE[kind]())
    with pytest.raises(StoreError) as info:
        load_meta(tmp_path)
    line = _one_line(info.value, tmp_path / "meta.json")
    assert kind == "deep" or "field 'x" in line  # the field, where the parser got that far


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_results_json_is_exit_2_in_report_merge(kind: str, tmp_path: Path, capsys) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(HOSTILE[kind]().replace('"files": {}', '"cases": []'))
    assert main(["report", "merge", str(run), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(run / "results.json") in err and len(err.strip().splitlines()) == 1


def test_a_meta_whose_spec_is_an_int_is_refused(tmp_path: Path) -> None:
    from regress.stores.base import load_meta

    (tmp_path / "meta.json").write_text(json.dumps({"schema": 1, "files": {"output.png": "0" * 64}, "spec": 3}))
    with pytest.raises(StoreError, match="field 'spec': must be an object"):
        load_meta(tmp_path)


# --------------------------------------------------------------------------- 2. typed records

def _results(tmp_path: Path, name: str, change) -> Path:  # noqa: ANN001
    """A report directory whose results.json holds one image record, then ``change``d."""
    from regress.report.assets import CaseMedia
    from regress.report.results import results_doc, write_doc
    from regress.verdict import PASSED, Verdict

    v = Verdict(id="qwen", platform="cpu-avx2", status=PASSED, kind="image", duration_s=1.5)
    media = CaseMedia(files={"golden": "cases/qwen/cpu-avx2/golden.png"},
                      media={"image": {"height": 32, "width": 32, "scale": 1, "identical": True}})
    doc = results_doc([v], suite=None, platform="cpu-avx2", revision="abc", selected=["qwen"],
                      media={("qwen", "cpu-avx2"): media})
    change(doc)
    d = tmp_path / name
    write_doc(d / "results.json", doc)
    return d


BAD_RECORDS = {
    "cases[0].media.image.height": lambda d: d["cases"][0]["media"]["image"].update(height="abc"),
    "cases[0].metrics": lambda d: d["cases"][0].update(metrics=[1, 2]),
    "runs[0].selected": lambda d: d["runs"][0].update(selected=3),
    "cases[0].duration_s": lambda d: d["cases"][0].update(duration_s="abc"),
}


@pytest.mark.parametrize("field", sorted(BAD_RECORDS))
def test_report_merge_refuses_wrong_types_in_records(field: str, tmp_path: Path, capsys) -> None:
    good = _results(tmp_path, "good", lambda d: None)
    bad = _results(tmp_path, "bad", BAD_RECORDS[field])
    out = tmp_path / "out"
    assert main(["report", "merge", str(good), str(bad), "-o", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert str(bad / "results.json") in err and f"field '{field}" in err, err
    assert not (out / "results.json").exists()  # nothing that fails the schema is written


def test_a_merge_of_good_records_holds_to_the_schema(tmp_path: Path) -> None:
    from regress.records import results_document_schema, schema_problem

    a = _results(tmp_path, "a", lambda d: None)
    b = _results(tmp_path, "b", lambda d: d["cases"][0].update(platform="cpu-amx"))
    assert main(["report", "merge", str(a), str(b), "-o", str(tmp_path / "out")]) == 0
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert schema_problem(doc, results_document_schema()) is None


# --------------------------------------------------------------------------- 3. finite bounds

def test_non_finite_bounds_are_not_written_and_named() -> None:
    from regress.bounds import derive_thresholds, finite_bounds, json_floats
    from regress.stores.base import meta_problem

    # a NaN distance (a non-finite stage tensor) and an infinite one (a zero-norm golden tensor)
    spread = {"ssim": 0.999, "stage_cos": math.nan, "stage_rel_l2": 0.01}
    quantum = {"ssim": 0.99999, "stage_cos": 0.9999999, "stage_rel_l2": math.inf}
    derived = derive_thresholds(spread, quantum)
    kept, dropped = finite_bounds(derived, case_id="qwen", what="drift")
    assert set(kept) == {"ssim"} and meta_problem({"files": {}, "drift": {"thresholds": kept}}) is None
    assert len(dropped) == 2 and all(line.startswith("qwen: drift stage_") and "\n" not in line for line in dropped)
    assert json_floats({"a": math.nan, "b": math.inf}) == {"a": "nan", "b": "inf"}  # never a NaN literal


# --------------------------------------------------------------------------- 4. sanity caps

def _drift_judge(values: dict[str, float], bounds: dict[str, float]):  # noqa: ANN202
    """A drift-regime verdict against a golden whose meta claims ``bounds``."""
    from regress.judge import Evidence, Subject, judge, thresholds_for
    from regress.metrics.compare import Comparison
    from regress.numerics import Identity, compare
    from regress.stores.base import Golden
    from regress.suite import Case, Suite

    suite = Suite(path=Path("suite.toml"), store=None, cases=(Case(id="qwen", pipeline="x"),), fallback={},
                  platforms={}, defaults={"ssim": 0.9999, "psnr": 60.0, "max_abs": 1.0, "mean_abs": 0.01})
    probe = {"fp32.matmul@64x64x64": "a"}
    golden_id = Identity(installed={"cpu.model": "AMD EPYC"}, probe=probe)
    now = Identity(installed={"cpu.model": "Intel Xeon"}, probe={"fp32.matmul@64x64x64": "b"})
    meta = {"identity": golden_id.to_json(), "drift": {"thresholds": bounds, "paths": [{"label": "default"}],
                                                        "machine": "AMD EPYC", "margin": 2.0}}
    numerics = compare(meta["identity"], now, same_key=False, golden_platform="cpu-avx512bf16")
    assert numerics.regime == "drift"
    th = thresholds_for(suite, suite.cases[0], "cpu-amx", golden_platform="cpu-avx512bf16", golden_meta=GoldenMeta.from_json(meta),
                        regime=numerics.regime)
    subject = Subject(id="qwen", output=Output(image=np.zeros((4, 4, 3), np.uint8)))
    ev = Evidence(golden=Golden("qwen", "cpu-avx512bf16", Path("g"), meta), match="nearest", numerics=numerics,
                  comparison=Comparison(values=values, mismatch=[]))
    return judge(subject, ev, th, platform="cpu-amx", suite=suite, strict=True)


def test_a_meta_cannot_loosen_its_own_bounds_past_the_caps() -> None:
    anything = {"ssim": 0.0, "psnr": 0.001, "max_abs": 254.0, "mean_abs": 254.0, "lpips": 0.99,
                "stage_cos": -0.99, "stage_rel_l2": 1e9}
    v = _drift_judge({"ssim": 0.7, "psnr": 25.0, "max_abs": 100.0, "mean_abs": 10.0}, anything)
    assert v.status == "failed", v.message()
    for name in ("ssim", "psnr", "max_abs", "mean_abs"):
        assert v.metrics[name].passed is False and "sanity cap" in v.metrics[name].source
    assert any(w.startswith("judged at the sanity cap for") for w in v.warnings)


def test_measured_bounds_of_the_committed_goldens_fit_under_the_caps() -> None:
    from regress.thresholds import meta_bound

    metas = sorted(Path(__file__).resolve().parents[1].glob("goldens/store/**/meta.json"))
    assert metas
    for p in metas:
        meta = json.loads(p.read_text())
        for block in ("drift", "noise_floor"):
            for name, value in ((meta.get(block) or {}).get("thresholds") or {}).items():
                assert not meta_bound(name, float(value), block).capped, (p, name, value)


# --------------------------------------------------------------------------- 5. stage checkpoints

def _stage_verdict(golden_stages, current_stages):  # noqa: ANN001, ANN202
    from regress.judge import Evidence, Subject, judge
    from regress.metrics.compare import Comparison
    from regress.metrics.stages import stage_evidence
    from regress.numerics import Identity, compare
    from regress.stores.base import Golden
    from regress.suite import Case, Suite
    from regress.thresholds import Threshold

    img = np.zeros((4, 4, 3), np.uint8)
    golden_out, current = Output(image=img, stages=golden_stages), Output(image=img, stages=current_stages)
    suite = Suite(path=Path("suite.toml"), store=None, cases=(Case(id="qwen", pipeline="x"),), defaults={},
                  fallback={}, platforms={})
    ident = Identity(installed={"cpu.model": "X"}, probe={"fp32.matmul@64x64x64": "a"})
    meta = {"identity": ident.to_json()}
    numerics = compare(meta["identity"], ident, same_key=True, golden_platform="cpu-avx2")
    stages, values = stage_evidence(golden_out, current)
    ev = Evidence(golden=Golden("qwen", "cpu-avx2", Path("g"), meta), match="exact", numerics=numerics,
                  comparison=Comparison(values={"max_abs": 0.0}, mismatch=[]), stages=stages, stage_values=values)
    return judge(Subject(id="qwen", output=current), ev, {"max_abs": Threshold(0.0, "case")}, platform="cpu-avx2",
                 suite=suite, strict=True)


LATENT = np.arange(12, dtype=np.float32).reshape(3, 4)


@pytest.mark.parametrize(("golden", "current", "says"), [
    ({"denoise/step000": np.zeros((0, 4), np.float32)}, {"denoise/step000": np.zeros((0, 4), np.float32)},
     "denoise/step000: empty tensor"),
    ({}, {"denoise/step000": LATENT}, "holds no tensor"),
    ({"denoise/step000": LATENT}, None, "denoise/step000: missing in this run"),
    ({"denoise/step000": LATENT}, {"denoise/renamed": LATENT}, "denoise/step000: missing in this run"),
], ids=["zero-size", "no tensor at all", "run makes none", "renamed"])
def test_stage_checkpoints_that_cannot_be_compared_fail(golden, current, says: str) -> None:  # noqa: ANN001
    v = _stage_verdict(golden, current)
    assert v.status == "failed", v.message()
    assert any(r.startswith("stage checkpoints that cannot be compared") and says in r for r in v.reasons), v.reasons


def test_a_bf16_stage_tensor_is_one_line(tmp_path: Path) -> None:
    import struct

    from regress.outputs import load_stages

    header = json.dumps({"denoise/step000": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    path = tmp_path / "stages.safetensors"
    path.write_bytes(struct.pack("<Q", len(header)) + header + b"\x80\x3f\x00\x40")
    with pytest.raises(OutputError) as info:
        load_stages(path)
    assert "BF16" in _one_line(info.value, path) and "float32" in str(info.value)


# --------------------------------------------------------------------------- 6. unlisted tracks

def test_a_track_file_the_meta_does_not_list_is_refused(tmp_path: Path) -> None:
    from regress.outputs import write_npz
    from regress.stores.base import Golden, StagedGolden, load_meta

    image = np.full((8, 8, 3), 100, np.uint8)
    StagedGolden("qwen", "cpu-avx2", Output(image=image)).write(tmp_path)
    assert Golden("qwen", "cpu-avx2", tmp_path, load_meta(tmp_path)).output().image is not None
    video = write_npz(frames=np.zeros((2, 8, 8, 3), np.uint8), fps=np.float64(8.0))
    (tmp_path / "output.npz").write_bytes(video)  # not in meta.json: no hash verifies it
    assert hashlib.sha256(video).hexdigest() not in (tmp_path / "meta.json").read_text()
    with pytest.raises(StoreError, match="output.npz: present but not listed in meta.json"):
        Golden("qwen", "cpu-avx2", tmp_path, load_meta(tmp_path)).output()


def test_regress_error_is_the_base() -> None:
    assert issubclass(StoreError, RegressError)
