"""A tiny shape engine built like Hunyuan3D's (image/text-to-3D): a flow-matching transformer
makes a few shape-latent tokens, an SDF decoder turns latents + xyz into a signed distance on
a grid, and marching cubes (scikit-image) extracts the triangle mesh.

Why it exists: the pull request regress was born from named Hunyuan3D as having the same
bf16 upcast as the other engines, and its output is a mesh. This family gives the default
suite a mesh case whose networks run in bf16 by default (``transformer``, ``sdf_decoder``), so
that ``--golden-precision sdf_decoder=fp32`` is caught with the component named (the
fingerprint) and by the mesh metrics.

Shapes are tiny and the weights random but seeded (like the diffusers families' tiny
configs): 8 latent tokens of width 16, a 2-layer DiT of width 32 conditioned on the prompt's
bytes and the time, a cross-attention SDF decoder over Fourier features of xyz on a 32^3 grid
(``args.grid`` changes it). The SDF is a sphere of radius 0.55 plus the decoder's bounded
offset, so a surface always exists and its shape depends on the latents. The noise comes from
a CPU generator (the mesh does not depend on the device); networks take their input cast to
their own dtype and hand float32 back, as a pipeline's boundaries do.

Stage checkpoints (judged like the diffusers families'): the latents after each step
(``denoise/step<i>``) and the SDF grid (``decode/sdf``); timings: ``text_encode``,
``denoise``, ``decode``, ``mesh`` (marching cubes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..errors import RunnerError
from ..outputs import Output
from ..precision import observed_dtype, resolve_precision, to_torch_dtype
from ..suite import Case
from .base import Perf, RunResult

TOKENS, LATENT, WIDTH, HEADS = 8, 16, 32, 4
GRID = 32  # SDF samples per axis
FREQS = (1.0, 2.0, 4.0, 8.0)  # Fourier features of xyz
RADIUS = 0.55  # the base sphere
OFFSET = 0.3  # the decoder's largest change of the distance


class Block(nn.Module):
    """Pre-norm self-attention + MLP, modulated by the conditioning (adaLN-lite, as in a DiT)."""

    def __init__(self) -> None:
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(WIDTH), nn.LayerNorm(WIDTH)
        self.qkv, self.proj = nn.Linear(WIDTH, 3 * WIDTH), nn.Linear(WIDTH, WIDTH)
        self.mlp = nn.Sequential(nn.Linear(WIDTH, 2 * WIDTH), nn.GELU(), nn.Linear(2 * WIDTH, WIDTH))
        self.mod = nn.Linear(WIDTH, 2 * WIDTH)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        shift, scale = self.mod(F.silu(cond))[:, None].chunk(2, dim=-1)
        h = self.norm1(x) * (1 + scale) + shift
        b, n, _ = h.shape
        q, k, v = self.qkv(h).view(b, n, 3, HEADS, WIDTH // HEADS).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, WIDTH)
        x = x + self.proj(a)
        return x + self.mlp(self.norm2(x))


class ShapeTransformer(nn.Module):
    """The flow-matching DiT: velocity of the shape latents at time t, given the prompt."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(256, WIDTH)  # the prompt's bytes
        self.time = nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.SiLU(), nn.Linear(WIDTH, WIDTH))
        self.inp, self.out = nn.Linear(LATENT, WIDTH), nn.Linear(WIDTH, LATENT)
        self.pos = nn.Parameter(torch.randn(TOKENS, WIDTH) * 0.1)
        self.blocks = nn.ModuleList([Block(), Block()])
        self.norm = nn.LayerNorm(WIDTH)

    def encode(self, prompt: str) -> torch.Tensor:
        ids = torch.tensor(list(prompt.encode("utf-8")) or [0], device=self.embed.weight.device)
        return self.embed(ids).mean(dim=0, keepdim=True)

    def forward(self, x: torch.Tensor, t: float, text: torch.Tensor) -> torch.Tensor:
        half = WIDTH // 2
        f = torch.exp(-math.log(1000.0) * torch.arange(half, device=x.device) / half) * (t * 1000.0)
        temb = self.time(torch.cat([torch.cos(f), torch.sin(f)])[None].to(x.dtype))
        cond = temb + text
        h = self.inp(x) + self.pos
        for block in self.blocks:
            h = block(h, cond)
        return self.out(self.norm(h))


