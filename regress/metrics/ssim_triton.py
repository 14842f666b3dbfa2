"""Fused Triton kernel: Gaussian SSIM, squared / absolute differences and the largest
difference of uint8 frames, in one pass over the inputs on the GPU.

Why a kernel of our own: every SSIM in torch (ours on CPU included) filters four or five
moment maps with convolutions, writing and re-reading each map through device memory; on
an H100 the peers take 80-130 ms for a 121-frame 720p pair whose bytes can be read in
about 0.23 ms. This kernel reads each input byte from device memory about once (the row and
column halos are served by the L1/L2 caches) and keeps every intermediate in registers.

What bounds it. On an H100 the kernel is bound by instruction issue, not by memory: each
output value needs its 11 horizontal taps of four maps, a vertical pass over ten earlier
rows and the SSIM quotient. Measured on the 121-frame 720p pair (benchmarks/RESULTS.md),
a first version that gave each lane one output byte ran ~410 instructions per pixel-row
(8.6 ms in float64, 5.5 ms in float32). The present layout cuts that by:

* two outputs per lane: a lane owns the same channel of two neighbouring pixels, ``f`` and
  ``f + C``, so their windows share 10 of their 11 taps: 12 loads, conversions and squares
  per tap row serve both (instead of 22 for one);
* unmasked loads with constant offsets from one row pointer (lanes past the last window
  are clamped onto it and masked out of the sums), so a tap costs one load instruction;
* the ring of the last ten horizontal results rotated by unrolling the row loop ten times
  (no register moves: after ten rows every slot holds a new value);
* float32 moments by default (see below).

It now runs ~180 instructions per output byte-row and takes 2.9 ms on the H100 for that pair
(12.9x the 0.23 ms floor of reading both videos once; compiled-code counts from sm_90 SASS).
It remains issue-bound: the four maps' 11-tap horizontal and vertical filters alone are ~90
float instructions per output, so going further needs tensor cores or fewer maps, not
fewer loads.

Layout and work split. Inputs are (T, H, W, C) uint8, so a row is ``L = W*C`` contiguous
bytes; the horizontal neighbour k of byte ``f`` sits ``k*C`` bytes further on. A program
owns a strip of ``SPAN = 2*C*(BLOCK//C)`` row bytes, one band of ``RB`` output rows and one
frame. It walks down its band row by row:

* horizontal pass: 12 shifted loads of x and y; ``s = x + y`` and ``d = x - y`` (the same
  four-map formulation as :mod:`regress.metrics.ssim`) are formed in int32, centred on the
  first row's window-centre value (an exact integer), converted, squared (exact in float32:
  |s| <= 510), and folded pairwise with the symmetric Gaussian taps;
* vertical pass: a ring of the last ten horizontal results (in registers) and the new row
  give the 11-tap vertical filter; the SSIM map value of each window is accumulated per
  lane; valid windows only, as skimage;
* pixel statistics: each output position's own byte (tap 0 for ``f``, tap 1 for ``f + C``)
  gives ``x - y`` for the squared-error sum, the absolute-error sum and the maximum, counted
  only on the rows the band owns, so that each pixel is counted once. They are exact
  integers (int32 per lane, int64 per program). The last ten pixels of each row own no
  window; the caller adds their statistics (:func:`regress.metrics.frames` does it with
  torch on the device).

Per-program partial sums go to small buffers that torch reduces afterwards: no atomics, so
results are deterministic run to run. There is no ``tl.dot``: TF32 settings cannot reach
this kernel (every product is a float32 or float64 FMA).

Precision (``DT``). float32 by default: the centring keeps every value entering the float
arithmetic an exact integer below 2^24, and agreement with skimage's float64 stays near
1e-8 (the tests' tolerance is 1e-5). float64 (``DT=tl.float64``) agrees to ~1e-15 and is
~5x slower on the H100 (15.7 ms: its rings need twice the registers), much slower on
consumer GPUs.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _tap(rx, ry, off, ms, md, DT: tl.constexpr):
    """Tap at byte offset ``off`` of the row: the centred maps [[s, s^2], [d, d^2]] (exact
    values) and the raw difference x - y. ``ms``/``md`` hold the centring (see _centre)."""
    x = tl.load(rx + off).to(tl.int32)
    y = tl.load(ry + off).to(tl.int32)
    if DT == tl.float32:
        # int -> float32 as one integer add and one float add: bitcast(v + 0x4B400000) is
        # exactly 1.5 * 2^23 + v for |v| < 2^22. Written out so that the compiler cannot turn the
        # float pair sums of the filter back into integer sums that each need a conversion.
        s = (x + y + ms).to(tl.float32, bitcast=True) - 12582912.0
        d = (x - y + md).to(tl.float32, bitcast=True) - 12582912.0
    else:
        s = (x + y - ms).to(DT)
        d = (x - y - md).to(DT)
    return tl.join(tl.join(s, d), tl.join(s * s, d * d)), x - y


@triton.jit
def _centre(cs, cd, DT: tl.constexpr):
    """The integer operands _tap adds to x + y and x - y: minus the centring constants, plus
    the float32 conversion's magic number."""
    if DT == tl.float32:
        return 0x4B400000 - cs, 0x4B400000 - cd
    else:
        return cs, cd


