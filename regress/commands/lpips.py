"""`regress lpips`: which LPIPS backbone weights a run would use (and how they were checked);
`regress lpips pin FILE`: pin a weights file in the golden store so every machine reading the
pinned revision has it, offline."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import EXIT_OK, EXIT_REGRESSION, RegressError

if TYPE_CHECKING:
    from ..stores.base import Store


def add_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("lpips", parents=[common], help="show the LPIPS weights in use, or pin a weights file in the "
                                                      "golden store")
    p.add_argument("action", nargs="?", choices=("show", "pin"), default="show")
    p.add_argument("path", nargs="?", type=Path, help="pin: torchvision's checkpoint (.pth) or a .safetensors file")
    p.add_argument("--net", default=None, help="alex | vgg | squeeze (default: the suite's lpips_net, else alex)")
    p.add_argument("--unreleased", action="store_true",
                   help="pin: accept a file that is not torchvision's released checkpoint (recorded as unreleased; "
                        "its LPIPS values are not comparable with anyone else's)")


def run(args: argparse.Namespace) -> int:
    from ..metrics import lpips as L
    from ..stores import open_store
    from ..suite import load_suite

    suite = load_suite(args.suite)
    net = args.net or suite.metrics.get("lpips_net", "alex")
    if net not in L.NETS:
        raise RegressError(f"--net: unknown LPIPS net {net!r} (one of {', '.join(L.NETS)})")
    store = open_store(suite)
    if args.action == "pin":
        if args.path is None:
            raise RegressError("regress lpips pin needs the weights file: regress lpips pin FILE")
        revision = pin(store, args.path, net, unreleased=args.unreleased)
        print(f"pinned {L.STORE_DIR}/{net}.safetensors in the golden store; {suite.lock_path} pins {revision}")
        return EXIT_OK
    found = L.resolve_weights(net, suite_path=suite.path, setting=suite.metrics.get("lpips_weights"),
                              setting_sha256=suite.metrics.get("lpips_weights_sha256"), store=store)
    if isinstance(found, L.Unavailable):
        print(found.message)
        return EXIT_REGRESSION
    print(json.dumps({**found.to_json(), "path": str(found.path)}, indent=2))
    return EXIT_OK


def pin(store: Store, path: Path, net: str, *, unreleased: bool = False) -> str:
    """Check ``path`` like any explicit weights file, keep only the backbone tensors, and
    publish them as safetensors with an index recording both files' sha256."""
    import hashlib
    import tempfile

    from safetensors.torch import save

    from ..metrics import lpips as L

    source = L.explicit_weights(net, path.expanduser(), "lpips pin", None)
    released = source.sha256.startswith(L.released_prefix(net))
    if not released and not unreleased:  # random or retrained weights must never pass as "pinned"
        raise RegressError(f"{path}: sha256 {source.sha256[:16]}... is not torchvision's released {L.NET_LABEL[net]} "
                           f"checkpoint (whose sha256 starts with {L.released_prefix(net)}): LPIPS from it is not "
                           "comparable with anyone's; pass --unreleased to pin it anyway, recorded as unreleased")
    features = L.read_backbone(source.path, net)
    data = save({k: v.contiguous() for k, v in sorted(features.items())})
    with tempfile.TemporaryDirectory() as tmp:  # prove the file loads into the backbone first
        probe = Path(tmp) / f"{net}.safetensors"
        probe.write_bytes(data)
        L.load_model(L.LpipsWeights(net, probe, L.file_sha256(probe), "lpips pin", "pinned sha256"))
    index = {"file": f"{net}.safetensors", "sha256": hashlib.sha256(data).hexdigest(), "net": net,
             "source_file": source.path.name, "source_sha256": source.sha256, "source_check": source.check,
             "released": released}
    return store.publish_files({f"{L.STORE_DIR}/{net}.safetensors": data,
                    f"{L.STORE_DIR}/{net}.json": (json.dumps(index, indent=2, sort_keys=True) + "\n").encode()},
                   message=f"regress: pin LPIPS {net} weights")
