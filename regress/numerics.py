"""The numerics identity of a machine, and how two of them compare: the ground of a verdict's regime.

Why: a golden says what a pipeline computed *somewhere*. Whether a difference from it is a
regression or platform drift depends on whether this machine computes the same way as the
one that made it. Platform keys cannot tell: torch calls an AMD EPYC (AVX-512 with bf16) and
an Intel Xeon with AMX both ``AVX512``, and on the Xeon 7 of 8 tiny cases fail against the
EPYC's goldens purely because oneDNN picks AMX kernels. So every golden records an identity
in two parts:

* ``installed``: library versions, the device and the settings that pick kernels (flat
  ``name -> text``), which *explains* a difference;
* ``probe``: one digest per op of the kernel probe (:mod:`regress.probe`), a fixed set of
  small seeded ops per dtype run on the device under test, which *decides* it.

The regimes (decided here, purely, from two identity records):

* ``exact``: every probe op computes bit-for-bit what it computed on the golden's machine. A
  failure then is not platform drift, and the verdict says so. Library versions that differ
  while the probe matches are named, but do not change the regime: the probe is the
  measurement, versions are only a reason.
* ``drift``: some probe ops differ (named, with the installed differences that explain
  them). The verdict is judged with drift bounds measured by ``regress calibrate --drift``.
* a golden made before identities were recorded has none: it is ``exact`` when it was filed
  under this machine's platform key (what regress did before), otherwise ``drift``; the
  verdict says the identity is unknown.

Kept free of torch: the suite, the judge and the report read these records cheaply.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

IDENTITY_SCHEMA = 1
EXACT, DRIFT = "exact", "drift"
REGIMES = (EXACT, DRIFT)

# Installed entries that choose kernels (so may explain a probe difference), in the order a
# verdict names them. The others (python, diffusers, transformers, cpu.threads) are recorded
# for provenance.
KERNEL_CHOOSERS = (
    "cpu.onednn_isa", "cpu.aten_capability", "cpu.model", "cpu.vendor", "cpu.isa",
    "parallel", "gpu.name", "gpu.capability", "gpu.sm_count", "attention",
    "cudnn.allow_tf32", "cuda.matmul.allow_tf32", "float32_matmul_precision", "cudnn.benchmark",
    "cudnn.deterministic", "torch", "cuda", "hip", "cudnn", "cublas", "hipblaslt", "miopen", "onednn", "mkl",
)

_DTYPE_ORDER = ("fp32", "bf16", "fp16")
_OP_ORDER = ("matmul", "linear", "conv2d", "conv3d", "sdpa", "group_norm", "layer_norm", "silu", "gelu", "interpolate")


@dataclass(frozen=True)
class Identity:
    """What a machine is (``installed``) and how it computes (``probe``: op -> digest)."""

    installed: dict[str, str]
    probe: dict[str, str]
    device: str = "cpu"  # device type the probe ran on: 'cpu', 'cuda'
    probe_ms: float | None = None

    @property
    def digest(self) -> str:
        """One digest of the whole probe: equal digests, equal numerics on every probed op."""
        return probe_digest(self.probe)

    def to_json(self) -> dict[str, Any]:
        return {"schema": IDENTITY_SCHEMA, "device": self.device, "installed": dict(self.installed),
                "probe": dict(self.probe), "digest": self.digest,
                "probe_ms": round(self.probe_ms, 2) if self.probe_ms is not None else None}

    @classmethod
    def from_json(cls, d: Any) -> Identity | None:
        """The identity a golden recorded, or None (made before identities were recorded, or
        a record this version cannot read: both mean "unknown", never a match). ``d``: the
        ``identity`` block as JSON, or as the golden's typed record
        (:class:`regress.golden_records.IdentityRecord`, read by its attributes: no round trip
        through JSON for each judgement)."""
        if d is not None and not isinstance(d, Mapping) and hasattr(d, "probe"):
            present = getattr(d, "present", None)  # the keys it was read with: an absent one stays absent
            d = {k: getattr(d, k) for k in ("schema", "installed", "probe", "device", "probe_ms")
                 if present is None or k in present}
        if not isinstance(d, Mapping) or d.get("schema") != IDENTITY_SCHEMA:
            return None
        inst, probe = d.get("installed"), d.get("probe")
        if not isinstance(inst, Mapping) or not isinstance(probe, Mapping) or not probe:
            return None
        ms = d.get("probe_ms")
        return cls(installed={str(k): str(v) for k, v in inst.items()},
                   probe={str(k): str(v) for k, v in probe.items()}, device=str(d.get("device", "cpu")),
                   probe_ms=float(ms) if isinstance(ms, (int, float)) and not isinstance(ms, bool) else None)


def probe_digest(probe: Mapping[str, str]) -> str:
    h = hashlib.sha256()
    for k in sorted(probe):
        h.update(f"{k}={probe[k]}\n".encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Numerics:
    """How this run's numerics relate to its golden's: the regime and why."""

    regime: str  # 'exact' | 'drift'
    known: bool  # the golden recorded an identity
    ops: tuple[str, ...] = ()  # probe ops that differ ('bf16.matmul', ...)
    installed: tuple[str, ...] = ()  # 'name golden -> current' for kernel-choosing entries that differ
    golden_platform: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    # A legal path that is not the machine's, judged across (a compiled run against an eager
    # golden): what it is, in words. Set by :func:`across_path`.
    path: str | None = None

    @property
    def exact(self) -> bool:
        return self.regime == EXACT

    def describe(self) -> str:
        """One line: the regime, and what differs from the golden's machine."""
        if self.path is not None:
            line = f"{'parallel' if self.path.startswith('parallel') else 'compile'} drift: {self.path}"
            machine = tuple(op for op in self.ops if op != "parallel")  # the layout is the path itself
            if machine and self.known:
                line += f"; the machine differs too ({describe_ops(machine)} differ from the golden's machine)"
            return line + "".join(f"; {n}" for n in self.notes)
        if not self.known:
            if self.exact:
                return ("numerics: exact by platform key (the golden records no numerics identity: made before "
                        "regress recorded one; `regress refresh` records it)")
            return (f"platform drift: golden from {self.golden_platform} records no numerics identity, and this "
                    "machine files goldens under another key")
        if self.exact and self.ops:  # judged exactly on request although the probe differs
            line = f"numerics: {'; '.join(self.notes)}; differs in {describe_ops(self.ops)}"
            if self.installed:
                line += " (" + "; ".join(self.installed) + ")"
            return line
        if self.exact:
            line = "numerics: exact (the kernel probe matches the golden's machine: not platform drift)"
            if self.installed:
                line += "; versions differ but compute the same: " + "; ".join(self.installed)
            return line + "".join(f"; {n}" for n in self.notes)
        what = describe_ops(self.ops)
        verb = "differ" if any(sep in what for sep in (" and ", ", ", "; ")) else "differs"
        line = f"platform drift: {what} {verb} from the golden's machine"
        if self.installed:
            line += " (" + "; ".join(self.installed) + ")"
        return line + "".join(f"; {n}" for n in self.notes)

    def to_json(self) -> dict[str, Any]:
        return {"regime": self.regime, "known": self.known, "ops": list(self.ops),
                "installed": list(self.installed), "golden_platform": self.golden_platform,
                "line": self.describe(), **({"path": self.path} if self.path else {})}


