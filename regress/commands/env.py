"""`regress env`: the platform key goldens are filed under, versions and devices."""

from __future__ import annotations

import argparse
import json

from ..errors import EXIT_OK


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("env", parents=[common], help="platform key, versions and devices")
    p.add_argument("--device", default=None)
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from ..platform import detect

    info = detect(args.device or None)
    doc = info.to_json()
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

    c = Console()
    c.print(f"platform  [bold]{info.key}[/]  ({info.device_name})")
    for k, v in info.versions.items():
        c.print(f"  {k:<10} {v}")
    c.print(f"  devices    {', '.join(doc.get('devices') or ['cpu'])}")
    return EXIT_OK
