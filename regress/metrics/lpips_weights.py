"""LPIPS backbone weights: found, checked and recorded rather than downloaded.

Why this module exists: the ``lpips`` wheel carries only its small linear heads; the
AlexNet / VGG / SqueezeNet backbone is torchvision's ImageNet checkpoint, which
``lpips.LPIPS()`` downloads on first use. CI runners are often offline, and a value
computed on a randomly initialised backbone looks like an LPIPS but means nothing. So the
backbone is resolved explicitly, in this order, and the first source that has a file wins:

1. an explicit file: ``$REGRESS_LPIPS_WEIGHTS``, else the suite's ``[metrics] lpips_weights``
   (relative to the suite file);
2. a file pinned in the golden store: ``_metrics/lpips/<net>.json`` names the weights file
   beside it and its sha256, read at the store's pinned revision like any golden
   (``regress lpips pin FILE`` writes them);
3. the torch hub cache: torchvision's file name (e.g. ``alexnet-owt-7be5be79.pth``) under
   ``$TORCH_HOME/hub/checkpoints`` (``torch.hub.get_dir()``).

Every file is checked by sha256 before it is loaded: a pinned file against the hash
recorded beside it; torchvision's files by the hash prefix in their names (the same rule
``torch.hub`` applies to its downloads); an explicit file against
``[metrics] lpips_weights_sha256`` or a ``<file>.sha256`` beside it when either exists, and
otherwise it is used as given, marked ``unverified``. ``.pth`` files are pickles: they are
opened only with ``torch.load(weights_only=True)``, which refuses anything but tensors and
plain containers; ``.safetensors`` files (what the store pins) need no unpickling at all.

The weights' sha256 travels with every LPIPS value (results, golden meta, noise floor), so
a value computed with other weights than the golden was calibrated with is flagged.

No weights: :func:`resolve_weights` returns an :class:`Unavailable` whose message says how
to provide them; nothing is ever computed on random weights.

The backbone is built from these files in :mod:`.lpips_model`; the distance is computed in
:mod:`.lpips`; whether a case gates LPIPS at all is the judge's call (:mod:`regress.lpips_policy`).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..digest import sha256_file as file_sha256  # the one cache of file digests (re-exported)
from ..env import REGRESS_LPIPS_WEIGHTS, TORCH_HOME, XDG_CACHE_HOME
from ..errors import RegressError
from .catalog import LPIPS_NETS

NETS = LPIPS_NETS
# torchvision's ImageNet checkpoints, as torch.hub names them (<name>-<sha256 prefix>.pth).
TORCHVISION_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}
NET_LABEL = {"alex": "AlexNet", "vgg": "VGG16", "squeeze": "SqueezeNet 1.1"}
STORE_DIR = "_metrics/lpips"
_HUB_NAME_RE = re.compile(r"^.+-([0-9a-f]{8,64})\.pth$")  # torch.hub: <name>-<sha256 prefix>.pth

class LpipsError(RegressError):
    """LPIPS weights exist but cannot be trusted or read (hash mismatch, not a checkpoint)."""


@dataclass(frozen=True)
class LpipsWeights:
    """A resolved backbone file: where it came from and how its bytes were checked."""

    net: str
    path: Path
    sha256: str
    source: str  # 'REGRESS_LPIPS_WEIGHTS', 'suite lpips_weights', 'golden store', 'torch hub cache'
    check: str  # 'pinned sha256', 'declared sha256', 'torchvision name prefix', 'unverified'

    def to_json(self) -> dict[str, str]:
        return {"net": self.net, "sha256": self.sha256, "source": self.source, "check": self.check,
                "file": self.path.name}


@dataclass(frozen=True)
class Unavailable:
    """No backbone weights could be found; ``message`` says how to provide them."""

    net: str
    message: str


def fix_hint(net: str = "alex") -> str:
    name = TORCHVISION_FILES[net]
    return (f"set {REGRESS_LPIPS_WEIGHTS}=/path/to/{name} (torchvision's ImageNet {NET_LABEL[net]} weights), "
            f"or put {name} in $TORCH_HOME/hub/checkpoints, or pin it in the golden store with "
            f"`regress lpips pin /path/to/{name}`")


def resolve_weights(net: str = "alex", *, suite_path: Path | None = None, setting: str | None = None,
                    setting_sha256: str | None = None, store: Any = None,
                    environ: Mapping[str, str] | None = None) -> LpipsWeights | Unavailable:
    """The backbone weights to use, by the order in the module docstring.

    ``setting`` / ``setting_sha256`` are the suite's ``[metrics] lpips_weights`` and
    ``lpips_weights_sha256``; ``store`` is the opened golden store (a
    :class:`regress.stores.base.Store`, or None). Raises :class:`LpipsError` when a file is found
    but fails its check: a corrupt or substituted file is never skipped silently.
    """
    if net not in NETS:
        raise LpipsError(f"unknown LPIPS net {net!r} (one of {', '.join(NETS)})")
    env = os.environ if environ is None else environ
    explicit = env.get(REGRESS_LPIPS_WEIGHTS, "").strip()
    if explicit:
        return explicit_weights(net, Path(explicit).expanduser(), REGRESS_LPIPS_WEIGHTS, None)
    if setting:
        p = Path(setting).expanduser()
        if not p.is_absolute() and suite_path is not None:
            p = suite_path.parent / p
        return explicit_weights(net, p, "suite lpips_weights", setting_sha256)
    pinned = _pinned(net, store)
    if pinned is not None:
        return pinned
    hub = _hub_file(net, env)
    if hub is not None and hub.is_file():
        digest = file_sha256(hub)
        prefix = _HUB_NAME_RE.match(hub.name)
        if prefix and not digest.startswith(prefix.group(1)):
            raise LpipsError(f"{hub}: sha256 {digest[:16]}... does not start with {prefix.group(1)} as its name "
                             "says (a broken download?); delete it and provide the file again")
        return LpipsWeights(net, hub, digest, "torch hub cache", "torchvision name prefix")
    return Unavailable(net, f"LPIPS unavailable: no {NET_LABEL[net]} backbone weights; {fix_hint(net)}")


def explicit_weights(net: str, path: Path, source: str, declared: str | None) -> LpipsWeights:
    """A file named by the user (environment, suite, `regress lpips pin`), checked against a
    declared sha256, a ``.sha256`` beside it, or torchvision's name prefix; else ``unverified``."""
    if not path.is_file():
        raise LpipsError(f"{source}: {path}: no such file ({fix_hint(net)})")
    digest = file_sha256(path)
    sidecar = path.with_name(path.name + ".sha256")
    if declared is None and sidecar.is_file():
        words = sidecar.read_text(encoding="utf-8").split()  # `sha256sum` format: '<hex>  <name>'
        declared = words[0] if words else None
    if declared:
        if digest != declared.lower():
            raise LpipsError(f"{source}: {path}: sha256 {digest} does not match the declared {declared}")
        return LpipsWeights(net, path, digest, source, "declared sha256")
    m = _HUB_NAME_RE.match(path.name)
    if m and path.name in TORCHVISION_FILES.values():
        if not digest.startswith(m.group(1)):
            raise LpipsError(f"{source}: {path}: sha256 {digest[:16]}... does not start with {m.group(1)} as "
                             "torchvision's file name says (a broken or substituted file)")
        return LpipsWeights(net, path, digest, source, "torchvision name prefix")
    return LpipsWeights(net, path, digest, source, "unverified")


