"""LPIPS through the ``lpips`` package, with backbone weights that are found, checked and
recorded rather than downloaded.

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

Precision: ``fp32`` (default) is exact: TF32 off, the same float32 operations as
``lpips.LPIPS.forward`` (agreement better than 1e-6). On CUDA, ``tf32`` and ``bf16``
(autocast) trade ~1e-3 relative accuracy for 3-5x speed; the mode is recorded with the value.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..digest import sha256_file as file_sha256  # the one cache of file digests (re-exported)
from ..env import REGRESS_LPIPS_WEIGHTS, TORCH_HOME, XDG_CACHE_HOME
from ..errors import RegressError
from .catalog import LPIPS_NETS, LPIPS_PRECISIONS

NETS = LPIPS_NETS
# torchvision's ImageNet checkpoints, as torch.hub names them (<name>-<sha256 prefix>.pth).
TORCHVISION_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}
NET_LABEL = {"alex": "AlexNet", "vgg": "VGG16", "squeeze": "SqueezeNet 1.1"}
# Smallest image side each backbone accepts (its pooling stack leaves nothing below this).
MIN_SIDE = {"alex": 31, "vgg": 16, "squeeze": 17}
PRECISIONS = LPIPS_PRECISIONS
STORE_DIR = "_metrics/lpips"
_HUB_NAME_RE = re.compile(r"^.+-([0-9a-f]{8,64})\.pth$")  # torch.hub: <name>-<sha256 prefix>.pth

# Device bytes per input pixel of a frame pair while the backbone runs (float inputs,
# activations of both frames, normalised features, headroom).
_BYTES_PER_PIXEL = {"alex": 96, "vgg": 1400, "squeeze": 160}
_CHUNK_BYTES = {"cuda": 2 << 30, "cpu": 256 << 20}
# cudnn.benchmark during LPIPS on CUDA: None leaves torch's setting as it is. (Timed in
# benchmarks/bench_metrics.py; it lets cuDNN pick per-shape algorithms, whose float32 results
# may differ in the last bits between algorithms.)
CUDNN_BENCHMARK: bool | None = None


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


# --------------------------------------------------------------------------- resolution

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
        return _explicit(net, Path(explicit).expanduser(), REGRESS_LPIPS_WEIGHTS, None)
    if setting:
        p = Path(setting).expanduser()
        if not p.is_absolute() and suite_path is not None:
            p = suite_path.parent / p
        return _explicit(net, p, "suite lpips_weights", setting_sha256)
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


def _explicit(net: str, path: Path, source: str, declared: str | None) -> LpipsWeights:
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




# --------------------------------------------------------------------------- loading

def read_backbone(path: Path, net: str) -> dict[str, Any]:
    """The backbone tensors of a torchvision checkpoint (``features.*`` keys), from a
    safetensors file or a ``.pth`` opened with ``weights_only=True`` (no arbitrary pickle)."""
    import torch

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path), device="cpu")
        else:
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle refusals, truncated files, wrong formats
        raise LpipsError(f"{path}: not a readable weights file ({exc.__class__.__name__}: "
                         f"{str(exc).splitlines()[0][:120] if str(exc) else ''})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise LpipsError(f"{path}: holds a {type(state).__name__}, not a state dict of tensors")
    features = {k: v for k, v in state.items() if isinstance(k, str) and k.startswith("features.")}
    if not features:
        raise LpipsError(f"{path}: no 'features.*' tensors: not torchvision's {NET_LABEL[net]} weights")
    return features


def _backbone_state(model: Any, features: Mapping[str, Any], path: Path, net: str) -> dict[str, Any]:
    """Map torchvision's ``features.<i>.<param>`` names onto lpips' ``slice<k>.<i>.<param>``."""
    out = {}
    for name, param in model.net.state_dict().items():
        src = "features." + name.split(".", 1)[1]
        t = features.get(src)
        if t is None:
            raise LpipsError(f"{path}: lacks {src}: not torchvision's {NET_LABEL[net]} weights")
        if tuple(t.shape) != tuple(param.shape):
            raise LpipsError(f"{path}: {src} has shape {tuple(t.shape)}, {NET_LABEL[net]} needs "
                             f"{tuple(param.shape)}")
        out[name] = t.to(param.dtype)
    return out


_models: dict[tuple[str, str, str], Any] = {}
_models_lock = threading.Lock()


def load_model(weights: LpipsWeights, device: str = "cpu") -> Any:
    """``lpips.LPIPS`` with the package's linear heads and the resolved backbone, in eval mode
    on ``device``; cached per (net, weights, device)."""
    key = (weights.net, weights.sha256, device_key(device))
    with _models_lock:
        if key in _models:
            return _models[key]
        import torch

        features = read_backbone(weights.path, weights.net)
        with _quiet(), torch.random.fork_rng(devices=[]):
            import lpips

            # pnet_rand=True: build the backbone without a download; it is overwritten below.
            model = lpips.LPIPS(net=weights.net, pretrained=True, pnet_rand=True, verbose=False)
        model.net.load_state_dict(_backbone_state(model, features, weights.path, weights.net))
        model = model.eval().requires_grad_(False).to(device)
        _models[key] = model
        return model


def device_key(device: Any) -> str:
    """The device a model is cached for: "cuda" is the current CUDA device, so that the host
    path (the run's device string, "cuda") and the device-resident path (a tensor's device,
    "cuda:0") share one model instead of loading two."""
    import torch

    dev = torch.device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", torch.cuda.current_device())
    return str(dev)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torchvision warns about the deprecated ``pretrained`` argument lpips passes."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# --------------------------------------------------------------------------- computing

def lpips_frames(a: np.ndarray, b: np.ndarray, weights: LpipsWeights, *, device: str = "cpu",
                 precision: str = "fp32", chunk_bytes: int | None = None) -> np.ndarray:
    """LPIPS of each frame of two uint8 (H, W, 3) images or (T, H, W, 3) videos (float64).

    Equal to ``lpips.LPIPS(net)(x, y)`` with the same weights, inputs scaled to [-1, 1]
    (``normalize=True`` on [0, 1] images), within 1e-6 in ``fp32`` mode. Both inputs go
    through the backbone as one batch; frames are processed in chunks that bound memory.
    """
    import torch

    from .layout import as_frames
    from .transfer import stream_frames

    a4, b4 = as_frames(a, b)
    if a4.dtype != np.uint8 or b4.dtype != np.uint8:
        raise ValueError(f"LPIPS expects uint8 frames, got {a4.dtype} and {b4.dtype}")
    if a4.shape[-1] != 3:
        raise ValueError(f"LPIPS expects RGB frames, got {a4.shape[-1]} channels")
    if precision not in PRECISIONS:
        raise ValueError(f"LPIPS precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    dev = torch.device(device)
    return _lpips_chunks(a4.shape, weights, dev, precision, chunk_bytes,
                         lambda chunk: stream_frames([a4, b4], dev, chunk))


def lpips_on_device(*, golden: Any, current: Any, weights: LpipsWeights, precision: str = "fp32",
                    chunk_bytes: int | None = None) -> np.ndarray:
    """:func:`lpips_frames` of uint8 (T, H, W, 3) torch tensors already on one device (a
    GPU run's output and its golden uploaded once: see :mod:`regress.metrics.resident`):
    the chunks are slices of them, nothing crosses host memory. Same model, same batches,
    same arithmetic as from host arrays."""
    import torch

    x, y = golden, current
    if tuple(x.shape) != tuple(y.shape) or x.dim() != 4 or x.device != y.device:
        raise ValueError(f"expected two (T, H, W, 3) tensors of one shape on one device, got {tuple(x.shape)} "
                         f"on {x.device} and {tuple(y.shape)} on {y.device}")
    if x.dtype != torch.uint8 or y.dtype != torch.uint8 or x.shape[-1] != 3:
        raise ValueError(f"LPIPS expects uint8 RGB frames, got {x.dtype} and {y.dtype}, {x.shape[-1]} channels")
    if precision not in PRECISIONS:
        raise ValueError(f"LPIPS precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    T = x.shape[0]
    return _lpips_chunks(tuple(x.shape), weights, x.device, precision, chunk_bytes,
                         lambda chunk: ((t0, min(T, t0 + chunk), [x[t0:t0 + chunk], y[t0:t0 + chunk]])
                                        for t0 in range(0, T, chunk)))


def _lpips_chunks(shape: tuple[int, ...], weights: LpipsWeights, dev: Any, precision: str, chunk_bytes: int | None,
                  chunks: Any) -> np.ndarray:
    """LPIPS per frame over ``chunks(frames per chunk)``: (t0, t1, [golden, current]) uint8
    NHWC device tensors, frames per chunk bounded by the device's memory budget."""
    import torch

    T, H, W, _ = shape
    side = MIN_SIDE[weights.net]
    if H < side or W < side:
        raise ValueError(f"frames of {H}x{W} are smaller than LPIPS-{weights.net}'s minimum {side}x{side}")
    model = load_model(weights, str(dev))
    budget = chunk_bytes or _CHUNK_BYTES["cuda" if dev.type == "cuda" else "cpu"]
    per_frame = max(1, H * W * _BYTES_PER_PIXEL[weights.net])
    chunk = max(1, budget // per_frame)
    out = torch.empty(T, dtype=torch.float64, device=dev)
    cuda = dev.type == "cuda"
    with torch.inference_mode(), _precision(dev, precision):
        for t0, t1, (x, y) in chunks(chunk):
            out[t0:t1] = _lpips_batch(model, x, y, channels_last=cuda).to(torch.float64)
    return out.cpu().numpy()


def _lpips_batch(model: Any, x: Any, y: Any, *, channels_last: bool) -> Any:
    """lpips.LPIPS.forward (v0.1, linear heads, spatial average) on uint8 NHWC batches, with
    both inputs in one backbone pass."""
    import torch
    from lpips import normalize_tensor

    n = x.shape[0]
    inp = torch.cat([x, y]).permute(0, 3, 1, 2).to(torch.float32)  # NCHW view, channels-last memory
    if not channels_last:
        inp = inp.contiguous()
    inp = model.scaling_layer(inp / 127.5 - 1.0)
    feats = model.net(inp)
    val = None
    for kk, f in enumerate(feats):
        f0, f1 = normalize_tensor(f[:n]), normalize_tensor(f[n:])
        d = model.lins[kk]((f0 - f1) ** 2).mean([2, 3], keepdim=True)
        val = d if val is None else val + d
    assert val is not None
    return val.reshape(n).float()


@contextlib.contextmanager
def _precision(dev: Any, precision: str) -> Iterator[None]:
    import torch

    if dev.type != "cuda":
        yield
        return
    if CUDNN_BENCHMARK is not None:
        saved_bench = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = CUDNN_BENCHMARK
        try:
            with _precision_flags(dev, precision):
                yield
        finally:
            torch.backends.cudnn.benchmark = saved_bench
        return
    with _precision_flags(dev, precision):
        yield


@contextlib.contextmanager
def _precision_flags(dev: Any, precision: str) -> Iterator[None]:
    import torch

    from .ssim import _fp32_strict

    if precision == "fp32":
        with _fp32_strict(dev):
            yield
    elif precision == "tf32":
        from ..tf32 import tf32

        with tf32(True):
            yield
    else:
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield


# --------------------------------------------------------------------------- gating

LPIPS_METRICS = ("lpips", "lpips_worst")


@dataclass(frozen=True)
class LpipsRequest:
    """Compute LPIPS with these (resolved, checked) weights in this precision mode."""

    weights: LpipsWeights
    precision: str = "fp32"


@dataclass
class LpipsSetup:
    """What a case's judgement needs to know about LPIPS: resolved weights, or why not."""

    net: str
    precision: str
    weights: LpipsWeights | None = None
    unavailable: Unavailable | None = None
    error: str | None = None  # weights found but unusable (hash mismatch, unreadable): always fails

    @property
    def request(self) -> LpipsRequest | None:
        return LpipsRequest(self.weights, self.precision) if self.weights is not None else None


def lpips_gated(thresholds: Mapping[str, Any]) -> bool:
    """LPIPS is computed and gated only when the suite itself (defaults, a platform overlay or
    the case) sets an lpips threshold; a calibrated one alone does not switch it on."""
    return any(k in LPIPS_METRICS and not str(th.source).startswith("calibrated") for k, th in thresholds.items())


def judged_thresholds(thresholds: Mapping[str, Any]) -> dict[str, Any]:
    """``thresholds`` as judged: without calibrated-only LPIPS thresholds when the suite does not
    gate LPIPS (a new dict; the caller's is left as it is)."""
    if lpips_gated(thresholds):
        return dict(thresholds)
    return {k: v for k, v in thresholds.items() if k not in LPIPS_METRICS}


def lpips_setup(suite: Any, store: Any, thresholds: Mapping[str, Any]) -> LpipsSetup | None:
    """None when LPIPS is not gated (:func:`judged_thresholds` then drops calibrated-only lpips
    thresholds); otherwise the resolved weights or the reason there are none. Reads
    ``thresholds`` only."""
    if not lpips_gated(thresholds):
        return None
    settings = getattr(suite, "metrics", {}) or {}
    setup = LpipsSetup(net=settings.get("lpips_net", "alex"), precision=settings.get("lpips_precision", "fp32"))
    try:
        found = resolve_weights(setup.net, suite_path=suite.path, setting=settings.get("lpips_weights"),
                                setting_sha256=settings.get("lpips_weights_sha256"), store=store)
    except LpipsError as exc:
        setup.error = str(exc)
        return setup
    if isinstance(found, Unavailable):
        setup.unavailable = found
    else:
        setup.weights = found
    return setup


def lpips_verdict(setup: LpipsSetup, verdict: Any, comp: Any, thresholds: Mapping[str, Any],
                  golden_meta: Mapping[str, Any], *, strict: bool) -> None:
    """Fold LPIPS into a verdict: mark it unavailable (a failure under ``strict``), not
    applicable, or computed; flag weights that differ from those the golden recorded."""
    from ..verdict import MetricResult
    from .catalog import METRICS

    video = "video" in (verdict.kind or "")
    names = [n for n in (LPIPS_METRICS if video else ("lpips",)) if n in thresholds]
    info: dict[str, Any] = {"net": setup.net, "precision": setup.precision}

    def mark(note: str) -> None:
        for n in names:
            th = thresholds[n]
            verdict.metrics[n] = MetricResult(n, None, th.value, METRICS[n].op, th.source, None, note=note)

    if setup.error:
        info["status"] = "error"
        mark("unavailable: weights rejected")
        verdict.reasons.append(setup.error)
    elif setup.unavailable is not None:
        info.update(status="unavailable", message=setup.unavailable.message)
        mark("unavailable: no weights")
        (verdict.reasons if strict else verdict.warnings).append(setup.unavailable.message)
    elif "lpips" in comp.notes:
        info.update(status="not applicable", message=comp.notes["lpips"])
        mark(comp.notes["lpips"])
    else:
        assert setup.weights is not None
        info.update(status="computed", **setup.weights.to_json())
        recorded = golden_weights_sha256(golden_meta)
        if recorded is not None:
            info["golden_sha256"] = recorded
            info["matches_golden"] = recorded == setup.weights.sha256
            if recorded != setup.weights.sha256:
                verdict.warnings.append(f"LPIPS computed with other weights than the golden's: sha256 "
                                        f"{setup.weights.sha256[:12]}... ({setup.weights.source}), golden recorded "
                                        f"{recorded[:12]}...; its LPIPS values are not comparable")
    verdict.metric_info["lpips"] = info


def golden_weights_sha256(meta: Mapping[str, Any]) -> str | None:
    """The LPIPS weights a golden was recorded (or calibrated) with, if any."""
    for rec in ((meta.get("noise_floor") or {}).get("lpips_weights"), meta.get("lpips_weights")):
        if isinstance(rec, Mapping) and isinstance(rec.get("sha256"), str):
            return rec["sha256"]
    return None
