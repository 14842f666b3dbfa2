"""`regress env`: the platform key goldens are filed under, and the numerics identity a golden
made here would record: what is installed, and how it computes (the kernel probe's digests)."""

from __future__ import annotations

import argparse
import json

from ..errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("env", parents=[common], help="platform key and numerics identity (installed + kernel probe)")
    p.add_argument("--device", default=None)
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from .. import kernels
    from ..numerics import describe_ops
    from ..platform import detect
    from ..probe import identity

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
