"""`regress fetch`: download the selected goldens into the HF cache for an offline runner.

A runner without network (or one that should not depend on it) runs
``regress fetch`` once where the Hub can be reached, keeps the HF cache, and then runs
``HF_HUB_OFFLINE=1 pytest -m golden``. Only the selected cases' files for the chosen platform
(exact, else the nearest the test would use) are downloaded, each verified against its sha256.
"""

from __future__ import annotations

import argparse
from typing import Any

from ..select import K_HELP
from . import select_cases
from ..errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("fetch", parents=[common], help="download goldens into the HF cache for offline runs")
    p.add_argument("-k", dest="expr", default=None, help=K_HELP)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--platform", default=None,
                       help="the goldens a run on this platform key uses (default: this machine's)")
    which.add_argument("--all-platforms", action="store_true", help="every platform's golden of the selected cases")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from ..stores import open_store
    from ..stores.base import lookup
    from ..suite import load_suite

    suite = load_suite(args.suite)
    console = Console(stderr=True)
    if suite.store.kind == "file":
        console.print(f"nothing to fetch: the goldens of {suite.path} are files in the repository ([store] kind = "
                      "\"file\")", markup=False, soft_wrap=True)
        return EXIT_OK
    from ..platform import detect

    platform = None
    if not args.all_platforms:
        if args.platform:
            from ..platform import require_key

            platform = require_key(args.platform)
        else:
            platform = detect().key
    cases = select_cases(suite, args.expr, platform=lambda: platform or detect().key)
    store: Any = open_store(suite)
    # --all-platforms: every golden of the case; otherwise the one a run on `platform` uses.
    todo = [(c.id, p) for c in cases for p in store.platforms(c.id)] if platform is None else \
        [(c.id, platform) for c in cases]
    fetched, missing, files, size = 0, [], 0, 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"fetching {store.repo}@{store.revision[:12]}", total=len(todo))
        for case_id, key in todo:
            progress.update(task, description=f"{case_id} [{key}]")
            golden = store.get(case_id, key) if platform is None else lookup(store, case_id, key)[0]
            progress.advance(task)
            if golden is None:
                missing.append(case_id)
                continue
            names = list(golden.meta.get("files") or {}) + ["meta.json"]
            fetched, files = fetched + 1, files + len(names)
            size += sum((golden.directory / n).stat().st_size for n in names)
    where = "every platform" if platform is None else platform
    console.print(f"fetched {fetched} golden(s) for {where} ({files} files, {size / 1024:.1f} KiB, each checked "
                  f"against its sha256) from {store.repo}@{store.revision} into {store.settings.cache_dir}",
                  markup=False, soft_wrap=True)
    for case_id in missing:
        console.print(f"  no golden for {case_id} on {where}", markup=False, soft_wrap=True)
    console.print("offline runs: HF_HUB_OFFLINE=1 pytest -m golden", markup=False, soft_wrap=True)
    return EXIT_OK
