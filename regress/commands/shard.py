"""`regress shard N`: the plan `--golden-shard I/N` follows, with each shard's estimated time."""

from __future__ import annotations

import argparse
import json

from ..select import K_HELP
from . import select_cases
from ..errors import EXIT_OK, RegressError


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("shard", parents=[common], help="print how --golden-shard I/N splits the suite")
    p.add_argument("n", type=int, help="number of shards")
    p.add_argument("-k", dest="expr", default=None, help=K_HELP)
    p.add_argument("--platform", default=None, metavar="KEY",
                   help="the platform key the -k expression sees (default: this machine's)")
    p.add_argument("--json", action="store_true", help='print [{"shard": I, "seconds": s, "cases": [...]}, ...]')


def run(args: argparse.Namespace) -> int:
    from ..shard import case_costs, plan
    from ..stores import open_store
    from ..suite import load_suite

    if args.n < 1:
        raise RegressError(f"the number of shards must be >= 1, got {args.n}")
    suite = load_suite(args.suite)
    ids = [c.id for c in select_cases(suite, args.expr, platform=lambda: _platform(args.platform))]
    if args.n > max(1, len(ids)):
        raise RegressError(f"{args.n} shards for {len(ids)} selected case(s): at most one shard per case")
    costs = case_costs(ids, open_store(suite))
    shards = plan(costs, args.n)
    if args.json:
        print(json.dumps([{"shard": s.index, "seconds": round(s.seconds, 3), "cases": s.cases} for s in shards],
                         indent=2))
        return EXIT_OK
    for s in shards:
        print(f"shard {s.index}/{args.n}: {s.seconds:.2f} s, {len(s.cases)} case(s)")
        for cid in s.cases:
            print(f"  {cid} ({costs[cid]:.2f} s)")
    return EXIT_OK


def _platform(key: str | None) -> str:
    from ..platform import detect, require_key

    return detect().key if key is None else require_key(key)
