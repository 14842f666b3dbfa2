"""Parallel cases (issue 28): the ``parallel`` layout in the spec, settings and identity; the
launch over torch's launcher with gloo and two ranks; the merge of the ranks' results; injected
sharding faults that must fail, against the case's own golden and against its one-process twin.

The launches run the tiny Flux pipeline through diffusers' context parallelism on the CPU (about
8 s each on 2 cores); the layout, identity and merge tests are synthetic and take milliseconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from regress.errors import RunnerError, SuiteError
from regress.numerics import DRIFT, EXACT, Identity, compare
from regress.outputs import Output
from regress.parallel import Layout, layout_of, parse
from regress.suite import load_suite

CASE = """
[[case]]
id = "{id}"
pipeline = "flux"
prompt = "a squirrel"
height = 32
width = 32
steps = 2
guidance = 5.0
max_sequence_length = 48
{extra}
"""
HEAD = """
[suite]
name = "parallel"
[store]
kind = "file"
path = "store"
[defaults]
ssim = 0.9999
psnr = 60.0
max_abs = 2
mean_abs = 0.05
"""


def _suite(tmp_path: Path, *cases: tuple[str, str]) -> Path:
    (tmp_path / "goldens").mkdir(exist_ok=True)
    path = tmp_path / "goldens" / "suite.toml"
    path.write_text(HEAD + "".join(CASE.format(id=i, extra=extra) for i, extra in cases))
    return path


# ---------------------------------------------------------------- the layout in the suite and the spec

@pytest.mark.parametrize(("extra", "field", "says"), [
    ("parallel = { context = 2, ulysses = 2 }", "parallel.context", "not both"),
    ("parallel = { tensor = 2 }", "parallel.tensor", "unknown key"),
    ("parallel = { ring = 0 }", "parallel.ring", "between 1 and 64"),
    ("parallel = { ring = true }", "parallel.ring", "must be an integer"),
    ("parallel = { ulysses = 1 }", "parallel", "at least 2"),
    ("parallel = 2", "parallel", "must be a table"),
])
def test_a_bad_parallel_table_is_one_line(tmp_path: Path, extra: str, field: str, says: str) -> None:
    with pytest.raises(SuiteError) as err:
        load_suite(_suite(tmp_path, ("cp", extra)))
    line = str(err.value)
    assert "\n" not in line and "'cp'" in line and field in line and says in line


def test_the_layout_is_part_of_the_spec_and_one_process_hashes_stay(tmp_path: Path) -> None:
    suite = load_suite(_suite(tmp_path, ("one", ""), ("cp", "parallel = { context = 2 }"),
                              ("cp-u", "parallel = { ulysses = 2 }"), ("ring", "parallel = { ring = 2 }")))
    one, cp, cp_u, ring = suite.cases
    assert "parallel" not in one.spec()  # goldens made before the field keep their hash
    assert cp.spec()["parallel"] == {"ulysses": 2} and cp.spec_hash() == cp_u.spec_hash()  # one layout, one hash
    assert len({one.spec_hash(), cp.spec_hash(), ring.spec_hash()}) == 3
    assert cp.layout == Layout(ulysses=2) and cp.layout.world_size == 2 and one.layout is None
    assert suite.one_process_twin(cp) is one and suite.one_process_twin(one) is None
    assert parse("ulysses=2,ring=2") == Layout(2, 2) and layout_of({}) == Layout()
    with pytest.raises(ValueError, match="not KEY=N"):
        parse("ulysses")


def test_the_layout_is_part_of_the_numerics_identity() -> None:
    """A golden of another layout, or of one process, is never judged exactly, whatever the probe says."""
    probe = {"fp32.matmul": "aa", "fp32.sdpa": "bb"}
    one = Identity(installed={"torch": "2"}, probe=probe)
    cp2 = Identity(installed={"torch": "2", "parallel": "ulysses=2 ring=1 world=2 gloo"}, probe=probe)
    ring2 = Identity(installed={"torch": "2", "parallel": "ulysses=1 ring=2 world=2 gloo"}, probe=probe)
    assert compare(cp2.to_json(), cp2, same_key=True).regime == EXACT
    for golden, current in ((one, cp2), (cp2, one), (cp2, ring2)):
        numerics = compare(golden.to_json(), current, same_key=True)
        assert numerics.regime == DRIFT and "parallel" in numerics.ops
        assert "parallel" in numerics.describe()


# ---------------------------------------------------------------- the merge of the ranks

def _rank(rank: int, image: np.ndarray, wall: float = 1.0, source: str = "cuda.max_memory_allocated"):  # noqa: ANN202
    from regress.parallel_run import RankResult, output_digest
    from regress.runners import Perf

    out = Output(image=image)
    perf = Perf(wall_s=wall, peak_memory={"denoise": 2**29, "total": 2**30 * (rank + 1)}, memory_source=source)
    return RankResult(rank=rank, output=out, digest=output_digest(out.encode()), fingerprint={"transformer": "fp32"},
                      perf=perf, versions={}, settings={"parallel": "ulysses=2 ring=1 world=2 gloo"})


def test_ranks_that_agree_merge_into_rank_zeros_result() -> None:
    from regress.parallel_run import merge

    image = np.full((8, 8, 3), 7, np.uint8)
    merged = merge([_rank(1, image, wall=3.0), _rank(0, image)], case_id="cp")
    assert np.array_equal(merged.output.image, image) and merged.perf.wall_s == 3.0  # the slowest rank
    # rank 0's stages, and every other rank's own peak beside them (gated like the stages)
    assert merged.perf.peak_memory == {"denoise": 2**29, "total": 2**30, "rank1.total": 2**31}
    assert merged.settings == {"parallel": "ulysses=2 ring=1 world=2 gloo"}  # nothing that varies by launch
    # the CPU profiler's peak of a gloo rank varies by launch: not measured, so never gated at random
    on_cpu = merge([_rank(0, image, source="profiler"), _rank(1, image, source="profiler")], case_id="cp")
    assert on_cpu.perf.memory_source == "none" and on_cpu.perf.peak_memory == {}


def test_a_rank_that_differs_from_rank_zero_fails_naming_it() -> None:
    from regress.parallel_run import merge

    image = np.full((8, 8, 3), 7, np.uint8)
    other = image.copy()
    other[0, 0, 0] = 8  # one code in one pixel
    with pytest.raises(RunnerError, match="rank 2's output differs from rank 0's"):
        merge([_rank(0, image), _rank(1, image), _rank(2, other)], case_id="cp")
    with pytest.raises(RunnerError, match="rank 0 returned no result"):
        merge([_rank(1, image)], case_id="cp")


# ---------------------------------------------------------------- two gloo ranks under torchrun

def _gloo() -> bool:
    try:
        import torch.distributed as dist

        return dist.is_available() and dist.is_gloo_available()
    except ImportError:
        return False


gloo = pytest.mark.skipif(not _gloo(), reason="torch.distributed with the gloo backend is not available")


@gloo
def test_a_parallel_case_runs_over_two_ranks_and_faults_fail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The launch end to end: torchrun starts two gloo ranks, diffusers splits the tiny Flux
    transformer's sequence over them, the launcher merges them; the run is judged against its
    one-process twin in the drift regime, then against its own golden exactly; a dropped shard
    fails both; an unknown fault fails the case naming rank 0."""
    from regress.session import GoldenSession, Options

    path = _suite(tmp_path, ("one", ""), ("cp", "parallel = { context = 2 }"))
    maker = GoldenSession(load_suite(path), Options(device="cpu", update="missing"))
    assert maker.check(maker.suite.case("one")).verdict.status == "written"
    maker.publish()

    def check(**options):  # noqa: ANN003, ANN202
        session = GoldenSession(load_suite(path), Options(device="cpu", **options))
        run = session.check(session.suite.case("cp"))
        if options.get("update") == "missing":
            session.publish()
        return run

    across = check()
    assert across.verdict.status == "passed", across.verdict.reasons
    assert across.result.settings["parallel"] == "ulysses=2 ring=1 world=2 gloo"
    assert across.verdict.numerics["line"].startswith("parallel drift: parallel run (ulysses=2 ring=1 world=2 gloo) "
                                                      "judged against the one-process golden of 'one'")
    assert check(update="missing").verdict.status == "written"
    own = check()
    assert own.verdict.status == "passed" and own.verdict.numerics["regime"] == "exact", own.verdict.reasons

    monkeypatch.setenv("REGRESS_PARALLEL_FAULT", "dropped-shard")
    assert check().verdict.status == "failed"  # against its own golden: exact
    monkeypatch.setenv("REGRESS_PARALLEL_FAULT", "gather-order-rank1")  # the ranks disagree: the merge names rank 1
    split = check()
    assert split.verdict.status == "error" and "rank 1's output differs from rank 0's" in split.verdict.reasons[0]
    monkeypatch.setenv("REGRESS_PARALLEL_FAULT", "no-such-fault")
    broken = check()
    assert broken.verdict.status == "error" and "rank 0 failed: unknown sharding fault" in broken.verdict.reasons[0]


def test_drift_calibration_can_add_a_parallel_path() -> None:
    from regress.drift_paths import variants
    from regress.env import REGRESS_PARALLEL

    last = variants("cpu", flags=frozenset(), threads=2, parallel=Layout(ulysses=2))[-1]
    assert last.label == "parallel ulysses=2 ring=1 world=2" and last.env == {REGRESS_PARALLEL: "ulysses=2"}
    assert parse(last.env[REGRESS_PARALLEL]) == Layout(ulysses=2)  # what the drift worker runs the cases over


def test_calibrate_refuses_a_bad_layout_in_one_line(tmp_path: Path) -> None:
    import subprocess
    import sys

    path = _suite(tmp_path, ("one", ""))
    proc = subprocess.run([sys.executable, "-m", "regress", "calibrate", "--suite", str(path), "--drift",
                           "--parallel", "ring=0"], capture_output=True, text=True)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "--parallel" in proc.stderr and "between 1 and 64" in proc.stderr
