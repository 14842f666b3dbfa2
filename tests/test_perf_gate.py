"""The peak-memory gate (and the optional wall-time gate) against the golden's meta."""

from __future__ import annotations

from pathlib import Path

import pytest
from suite_edit import edit_suite

from regress.golden_records import PerfRecord
from regress.errors import SuiteError
from regress.suite import load_suite
from regress.perf_diff import gate_lines, perf_diff

MiB = 1 << 20


def gate(golden: dict, current: dict, mem: float | None = 0.02, time: float | None = None):
    diff = perf_diff(PerfRecord.from_json(golden), PerfRecord.from_json(current))
    return gate_lines(diff.check(memory_tolerance=mem, time_tolerance=time))


def perf(decode: int, total: int, wall: float = 1.0, source: str = "cuda.max_memory_allocated") -> dict:
    return {"wall_s": wall, "peak_memory": {"decode": decode, "total": total}, "memory_source": source}


def _thresholds(d: dict, **defaults: float) -> None:
    """Metric gates loose enough to let a precision switch through, and the fingerprint only
    warned about: what is left to fail is the perf gate."""
    d["suite"]["fingerprint"] = "warn"
    d["defaults"].update(defaults)


def test_growth_beyond_tolerance_fails_with_stage_and_both_figures() -> None:
    failures, notes = gate(perf(100 * MiB, 100 * MiB), perf(103 * MiB, 101 * MiB))
    assert failures == ["peak memory decode 100.00 MiB -> 103.00 MiB (+3.0%, tolerance 2%, "
                        "cuda.max_memory_allocated)"]
    assert notes == []


def test_drop_is_an_improvement_not_a_failure() -> None:
    failures, notes = gate(perf(64098 * MiB, 64098 * MiB), perf(58518 * MiB, 58518 * MiB))
    assert failures == []
    assert notes[0].startswith("improvement: peak memory decode") and "(-8.7%" in notes[0]


def test_different_measurements_are_not_compared() -> None:
    assert gate(perf(1, 1, source="profiler"), perf(9, 9)) == ([], [])
    assert gate(perf(1, 1), perf(9, 9), mem=None) == ([], [])


def test_wall_time_gate_is_opt_in() -> None:
    assert gate(perf(1, 1, wall=1.0), perf(1, 1, wall=2.0)) == ([], [])
    failures, _ = gate(perf(1, 1, wall=1.0), perf(1, 1, wall=2.0), time=0.5)
    assert failures == ["wall time 1.000s -> 2.000s (+100.0%, tolerance 50%)"]


def test_suite_tolerance_settings(tmp_path: Path) -> None:
    p = tmp_path / "suite.toml"
    base = '[store]\nkind = "file"\npath = "s"\n'
    p.write_text('[suite]\nmemory_tolerance = 0.05\ntime_tolerance = 0.5\n' + base)
    s = load_suite(p)
    assert s.memory_tolerance == 0.05 and s.time_tolerance == 0.5
    p.write_text('[suite]\nmemory_tolerance = false\n' + base)
    assert load_suite(p).memory_tolerance is None and load_suite(p).time_tolerance is None
    p.write_text('[suite]\nmemory_tolerance = -1\n' + base)
    with pytest.raises(SuiteError, match="suite.memory_tolerance"):
        load_suite(p)


def test_vae_fp32_fails_on_cpu_peak_memory_with_stage(project: Path) -> None:
    """The bf16-VAE change, backwards: with the fingerprint check lowered to a warning and
    metrics loosened, the profiler-measured peak memory alone fails the case."""
    from regress.session import GoldenSession, Options

    suite_path = project / "goldens" / "suite.toml"
    edit_suite(suite_path, lambda d: _thresholds(d, ssim=0.9, psnr=20.0, max_abs=64, mean_abs=8.0))
    suite = load_suite(suite_path)
    session = GoldenSession(suite, Options(device="cpu", precision={"vae": "fp32"}))
    v = session.check(suite.case("qwen")).verdict
    assert v.status == "failed"
    assert all(m.passed for m in v.metrics.values() if m.passed is not None)
    mem = [r for r in v.reasons if r.startswith("peak memory decode")]
    assert mem and "tolerance 2%, profiler" in mem[0] and "->" in mem[0]
    assert any("precision changed: vae bf16 -> fp32" in w for w in v.warnings)


cuda = pytest.importorskip("torch").cuda


@pytest.mark.skipif(not cuda.is_available(), reason="needs a CUDA (or ROCm) GPU: run on the GPU machine")
def test_vae_fp32_fails_on_cuda_peak_memory_with_stage(golden_project: Path, tmp_path: Path, write_golden) -> None:
    """The same gate on CUDA, measured with the allocator (torch.cuda.max_memory_allocated)."""
    import shutil

    from regress.session import GoldenSession, Options

    root = tmp_path / "cuda-project"
    shutil.copytree(golden_project, root)
    suite_path = root / "goldens" / "suite.toml"
    edit_suite(suite_path, lambda d: _thresholds(d, ssim=-1, psnr=0, max_abs=255, mean_abs=255))
    write_golden(suite_path, "qwen", device="cuda")
    session = GoldenSession(load_suite(suite_path), Options(device="cuda", precision={"vae": "fp32"}))
    v = session.check(session.suite.case("qwen")).verdict
    assert v.status == "failed", v.message()
    mem = [r for r in v.reasons if r.startswith("peak memory decode")]
    assert mem and "cuda.max_memory_allocated" in mem[0], v.message()
    print("CUDA memory gate:", v.message())


