"""Build released architectures on the meta device (to count) or on a device (to run).

See :mod:`regress.shapes` for why parameters never exist on the host at full size.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from ..errors import RunnerError
from ..precision import to_torch_dtype
from . import Spec


def _resolve(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def _config(spec: Spec) -> Any:
    """The config object (transformers) or kwargs (diffusers) for ``spec``."""
    if spec.config_class is None:
        return dict(spec.config)
    return _resolve(spec.config_class)(**{k: dict(v) if isinstance(v, Mapping) else v
                                          for k, v in spec.config.items()})


def construct(spec: Spec) -> nn.Module:
    """Instantiate ``spec`` under whatever device context the caller set up."""
    cls = _resolve(spec.cls)
    config = _config(spec)
    with _quiet():
        model = cls(**config) if isinstance(config, dict) else cls(config)
    return model.eval()


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    import warnings

    with warnings.catch_warnings():  # e.g. Oobleck's weight_norm deprecation at construction
        warnings.simplefilter("ignore", FutureWarning)
        yield


def on_meta(spec: Spec) -> nn.Module:
    """The component with every tensor on the meta device: free to build at any size."""
    with torch.device("meta"):
        return construct(spec)


def count(module: nn.Module) -> int:
    """Parameters, tied weights counted once (as a checkpoint stores them)."""
    seen: set[int] = set()
    total = 0
    for p in module.parameters():  # parameters() already yields a shared parameter once
        if id(p) not in seen:
            seen.add(id(p))
            total += p.numel()
    return total


def weight_bytes(params: int, dtype: str) -> int:
    return params * to_torch_dtype(dtype).itemsize


@contextlib.contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Parameters registered inside go to the meta device; buffers stay where they are made.

    Buffers such as rotary frequency tables are computed in ``__init__`` and never loaded
    from a checkpoint, so they must be real; parameters are filled later, once, on the device.
    """
    original = nn.Module.register_parameter

    def register(self: nn.Module, name: str, param: nn.Parameter | None) -> None:
        if param is not None and param.device.type != "meta":
            param = nn.Parameter(param.data.to("meta"), requires_grad=param.requires_grad)
        original(self, name, param)

    nn.Module.register_parameter = register  # type: ignore[method-assign]
    try:
        yield
    finally:
        nn.Module.register_parameter = original  # type: ignore[method-assign]


def _is_norm(module: nn.Module) -> bool:
    return "norm" in type(module).__name__.lower()


@torch.no_grad()
def materialize(spec: Spec, *, device: str, dtype: str, seed: int) -> nn.Module:
    """``spec`` built on ``device`` in ``dtype`` with seeded random weights.

    The fill visits parameters in name order from one generator on the device, so the weights
    depend only on (spec, dtype, seed, device type), like a checkpoint would.
    """
    target = to_torch_dtype(dtype)
    dev = torch.device(device)
    with torch.device(dev), _parameters_on_meta():
        model = construct(spec)
    gen = torch.Generator(device=dev).manual_seed(seed)
    made: dict[int, nn.Parameter] = {}
    owners = {name: mod for name, mod in model.named_modules()}
    for full, param in sorted(model.named_parameters(remove_duplicate=False), key=lambda kv: kv[0]):
        owner_name, _, attr = full.rpartition(".")
        owner = owners[owner_name]
        new = made.get(id(param))
        if new is None:
            t = torch.empty(param.shape, dtype=target if param.is_floating_point() else param.dtype, device=dev)
            _fill(t, attr=attr, norm=_is_norm(owner), gen=gen)
            new = made[id(param)] = nn.Parameter(t, requires_grad=False)
        owner._parameters[attr] = new
    for mod in model.modules():  # floating buffers follow the weights, as .to(dtype) would
        for name, buf in list(mod._buffers.items()):
            if buf is not None and buf.is_floating_point() and buf.dtype != target and buf.device.type != "meta":
                mod._buffers[name] = buf.to(target)
    return model


def _fill(t: torch.Tensor, *, attr: str, norm: bool, gen: torch.Generator) -> None:
    if not t.is_floating_point():
        t.zero_()
    elif attr == "bias" or attr.endswith("_bias"):
        t.zero_()
    elif t.ndim <= 1:
        if norm or attr in ("weight", "scale", "gamma", "g"):
            t.fill_(1.0)
        else:
            t.normal_(0.0, 0.02, generator=gen)
    else:
        fan_in = t[0].numel()
        t.normal_(0.0, fan_in ** -0.5, generator=gen)


def memory_plan(family_specs: tuple[Spec, ...], table: Mapping[str, str]) -> dict[str, int]:
    """Resident weight bytes per component at ``table``'s dtypes, from the released counts."""
    out: dict[str, int] = {}
    for spec in family_specs:
        if spec.component not in table:
            raise RunnerError(f"no dtype for component '{spec.component}' of '{spec.family}'", field="precision")
        out[spec.component] = weight_bytes(spec.params, table[spec.component])
    return out


def check_fits(plan: Mapping[str, int], *, device: str, family: str, case: str | None = None) -> None:
    """Refuse, before anything is allocated, a build whose weights alone exceed the free memory.

    Every device that can say what is free is checked, the host included (see
    :mod:`regress.shapes.memory` for why and how). Activations come on top and depend on the
    shapes the case asks for, so this is the necessary condition, checked where it is cheap;
    the run's meter reports the rest.
    """
    from .memory import free_memory

    avail = free_memory(device)
    need = sum(plan.values())
    if avail is None or need <= avail.free:
        return
    parts = ", ".join(f"{k} {v / 2**30:.1f}" for k, v in plan.items())
    of = f" of {avail.total / 2**30:.1f}" if avail.total else ""
    where = f"{torch.device(device)}" if device.startswith("cuda") else f"the host ({device})"
    raise RunnerError(f"shape-true '{family}' needs {need / 2**30:.1f} GiB of weights ({parts} GiB) but "
                      f"{where} has {avail.free / 2**30:.1f}{of} GiB free: it cannot fit, nothing was allocated "
                      f"(free as {avail.source} says)", case=case, field="weights")