def across_path(numerics: Numerics, path: str) -> Numerics:
    """``numerics`` in the drift regime because the run took another legal path than its golden
    (``path`` says which): a compiled run judged against an eager golden computes other bits on
    the same machine, so the probe's "exact" cannot hold; its bounds are the golden's measured
    drift, where ``calibrate --drift --compile`` ran a compiled path among the variants."""
    import dataclasses

    return dataclasses.replace(numerics, regime=DRIFT, path=path)


def describe_ops(ops: tuple[str, ...] | list[str]) -> str:
    """Probe ops folded for a person: shapes dropped, ops that differ in the same dtypes
    grouped, e.g. 'bf16 and fp16 matmul, linear and conv2d; fp16 conv3d' or 'fp32, bf16 and
    fp16 sdpa'."""
    dtypes_of: dict[str, set[str]] = {}
    for op in ops:
        dtype, _, name = op.partition(".")
        dtypes_of.setdefault(name.split("@", 1)[0] or dtype, set()).add(dtype if name else "")
    groups: dict[tuple[str, ...], list[str]] = {}
    for name in sorted(dtypes_of, key=lambda n: (_OP_ORDER.index(n) if n in _OP_ORDER else 99, n)):
        key = tuple(sorted((d for d in dtypes_of[name] if d),
                           key=lambda d: _DTYPE_ORDER.index(d) if d in _DTYPE_ORDER else 99))
        groups.setdefault(key, []).append(name)
    parts = [(_join(list(dts)) + " " if dts else "") + _join(names) for dts, names in groups.items()]
    return "; ".join(parts) if parts else "the probe"


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def compare(golden: Any, current: Identity, *, same_key: bool,
            golden_platform: str | None = None) -> Numerics:
    """The regime of a comparison with a golden whose meta recorded ``golden`` (its
    ``identity`` block as JSON or as its typed record, or None). Pure: the same records give
    the same answer anywhere."""
    g = Identity.from_json(golden)
    common = set(g.probe) & set(current.probe) if g is not None else set()
    if g is None or not common:
        return Numerics(EXACT if same_key else DRIFT, known=False, golden_platform=golden_platform)
    # Op by op over the ops both probes ran: a probe from another regress version (one op more
    # or less) is not "different" for that; a real difference is one op computing other bits.
    ops = tuple(sorted(k for k in common if g.probe[k] != current.probe[k]))
    installed = tuple(f"{k} {g.installed[k]} -> {current.installed[k]}" for k in KERNEL_CHOOSERS
                      if k in g.installed and k in current.installed and g.installed[k] != current.installed[k])
    if g.device != current.device:
        ops = ops or ("device",)
    # The parallel layout (regress.parallel): ranks that split the attention compute in another
    # order on the same machine, so another layout (or one process) is drift whatever the probe says.
    if g.installed.get("parallel", "one process") != current.installed.get("parallel", "one process"):
        ops = (*ops, "parallel")
        installed = (*installed, *(() if "parallel" in g.installed and "parallel" in current.installed else
                     (f"parallel {g.installed.get('parallel', 'one process')} -> "
                      f"{current.installed.get('parallel', 'one process')}",)))
    notes: tuple[str, ...] = ()
    only_golden, only_now = len(set(g.probe) - common), len(set(current.probe) - common)
    if only_golden or only_now:
        versions = (g.installed.get("probe_version", "?"), current.installed.get("probe_version", "?"))
        notes = (f"compared on the {len(common)} probe ops both ran (golden's probe version {versions[0]}, "
                 f"this one {versions[1]}; {only_golden} only in the golden's, {only_now} only in this one)",)
    return Numerics(DRIFT if ops else EXACT, known=True, ops=ops, installed=installed,
                    golden_platform=golden_platform, notes=notes)


def probe_matches(golden: Mapping[str, Any] | None, current: Identity) -> bool:
    """Whether a golden's recorded probe equals this machine's (a stand-in judged exactly)."""
    g = Identity.from_json(golden)
    return g is not None and g.device == current.device and g.probe == current.probe
