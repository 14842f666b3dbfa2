"""Framework overhead: the tiny suite through `pytest -m golden` vs the bare pipeline calls.

Both sides run in this one process with warm imports (a warm-up pytest run first). The bare
side builds each case's pipeline with the same builder and calls it with the same inputs:
pipeline construction and the pipeline call count as pipeline time; everything else that
`pytest -m golden` does (collection, golden lookup and sha256 checks, metrics, memory
measurement, verdicts, the report) is overhead.

Three measurements (the third on request):

* bare vs framework: medians of alternating rounds. On a shared GPU host the bare side alone
  moves by +-30% between rounds, so this ratio is as noisy as the machine.
* in-run split: inside each `pytest -m golden` run, the time spent in pipeline construction
  (`build`) and in the pipeline's `__call__` is clocked where it happens; the rest of the
  run's wall time is the overhead. Both sides of this split come from the same run, so
  machine drift cancels; its per-round ratios are the headline figure. (The stage
  synchronisations the meter adds inside the call would count as pipeline time here; a
  per-case loop of bare calls against `runner.run` on one pipeline measured them at noise
  level on the H100.)
* fresh processes (``--fresh N``): a bare script against ``python -m pytest -m golden``, each
  a new process, as CI runs them; start-up, imports and CUDA initialisation vary by seconds
  between processes there, far more than the whole overhead.

The overhead is further split into pytest's own floor and regress's share: the floor is the
same `pytest.main` invocation on as many no-op items as the suite has cases (start-up, plugin
loading, collection, per-test capture and reporting, which any pytest run pays), measured in
the same rounds. The no-op items are custom ``pytest.Item`` nodes like the golden cases, not
test functions, which other installed plugins treat differently, and they sit beside the
suite, so that pytest reads the same ini file and conftest.py.

The framework's overhead, the figure issue 7 bounds at 5%, is regress's share: the in-run
overhead minus that floor. pytest's floor is printed beside it; most of it on a host with many
installed packages is pytest scanning them for plugins, which `--no-autoload` measures
switched off (``PYTEST_DISABLE_PLUGIN_AUTOLOAD=1`` with ``-p regress.plugin``, what a
golden-only CI job can run).

    python benchmarks/bench_overhead.py [--suite goldens/suite.toml] [--device cuda] [--rounds 3] [--no-autoload]
                                        [--fresh N]   (--rounds 0 --fresh N: fresh processes only)

Prints tables and the final `RESULT split ...` / `RESULT overhead ...` lines. Run on CPU here
and on the H100.
"""

from __future__ import annotations

import argparse
import atexit
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def machine(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.get_device_name(0)}, torch {torch.__version__}"
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"


