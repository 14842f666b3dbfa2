"""Stage checkpoints compared: how far each intermediate tensor is from the golden's.

Why: a pixel metric says *that* an output moved, not *where*. A bf16 text encoder shifts the
prompt embeddings; a changed denoiser moves the latents from the first step on; a VAE change
leaves every latent identical and moves only the decode. Comparing the tensors that pass
between the stages (recorded by the runner, stored in the golden as safetensors) names the
first stage that diverged.

Two numbers per tensor, both 0-distance for identical tensors and both scale-free, so one
threshold serves embeddings and latents alike: cosine similarity (direction) and relative L2
(``|a - b| / |b|``, magnitude). Computed in float64 on the CPU (the tensors are small).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

# The order stages happen in: the first diverging one is the earliest in this order.
STAGE_ORDER = ("text_encode", "denoise", "decode", "audio_decode")


@dataclass(frozen=True)
class StageDistance:
    key: str  # 'denoise/step002'
    cos: float | None
    rel_l2: float | None
    note: str | None = None  # why there are no numbers ('missing in this run', 'shape ...')

    @property
    def stage(self) -> str:
        return self.key.split("/", 1)[0]


def order_key(key: str) -> tuple[int, str]:
    stage = key.split("/", 1)[0]
    return (STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER), key)


def compare_stages(golden: dict[str, np.ndarray], current: dict[str, np.ndarray]) -> list[StageDistance]:
    """One distance per tensor either side has, in stage order."""
    out = []
    for key in sorted(set(golden) | set(current), key=order_key):
        if key not in current:
            out.append(StageDistance(key, None, None, "missing in this run"))
        elif key not in golden:
            out.append(StageDistance(key, None, None, "not in the golden"))
        elif golden[key].shape != current[key].shape:
            out.append(StageDistance(key, None, None, f"shape {list(golden[key].shape)} -> {list(current[key].shape)}"))
        elif golden[key].size == 0:  # equal by vacuity: nothing to compare is not a match
            out.append(StageDistance(key, None, None, f"empty tensor {list(golden[key].shape)}: nothing to compare"))
        else:
            out.append(StageDistance(key, *_distances(golden[key], current[key])))
    return out


def _distances(golden: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    g = golden.astype(np.float64).ravel()
    c = current.astype(np.float64).ravel()
    if not (np.isfinite(g).all() and np.isfinite(c).all()):
        return math.nan, math.nan
    if np.array_equal(g, c):
        return 1.0, 0.0
    ng, nc = float(np.linalg.norm(g)), float(np.linalg.norm(c))
    cos = float(g @ c / (ng * nc)) if ng > 0 and nc > 0 else (1.0 if ng == nc else 0.0)
    rel = float(np.linalg.norm(c - g) / ng) if ng > 0 else math.inf
    return min(max(cos, -1.0), 1.0), rel


def worst(distances: list[StageDistance]) -> dict[str, float]:
    """The stage metrics of a pair of outputs as single values (calibration's spread): the
    lowest cosine and the largest relative L2 over every stage both have."""
    cos = [d.cos for d in distances if d.cos is not None]
    rel = [d.rel_l2 for d in distances if d.rel_l2 is not None]
    out: dict[str, float] = {}
    if cos:
        out["stage_cos"] = math.nan if any(math.isnan(v) for v in cos) else min(cos)
    if rel:
        out["stage_rel_l2"] = math.nan if any(math.isnan(v) for v in rel) else max(rel)
    return out


NO_TENSOR = "stages.safetensors"  # the key of the distance that says the golden's file holds no tensor


def stage_evidence(golden: Any, current: Any) -> tuple[list[StageDistance] | None, dict[str, float]]:
    """(the distances, the pair's stage metrics) of two outputs' checkpoints; (None, {}) when
    neither has any, or only the run has (a golden from before checkpoints, a custom runner
    that records none).

    A golden that has checkpoints is compared even when the run made none (each is then
    'missing in this run'), and a golden whose checkpoint file holds no tensor at all, beside
    a run that makes some, is one distance that says so: either way the checkpoints cannot be
    compared, which :mod:`regress.judge` fails as a changed pipeline."""
    if golden.stages is not None and not golden.stages and current.stages:
        return [StageDistance(NO_TENSOR, None, None, "the golden's checkpoint file holds no tensor")], {}
    if not golden.stages:
        return None, {}
    distances = compare_stages(golden.stages, current.stages or {})
    return distances, worst(distances)
