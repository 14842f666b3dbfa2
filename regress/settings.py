"""The engine's precision settings: part of a run's fingerprint, beside its dtypes.

Why: a pipeline's outputs depend on more than its components' dtypes. An engine that turns
TF32 on for its fp32 matmuls, sets ``torch.set_float32_matmul_precision("medium")`` (on an
AMX CPU that runs fp32 matmuls in bf16), narrows the SDPA backends, enables autocast for a
stage, or wraps ``scaled_dot_product_attention`` has changed its numerics as surely as a VAE
flipped to bf16. These are process settings, so the kernel probe (which measures the
*machine*, in a clean process) must not see them; a golden records them instead, per run and
per stage where they changed, and a run whose settings differ fails like a dtype change and
names the setting, unless the suite allows it (``[suite] allowed_settings``).

Names (recorded by :func:`regress.runners.observation.precision_settings`):

* ``float32_matmul_precision``; ``mkldnn.matmul.fp32_precision`` / ``mkldnn.conv.fp32_precision``
  (CPU); ``cuda.matmul.allow_tf32``, ``cudnn.allow_tf32``, ``cuda.matmul.allow_bf16_reduced_precision_reduction``,
  ``cuda.matmul.allow_fp16_reduced_precision_reduction``, ``cudnn.benchmark``,
  ``cudnn.deterministic`` (CUDA / ROCm);
* ``sdpa.backends`` (the SDPA backends enabled), ``deterministic_algorithms``, ``autocast``;
* ``functions.replaced``: torch functions (``torch.nn.functional.*`` and the core math ops)
  that are no longer torch's own (a wrapper, a monkeypatch);
* ``NAME@STAGE``: a setting whose value at the start of a stage differed from the run's start
  (an engine enabling autocast only for its decode).

Goldens made before settings were recorded carry the CUDA flags in ``platform.versions``:
those are read as their settings, and anything not recorded on both sides is unknown, not a
change. Kept free of torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# Settings that goldens recorded in platform.versions before they had a block of their own.
LEGACY_IN_VERSIONS = ("cudnn.benchmark", "cudnn.deterministic", "cudnn.allow_tf32", "cuda.matmul.allow_tf32",
                      "float32_matmul_precision")
STAGE_SEP = "@"


@dataclass(frozen=True)
class SettingChange:
    name: str  # 'cuda.matmul.allow_tf32', or 'autocast@decode'
    golden: str
    current: str

    def line(self) -> str:
        return f"{self.name} {self.golden} -> {self.current}"


def golden_settings(block: Mapping[str, Any] | None, versions: Mapping[str, Any] | None) -> dict[str, str]:
    """The settings a golden recorded: its meta's ``settings`` block, else (a golden from before
    the block) the legacy flags in ``platform.versions``; {} when it recorded none."""
    if block is not None:
        return {str(k): str(v) for k, v in block.items()}
    return {k: str(versions[k]) for k in LEGACY_IN_VERSIONS if k in versions} if versions else {}


def _value(settings: Mapping[str, str], name: str) -> str | None:
    """A setting's value; ``NAME@STAGE`` not recorded means it equalled the run's start."""
    if name in settings:
        return settings[name]
    base, sep, _ = name.partition(STAGE_SEP)
    return settings.get(base) if sep else None


def diff_settings(golden: Mapping[str, str], current: Mapping[str, str]) -> list[SettingChange]:
    """Each setting recorded on both sides whose value differs (an older golden, or a runner
    that records none: nothing is known, nothing differs)."""
    if not golden or not current:
        return []
    out = []
    for name in sorted(set(golden) | set(current)):
        g, c = _value(golden, name), _value(current, name)
        if g is not None and c is not None and g != c:
            out.append(SettingChange(name, g, c))
    return out


def is_allowed(name: str, allowed: Iterable[str]) -> bool:
    """Whether ``[suite] allowed_settings`` covers ``name``: an entry names a setting
    (``cudnn.benchmark``), a family of them (``cudnn``, ``sdpa``), or one stage's (``autocast@decode``)."""
    base = name.partition(STAGE_SEP)[0]
    for entry in allowed:
        if entry in (name, base) or base.startswith(entry + "."):
            return True
    return False


def describe_changes(changes: Iterable[SettingChange]) -> str:
    return "precision settings changed: " + "; ".join(c.line() for c in changes)