def _pinned(net: str, store: Any) -> LpipsWeights | None:
    if store is None:
        return None
    index = store.file(f"{STORE_DIR}/{net}.json")
    if index is None:
        return None
    try:
        doc = json.loads(Path(index).read_text(encoding="utf-8"))
        name, expected = doc["file"], doc["sha256"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LpipsError(f"golden store {STORE_DIR}/{net}.json: unreadable ({exc.__class__.__name__}); "
                         "re-pin with `regress lpips pin FILE`") from None
    if "/" in name or "\\" in name or name.startswith("."):
        raise LpipsError(f"golden store {STORE_DIR}/{net}.json: bad file name {name!r}")
    path = store.file(f"{STORE_DIR}/{name}")
    if path is None:
        raise LpipsError(f"golden store: {STORE_DIR}/{name} is named in {net}.json but missing")
    digest = file_sha256(Path(path))
    if digest != expected:
        raise LpipsError(f"golden store: {STORE_DIR}/{name}: sha256 {digest} does not match {expected} "
                         f"recorded in {net}.json")
    if doc.get("released") is False:  # pinned on purpose, but not torchvision's network: never called "pinned"
        return LpipsWeights(net, Path(path), digest, "golden store", "pinned sha256 of unreleased weights")
    return LpipsWeights(net, Path(path), digest, "golden store", "pinned sha256")


def released_prefix(net: str) -> str:
    """The sha256 prefix of torchvision's released checkpoint for ``net`` (from its file name)."""
    m = _HUB_NAME_RE.match(TORCHVISION_FILES[net])
    assert m is not None
    return m.group(1)


def _hub_file(net: str, env: Mapping[str, str]) -> Path | None:
    """torch.hub's checkpoint path, computed as ``torch.hub.get_dir()`` does (TORCH_HOME,
    else XDG_CACHE_HOME/torch, else ~/.cache/torch), without importing torch."""
    home = env.get(TORCH_HOME)
    if not home:
        xdg = env.get(XDG_CACHE_HOME) or os.path.join(os.path.expanduser("~"), ".cache")
        home = os.path.join(xdg, "torch")
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints" / TORCHVISION_FILES[net]