@triton.jit
def _hfilter(t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, g0, g1, g2, g3, g4, g5, FOLD: tl.constexpr):
    """11-tap symmetric Gaussian of one window from its taps. FOLD: add the symmetric pairs
    first; otherwise one multiply-add per tap in tap order (as many instructions, and each
    tap can be dropped once used, which keeps fewer registers live)."""
    if FOLD:
        h = (g0 * (t0 + t10) + g1 * (t1 + t9) + g2 * (t2 + t8) + g3 * (t3 + t7) + g4 * (t4 + t6)
             + g5 * t5)
    else:
        h = g0 * t0
        h += g1 * t1
        h += g2 * t2
        h += g3 * t3
        h += g4 * t4
        h += g5 * t5
        h += g4 * t6
        h += g3 * t7
        h += g2 * t8
        h += g1 * t9
        h += g0 * t10
    return h


@triton.jit
def _hrow(rx, ry, off11, off12, ms, md, g0, g1, g2, g3, g4, g5, C: tl.constexpr, DT: tl.constexpr,
          P: tl.constexpr, FOLD: tl.constexpr):
    """Horizontal Gaussian of the four maps for the P (2 or 3) windows of a lane on one row:
    [BLOCK, 2(s, d), 2(mean, square)] each (windows f, f + C, f + 2C; the third repeats the
    first when P is 2) and their own raw differences."""
    t0, r0 = _tap(rx, ry, 0, ms, md, DT)
    t1, r1 = _tap(rx, ry, C, ms, md, DT)
    t2, r2 = _tap(rx, ry, 2 * C, ms, md, DT)
    t3, _ = _tap(rx, ry, 3 * C, ms, md, DT)
    t4, _ = _tap(rx, ry, 4 * C, ms, md, DT)
    t5, _ = _tap(rx, ry, 5 * C, ms, md, DT)
    t6, _ = _tap(rx, ry, 6 * C, ms, md, DT)
    t7, _ = _tap(rx, ry, 7 * C, ms, md, DT)
    t8, _ = _tap(rx, ry, 8 * C, ms, md, DT)
    t9, _ = _tap(rx, ry, 9 * C, ms, md, DT)
    t10, _ = _tap(rx, ry, 10 * C, ms, md, DT)
    t11, _ = _tap(rx, ry, off11, ms, md, DT)  # clamped into the row: only later windows use it
    ha = _hfilter(t0, t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, g0, g1, g2, g3, g4, g5, FOLD)
    hb = _hfilter(t1, t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, g0, g1, g2, g3, g4, g5, FOLD)
    if P == 3:
        t12, _ = _tap(rx, ry, off12, ms, md, DT)
        he = _hfilter(t2, t3, t4, t5, t6, t7, t8, t9, t10, t11, t12, g0, g1, g2, g3, g4, g5, FOLD)
    else:
        he = ha
        r2 = r0
    return ha, hb, he, r0, r1, r2


@triton.jit
def _stats(sse, sad, mx, raw, own):
    ad = tl.abs(raw) * own
    return sse + ad * ad, sad + ad, tl.maximum(mx, ad)


@triton.jit
def _ssim(v, cs, cd, c1, c2):
    """SSIM of windows from their filtered centred moments [BLOCK, 2(s, d), 2(mean, square)]."""
    mu, sq = tl.split(v)
    us, ud = tl.split(mu)
    vs, vd = tl.split(sq)
    var_s = vs - us * us  # variances are shift-invariant: use the centred moments
    var_d = vd - ud * ud
    ms = us + cs
    md = ud + cd
    ms2 = ms * ms
    md2 = md * md
    p = ms2 + c1
    q = var_s + c2
    num = (p - md2) * (q - var_d)
    den = (p + md2) * (q + var_d)
    if num.dtype == tl.float32:
        # ~2 ulp (far below the 1e-5 tolerance), and exactly 1 where numerator and denominator
        # are equal (an unchanged window), as IEEE division would give.
        return tl.where(num == den, 1.0, tl.fdiv(num, den, ieee_rounding=False))
    else:
        return num / den