class SdfDecoder(nn.Module):
    """Latents + xyz -> signed distance: xyz's Fourier features cross-attend to the latents."""

    def __init__(self) -> None:
        super().__init__()
        feats = 3 + 6 * len(FREQS)
        self.query = nn.Linear(feats, WIDTH)
        self.kv = nn.Linear(LATENT, 2 * WIDTH)
        self.norm = nn.LayerNorm(WIDTH)
        self.mlp = nn.Sequential(nn.Linear(WIDTH, 2 * WIDTH), nn.GELU(), nn.Linear(2 * WIDTH, 1))
        self.register_buffer("freqs", torch.tensor(FREQS) * math.pi, persistent=False)

    def forward(self, latents: torch.Tensor, xyz: torch.Tensor) -> torch.Tensor:
        ang = (xyz[..., None] * self.freqs.to(xyz.dtype)).flatten(-2)
        q = self.query(torch.cat([xyz, torch.sin(ang), torch.cos(ang)], dim=-1))
        k, v = self.kv(latents).chunk(2, dim=-1)
        heads = lambda t: t.unflatten(-1, (HEADS, WIDTH // HEADS)).transpose(1, 2)  # noqa: E731
        a = F.scaled_dot_product_attention(heads(q), heads(k), heads(v)).transpose(1, 2).flatten(-2)
        h = self.norm(q + a)
        offset = torch.tanh(self.mlp(h)[..., 0])
        return xyz.norm(dim=-1) - RADIUS + OFFSET * offset


class ShapePipeline:
    """The two networks, cast to their dtypes, with what regress records beside them."""

    def __init__(self, table: Mapping[str, str], device: str) -> None:
        torch.manual_seed(0)
        transformer = ShapeTransformer().eval()
        torch.manual_seed(1)
        sdf_decoder = SdfDecoder().eval()
        self.transformer = transformer.to(device=device, dtype=to_torch_dtype(table["transformer"]))
        self.sdf_decoder = sdf_decoder.to(device=device, dtype=to_torch_dtype(table["sdf_decoder"]))

    def components(self) -> dict[str, nn.Module]:
        return {"transformer": self.transformer, "sdf_decoder": self.sdf_decoder}

    def fingerprint(self) -> dict[str, str]:
        """Each network's observed dtype (read from its parameters, not from the table asked for)."""
        return {n: observed_dtype({p.dtype for p in m.parameters() if p.dtype.is_floating_point})
                for n, m in self.components().items()}


class Shape3D:
    """The runner (:class:`regress.runners.base.Runner`): ``pipeline = "shape3d"``, output 'mesh'."""

    name = "shape3d"
    output_kind = "mesh"
    default_precision: Mapping[str, str] = MappingProxyType({"transformer": "bf16", "sdf_decoder": "bf16"})

    def build(self, case: Case, precision: Mapping[str, str], device: str) -> ShapePipeline:
        unknown = sorted(set(precision) - set(self.default_precision))
        if unknown:
            raise RunnerError(f"'{self.name}' has no component {', '.join(repr(u) for u in unknown)} "
                              f"(known: {', '.join(self.default_precision)})", case=case.id, field="precision")
        if not case.is_tiny:
            raise RunnerError(f"'{self.name}' is a tiny random-weight engine: model must be \"tiny\"", case=case.id,
                              field="model")
        for name in ("height", "width", "frames", "fps", "guidance", "negative_prompt", "max_sequence_length"):
            if getattr(case, name) is not None:
                raise RunnerError(f"'{self.name}' makes a mesh; '{name}' does not apply", case=case.id, field=name)
        return ShapePipeline(resolve_precision(self.default_precision, precision), device)

    def run(self, pipe: ShapePipeline, case: Case, device: str) -> RunResult:
        from .observation import device_name, precision_settings

        grid = _grid_size(case)
        settings = precision_settings(device)
        stages: dict[str, float] = {}
        checkpoints: dict[str, np.ndarray] = {}
        start = time.perf_counter()
        with torch.no_grad():
            tdt = next(pipe.transformer.parameters()).dtype
            text = pipe.transformer.encode(case.prompt)
            stages["text_encode"] = time.perf_counter() - start
            t0 = time.perf_counter()
            generator = torch.Generator(device="cpu").manual_seed(case.seed)
            x = torch.randn((1, TOKENS, LATENT), generator=generator).to(device)
            ts = torch.linspace(1.0, 0.0, case.steps + 1).tolist()
            for i, (t, t_next) in enumerate(zip(ts[:-1], ts[1:], strict=True)):
                v = pipe.transformer(x.to(tdt), t, text).float()
                x = x + (t_next - t) * v
                checkpoints[f"denoise/step{i}"] = x[0].cpu().numpy().astype(np.float32)
            stages["denoise"] = time.perf_counter() - t0
            t0 = time.perf_counter()
            ddt = next(pipe.sdf_decoder.parameters()).dtype
            axis = torch.linspace(-1.0, 1.0, grid, device=device)
            xyz = torch.stack(torch.meshgrid(axis, axis, axis, indexing="ij"), dim=-1).reshape(1, -1, 3)
            sdf = pipe.sdf_decoder(x.to(ddt), xyz.to(ddt)).float().reshape(grid, grid, grid).cpu().numpy()
            stages["decode"] = time.perf_counter() - t0
        checkpoints["decode/sdf"] = sdf.astype(np.float32)
        t0 = time.perf_counter()
        vertices, faces, bad = to_mesh(sdf)
        stages["mesh"] = time.perf_counter() - t0
        perf = Perf(wall_s=time.perf_counter() - start, stages=stages,
                    weights={n: sum(p.nbytes for p in m.parameters()) for n, m in pipe.components().items()})
        import skimage

        return RunResult(output=Output(vertices=vertices, faces=faces, nonfinite=bad, stages=checkpoints),
                         fingerprint=pipe.fingerprint(), perf=perf,
                         versions={"torch": torch.__version__, "scikit-image": skimage.__version__,
                                   "device": device_name(device)},
                         settings=settings)


def to_mesh(sdf: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """Marching cubes of the zero level set on the [-1, 1]^3 grid: (float32 vertices, int64
    faces, non-finite SDF values). Non-finite values are counted (the case fails on them) and
    meshed as outside; no surface at all gives an empty mesh (a mismatch when judged)."""
    from skimage.measure import marching_cubes

    bad = int(sdf.size - np.count_nonzero(np.isfinite(sdf)))
    if bad:
        sdf = np.nan_to_num(sdf, nan=1.0, posinf=1.0, neginf=-1.0)
    n = sdf.shape[0]
    if not (sdf.min() < 0.0 < sdf.max()):
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.int64), bad
    verts, faces, _, _ = marching_cubes(sdf, level=0.0, spacing=(2.0 / (n - 1),) * 3)
    return (verts - 1.0).astype(np.float32), faces.astype(np.int64), bad


def _grid_size(case: Case) -> int:
    grid = case.args.get("grid", GRID) if case.args else GRID
    if isinstance(grid, bool) or not isinstance(grid, int) or not 8 <= grid <= 128:
        raise RunnerError(f"args.grid must be an integer from 8 to 128, got {grid!r}", case=case.id, field="args.grid")
    unknown = sorted(set(case.args or {}) - {"grid"})
    if unknown:
        raise RunnerError(f"'shape3d' takes no argument {', '.join(map(repr, unknown))} (known: grid)", case=case.id,
                          field="args")
    return grid


RUNNER = Shape3D()
