"""`regress calibrate`: measure each case's run-to-run noise against its golden, record it in the
golden's meta (one published change), and derive thresholds from it (active with --write)."""

from __future__ import annotations

import argparse
import math
import sys
from typing import Any

from ..case import COMPILE_MODES
from ..devices import add_device_option
from ..select import K_HELP
from . import add_runner_option, select_cases
from ..errors import EXIT_OK, EXIT_USAGE, RegressError


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("calibrate", parents=[common],
                       help="measure run-to-run noise per case, record it in the goldens, derive thresholds")
    add_runner_option(p)
    p.add_argument("-k", dest="expr", default=None, help=K_HELP)
    p.add_argument("--runs", type=int, default=3, help="unperturbed runs per case (default 3)")
    p.add_argument("--write", action="store_true",
                   help="make the derived thresholds active (stored per platform in the golden's meta as the "
                        "'calibrated' layer); without it they are recorded as suggestions only")
    p.add_argument("--drift", action="store_true",
                   help="measure the spread across the legal kernel paths of this machine (oneDNN / ATen ISA caps "
                        "and threads on CPU; TF32, cudnn.benchmark and SDPA backends on CUDA) and the stored goldens "
                        "of the same backend; record drift bounds (source 'drift-calibrated') in those goldens")
    p.add_argument("--repeats", type=int, default=2, help="with --drift: runs per kernel path (default 2)")
    p.add_argument("--variant", action="append", default=None, metavar="LABEL",
                   help="with --drift: only these kernel paths (repeatable; labels as printed)")
    p.add_argument("--compile", nargs="?", const="default", default=None, choices=COMPILE_MODES, metavar="MODE",
                   help="with --drift: one more path, the cases' denoisers under torch.compile (MODE default: "
                        "default), so that compiled runs judged against these eager goldens get bounds that "
                        "include compiling")
    p.add_argument("--parallel", default=None, metavar="LAYOUT",
                   help="with --drift: one more path, the cases run over a parallel layout's ranks (e.g. context=2, "
                        "ulysses=2,ring=2), so that parallel cases judged against these one-process goldens get "
                        "bounds that include the layout")
    p.add_argument("--platform", default=None, help="calibrate the goldens of this platform key")
    add_device_option(p)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from ..calibrate import MARGIN, RULE, CalibrationError, calibrate
    from ..metrics.catalog import METRICS
    from ..session import GoldenSession, Options
    from ..suite import load_suite

    suite = load_suite(args.suite)
    if args.runs < 1:
        raise RegressError("--runs must be at least 1")
    if args.compile is not None and not args.drift:
        raise RegressError("--compile goes with --drift (it adds a compiled path to the drift calibration)")
    layout = None
    if args.parallel is not None:
        from ..parallel import parse

        if not args.drift:
            raise RegressError("--parallel goes with --drift (it adds a parallel layout's path to the drift calibration)")
        try:
            layout = parse(args.parallel)
        except ValueError as exc:
            raise RegressError(f"--parallel: {exc}") from None
    session = GoldenSession(suite, Options(platform=args.platform, device=args.device, freeze_heap=True))
    cases = select_cases(suite, args.expr, platform=lambda: session.platform)
    if args.drift:
        return _run_drift(session, cases, args, layout)
    console = Console(stderr=True)
    out = Console(soft_wrap=True)
    try:
        with console.status(f"calibrating {len(cases)} case(s) on {session.platform}") as status:
            def progress(line: str) -> None:
                status.update(line)
                console.print(f"  {line}", markup=False, highlight=False)

            results, revision = calibrate(session, cases, runs=args.runs, write=args.write, progress=progress)
    except CalibrationError as exc:
        print(f"regress: calibrate: {exc} (nothing was written)", file=sys.stderr)
        return EXIT_USAGE
    out.print(f"rule: {RULE} (margin {MARGIN:g}x)", markup=False, highlight=False)
    for cal in results:
        state = "bit-identical to the golden in every run" if cal.bit_identical else "runs differ from the golden"
        perturbed = len(cal.runs) - args.runs
        runs = f"{args.runs} run(s)" + (f" + {perturbed} perturbed ({', '.join(r['label'] for r in cal.runs[args.runs:])})"
                                       if perturbed else "")
        out.print(f"\n{cal.case_id} [{cal.platform}]: {runs}, {state}", markup=False, highlight=False)
        out.print(f"  {'metric':<12}{'noise floor':>16}{'threshold':>22}   was", markup=False, highlight=False)
        for name, thr in cal.thresholds.items():
            was = cal.current.get(name)
            was_s = f"{METRICS[name].op} {_fmt(was[0])} ({was[1]})" if was else "(not gated)"
            out.print(f"  {name:<12}{_fmt(cal.floor[name]):>16}{METRICS[name].op + ' ' + _fmt(thr):>22}   {was_s}",
                      markup=False, highlight=False)
        pinned = ", ".join(f"{k} = {_toml(v)}" for k, v in cal.thresholds.items())
        out.print(f"  to pin them for every platform instead, set in the case: thresholds = {{ {pinned} }}",
                  markup=False, highlight=False)
    what = ("noise floors and calibrated thresholds (active: source 'calibrated')" if args.write
            else "noise floors (thresholds recorded as suggestions; --write makes them active)")
    out.print(f"\nwrote {what} for {len(results)} golden(s); {suite.lock_path} pins {revision}", markup=False,
              highlight=False)
    return EXIT_OK


def _run_drift(session, cases, args: argparse.Namespace, layout: Any = None) -> int:  # type: ignore[no-untyped-def]
    from rich.console import Console

    from ..drift import MARGIN, RULE, DriftError, calibrate_drift
    from ..metrics.catalog import METRICS

    console = Console(stderr=True)
    out = Console(soft_wrap=True)

    def say(line: str) -> None:
        out.print(line, markup=False, highlight=False)

    try:
        with console.status(f"drift calibration of {len(cases)} case(s) on {session.platform}") as status:
            def progress(line: str) -> None:
                status.update(line)
                console.print(f"  {line}", markup=False, highlight=False)

            drifts, revision = calibrate_drift(session, cases, repeats=args.repeats, only=args.variant,
                                               progress=progress, compile=args.compile,
                                               parallel=layout)
    except DriftError as exc:
        print(f"regress: calibrate --drift: {exc} (nothing was written)", file=sys.stderr)
        return EXIT_USAGE
    say(f"rule: {RULE} (margin {MARGIN:g}x)")
    for d in drifts:
        say(f"\n{d.case_id}: {len(d.paths)} kernel paths, goldens {', '.join(d.goldens)}")
        for p in d.paths:
            say(f"  path {p['label']:<26} platform {p['platform']:<16} probe {p['probe']}")
        for s in d.skipped:
            say(f"  not run: {s}")
        for b in d.bimodal:
            say(f"  BIMODAL: {b}")
        say(f"  {'metric':<14}{'spread':>16}{'drift bound':>22}")
        for name, thr in d.thresholds.items():
            say(f"  {name:<14}{_fmt(d.spread[name]):>16}{METRICS[name].op + ' ' + _fmt(thr):>22}")
    say(f"\nwrote drift bounds (source 'drift-calibrated') into {sum(len(d.goldens) for d in drifts)} golden(s); "
        f"{session.suite.lock_path} pins {revision}")
    return EXIT_OK


def _fmt(v: float) -> str:
    if isinstance(v, float) and (math.isinf(v) or math.isnan(v)):
        return str(v)
    return f"{v:.8g}"


def _toml(v: float) -> str:
    return repr(float(v)) if math.isfinite(v) else ("inf" if v > 0 else "-inf")
