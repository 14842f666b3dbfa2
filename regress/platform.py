"""Platform keys: the directory goldens are filed under, and the scored fallback between them.

A key is ``<backend>-<arch>``: ``cuda-sm90``, ``rocm-gfx942``, ``cpu-avx2``. bf16 results
depend on the kernel path, so the arch is part of the key: measured on CPU, AVX2 vs the
default path moved all-bf16 outputs as much as an fp32->bf16 switch. On the CPU the arch is
the kernel tier, not torch's capability name: torch calls an AMD EPYC with AVX512-BF16 and an
Intel Xeon with AMX both ``AVX512``, yet oneDNN computes bf16 differently on each, so they
file goldens under ``cpu-avx512bf16`` and ``cpu-amx`` (:func:`regress.probe.cpu_tier`). What
the key cannot separate (library versions, attention backends) the numerics identity does.

Fallback (when no golden exists for this exact key) only considers goldens of the same
backend and prefers the nearest arch; the verdict then says a nearest golden was used and
applies the suite's cross-platform thresholds. A case is never passed for lack of a golden.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

BACKENDS = ("cuda", "rocm", "cpu")
KEY_RE = re.compile(r"^(cuda|rocm|cpu)-([a-z0-9_.]+)$")

# CPU kernel tiers, from the most capable down (neighbours compute most alike).
_CPU_ORDER = ("amx", "avx512fp16", "avx512bf16", "avx512", "avx2", "default", "sve256", "sve", "neon")


@dataclass(frozen=True)
class PlatformInfo:
    key: str
    backend: str
    arch: str
    device: str  # torch device string: 'cuda', 'cpu'
    device_name: str
    versions: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "backend": self.backend, "arch": self.arch, "device": self.device,
                "device_name": self.device_name, "versions": self.versions}


def parse_key(key: str) -> tuple[str, str]:
    m = KEY_RE.match(key)
    if not m:
        raise ValueError(f"invalid platform key {key!r} (expected e.g. cpu-avx2, cuda-sm90, rocm-gfx942)")
    return m.group(1), m.group(2)


def is_valid_key(key: str) -> bool:
    return KEY_RE.match(key) is not None


def require_key(key: str, *, what: str = "--platform") -> str:
    """``key`` when it is a platform key, else the one-line error every entry point gives."""
    if not is_valid_key(key):
        from .errors import RegressError

        raise RegressError(f"{what}: {key!r} is not a platform key (e.g. cpu-avx2, cuda-sm90, rocm-gfx942)")
    return key


def detect(device: str | None = None) -> PlatformInfo:
    """Probe torch for this machine's platform (imports torch).

    ``torch.version.hip`` set means ROCm (which also answers to ``torch.cuda``); the arch
    comes from ``gcnArchName`` there, from the compute capability on NVIDIA, and from
    ``torch.backends.cpu.get_cpu_capability()`` on the CPU.
    """
    import platform as _pyplatform

    import torch

    versions = {"torch": torch.__version__, "python": _pyplatform.python_version()}
    try:
        import diffusers

        versions["diffusers"] = diffusers.__version__
    except ImportError:
        pass
    want = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if want.startswith("cuda"):
        if not torch.cuda.is_available():
            raise RuntimeError("device 'cuda' asked for, but torch sees no GPU")
        idx = torch.device(want).index or 0
        props = torch.cuda.get_device_properties(idx)
        if getattr(torch.version, "hip", None):
            arch = str(getattr(props, "gcnArchName", "unknown")).split(":")[0].lower()
            versions["hip"] = str(torch.version.hip)
            return PlatformInfo(f"rocm-{arch}", "rocm", arch, want, props.name, versions)
        major, minor = torch.cuda.get_device_capability(idx)
        versions["cuda"] = str(torch.version.cuda)
        arch = f"sm{major}{minor}"
        return PlatformInfo(f"cuda-{arch}", "cuda", arch, want, props.name, versions)
    from .probe import cpu_flags, cpu_tier, onednn_cap

    aten = "default"
    try:
        aten = str(torch.backends.cpu.get_cpu_capability()).lower() or "default"
    except Exception:  # older torch
        pass
    tier = cpu_tier(flags=cpu_flags(), aten_capability=aten, cap=onednn_cap())
    name = _pyplatform.processor() or _pyplatform.machine()
    return PlatformInfo(f"cpu-{tier}", "cpu", tier, "cpu", name, versions)


def _arch_number(arch: str) -> float | None:
    """sm90 -> 90, gfx942 -> 0x942 (gfx arch digits are hex-like: gfx90a)."""
    if arch.startswith("sm") and arch[2:].isdigit():
        return float(arch[2:])
    if arch.startswith("gfx"):
        try:
            return float(int(arch[3:], 16))
        except ValueError:
            return None
    return None


def score(current: str, candidate: str) -> int:
    """How well a golden filed under ``candidate`` stands in for ``current`` (0 = not at all).

    100 exact; otherwise same backend only: the same generation (sm8x with sm8x, gfx94x with
    gfx94x) beats a neighbouring one, and nearer numbers beat farther ones. Across backends
    the score is 0: a CUDA golden never stands in for ROCm silently.
    """
    if current == candidate:
        return 100
    try:
        cb, ca = parse_key(current)
        gb, ga = parse_key(candidate)
    except ValueError:
        return 0
    if cb != gb:
        return 0
    if cb == "cpu":
        order = {a: i for i, a in enumerate(_CPU_ORDER)}
        ci, gi = order.get(ca, len(order)), order.get(ga, len(order))
        return max(1, 60 - 10 * abs(ci - gi))
    cn, gn = _arch_number(ca), _arch_number(ga)
    if cn is None or gn is None:
        return 10
    same_generation = ca[:-1] == ga[:-1]
    return max(1, (70 if same_generation else 50) - int(abs(cn - gn)) // (1 if cb == "cuda" else 16))


def _tie_order(key: str) -> tuple[int, str]:
    m = KEY_RE.match(key)
    if m and m.group(1) == "cpu" and m.group(2) in _CPU_ORDER:
        return _CPU_ORDER.index(m.group(2)), key
    return len(_CPU_ORDER), key


def nearest(current: str, available: Iterable[str]) -> str | None:
    """The best-scoring key among ``available`` (exact first), or None when none qualifies.
    Ties break towards the more capable CPU tier, then by name, so that every machine picks
    the same golden."""
    best: tuple[int, str] | None = None
    for key in sorted(available, key=_tie_order):
        s = score(current, key)
        if s > 0 and (best is None or s > best[0]):
            best = (s, key)
    return best[1] if best else None
