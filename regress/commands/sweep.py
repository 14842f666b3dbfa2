"""`regress sweep CASE`: the precision grid per component, as a table."""

from __future__ import annotations

import argparse
import json
import sys

from . import add_runner_option
from ..devices import add_device_option
from ..errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sweep", parents=[common],
                       help="quality vs memory vs time per component dtype (the bf16-VAE experiment)")
    add_runner_option(p)
    p.add_argument("case", help="case id")
    p.add_argument("--components", default=None, help="comma-separated (default: every component of the family)")
    p.add_argument("--dtypes", default="fp32,bf16", help="comma-separated (default fp32,bf16)")
    p.add_argument("--grid", action="store_true", help="every combination instead of one change at a time")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per assignment after a warm-up (median)")
    add_device_option(p)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true",
                     help="a Markdown table (the default when stdout is not a terminal)")
    fmt.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..progress import steps
    from ..session import GoldenSession, Options
    from ..suite import load_suite
    from ..sweep import render_markdown, render_rich, sweep

    suite = load_suite(args.suite)
    case = suite.case(args.case)
    session = GoldenSession(suite, Options(device=args.device, freeze_heap=True))
    comps = [c.strip() for c in args.components.split(",")] if args.components else None
    dtypes = [d.strip() for d in args.dtypes.split(",") if d.strip()]
    with steps(f"sweep {case.id}") as step:
        rows = sweep(session, case, components=comps, dtypes=dtypes, repeats=args.repeats, grid=args.grid,
                     progress=step)
    if args.json:
        print(json.dumps({"case": case.id, "platform": session.platform,
                          "rows": [r.to_json() for r in rows]}, indent=2))
    elif args.markdown or not sys.stdout.isatty():  # a log or a pipe: Markdown, not a squeezed table
        print(render_markdown(case, session.platform, rows))
    else:
        from rich.console import Console

        Console().print(render_rich(case, session.platform, rows))
    return EXIT_OK
