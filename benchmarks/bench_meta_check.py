"""The per-case bookkeeping the phase timer found (issue 26): a golden's meta.json schema check
and the runner registry's lookup, each against a peer measured in the same run.

- The schema check of every committed golden's meta.json (``regress.records.check`` against
  ``meta_schema()``) beside ``jsonschema``'s Draft 2020-12 validator on the same documents and
  schema (the check runs on the I/O thread beside each case's run and holds the GIL).
- ``regress.runners.get_runner`` of a family not loaded yet, with the entry-point scan read once
  per import path, beside one ``importlib.metadata.entry_points`` scan (what each family's first
  case paid before).

    python benchmarks/bench_meta_check.py [--repeats 50]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def median_ms(work, repeats: int) -> float:  # noqa: ANN001
    work()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        work()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=50)
    args = ap.parse_args()
    import jsonschema

    from regress import runners
    from regress.records import check, meta_schema, read_json
    from regress.stores.base import MAX_META_BYTES

    print(f"machine: {platform.processor() or platform.machine()}, python {platform.python_version()}")
    metas = sorted((ROOT / "goldens" / "store" / "cases").glob("*/*/meta.json"))
    docs = [read_json(p, max_bytes=MAX_META_BYTES) for p in metas]
    schema = meta_schema()
    peer = jsonschema.Draft202012Validator(schema)
    ours = median_ms(lambda: [check(d, schema, file="meta.json") for d in docs], args.repeats)
    theirs = median_ms(lambda: [peer.validate(d) for d in docs], args.repeats)
    print(f"| meta.json schema check, {len(docs)} goldens | regress ms per golden | jsonschema ms per golden | ratio |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| all committed | {ours / len(docs):.3f} | {theirs / len(docs):.3f} | {theirs / ours:.2f}x |")

    def first_lookup() -> None:
        runners._loaded.pop("wan", None)  # a family not loaded yet: its first case
        runners.get_runner("wan")

    scan = median_ms(lambda: tuple(entry_points(group="regress.runners")), args.repeats)
    lookup = median_ms(first_lookup, args.repeats)
    print(f"\nget_runner of a family not loaded yet: {lookup:.3f} ms; one entry-point scan (paid by each "
          f"family's first case before): {scan:.3f} ms ({scan / lookup:.1f}x)")


if __name__ == "__main__":
    main()
