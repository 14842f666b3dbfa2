"""A stand-in for a team's own diffusion engine: no diffusers, no regress.

A tiny velocity network (convolutions conditioned on the time and on a byte embedding of the
prompt) and a hand-written Euler sampler for a rectified-flow ODE, integrated from pure noise
at t = 1 to an image at t = 0. Weights are random but seeded, so the "model" is the same on
every machine; the sampler draws its noise from a CPU generator so that the result does not
depend on the device.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class VelocityNet(nn.Module):
    """v(x, t, prompt) for the straight path x_t = t * noise + (1 - t) * image.

    It predicts the clean image (a smooth colour pattern whose frequencies and phases come
    from the prompt, refined by a small conditioned conv net that also sees the noisy input)
    and returns the velocity ``(x - image) / t`` that carries x towards it.
    """

    def __init__(self, channels: int = 16, text_dim: int = 16, waves: int = 4) -> None:
        super().__init__()
        self.waves = waves
        self.embed = nn.Embedding(256, text_dim)  # one row per byte of the prompt
        self.pattern = nn.Linear(text_dim, 3 * waves * 4)  # per channel and wave: fx, fy, phase, amplitude
        self.cond = nn.Linear(text_dim + 8, channels)
        self.inp = nn.Conv2d(3, channels, 3, padding=1)
        self.mid = nn.Conv2d(channels, channels, 3, padding=1)
        self.out = nn.Conv2d(channels, 3, 3, padding=1)

    def encode(self, prompt: str) -> torch.Tensor:
        """The prompt's conditioning vector: mean of its bytes' embeddings."""
        ids = torch.tensor(list(prompt.encode("utf-8")) or [0], device=self.embed.weight.device)
        return self.embed(ids).mean(dim=0, keepdim=True)

    def predict_image(self, x: torch.Tensor, t: float, text: torch.Tensor) -> torch.Tensor:
        _, _, h, w = x.shape
        p = self.pattern(text.to(x.dtype)).view(3, self.waves, 4)
        v, u = torch.meshgrid(torch.linspace(-1, 1, h, device=x.device, dtype=x.dtype),
                              torch.linspace(-1, 1, w, device=x.device, dtype=x.dtype), indexing="ij")
        phase = 3 * p[..., 0, None, None] * u + 3 * p[..., 1, None, None] * v + 3 * p[..., 2, None, None]
        base = (p[..., 3, None, None] * torch.sin(phase)).sum(dim=1)[None]  # 1x3xHxW
        freqs = torch.arange(4, device=x.device, dtype=x.dtype)
        t_feat = torch.cat([torch.sin(t * math.pi * 2**freqs), torch.cos(t * math.pi * 2**freqs)])[None]
        scale = self.cond(torch.cat([text.to(x.dtype), t_feat], dim=1))[:, :, None, None]
        hidden = torch.nn.functional.silu(self.inp(x) * (1 + scale))
        hidden = hidden + torch.nn.functional.silu(self.mid(hidden))
        return torch.tanh(2 * base + 0.3 * self.out(hidden))

    def forward(self, x: torch.Tensor, t: float, text: torch.Tensor) -> torch.Tensor:
        return (x - self.predict_image(x, t, text)) / max(t, 1e-3)


def build_model(seed: int = 0) -> VelocityNet:
    torch.manual_seed(seed)
    return VelocityNet().eval()


@torch.no_grad()
def sample(model: VelocityNet, prompt: str, *, seed: int, steps: int, height: int, width: int,
           device: str = "cpu") -> tuple[torch.Tensor, dict[str, float]]:
    """Euler steps of dx/dt = v(x, t) from t = 1 (noise) to t = 0; returns the image as float
    HxWx3 in [0, 1] and the seconds spent encoding the prompt and denoising."""
    import time

    dtype = next(model.parameters()).dtype
    t0 = time.perf_counter()
    text = model.encode(prompt)
    t1 = time.perf_counter()
    generator = torch.Generator(device="cpu").manual_seed(seed)
    x = torch.randn((1, 3, height, width), generator=generator).to(device=device, dtype=dtype)
    ts = torch.linspace(1.0, 0.0, steps + 1).tolist()
    for t, t_next in zip(ts[:-1], ts[1:], strict=True):
        x = x + (t_next - t) * model(x, t, text)
    image = (x[0].permute(1, 2, 0).float().clamp(-1, 1) + 1) / 2
    return image.cpu(), {"text_encode": t1 - t0, "denoise": time.perf_counter() - t1}
