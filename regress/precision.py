"""Precision: dtype names, the per-component fingerprint, and its diff.

The fingerprint is the *observed* dtype of every component's parameters, not the one that
was asked for: the bf16-VAE change that motivated regress was a default flipping inside the
engine, and only an observation catches that.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# Canonical short names, and the spellings users write. torch names are mapped lazily.
DTYPE_ALIASES: dict[str, str] = {
    "fp32": "fp32", "float32": "fp32", "float": "fp32",
    "bf16": "bf16", "bfloat16": "bf16",
    "fp16": "fp16", "float16": "fp16", "half": "fp16",
    "fp64": "fp64", "float64": "fp64", "double": "fp64",
    "fp8_e4m3": "fp8_e4m3", "float8_e4m3fn": "fp8_e4m3",
    "fp8_e5m2": "fp8_e5m2", "float8_e5m2": "fp8_e5m2",
    "int8": "int8", "uint8": "uint8",
}
DTYPES: tuple[str, ...] = ("fp32", "bf16", "fp16", "fp64", "fp8_e4m3", "fp8_e5m2")

_TORCH_NAMES = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16", "fp64": "float64",
                "fp8_e4m3": "float8_e4m3fn", "fp8_e5m2": "float8_e5m2", "int8": "int8", "uint8": "uint8"}

Fingerprint = dict[str, str]


def canonical_dtype(name: str) -> str | None:
    """Return the canonical short name ('bf16', ...) or None when the name is not a dtype."""
    if not isinstance(name, str):
        return None
    n = name.strip().lower().removeprefix("torch.")
    return DTYPE_ALIASES.get(n)


def to_torch_dtype(name: str) -> Any:
    """The torch dtype for a canonical or aliased name (imports torch: call only in runners)."""
    import torch

    canon = canonical_dtype(name)
    if canon is None:
        raise ValueError(f"unknown dtype {name!r}")
    return getattr(torch, _TORCH_NAMES[canon])


def dtype_name(torch_dtype: Any) -> str:
    """The canonical short name of a torch dtype ('torch.bfloat16' -> 'bf16')."""
    return canonical_dtype(str(torch_dtype)) or str(torch_dtype).removeprefix("torch.")


def observed_dtype(dtypes: Iterable[Any]) -> str:
    """Summarise the dtypes of one component's floating parameters.

    One dtype gives its name; several (a model kept partly in fp32, say) give
    ``mixed(bf16,fp32)`` so that a partial change still shows up in the diff.
    """
    names = sorted({dtype_name(d) for d in dtypes})
    if not names:
        return "none"
    if len(names) == 1:
        return names[0]
    return "mixed(" + ",".join(names) + ")"


def resolve_precision(defaults: Mapping[str, str], *overrides: Mapping[str, str]) -> dict[str, str]:
    """Later mappings win; every value is canonicalised (validated earlier by the suite)."""
    out = {k: canonical_dtype(v) or v for k, v in defaults.items()}
    for layer in overrides:
        for k, v in layer.items():
            out[k] = canonical_dtype(v) or v
    return out


def parse_override(text: str) -> tuple[str, str]:
    """Parse ``COMPONENT=DTYPE`` from the command line; raises ValueError with the reason."""
    comp, sep, dt = text.partition("=")
    comp, dt = comp.strip(), dt.strip()
    if not sep or not comp or not dt:
        raise ValueError(f"expected COMPONENT=DTYPE, got {text!r}")
    canon = canonical_dtype(dt)
    if canon is None or canon not in DTYPES:
        raise ValueError(f"unknown dtype {dt!r} in {text!r} (one of {', '.join(DTYPES)})")
    return comp, canon


def parse_overrides(texts: list[str], *, flag: str = "--precision") -> dict[str, str]:
    """``COMPONENT=DTYPE`` options of a command, as one table; a bad one is a usage error
    naming the flag."""
    from .errors import RegressError

    try:
        return dict(parse_override(t) for t in texts)
    except ValueError as exc:
        raise RegressError(f"{flag}: {exc}") from None