@triton.jit
def ssim_stats_kernel(x_ptr, y_ptr, w_ptr, ssim_ptr, sse_ptr, sad_ptr, max_ptr,
                      H, L, L_out, RB, n_bands, n_strips,
                      C: tl.constexpr, BLOCK: tl.constexpr, DT: tl.constexpr, UNROLL: tl.constexpr,
                      P: tl.constexpr = 2, FOLD: tl.constexpr = False):
    """One program: frame ``program_id(2)``, band ``program_id(1)`` of RB output rows (a
    multiple of 10), strip ``program_id(0)`` of SPAN row bytes. Writes, at index
    ``(frame * n_bands + band) * n_strips + strip``: the SSIM-map sum per channel
    (``ssim_ptr``, C float64 values), the squared and absolute difference sums (int64) and the
    largest absolute difference (int32) of the bytes before ``L_out`` of the rows the band owns."""
    strip = tl.program_id(0)
    band = tl.program_id(1)
    t = tl.program_id(2)
    NP: tl.constexpr = BLOCK // C  # pixel groups per strip
    SPAN: tl.constexpr = P * C * NP
    lane = tl.arange(0, BLOCK)
    ch = lane % C
    f = strip * SPAN + (lane // C) * (P * C) + ch  # windows f, f + C (and f + 2C)
    ok_a = (lane < NP * C) & (f < L_out)
    ok_b = (lane < NP * C) & (f + C < L_out)
    if P == 3:
        ok_e = (lane < NP * C) & (f + 2 * C < L_out)
    else:
        ok_e = lane < 0
    f = tl.minimum(f, L_out - 1)  # taps 0..10 stay in the row; later taps are clamped below
    off11 = tl.minimum(f + 11 * C, L - 1) - f
    off12 = tl.minimum(f + 12 * C, L - 1) - f
    r0 = band * RB
    out_end = tl.minimum(r0 + RB, H - 10)  # exclusive: the band's output rows
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
    xc = tl.load(xp + row0 + 5 * C).to(tl.int32)
    yc = tl.load(yp + row0 + 5 * C).to(tl.int32)
    cs = xc + yc
    cd = xc - yc
    csf = cs.to(DT)
    cdf = cd.to(DT)
    ms, md = _centre(cs, cd, DT)

    # Two rings (window f and window f + C) of the last ten horizontal results. Each slot needs
    # its own initial value: Triton's frontend treats a variable as loop-carried only if its IR
    # value changes in the body, so with one shared `zero` a slot could silently stay zero
    # (tests/test_fused.py checks the compiled loops carry every slot).
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
    b0 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    b1 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    b2 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    b3 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    b4 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    b5 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    b6 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    b7 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    b8 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    b9 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    e0 = tl.zeros([BLOCK, 2, 2], dtype=DT)  # the third ring: only when P is 3
    e1 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    e2 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    e3 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    e4 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    e5 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    e6 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    e7 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    e8 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    e9 = tl.zeros([BLOCK, 2, 2], dtype=DT)
    sse_a = tl.zeros([BLOCK], dtype=tl.int32)
    sad_a = tl.zeros([BLOCK], dtype=tl.int32)
    mx_a = tl.zeros([BLOCK], dtype=tl.int32)
    sse_b = tl.zeros([BLOCK], dtype=tl.int32)
    sad_b = tl.zeros([BLOCK], dtype=tl.int32)
    mx_b = tl.zeros([BLOCK], dtype=tl.int32)
    sse_e = tl.zeros([BLOCK], dtype=tl.int32)
    sad_e = tl.zeros([BLOCK], dtype=tl.int32)
    mx_e = tl.zeros([BLOCK], dtype=tl.int32)
    acc_a = tl.zeros([BLOCK], dtype=DT)
    acc_b = tl.zeros([BLOCK], dtype=DT)
    acc_e = tl.zeros([BLOCK], dtype=DT)

    # Fill the rings with the first ten rows of the band (all inside the frame: r0 <= H - 11).
    for r in range(r0, r0 + 10):
        rr = r * L
        ha, hb, he, raw_a, raw_b, raw_e = _hrow(xp + rr, yp + rr, off11, off12, ms, md,
                                                g0, g1, g2, g3, g4, g5, C, DT, P, FOLD)
        own = (r < own_end).to(tl.int32)
        sse_a, sad_a, mx_a = _stats(sse_a, sad_a, mx_a, raw_a, own)
        sse_b, sad_b, mx_b = _stats(sse_b, sad_b, mx_b, raw_b, own)
        a0, a1, a2, a3, a4, a5, a6, a7, a8, a9 = a1, a2, a3, a4, a5, a6, a7, a8, a9, ha
        b0, b1, b2, b3, b4, b5, b6, b7, b8, b9 = b1, b2, b3, b4, b5, b6, b7, b8, b9, hb
        if P == 3:
            sse_e, sad_e, mx_e = _stats(sse_e, sad_e, mx_e, raw_e, own)
            e0, e1, e2, e3, e4, e5, e6, e7, e8, e9 = e1, e2, e3, e4, e5, e6, e7, e8, e9, he

    # UNROLL rows per iteration: the rings rotate by renaming inside the body, so only the
    # back edge moves registers (none when UNROLL is 10). Rows past the band's end (the last
    # iteration's tail) are read clamped into the frame and count for nothing.
    for r_it in range(r0 + 10, out_end + 10, UNROLL):
        for i in tl.static_range(UNROLL):
            r = r_it + i
            rr = tl.minimum(r, H - 1) * L
            ha, hb, he, raw_a, raw_b, raw_e = _hrow(xp + rr, yp + rr, off11, off12, ms, md,
                                                    g0, g1, g2, g3, g4, g5, C, DT, P, FOLD)
            own = (r < own_end).to(tl.int32)
            sse_a, sad_a, mx_a = _stats(sse_a, sad_a, mx_a, raw_a, own)
            sse_b, sad_b, mx_b = _stats(sse_b, sad_b, mx_b, raw_b, own)
            live = (r - 10 < out_end).to(DT)
            va = (g0 * (a0 + ha) + g1 * (a1 + a9) + g2 * (a2 + a8) + g3 * (a3 + a7) + g4 * (a4 + a6)
                  + g5 * a5)
            vb = (g0 * (b0 + hb) + g1 * (b1 + b9) + g2 * (b2 + b8) + g3 * (b3 + b7) + g4 * (b4 + b6)
                  + g5 * b5)
            acc_a += _ssim(va, csf, cdf, c1, c2) * live
            acc_b += _ssim(vb, csf, cdf, c1, c2) * live
            a0, a1, a2, a3, a4, a5, a6, a7, a8, a9 = a1, a2, a3, a4, a5, a6, a7, a8, a9, ha
            b0, b1, b2, b3, b4, b5, b6, b7, b8, b9 = b1, b2, b3, b4, b5, b6, b7, b8, b9, hb
            if P == 3:
                sse_e, sad_e, mx_e = _stats(sse_e, sad_e, mx_e, raw_e, own)
                ve = (g0 * (e0 + he) + g1 * (e1 + e9) + g2 * (e2 + e8) + g3 * (e3 + e7)
                      + g4 * (e4 + e6) + g5 * e5)
                acc_e += _ssim(ve, csf, cdf, c1, c2) * live
                e0, e1, e2, e3, e4, e5, e6, e7, e8, e9 = e1, e2, e3, e4, e5, e6, e7, e8, e9, he

    pid = (t.to(tl.int64) * n_bands + band) * n_strips + strip
    per_lane = (tl.where(ok_a, acc_a, 0.0).to(tl.float64) + tl.where(ok_b, acc_b, 0.0).to(tl.float64)
                + tl.where(ok_e, acc_e, 0.0).to(tl.float64))
    for k in tl.static_range(C):
        tl.store(ssim_ptr + pid * C + k, tl.sum(tl.where(ch == k, per_lane, 0.0), axis=0))
    sse = (tl.where(ok_a, sse_a, 0).to(tl.int64) + tl.where(ok_b, sse_b, 0).to(tl.int64)
           + tl.where(ok_e, sse_e, 0).to(tl.int64))
    sad = (tl.where(ok_a, sad_a, 0).to(tl.int64) + tl.where(ok_b, sad_b, 0).to(tl.int64)
           + tl.where(ok_e, sad_e, 0).to(tl.int64))
    mx = tl.maximum(tl.maximum(tl.where(ok_a, mx_a, 0), tl.where(ok_b, mx_b, 0)), tl.where(ok_e, mx_e, 0))
    tl.store(sse_ptr + pid, tl.sum(sse, axis=0))
    tl.store(sad_ptr + pid, tl.sum(sad, axis=0))
    tl.store(max_ptr + pid, tl.max(mx, axis=0))