@pytest.mark.skipif(not cuda.is_available(), reason="needs a CUDA (or ROCm) GPU: run on the GPU machine")
def test_cuda_stage_times_from_events_fit_inside_the_call() -> None:
    """On CUDA the stage boundaries are stream events read after the call's one sync: every
    stage has a positive time and a peak, and the stages fit in the call's wall time."""
    from regress.runners import get_runner
    from regress.suite import Case

    case = Case(id="q", pipeline="qwen-image", prompt="a fox", height=32, width=32, steps=2,
                max_sequence_length=32)
    runner = get_runner("qwen-image")
    pipe = runner.build(case, {}, "cuda")
    perf = runner.run(pipe, case, "cuda").perf
    assert set(perf.stages) == {"text_encode", "denoise", "decode"}
    assert all(t > 0 for t in perf.stages.values())
    assert sum(perf.stages.values()) <= perf.wall_s * 1.01
    assert perf.memory_source == "cuda.max_memory_allocated"
    assert all(perf.peak_memory[s] > 0 for s in ("text_encode", "denoise", "decode", "total"))


def test_setting_changes_compare_only_what_both_recorded() -> None:
    from regress.settings import diff_settings, golden_settings

    legacy = {"torch": "2.11", "cudnn.benchmark": "False", "cuda.matmul.allow_tf32": "False"}
    golden = golden_settings(None, legacy)  # a golden from before the settings block: its flags in versions
    assert golden == {"cudnn.benchmark": "False", "cuda.matmul.allow_tf32": "False"}
    assert diff_settings(golden, {**golden, "autocast": "off"}) == []  # recorded on one side only: unknown
    [c] = diff_settings(golden, {**golden, "cudnn.benchmark": "True"})
    assert c.line() == "cudnn.benchmark False -> True"
    assert diff_settings({}, {"cudnn.benchmark": "True"}) == []  # a golden that recorded none
    # a stage's value not recorded means it was the run's start value
    assert [c.line() for c in diff_settings({"autocast": "off"}, {"autocast": "off", "autocast@decode": "cpu:bfloat16"})] \
        == ["autocast@decode off -> cpu:bfloat16"]


def test_other_settings_fail_unless_allowed_and_are_not_memory_gated(project: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    write_golden) -> None:
    """A golden made under one cudnn.benchmark setting, a run under the other (simulated on CPU):
    the verdict fails and names the setting; allowed by the suite, it passes with a warning and
    the peak-memory gate (autotuning workspace) stays off; same settings: the gate is back."""
    from regress.runners import diffusers_family as df
    from regress.session import GoldenSession, Options

    real = df.precision_settings

    def with_flags(benchmark: str):  # noqa: ANN202
        return lambda device: {**real(device), "cudnn.benchmark": benchmark, "cudnn.allow_tf32": "True"}

    suite_path = project / "goldens" / "suite.toml"
    edit_suite(suite_path, lambda d: _thresholds(d, ssim=0.9, psnr=20.0, max_abs=64, mean_abs=8.0))
    monkeypatch.setattr(df, "precision_settings", with_flags("False"))
    write_golden(suite_path, "qwen", update="all")

    monkeypatch.setattr(df, "precision_settings", with_flags("True"))
    session = GoldenSession(load_suite(suite_path), Options(device="cpu", precision={"vae": "fp32"}))
    v = session.check(session.suite.case("qwen")).verdict
    assert v.status == "failed" and v.reasons[0].startswith("precision settings changed: cudnn.benchmark False -> True")
    assert v.settings["changed"] == [{"setting": "cudnn.benchmark", "golden": "False", "current": "True",
                                      "allowed": False}]

    edit_suite(suite_path, lambda d: d["suite"].update(allowed_settings=["cudnn"]))
    session = GoldenSession(load_suite(suite_path), Options(device="cpu", precision={"vae": "fp32"}))
    v = session.check(session.suite.case("qwen")).verdict
    assert v.status == "passed", v.message()  # the fp32 VAE's extra memory is not gated across settings
    note = [w for w in v.warnings if w.startswith("precision settings changed")]
    assert note and "cudnn.benchmark False -> True" in note[0] and "not gated" in note[0]
    monkeypatch.setattr(df, "precision_settings", with_flags("False"))  # same settings: the gate is back
    same = GoldenSession(load_suite(suite_path), Options(device="cpu", precision={"vae": "fp32"}))
    v = same.check(same.suite.case("qwen")).verdict
    assert v.status == "failed" and any(r.startswith("peak memory decode") for r in v.reasons)
