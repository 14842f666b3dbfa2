"""`regress env`: the platform key goldens are filed under, and the numerics identity a golden
made here would record: what is installed, and how it computes (the kernel probe's digests)."""

from __future__ import annotations

import argparse
import json

from ..devices import add_device_option
from ..errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("env", parents=[common], help="platform key and numerics identity (installed + kernel probe)")
    add_device_option(p, help="the device whose platform and identity to show (default: cuda when torch sees a GPU)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--shapes", action="store_true",
                   help="build every shape-true model on the meta device: parameters and weight memory per dtype")


def run(args: argparse.Namespace) -> int:
    if args.shapes:
        return _shapes(as_json=args.json)
    from .. import kernels
    from ..numerics import describe_ops
    from ..platform import detect
    from ..probing import identity

    kernels.apply_env()
    info = detect(args.device or None)
    ident = identity(info.device)
    doc = info.to_json()
    doc["identity"] = ident.to_json()
    try:
        import torch

        doc["devices"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        doc["cpu_threads"] = torch.get_num_threads()
    except Exception:  # pragma: no cover - torch missing is reported by detect already
        pass
    if args.json:
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    from rich.console import Console

    c = Console(soft_wrap=True)
    c.print(f"platform  [bold]{info.key}[/]  ({info.device_name})")
    c.print(f"  devices    {', '.join(doc.get('devices') or ['cpu'])}")
    c.print("installed (explains a difference)")
    for k, v in sorted(ident.installed.items()):
        c.print(f"  {k:<26} {v}", markup=False, highlight=False)
    unsupported = [op for op, d in ident.probe.items() if d.startswith("unsupported")]
    c.print(f"kernel probe (decides the regime): digest [bold]{ident.digest}[/], {len(ident.probe)} ops "
            f"on {ident.device} in {ident.probe_ms or 0:.1f} ms")
    for op, digest in sorted(ident.probe.items()):
        c.print(f"  {op:<26} {digest}", markup=False, highlight=False)
    if unsupported:
        c.print(f"  not supported here: {describe_ops(unsupported)}", markup=False, highlight=False)
    return EXIT_OK


def _shapes(*, as_json: bool) -> int:
    """The released architectures regress can build with random weights: what each component
    counts on the meta device (no memory, no download) and what its weights hold per dtype."""
    from ..runners import get_runner
    from ..shapes import families, specs
    from ..shapes.build import count, on_meta, weight_bytes

    rows = []
    for family in families():
        table = dict(get_runner(family).default_precision)
        for spec in specs(family):
            n = count(on_meta(spec))
            rows.append({"family": family, "component": spec.component, "class": spec.cls.rpartition(":")[2],
                         "params": n, "released_params": spec.params, "default_dtype": table.get(spec.component),
                         "fp32_bytes": weight_bytes(n, "fp32"), "bf16_bytes": weight_bytes(n, "bf16"),
                         "source": spec.source})
    if as_json:
        print(json.dumps(rows, indent=2))
        return EXIT_OK
    mib = 1 << 20
    print("| family | component | class | parameters | fp32 MiB | bf16 MiB | default | default MiB |")
    print("| --- | --- | --- | ---: | ---: | ---: | --- | ---: |")
    totals: dict[str, int] = {}
    for r in rows:
        dt = r["default_dtype"]
        here = weight_bytes(r["params"], dt) if dt else 0
        totals[r["family"]] = totals.get(r["family"], 0) + here
        flag = "" if r["params"] == r["released_params"] else f" (released {r['released_params']:,})"
        print(f"| {r['family']} | {r['component']} | {r['class']} | {r['params']:,}{flag} | "
              f"{r['fp32_bytes'] / mib:.0f} | {r['bf16_bytes'] / mib:.0f} | {dt or '-'} | {here / mib:.0f} |")
    print()
    for family, total in totals.items():
        print(f"{family}: {total / mib:.0f} MiB of weights resident at its default precision")
    return EXIT_OK
