"""Fused Triton kernel: Gaussian SSIM, squared / absolute differences and the largest
difference of uint8 frames, in one pass over the inputs on the GPU.

Why a kernel of our own: every SSIM in torch (ours on CPU included) filters four or five
moment maps with convolutions, writing and re-reading each map through device memory; on
an H100 the peers take 80-130 ms for a 121-frame 720p pair whose bytes can be read in
about 0.23 ms. This kernel reads each input byte from device memory about once (the row and
column halos are served by the L1/L2 caches) and keeps every intermediate in registers.

One file because it is one kernel: the ``@triton.jit`` helpers below are inlined into
:func:`ssim_stats_kernel` and share its register layout (the rings, the lanes' tap offsets,
the constexpr switches), so none of them can be read, or changed, without the others; its
launch and tuning constants live apart, in :mod:`regress.metrics.fused_run`.

What bounds it: instruction issue, not memory. Each output value needs the 11 horizontal
taps of four maps, a vertical pass over ten earlier rows and the SSIM quotient. The layout
and arithmetic are chosen to issue as few instructions per output as possible (counts from
the compiled sm_90 SASS of the row loop, per output value; benchmarks/RESULTS.md has the
timings):

* two (large comparisons: three) windows per lane: a lane owns the same channel of
  neighbouring pixels, ``f`` and ``f + C`` (and ``f + 2C``), whose windows share all but one
  tap (12 loads and conversions serve two windows, 13 serve three);
* every tap an unmasked load at a constant offset from one row pointer (a lane whose last
  taps would leave the row starts earlier and drops the windows it repeats);
* centre-normalised filters: the taps are divided by the centre tap, so the centre is the
  first addend of each filter (one multiply-add per symmetric pair, none for the centre); the
  scale K = 1/g5^2 this leaves on the moments is carried through the SSIM quotient, which is
  homogeneous in it (see :func:`_dissim`);
* square maps from half the squares: a pair sum ``t_i^2 + t_j^2`` is one multiply-add on an
  explicit square, so a lane squares 6 of its 12 taps;
* (1 - SSIM) / 2 = (P*V + m2*Q) / den from one reciprocal (no division, no comparison), which
  is also exactly 0 for an unchanged window and sums without losing digits near SSIM = 1;
* the ring of the last ten horizontal results rotated by renaming in an unrolled row loop
  over whole groups of rows (no masks in the loop; the leftover rows take a second loop);
* rows prefetched a few rows ahead into L1 (inline PTX), so that a row's loads find their
  bytes in cache: the kernel runs few warps per SM (the rings hold 80 floats per lane);
* float32 moments by default (see below).

Measured on an H100 for the 121-frame 720p pair (device-resident, benchmarks/RESULTS.md): the
row loop issues ~150 instructions per output value with three windows per lane (~163 with
two; the kernel before these changes: ~181) and the call takes 2.17 ms, 9.6x the 0.226 ms
floor of reading both videos once (the earlier kernel: 2.93-3.02 ms). Nsight Compute finds
it issue-bound (84% of issue slots busy): what is left is mostly the four maps' filters (~90
float instructions per output) and the taps' conversions.

Layout and work split. Inputs are (T, H, W, C) uint8, so a row is ``L = W*C`` contiguous
bytes; the horizontal neighbour k of byte ``f`` sits ``k*C`` bytes further on. A program
owns BLOCK consecutive lanes of a row (lane j: channel ``j % C`` of pixel group ``j // C``,
whose P windows start ``P*C*(j // C) + j % C``; a strip), one band of ``RB`` output rows and
one frame. Lanes run on across pixel groups and strips, so only the row's last strip has idle
lanes (with strips of whole pixel groups, 7% of the lanes of a 720p row idled). It walks
down its band row by row:

* horizontal pass: 12 (P = 3: 13) shifted loads of x and y; ``s = x + y`` and ``d = x - y``
  (the four-map formulation of :mod:`regress.metrics.ssim`) are formed in int32, centred on
  the first row's window-centre value (an exact integer) and converted; the filters give the
  [s, d] and [s^2, d^2] rows of each window;
* vertical pass: the rings of the last ten horizontal results (in registers) and the new row
  give the 11-tap vertical filters and the window's (1 - SSIM) / 2, accumulated per lane;
  valid windows only, as skimage;
* pixel statistics: each output position's own byte gives ``x - y`` for the squared-error
  sum, the absolute-error sum and the maximum. A band counts the rows its row loop reads
  (band 0 also its first ten), so each pixel is counted once. They are exact integers
  (int32 per lane, int64 per program). The last ten pixels of each row own no window: the
  last strip's programs count them, row by row after their band.

Per-program partial sums go to one small buffer, copied back once and reduced on the host
in a fixed order: no atomics, so results are deterministic run to run. There is no ``tl.dot``: TF32 settings cannot reach
this kernel (every product is a float32 or float64 FMA).

Precision (``DT``). float32 by default: the centring keeps every value entering the float
arithmetic an exact integer below 2^24, and agreement with skimage's float64 is ~3e-7 on
the H100 benchmark pairs (the tests' tolerance is 1e-5); the reciprocal is the hardware's
(about 1 ulp). float64 (``DT=tl.float64``, IEEE division) agrees to ~1e-15; with the previous
kernel it was ~5x slower (not re-timed since).
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _recip(v, FAST: tl.constexpr):
    """1 / v: one MUFU.RCP on the GPU (~1 ulp; v > 0 and far from float32's range limits here),
    IEEE division where inline PTX cannot run (float64, Triton's CPU interpreter)."""
    if FAST:
        return tl.inline_asm_elementwise("rcp.approx.ftz.f32 $0, $1;", "=r,r", [v], dtype=tl.float32,
                                         is_pure=True, pack=1)
    else:
        return 1.0 / v


@triton.jit
def _prefetch(rx, ry, PF: tl.constexpr, LEVEL: tl.constexpr):
    """Ask for a row PF rows ahead (already clamped into the frame by the caller) to be
    fetched into the L1 (LEVEL 1) or L2 cache, so that its taps' loads do not wait on device
    memory: a program walks its rows one after another and has few warps to hide that wait."""
    if PF > 0:
        if LEVEL == 1:
            tl.inline_asm_elementwise("prefetch.global.L1 [$1]; prefetch.global.L1 [$2]; mov.u32 $0, 0;",
                                      "=r,l,l", [rx, ry], dtype=tl.int32, is_pure=False, pack=1)
        else:
            tl.inline_asm_elementwise("prefetch.global.L2 [$1]; prefetch.global.L2 [$2]; mov.u32 $0, 0;",
                                      "=r,l,l", [rx, ry], dtype=tl.int32, is_pure=False, pack=1)


@triton.jit
def _tap(rx, ry, off, ms, md, DT: tl.constexpr):
    """Tap at byte offset ``off``: the centred [s, d] (exact values) and the raw x - y."""
    x = tl.load(rx + off).to(tl.int32)
    y = tl.load(ry + off).to(tl.int32)
    if DT == tl.float32:
        # int -> float32 as one integer add and one float add: bitcast(v + 0x4B400000) is
        # exactly 1.5 * 2^23 + v for |v| < 2^22.
        s = (x + y + ms).to(tl.float32, bitcast=True) - 12582912.0
        d = (x - y + md).to(tl.float32, bitcast=True) - 12582912.0
    else:
        s = (x + y - ms).to(DT)
        d = (x - y - md).to(DT)
    return tl.join(s, d), x - y


@triton.jit
def _lin(c, p0, p1, p2, p3, p4, w0, w1, w2, w3, w4):
    """Centre-normalised symmetric 11-tap filter from the centre tap and the five pair sums
    (outermost first): one fused multiply-add per pair, the centre as the first addend."""
    return c + w4 * p4 + w3 * p3 + w2 * p2 + w1 * p1 + w0 * p0


@triton.jit
def _hrow(rx, ry, ms, md, w0, w1, w2, w3, w4, C: tl.constexpr, DT: tl.constexpr,
          P: tl.constexpr):
    """Horizontal pass of one row for the P (2 or 3) windows of a lane (windows f, f + C,
    f + 2C): per window the filtered [s, d] and [s^2, d^2] ([BLOCK, 2] each, scaled by
    1/g5) and the window's own raw difference.

    Squares: a pair sum t_i^2 + t_j^2 is one multiply-add on an explicit square (t_i^2, taps
    shared by the windows) and t_j, so each window's square map costs what its linear map
    costs and a lane squares only 6 (7) of its 12 (13) taps explicitly."""
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
    t11, _ = _tap(rx, ry, 11 * C, ms, md, DT)
    q0 = t0 * t0
    q1 = t1 * t1
    q2 = t2 * t2
    q3 = t3 * t3
    q4 = t4 * t4
    q5 = t5 * t5
    la = _lin(t5, t0 + t10, t1 + t9, t2 + t8, t3 + t7, t4 + t6, w0, w1, w2, w3, w4)
    sa = _lin(q5, q0 + t10 * t10, q1 + t9 * t9, q2 + t8 * t8, q3 + t7 * t7, q4 + t6 * t6, w0, w1, w2, w3, w4)
    lb = _lin(t6, t1 + t11, t2 + t10, t3 + t9, t4 + t8, t5 + t7, w0, w1, w2, w3, w4)
    q6 = t6 * t6
    sb = _lin(q6, q1 + t11 * t11, q2 + t10 * t10, q3 + t9 * t9, q4 + t8 * t8, q5 + t7 * t7, w0, w1, w2, w3, w4)
    if P == 3:
        t12, _ = _tap(rx, ry, 12 * C, ms, md, DT)
        le = _lin(t7, t2 + t12, t3 + t11, t4 + t10, t5 + t9, t6 + t8, w0, w1, w2, w3, w4)
        se = _lin(t7 * t7, q2 + t12 * t12, q3 + t11 * t11, q4 + t10 * t10, q5 + t9 * t9, q6 + t8 * t8,
                  w0, w1, w2, w3, w4)
    else:
        le = la
        se = sa
        r2 = r0
    return la, sa, lb, sb, le, se, r0, r1, r2


@triton.jit
def _stats(sse, sad, mx, raw):
    ad = tl.abs(raw)
    return sse + ad * ad, sad + ad, tl.maximum(mx, ad)


@triton.jit
def _dissim(ring_l, hl, ring_s, hs, wts, FAST: tl.constexpr):
    """(1 - SSIM) / 2 of a window from its ring of ten horizontal results and the new row.

    Scaled moments (K = 1/g5^2, the two centre-normalised passes): m = K*mean for [s, d],
    and, the square maps' vertical weights carrying K once more and ``base`` adding K^2*c2
    to s^2, v = K^2*(E[s^2] + c2) and K^2*E[d^2]. Then, all in units of K^4:
    P = K^2*(mu_s^2 + c1), Q = K^2*(var_s + c2), V = K^2*var_d, m2 = K^2*mu_d^2,
    SSIM = (P - m2)(Q - V) / ((P + m2)(Q + V)), and 1 - SSIM = 2*(P*V + m2*Q) / den: one
    reciprocal, no cancellation of numerator against denominator, and exactly 0 for an
    unchanged window (V = m2 = 0)."""
    l0, l1, l2, l3, l4, l5, l6, l7, l8, l9 = ring_l
    s0, s1, s2, s3, s4, s5, s6, s7, s8, s9 = ring_s
    w0, w1, w2, w3, w4, u0, u1, u2, u3, u4, u5, base, kcs, kcd, kc1 = wts
    m = l5 + w4 * (l4 + l6) + w3 * (l3 + l7) + w2 * (l2 + l8) + w1 * (l1 + l9) + w0 * (l0 + hl)
    v = base + u5 * s5 + u4 * (s4 + s6) + u3 * (s3 + s7) + u2 * (s2 + s8) + u1 * (s1 + s9) + u0 * (s0 + hs)
    us, ud = tl.split(m)
    vs, vd = tl.split(v)
    q = vs - us * us
    var_d = vd - ud * ud
    ms = us + kcs
    md = ud + kcd
    m2 = md * md
    p = ms * ms + kc1
    diff = p * var_d + m2 * q
    den = (p + m2) * (q + var_d)
    return diff * _recip(den, FAST)

@triton.jit
def _zeros10(BLOCK: tl.constexpr, DT: tl.constexpr):
    return (tl.zeros([BLOCK, 2], dtype=DT), tl.zeros([BLOCK, 2], dtype=DT), tl.zeros([BLOCK, 2], dtype=DT),
            tl.zeros([BLOCK, 2], dtype=DT), tl.zeros([BLOCK, 2], dtype=DT), tl.zeros([BLOCK, 2], dtype=DT),
            tl.zeros([BLOCK, 2], dtype=DT), tl.zeros([BLOCK, 2], dtype=DT), tl.zeros([BLOCK, 2], dtype=DT),
            tl.zeros([BLOCK, 2], dtype=DT))


@triton.jit
def _zeros3(BLOCK: tl.constexpr):
    return tl.zeros([BLOCK], dtype=tl.int32), tl.zeros([BLOCK], dtype=tl.int32), tl.zeros([BLOCK], dtype=tl.int32)


@triton.jit
def _shift(ring, h):
    """The ring of the last ten rows after row ``h``: renamed, not moved."""
    r0, r1, r2, r3, r4, r5, r6, r7, r8, r9 = ring
    return r1, r2, r3, r4, r5, r6, r7, r8, r9, h


@triton.jit
def _row(xp, yp, r, H, L, ms, md, wts, rings, acc, st, own, C: tl.constexpr, DT: tl.constexpr,
         P: tl.constexpr, FAST: tl.constexpr, PF: tl.constexpr, PF_LEVEL: tl.constexpr,
         JUDGE: tl.constexpr):
    """One row of a lane's band: the horizontal pass, the pixel statistics of its own bytes
    (times ``own``, 0 or 1, unless JUDGE), the windows ending on it (JUDGE: every row after the
    first ten) and the rings moved on. State: ``rings`` (linear and square ring per window),
    ``acc`` ((1 - SSIM) / 2 sums per window), ``st`` ((sse, sad, max) per window)."""
    if FAST:
        pr = tl.minimum(r + PF, H - 1) * L
        _prefetch(xp + pr, yp + pr, PF, PF_LEVEL)
    rr = r * L
    w0, w1, w2, w3, w4, u0, u1, u2, u3, u4, u5, base, kcs, kcd, kc1 = wts
    ha, qa, hb, qb, he, qe, raw_a, raw_b, raw_e = _hrow(xp + rr, yp + rr, ms, md, w0, w1, w2, w3, w4, C, DT, P)
    la, sa, lb, sb, le, se = rings
    acc_a, acc_b, acc_e = acc
    st_a, st_b, st_e = st
    if not JUDGE:
        raw_a = raw_a * own
        raw_b = raw_b * own
        raw_e = raw_e * own
    st_a = _stats(st_a[0], st_a[1], st_a[2], raw_a)
    st_b = _stats(st_b[0], st_b[1], st_b[2], raw_b)
    if JUDGE:
        acc_a += _dissim(la, ha, sa, qa, wts, FAST)
        acc_b += _dissim(lb, hb, sb, qb, wts, FAST)
    la = _shift(la, ha)
    sa = _shift(sa, qa)
    lb = _shift(lb, hb)
    sb = _shift(sb, qb)
    if P == 3:
        st_e = _stats(st_e[0], st_e[1], st_e[2], raw_e)
        if JUDGE:
            acc_e += _dissim(le, he, se, qe, wts, FAST)
        le = _shift(le, he)
        se = _shift(se, qe)
    return (la, sa, lb, sb, le, se), (acc_a, acc_b, acc_e), (st_a, st_b, st_e)


# Not specialised on its sizes or on the inputs' alignment (Triton would compile one kernel per
# combination of "== 1" and "divisible by 16" of each integer and pointer): one compile per
# variant of the constexprs serves every shape (see regress.metrics.fused_compile). The loads are
# per-lane bytes at constant offsets, which no alignment fact widens.
@triton.jit(do_not_specialize=["t0", "n_prog", "H", "L", "L_out", "RB", "n_bands", "n_strips"],
            do_not_specialize_on_alignment=["x_ptr", "y_ptr"])
def ssim_stats_kernel(x_ptr, y_ptr, w_ptr, out_ptr, t0, n_prog,
                      H, L, L_out, RB, n_bands, n_strips,
                      C: tl.constexpr, BLOCK: tl.constexpr, DT: tl.constexpr, UNROLL: tl.constexpr,
                      P: tl.constexpr = 2, FAST: tl.constexpr = True, PF: tl.constexpr = 0,
                      PF_LEVEL: tl.constexpr = 1):
    """One program: frame ``program_id(2)`` of the launch (``t0 + program_id(2)`` of the
    comparison), band ``program_id(1)`` of RB output rows, strip ``program_id(0)`` of BLOCK
    lanes. With ``pid = (frame * n_bands + band) * n_strips + strip`` and ``n_prog`` programs in
    the comparison, writes into the one int64 buffer ``out_ptr``: at ``pid * C + k`` the sum of
    (1 - SSIM) / 2 over the band's windows of channel k (float64 bits), at ``n_prog * (C + i) +
    pid`` the squared (i = 0) and absolute (1) difference sums and the largest absolute
    difference (2) of the rows the band owns: its main loop's rows, plus rows 0-9 for band 0
    (the strip's bytes; the last strip also the bytes from ``L_out`` to the row's end). One
    buffer, so that one copy brings a comparison's partial sums back."""
    strip = tl.program_id(0)
    band = tl.program_id(1)
    t = tl.program_id(2)
    lane = tl.arange(0, BLOCK)
    # Lane j of the row (all strips' lanes in a row, no lane idle but in the last strip) owns
    # channel j % C of pixel group j // C: windows f, f + C (and f + 2C).
    j = strip * BLOCK + lane
    ch = j % C
    f = (j // C) * (P * C) + ch
    live = f < L_out
    # Every tap at a constant offset from one row pointer (one load instruction each): a lane
    # whose last taps would leave the row starts `shift` pixels earlier instead, and its
    # first `shift` windows (then another lane's, or none) count for nothing.
    f = tl.minimum(f, L_out - 1)
    shift = (tl.maximum(f - (L_out - 1 - (P - 1) * C), 0) + C - 1) // C
    f = f - shift * C
    ok_a = live & (shift <= 0)
    ok_b = live & (shift <= 1)
    if P == 3:
        ok_e = live
    else:
        ok_e = lane < 0
    r0 = band * RB
    out_end = tl.minimum(r0 + RB, H - 10)  # exclusive: the band's output rows
    base = t.to(tl.int64) * H * L
    xp = x_ptr + base + f
    yp = y_ptr + base + f

    # Weights (see _dissim): w, the centre-normalised taps g_k / g5 of both passes; u, the
    # square maps' vertical taps g_k / g5^3; K * c, the scaled constants.
    w0 = tl.load(w_ptr + 0).to(DT)
    w1 = tl.load(w_ptr + 1).to(DT)
    w2 = tl.load(w_ptr + 2).to(DT)
    w3 = tl.load(w_ptr + 3).to(DT)
    w4 = tl.load(w_ptr + 4).to(DT)
    u0 = tl.load(w_ptr + 5).to(DT)
    u1 = tl.load(w_ptr + 6).to(DT)
    u2 = tl.load(w_ptr + 7).to(DT)
    u3 = tl.load(w_ptr + 8).to(DT)
    u4 = tl.load(w_ptr + 9).to(DT)
    u5 = tl.load(w_ptr + 10).to(DT)
    kk = tl.load(w_ptr + 11).to(DT)  # K
    kc1 = tl.load(w_ptr + 12).to(DT)  # K^2 * c1
    kc2 = tl.load(w_ptr + 13).to(DT)  # K^2 * c2
    base2 = tl.join(tl.full([BLOCK], 0, DT) + kc2, tl.zeros([BLOCK], dtype=DT))  # adds K^2*c2 to s^2 only

    # Centring constants: s and d at the centre of the lane's first window (exact ints).
    row0 = r0.to(tl.int64) * L
    xc = tl.load(xp + row0 + 5 * C).to(tl.int32)
    yc = tl.load(yp + row0 + 5 * C).to(tl.int32)
    cs = xc + yc
    cd = xc - yc
    kcs = kk * cs.to(DT)
    kcd = kk * cd.to(DT)
    if DT == tl.float32:
        ms = 0x4B400000 - cs
        md = 0x4B400000 - cd
    else:
        ms = cs
        md = cd

    # Rings of the last ten horizontal results, per window (a, b and, when P is 3, e): linear
    # maps (l) and square maps (s). Each slot gets its own initial value: Triton's frontend
    # treats a variable as loop-carried only if its IR value changes in the body, and with one
    # shared `zero` an earlier version of this kernel silently kept nine slots at zero
    # (tests/test_fused.py counts the values the compiled loops carry).
    rings = (_zeros10(BLOCK, DT), _zeros10(BLOCK, DT), _zeros10(BLOCK, DT), _zeros10(BLOCK, DT),
             _zeros10(BLOCK, DT), _zeros10(BLOCK, DT))
    acc = (tl.zeros([BLOCK], dtype=DT), tl.zeros([BLOCK], dtype=DT), tl.zeros([BLOCK], dtype=DT))
    st = (_zeros3(BLOCK), _zeros3(BLOCK), _zeros3(BLOCK))
    wts = (w0, w1, w2, w3, w4, u0, u1, u2, u3, u4, u5, base2, kcs, kcd, kc1)
    own0 = (band == 0).to(tl.int32)  # rows 0-9 belong to band 0; every other row to the band whose main loop reads it

    # Fill the rings with the first ten rows of the band (all inside the frame: r0 <= H - 11).
    for r in range(r0, r0 + 10):
        rings, acc, st = _row(xp, yp, r, H, L, ms, md, wts, rings, acc, st, own0, C, DT, P, FAST, PF, PF_LEVEL, False)

    # UNROLL rows per iteration over whole groups of UNROLL rows: the rings rotate by renaming
    # inside the body, so only the back edge moves registers, and no row needs a mask. The rows
    # left over (fewer than UNROLL) take the loop after it.
    r_full = r0 + 10 + (out_end - r0) // UNROLL * UNROLL
    for r_it in range(r0 + 10, r_full, UNROLL):
        for i in tl.static_range(UNROLL):
            rings, acc, st = _row(xp, yp, r_it + i, H, L, ms, md, wts, rings, acc, st, 1, C, DT, P, FAST, PF,
                                  PF_LEVEL, True)
    for r in range(r_full, out_end + 10):
        rings, acc, st = _row(xp, yp, r, H, L, ms, md, wts, rings, acc, st, 1, C, DT, P, FAST, PF, PF_LEVEL, True)
    acc_a, acc_b, acc_e = acc
    st_a, st_b, st_e = st  # (one level at a time: Triton 3.6 cannot unpack nested targets)
    sse_a, sad_a, mx_a = st_a
    sse_b, sad_b, mx_b = st_b
    sse_e, sad_e, mx_e = st_e

    # The last ten pixels of each row own no window: the last strip counts their statistics,
    # for the same rows as the rest of the band.
    # (Masked-off lanes load 0 - 0: they add nothing.)
    sse_t = tl.zeros([BLOCK], dtype=tl.int32)
    sad_t = tl.zeros([BLOCK], dtype=tl.int32)
    mx_t = tl.zeros([BLOCK], dtype=tl.int32)
    if strip == n_strips - 1:
        tail_rows = tl.where(band == 0, r0, r0 + 10)
        for j0 in tl.static_range(0, 10 * C, BLOCK):
            tail = L_out + j0 + lane
            in_tail = j0 + lane < 10 * C
            for row in range(tail_rows, out_end + 10):
                rt = base + row * L + tail
                raw = (tl.load(x_ptr + rt, mask=in_tail, other=0).to(tl.int32)
                       - tl.load(y_ptr + rt, mask=in_tail, other=0).to(tl.int32))
                sse_t, sad_t, mx_t = _stats(sse_t, sad_t, mx_t, raw)

    pid = ((t0 + t).to(tl.int64) * n_bands + band) * n_strips + strip
    per_lane = (tl.where(ok_a, acc_a, 0.0).to(tl.float64) + tl.where(ok_b, acc_b, 0.0).to(tl.float64)
                + tl.where(ok_e, acc_e, 0.0).to(tl.float64))
    for k in tl.static_range(C):
        tl.store(out_ptr + pid * C + k, tl.sum(tl.where(ch == k, per_lane, 0.0), axis=0).to(tl.int64, bitcast=True))
    sse = (tl.where(ok_a, sse_a, 0).to(tl.int64) + tl.where(ok_b, sse_b, 0).to(tl.int64)
           + tl.where(ok_e, sse_e, 0).to(tl.int64) + sse_t.to(tl.int64))
    sad = (tl.where(ok_a, sad_a, 0).to(tl.int64) + tl.where(ok_b, sad_b, 0).to(tl.int64)
           + tl.where(ok_e, sad_e, 0).to(tl.int64) + sad_t.to(tl.int64))
    mx = tl.maximum(tl.maximum(tl.maximum(tl.where(ok_a, mx_a, 0), tl.where(ok_b, mx_b, 0)),
                               tl.where(ok_e, mx_e, 0)), mx_t)
    stats = out_ptr + n_prog.to(tl.int64) * C + pid
    tl.store(stats, tl.sum(sse, axis=0))
    tl.store(stats + n_prog, tl.sum(sad, axis=0))
    tl.store(stats + 2 * n_prog, tl.max(mx, axis=0).to(tl.int64))
