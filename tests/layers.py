"""regress's import layers, declared once, and the measures read from them.

A module may import modules of its own layer or of a layer below, never one above: then each
layer can be read, tested and changed from what is below it. The order is the one the code
has (tests/test_structure.py checks it against every import, lazy and type-only included):
a record such as ``Verdict`` or ``Threshold`` is imported by the stores' schema (``models``),
so the records sit below the stores, and judging is the logic that reads them.

Used by tests/test_structure.py and benchmarks/bench_walk.py (the judging walk).
"""

from __future__ import annotations

import fnmatch
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "regress"

# Lowest first. Patterns are fnmatch globs over dotted module names; a module matches the
# first layer that names it. A new module must be placed here (the test says so by name).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("utilities", ("regress.metrics", "regress.errors", "regress.env", "regress.digest", "regress.atomic", "regress.background",
                   "regress.measured", "regress.modes", "regress.naming", "regress.numerics", "regress.options",
                   "regress.quiet", "regress.schema", "regress.settings", "regress.status", "regress.outcome",
                   "regress.tf32", "regress.progress", "regress.precision", "regress.probe", "regress.probing",
                   "regress.devices", "regress.kernels", "regress.platform", "regress.shard", "regress.shapes",
                   "regress.shapes.*", "regress.metrics.catalog")),
    ("records", ("regress.outputs", "regress.output_files", "regress.case", "regress.suite", "regress.suite_fields",
                 "regress.thresholds", "regress.verdict", "regress.models", "regress.records",
                 "regress.json_record", "regress.golden_records", "regress.perf_diff", "regress.parallel")),
    ("metrics", ("regress.metrics", "regress.metrics.*")),
    ("runners", ("regress.runners", "regress.runners.*", "regress.pipelines")),
    ("stores", ("regress.lock", "regress.stores", "regress.stores.*")),
    ("judging", ("regress.bounds", "regress.gate", "regress.lpips_policy", "regress.judge", "regress.evidence",
                 "regress.staging", "regress.provenance")),
    ("report", ("regress.report", "regress.report.*", "regress.media")),
    ("session", ("regress.context", "regress.warmup", "regress.case_run", "regress.run_results", "regress.ab",
                 "regress.references", "regress.compiled", "regress.parallel_run", "regress.session")),
    ("workflows", ("regress.refresh", "regress.bisect", "regress.drift", "regress.drift_paths", "regress.calibrate", "regress.sweep",
                   "regress.abrun", "regress.parallel_rank", "regress.parallel_faults")),
    ("front ends", ("regress", "regress.__main__", "regress.cli", "regress.commands", "regress.commands.*",
                    "regress.select", "regress.project", "regress.plugin", "regress.plugin_options",
                    "regress.fixture", "regress.items", "regress.suite_sessions", "regress.session_end",
                    "regress.terminal_summary", "regress.workers")),
)


def layer_of(module: str) -> int | None:
    """The index of ``module``'s layer (0: lowest), or None where no layer names it."""
    for i, (_, patterns) in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(module, p) for p in patterns):
            return i
    return None


def module_of(filename: str) -> str | None:
    """The dotted name of a regress source file, or None for a file outside regress/."""
    path = Path(filename)
    try:
        parts = list(path.resolve().relative_to(PACKAGE.parent).with_suffix("").parts)
    except ValueError:
        return None
    if parts[0] != "regress":
        return None
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@dataclass
class Walk:
    """One traced call path through regress: the module of each Python call, in order, and
    the calls that climbed from a lower layer into a higher one."""

    modules: list[str] = field(default_factory=list)
    climbs: list[tuple[str, str]] = field(default_factory=list)  # (caller module, callee module)

    @property
    def stays(self) -> list[str]:
        """Maximal runs of consecutive calls in one module, by module."""
        runs: list[str] = []
        for m in self.modules:
            if not runs or runs[-1] != m:
                runs.append(m)
        return runs

    @property
    def rooms(self) -> list[str]:
        return sorted(set(self.modules))

    @property
    def returns(self) -> int:
        """Stays in a module already left earlier in the walk."""
        seen: set[str] = set()
        count = 0
        for m in self.stays:
            count += m in seen
            seen.add(m)
        return count

    def summary(self) -> str:
        return (f"{len(self.stays)} stays in {len(self.rooms)} rooms, {len(self.climbs)} climbs back up, "
                f"{self.returns} returns to rooms already left")


