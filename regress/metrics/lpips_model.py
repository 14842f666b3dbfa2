"""The LPIPS model: ``lpips.LPIPS`` with the package's linear heads and a backbone read from
resolved, checked weights (:mod:`.lpips_weights`), cached per (net, weights, device).

Why a cache: building the model and loading its backbone costs far more than one image
pair's LPIPS, and every case of a session asks for the same one. Why a separate module: what
is loaded (weights), how it is loaded (here) and what is computed with it (:mod:`.lpips`)
change for different reasons.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from .lpips_weights import NET_LABEL, LpipsError, LpipsWeights


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