class PipelineClock:
    """Seconds spent inside ``DiffusersFamily.build`` and inside the built pipelines'
    ``__call__``, accumulated while installed (same wrappers for the bare and framework runs)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0
        self._patched: set[type] = set()

    def install(self) -> None:
        from regress.runners.diffusers_family import DiffusersFamily

        build = DiffusersFamily.build
        clock = self

        def timed_build(runner, case, precision, device):  # noqa: ANN001, ANN202
            built = clock._timed(build, runner, case, precision, device)
            cls = type(built.pipe)
            if cls not in clock._patched:
                call = cls.__call__
                cls.__call__ = lambda self, *a, **k: clock._timed(call, self, *a, **k)
                clock._patched.add(cls)
            return built

        DiffusersFamily.build = timed_build

    def _timed(self, fn, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
        if self._depth:  # a pipeline calling into another: count the outer span only
            return fn(*args, **kw)
        self._depth += 1
        t0 = time.perf_counter()
        try:
            return fn(*args, **kw)
        finally:
            self.seconds += time.perf_counter() - t0
            self._depth -= 1


CLOCK = PipelineClock()


def bare(suite_path: Path, device: str) -> float:
    """Build + one call per case, calling the diffusers pipeline directly (no regress session)."""
    import torch

    from regress.runners import get_runner
    from regress.suite import load_suite

    suite = load_suite(suite_path)
    total = 0.0
    for case in suite.cases:
        runner = get_runner(case.pipeline)
        t0 = time.perf_counter()
        # The pipeline as regress builds it (same dtypes, and the latents cast to the VAE's dtype
        # that some diffusers pipelines lack), called directly: no session, store or metrics.
        pipe = runner.build(case, {}, device).pipe
        kw = runner.call_kwargs(case)
        gen = torch.Generator("cpu").manual_seed(case.seed)
        with torch.no_grad():
            pipe(**kw, generator=gen, output_type="np")
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        total += time.perf_counter() - t0
        del pipe
    return total


def plugin_args() -> list[str]:
    """``-p regress.plugin`` where pytest will not load it by itself: regress on sys.path but not
    pip-installed (a GPU box with PYTHONPATH), or plugin autoloading switched off
    (``PYTEST_DISABLE_PLUGIN_AUTOLOAD``, see ``--no-autoload``)."""
    from importlib.metadata import entry_points

    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return ["-p", "regress.plugin"]
    installed = any(ep.value == "regress.plugin" for ep in entry_points(group="pytest11"))
    return [] if installed else ["-p", "regress.plugin"]


def framework(suite_path: Path, device: str, report: bool = True) -> float:
    import pytest

    report_dir = tempfile.mkdtemp(prefix="regress-bench-")
    args = [*plugin_args(), str(suite_path), f"--golden-suite={suite_path}", "-m", "golden", "-q", "-p", "no:cacheprovider",
            f"--golden-device={device}"] + ([f"--golden-report={report_dir}"] if report else [])
    t0 = time.perf_counter()
    code = pytest.main(args)
    dt = time.perf_counter() - t0
    if code != 0:
        sys.exit(f"pytest -m golden failed (exit {code}): the overhead of a failing run is not measured")
    return dt


_FLOOR_DIR: Path | None = None


def _noop_items_plugin():  # noqa: ANN202
    """A plugin collecting one no-op item per line of a ``*.noop`` file: the same kind of node
    as a golden case (a ``pytest.Item`` subclass with no fixtures, marked ``golden``), so that
    plugins acting on test functions (hypothesis, mock, timeout wrappers of functions) cost
    the floor nothing that the suite's items do not pay too. Plain ``def test_...()`` functions
    made the floor ~10 ms dearer than the suite's own per-item cost on the H100 host, which
    showed as a smaller regress share with plugin autoload on than off."""
    import pytest

    class NoopItem(pytest.Item):
        def runtest(self) -> None:
            pass

        def reportinfo(self):  # noqa: ANN202
            return self.path, 0, f"noop {self.name}"

    class NoopFile(pytest.File):
        def collect(self):  # noqa: ANN202
            for name in self.path.read_text().split():
                item = NoopItem.from_parent(self, name=name)
                item.add_marker("golden")
                yield item

    class NoopItems:
        @staticmethod
        def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
            return NoopFile.from_parent(parent, path=file_path) if file_path.suffix == ".noop" else None

    return NoopItems()


def pytest_floor(n_tests: int, device: str, project: Path) -> float:
    """pytest.main on ``n_tests`` no-op items with the same flags: what pytest itself costs.

    The items live beside the suite (a hidden folder, removed at exit), so that pytest finds
    the same rootdir, ini file and conftest.py as for the suite: a project's own pytest
    configuration is pytest's cost, not regress's."""
    import pytest

    global _FLOOR_DIR
    if _FLOOR_DIR is None:  # one file for every round
        _FLOOR_DIR = Path(tempfile.mkdtemp(prefix=".regress-floor-", dir=project))
        atexit.register(shutil.rmtree, _FLOOR_DIR, True)
    path = _FLOOR_DIR / "cases.noop"
    path.write_text("".join(f"case{i}[{device}]\n" for i in range(n_tests)))
    t0 = time.perf_counter()
    code = pytest.main([*plugin_args(), str(path), "-m", "golden", "-q", "-p", "no:cacheprovider",
                        f"--golden-device={device}"], plugins=[_noop_items_plugin()])
    dt = time.perf_counter() - t0
    if code != 0:
        sys.exit(f"the no-op pytest run failed (exit {code})")
    return dt


def fresh_processes(suite: Path, device: str, report: bool, pairs: int) -> None:
    """The suite as CI runs it: each side a fresh process, alternating. Bare: a Python process
    that imports torch and the builders and does :func:`bare`; framework: ``python -m pytest
    -m golden``. Both pay interpreter start-up, imports, CUDA initialisation and the first
    calls' kernel loading, which the warm rounds leave out; the framework side also pays
    pytest's start-up and collection and gains regress's frozen heap (fewer garbage
    collections in a fresh process)."""
    import subprocess

    bare_cmd = [sys.executable, str(Path(__file__).resolve()), "--bare-once", "--suite", str(suite), "--device", device]
    rows = []
    for _ in range(pairs):
        t0 = time.perf_counter()
        subprocess.run(bare_cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        b = time.perf_counter() - t0
        report_args = [f"--golden-report={tempfile.mkdtemp(prefix='regress-bench-')}"] if report else []
        cmd = [sys.executable, "-m", "pytest", *plugin_args(), str(suite), f"--golden-suite={suite}", "-m", "golden",
               "-q", "-p", "no:cacheprovider", f"--golden-device={device}", *report_args]
        t0 = time.perf_counter()
        code = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
        f = time.perf_counter() - t0
        if code != 0:
            sys.exit(f"pytest -m golden failed in a fresh process (exit {code})")
        rows.append((b, f))
    ratios = [(f - b) / f for b, f in rows]
    print("fresh processes (each side a new Python process, alternating):")
    print(f"{'pair':>5} {'bare s':>8} {'pytest -m golden s':>19} {'overhead':>9}")
    for i, ((b, f), r) in enumerate(zip(rows, ratios, strict=True)):
        print(f"{i:>5} {b:>8.2f} {f:>19.2f} {r:>9.1%}")
    b_med, f_med = statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)
    print(f"median  bare {b_med:.2f}s  framework {f_med:.2f}s  overhead {statistics.median(ratios):.1%} "
          "(median of per-pair ratios)")
    print(f"RESULT fresh device={device} pairs={pairs} bare_s={b_med:.2f} framework_s={f_med:.2f} "
          f"overhead_pct={statistics.median(ratios) * 100:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", default="goldens/suite.toml", type=Path)
    ap.add_argument("--device", default=None)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--no-report", action="store_true", help="time `pytest -m golden` without --golden-report")
    ap.add_argument("--no-autoload", action="store_true",
                    help="PYTEST_DISABLE_PLUGIN_AUTOLOAD=1 with -p regress.plugin, as a golden-only CI job can run: "
                         "pytest then skips scanning every installed package for plugins")
    ap.add_argument("--fresh", type=int, default=0, metavar="N",
                    help="also time N pairs of fresh processes (bare script vs `python -m pytest -m golden`)")
    ap.add_argument("--bare-once", action="store_true", help=argparse.SUPPRESS)  # the bare side of --fresh
    args = ap.parse_args()
    if args.no_autoload:
        os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    import torch

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    suite = args.suite.resolve()
    report = not args.no_report
    if args.bare_once:
        bare(suite, device)
        return
    if args.rounds == 0:
        print(f"machine: {machine(device)}")
        fresh_processes(suite, device, report, args.fresh)
        return
    from regress.suite import load_suite

    n_cases = len(load_suite(suite).cases)
    framework(suite, device, report)  # warm-up: imports, kernels, lazy inits
    bare(suite, device)
    pytest_floor(n_cases, device, suite.parent)
    CLOCK.install()
    rows, inside = [], []
    for _ in range(args.rounds):  # alternate so that machine noise hits all sides alike
        b_s = bare(suite, device)
        CLOCK.seconds = 0.0
        f_s = framework(suite, device, report)
        inside.append(CLOCK.seconds)
        rows.append((b_s, f_s, pytest_floor(n_cases, device, suite.parent)))
    b = statistics.median(r[0] for r in rows)
    f = statistics.median(r[1] for r in rows)
    p = statistics.median(r[2] for r in rows)
    # Per-round differences are less noisy than differences of medians when the machine drifts.
    per_round = [(rf - rb) / rf for rb, rf, _ in rows]
    overhead = (f - b) / f
    own = (f - b - p) / f
    print(f"\nmachine: {machine(device)}")
    print(f"{'round':>5} {'bare s':>9} {'pytest -m golden s':>19} {'no-op pytest s':>15} {'overhead':>9}")
    for i, ((rb, rf, rp), ov) in enumerate(zip(rows, per_round, strict=True)):
        print(f"{i:>5} {rb:>9.3f} {rf:>19.3f} {rp:>15.3f} {ov:>9.1%}")
    print(f"median  bare {b:.3f}s  framework {f:.3f}s  overhead {f - b:.3f}s = {overhead:.1%} of the suite's wall time "
          f"(median of per-round ratios {statistics.median(per_round):.1%})")
    print(f"        of which pytest's own floor ({n_cases} no-op items) {p:.3f}s = {p / f:.1%}; "
          f"regress's share {f - b - p:.3f}s = {own:.1%}")
    split = [(rf - pin) / rf for (_, rf, _), pin in zip(rows, inside, strict=True)]
    own_split = [(rf - pin - rp) / rf for (_, rf, rp), pin in zip(rows, inside, strict=True)]
    print("in-run split (pipeline build + call clocked inside each `pytest -m golden` run):")
    print(f"{'round':>5} {'run s':>8} {'pipeline s':>11} {'overhead':>9} {'minus no-op pytest':>19}")
    for i, ((_, rf, _), pin, ov, own_r) in enumerate(zip(rows, inside, split, own_split, strict=True)):
        print(f"{i:>5} {rf:>8.3f} {pin:>11.3f} {ov:>9.1%} {own_r:>19.1%}")
    print(f"median in-run overhead {statistics.median(split):.1%} of the run's wall time; without pytest's own floor "
          f"{statistics.median(own_split):.1%}")
    autoload = "off" if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") else "on"
    print(f"report: {'on' if report else 'off'}; pytest plugin autoload: {autoload}")
    print(f"RESULT split device={device} autoload={autoload} inrun_overhead_pct={statistics.median(split) * 100:.1f} "
          f"inrun_regress_pct={statistics.median(own_split) * 100:.1f} "
          f"inrun_regress_ms={statistics.median(rf - pin - rp for (_, rf, rp), pin in zip(rows, inside, strict=True)) * 1e3:.1f}")
    print(f"RESULT overhead device={device} report={'on' if report else 'off'} bare_s={b:.3f} framework_s={f:.3f} "
          f"overhead_pct={overhead * 100:.1f} pytest_floor_s={p:.3f} regress_share_pct={own * 100:.1f}")
    if args.fresh:
        fresh_processes(suite, device, report, args.fresh)


if __name__ == "__main__":
    main()