def trace(work: Callable[[], object]) -> Walk:
    """Run ``work`` under ``sys.setprofile`` (this thread) and record every call of a regress
    function: its module, and a climb where the nearest regress caller is in a lower layer."""
    walk = Walk()
    names: dict[str, str | None] = {}

    def module(frame: object) -> str | None:
        filename = frame.f_code.co_filename  # type: ignore[attr-defined]
        if filename not in names:
            names[filename] = module_of(filename)
        return names[filename]

    def profile(frame: object, event: str, _arg: object) -> None:
        if event != "call" or frame.f_code.co_name == "<module>":  # type: ignore[attr-defined]
            return  # (a module's import is not a step of the walk)
        callee = module(frame)
        if callee is None:
            return
        walk.modules.append(callee)
        caller_frame = frame.f_back  # type: ignore[attr-defined]
        while caller_frame is not None and module(caller_frame) is None:
            caller_frame = caller_frame.f_back
        if caller_frame is None:
            return
        caller = module(caller_frame)
        low, high = layer_of(caller or ""), layer_of(callee)
        if low is not None and high is not None and high > low:
            walk.climbs.append((caller or "", callee))

    sys.setprofile(profile)
    try:
        work()
    finally:
        sys.setprofile(None)
    return walk


def walks(tmp_path: Path) -> tuple[Walk, Walk]:
    """(the judging walk, the golden's read). The judging walk: one ``result`` through
    :meth:`GoldenSession.judge`, a synthetic 32x32 image case, its golden written first, a
    changed image judged against it once to warm up, then once more, traced. The golden is
    read as :meth:`GoldenSession.check` reads it, on the I/O thread while the case runs
    (:meth:`GoldenSession.read_golden`), so that read is not a step of the result's walk; it is
    traced on its own (``evidence.load_golden``), second."""
    import numpy as np

    from regress.outputs import Output
    from regress.runners.base import Perf, RunResult
    from regress.session import GoldenSession, Options
    from regress.suite import Case, load_suite

    (tmp_path / "goldens").mkdir(parents=True, exist_ok=True)
    (tmp_path / "goldens" / "suite.toml").write_text(
        '[store]\nkind = "file"\npath = "store"\n\n[defaults]\nssim = 0.99\npsnr = 40.0\nmax_abs = 8\n')
    suite = load_suite(tmp_path / "goldens" / "suite.toml")
    ramp = np.linspace(0, 255, 32, dtype=np.float32)
    image = np.stack([np.add.outer(ramp, ramp) / 2, np.tile(ramp, (32, 1)), np.tile(ramp[:, None], (1, 32))],
                     axis=-1).astype(np.uint8)
    case = Case(id="walk", pipeline="fixture")

    def result(img: np.ndarray) -> RunResult:
        return RunResult(output=Output(image=img), fingerprint={}, perf=Perf(wall_s=0.0))

    maker = GoldenSession(suite, Options(device="cpu", platform="cpu-avx2", update="missing"))
    try:
        assert maker.judge(case, result(image)).verdict.status == "written"
        maker.publish()
    finally:
        maker.close()
    changed = image.copy()
    changed[4:8, 4:8] ^= 1
    session = GoldenSession(suite, Options(device="cpu", platform="cpu-avx2"))
    try:
        # The platform key and the store are opened before the walk (once per session, not per
        # judgement): the walk is the judging.
        # So are the modules and caches a first judgement loads: one judgement runs untraced.
        session.platform, session.store  # noqa: B018
        session.judge(case, result(changed), prefetched=session.read_golden(case.id))
        run, golden = result(changed), session.read_golden(case.id)
        assert golden is not None
        golden.result()  # (read while the case ran)
        walk = trace(lambda: session.judge(case, run, prefetched=golden))
        from regress.evidence import load_golden

        read = trace(lambda: load_golden(session.store, case.id, session.platform))
    finally:
        session.close()
    return walk, read
