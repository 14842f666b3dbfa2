"""Fused Triton kernel: Gaussian SSIM, squared / absolute differences and the largest
difference of uint8 frames, in one pass over the inputs on the GPU.

Why a kernel of our own: every SSIM in torch (ours on CPU included) filters four or five
moment maps with convolutions, writing and re-reading each map through device memory; on
an H100 the peers take 110-180 ms for a 121-frame 720p pair whose bytes can be read in
about 0.3 ms. This kernel reads each input byte from device memory about once (the row and
column halos are served by the L1/L2 caches) and keeps every intermediate in registers.

Layout and work split. Inputs are (T, H, W, C) uint8, so a row is ``L = W*C`` contiguous
bytes; the horizontal neighbour k of element (j, c) sits ``k*C`` bytes further on. A program
owns ``BLOCK`` consecutive bytes of a row (all channels at once, coalesced loads), one band
of ``RB`` output rows and one frame. It walks down its band row by row:

* horizontal pass: 11 shifted loads of x and y; ``s = x + y`` and ``d = x - y`` (the same
  four-map formulation as :mod:`regress.metrics.ssim`) are formed in int32, centred on the
  first row's window-centre value, squared in int32 and folded pairwise with the symmetric
  Gaussian taps, so only six int->float conversions per map are needed and every value
  entering the float arithmetic is an exact integer;
* vertical pass: a ring of the last ten horizontal results (kept in registers) and the new
  row give the 11-tap vertical filter; the SSIM map value of the window is accumulated per
  lane; lanes of the last 10 columns produce no window (valid windows only, as skimage);
* pixel statistics: the lane's own byte (tap 0) gives ``x - y`` for the squared-error sum,
  the absolute-error sum and the maximum, counted only on the rows the band owns, so that
  each pixel is counted once. They are exact integers (int32 per lane, int64 per program).

Per-program partial sums go to small buffers that torch reduces afterwards: no atomics, so
results are deterministic run to run.

Precision (``F64``). The moments are accumulated in float64 by default: Hopper and Ampere
datacenter GPUs run float64 at half the float32 rate, the kernel stays far below its
arithmetic limits, and E[s^2] - E[s]^2 then cannot cancel (agreement with skimage's
float64 ~1e-12). In float32 the centring keeps typical agreement near 1e-7; use it on GPUs
with slow float64 (consumer cards).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _tap(xp, yp, off, mask, cs, cd):
    """Centred s = x + y - cs and d = x - y - cd of one tap, as exact int32."""
    x = tl.load(xp + off, mask=mask, other=0).to(tl.int32)
    y = tl.load(yp + off, mask=mask, other=0).to(tl.int32)
    return x + y - cs, x - y - cd


@triton.jit
def _pair(xp, yp, row, k: tl.constexpr, mask, cs, cd, g, C: tl.constexpr, DT: tl.constexpr):
    """Taps k and 10 - k (equal Gaussian weights) of the four maps: their int sums, weighted."""
    sa, da = _tap(xp, yp, row + k * C, mask, cs, cd)
    sb, db = _tap(xp, yp, row + (10 - k) * C, mask, cs, cd)
    return (g * (sa + sb).to(DT), g * (da + db).to(DT), g * (sa * sa + sb * sb).to(DT),
            g * (da * da + db * db).to(DT))


@triton.jit
def _hrow(xp, yp, row, in_row, out_col, cs, cd, g0, g1, g2, g3, g4, g5, C: tl.constexpr, DT: tl.constexpr):
    """Horizontal Gaussian of the four maps on one row -> (BLOCK, 2, 2) [[s, d], [s^2, d^2]],
    plus the lane's own raw difference x - y (for the pixel statistics). Taps are folded in
    symmetric pairs as they are loaded, which keeps few values live at a time."""
    x0 = tl.load(xp + row, mask=in_row, other=0).to(tl.int32)
    y0 = tl.load(yp + row, mask=in_row, other=0).to(tl.int32)
    raw = x0 - y0
    s0, d0 = x0 + y0 - cs, raw - cd
    s10, d10 = _tap(xp, yp, row + 10 * C, out_col, cs, cd)
    hs = g0 * (s0 + s10).to(DT)
    hd = g0 * (d0 + d10).to(DT)
    hss = g0 * (s0 * s0 + s10 * s10).to(DT)
    hdd = g0 * (d0 * d0 + d10 * d10).to(DT)
    ps, pd, pss, pdd = _pair(xp, yp, row, 1, out_col, cs, cd, g1, C, DT)
    hs, hd, hss, hdd = hs + ps, hd + pd, hss + pss, hdd + pdd
    ps, pd, pss, pdd = _pair(xp, yp, row, 2, out_col, cs, cd, g2, C, DT)
    hs, hd, hss, hdd = hs + ps, hd + pd, hss + pss, hdd + pdd
    ps, pd, pss, pdd = _pair(xp, yp, row, 3, out_col, cs, cd, g3, C, DT)
    hs, hd, hss, hdd = hs + ps, hd + pd, hss + pss, hdd + pdd
    ps, pd, pss, pdd = _pair(xp, yp, row, 4, out_col, cs, cd, g4, C, DT)
    hs, hd, hss, hdd = hs + ps, hd + pd, hss + pss, hdd + pdd
    s5, d5 = _tap(xp, yp, row + 5 * C, out_col, cs, cd)
    hs += g5 * s5.to(DT)
    hd += g5 * d5.to(DT)
    hss += g5 * (s5 * s5).to(DT)
    hdd += g5 * (d5 * d5).to(DT)
    return tl.join(tl.join(hs, hd), tl.join(hss, hdd)), raw


@triton.jit
def ssim_stats_kernel(x_ptr, y_ptr, w_ptr, ssim_ptr, sse_ptr, sad_ptr, max_ptr,
                      H, L, L_out, RB, n_bands, n_strips,
                      C: tl.constexpr, BLOCK: tl.constexpr, DT: tl.constexpr):
    """One program: frame ``program_id(2)``, band ``program_id(1)`` of RB output rows,
    strip ``program_id(0)`` of BLOCK row bytes. Writes, at index
    ``(frame * n_bands + band) * n_strips + strip``: the SSIM-map sum per channel
    (``ssim_ptr``, C float64 values), the squared and absolute difference sums (int64) and the
    largest absolute difference (int32) of the pixels the band owns."""
    strip = tl.program_id(0)
    band = tl.program_id(1)
    t = tl.program_id(2)
    f = strip * BLOCK + tl.arange(0, BLOCK)
    in_row = f < L
    out_col = f < L_out
    r0 = band * RB
    row_end = tl.minimum(r0 + RB, H - 10) + 10  # exclusive; the band's last input row + 1
    own_end = tl.where(band == n_bands - 1, H, r0 + RB)  # pixel statistics: each row once
    base = t.to(tl.int64) * H * L
    xp = x_ptr + base + f
    yp = y_ptr + base + f

    g0 = tl.load(w_ptr + 0).to(DT)
    g1 = tl.load(w_ptr + 1).to(DT)
    g2 = tl.load(w_ptr + 2).to(DT)
    g3 = tl.load(w_ptr + 3).to(DT)
    g4 = tl.load(w_ptr + 4).to(DT)
    g5 = tl.load(w_ptr + 5).to(DT)
    c1 = tl.load(w_ptr + 6).to(DT)  # 2 * (K1 * data_range)^2
    c2 = tl.load(w_ptr + 7).to(DT)  # 2 * (K2 * data_range)^2

    # Centring constants: s and d at the centre of the lane's first window (exact ints).
    row0 = r0.to(tl.int64) * L
    xc = tl.load(xp + row0 + 5 * C, mask=out_col, other=0).to(tl.int32)
    yc = tl.load(yp + row0 + 5 * C, mask=out_col, other=0).to(tl.int32)
    cs = xc + yc
    cd = xc - yc

    # The ring of the last ten horizontal results. Each slot needs its own initial value:
    # Triton's frontend treats a variable as loop-carried only if its IR value changes in the
    # body, so with one shared `zero` the rotation `a0 = a1` would look unchanged and a0..a8
    # would silently stay zero (tests/test_fused.py checks the compiled loop carries all ten).
    a0 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    a1 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    a2 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    a3 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    a4 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    a5 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    a6 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    a7 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    a8 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    a9 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    sse = tl.zeros([BLOCK], dtype=tl.int32)
    sad = tl.zeros([BLOCK], dtype=tl.int32)
    mx = tl.zeros([BLOCK], dtype=tl.int32)
    acc = tl.zeros([BLOCK], dtype=DT)

    # Fill the ring with the first ten rows of the band.
    for r in range(r0, r0 + 10):
        h, raw = _hrow(xp, yp, r * L, in_row, out_col, cs, cd, g0, g1, g2, g3, g4, g5, C, DT)
        own = in_row & (r < own_end)
        ad = tl.where(own, tl.abs(raw), 0)
        sse += ad * ad
        sad += ad
        mx = tl.maximum(mx, ad)
        a0, a1, a2, a3, a4, a5, a6, a7, a8, a9 = a1, a2, a3, a4, a5, a6, a7, a8, a9, h

    for r in range(r0 + 10, row_end):
        h, raw = _hrow(xp, yp, r * L, in_row, out_col, cs, cd, g0, g1, g2, g3, g4, g5, C, DT)
        own = in_row & (r < own_end)
        ad = tl.where(own, tl.abs(raw), 0)
        sse += ad * ad
        sad += ad
        mx = tl.maximum(mx, ad)
        v = (g0 * (a0 + h) + g1 * (a1 + a9) + g2 * (a2 + a8) + g3 * (a3 + a7) + g4 * (a4 + a6)
             + g5 * a5)
        mu, sq = tl.split(v)
        us, ud = tl.split(mu)  # centred means of s and d
        vs, vd = tl.split(sq)
        var_s = vs - us * us  # variances are shift-invariant: use the centred moments
        var_d = vd - ud * ud
        ms = us + cs.to(DT)
        md = ud + cd.to(DT)
        ms2 = ms * ms
        md2 = md * md
        num = (ms2 - md2 + c1) * (var_s - var_d + c2)
        den = (ms2 + md2 + c1) * (var_s + var_d + c2)
        acc += tl.where(out_col, num / den, 0.0)
        a0, a1, a2, a3, a4, a5, a6, a7, a8, a9 = a1, a2, a3, a4, a5, a6, a7, a8, a9, h

    pid = (t.to(tl.int64) * n_bands + band) * n_strips + strip
    ch = f % C
    acc64 = acc.to(tl.float64)
    for c in tl.static_range(C):
        tl.store(ssim_ptr + pid * C + c, tl.sum(tl.where(ch == c, acc64, 0.0), axis=0))
    tl.store(sse_ptr + pid, tl.sum(sse.to(tl.int64), axis=0))
    tl.store(sad_ptr + pid, tl.sum(sad.to(tl.int64), axis=0))
    tl.store(max_ptr + pid, tl.max(mx, axis=0))
