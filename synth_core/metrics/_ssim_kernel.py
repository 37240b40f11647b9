"""Fused CPU kernel for SSIM / MS-SSIM (private; used by :mod:`synth_core.metrics.image`).

One pass per image plane computes the five window-filtered moments with the separable
valid-mode window and reduces the SSIM and contrast-structure (cs) maps to their means, without
materialising any full-size intermediate:

- the plane means ``mx``, ``my`` are taken first (float64 column sums); every moment is taken
  about them (``a = x - mx``, ``b = y - my``: a constant shift changes no variance or covariance
  and keeps float32 clear of the cancellation in ``E[a^2] - E[a]^2``), as the torch path does;
- the five products ``a, b, a^2, b^2, ab`` of each input row go into a ring buffer of ``K`` rows
  (``K`` = window taps; ``K x 5W`` floats, cache-sized), one row per output row;
- each output row is the vertical ``K``-tap sum of the ring rows (all five moments in one
  contiguous loop of ``5W``), then the horizontal ``K``-tap sum of that (over the same ``5W``
  floats; the ``K - 1`` outputs that straddle two moments are never read);
- the SSIM / cs formula is applied to the row and summed per column in float64.

All inner loops run over contiguous columns with plain ``j`` indices (offsets are taken as slices
outside the loops, so numba emits no negative-index wrap-around inside them) and
``error_model="numpy"`` (no ZeroDivisionError branch; denominators are >= C2 > 0 anyway), so LLVM
vectorises them. Arithmetic is float32 like the torch path (float64 for the means and the map
sums); ``fastmath={"contract"}`` only lets LLVM fuse a multiply and an add into one FMA (one
rounding instead of two) and allows no reassociation. Single-threaded (``parallel=False``).

This module imports numba; :mod:`synth_core.metrics.image` imports it lazily (on the first CPU
SSIM / MS-SSIM call) and uses its torch path when numba is missing. Compiled code is cached on
disk by numba (``cache=True``) where the package directory or numba's cache directory is writable.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_OPTIONS = {"nogil": True, "fastmath": {"contract"}, "error_model": "numpy"}


def _jit(fn):
    try:
        return njit(cache=True, **_OPTIONS)(fn)
    except Exception:  # pragma: no cover - no writable cache location: compile in each process
        return njit(cache=False, **_OPTIONS)(fn)


@_jit
def ssim_planes(x, y, g, c1, c2, want_ssim, out_ssim, out_cs):  # pragma: no cover - compiled
    """Mean SSIM and mean cs over the valid window positions of every plane of ``x``, ``y``.

    ``x``, ``y``: ``(P, H, W)`` float32, C-contiguous; ``g``: the 1-D window, float32, ``K`` taps
    with ``K <= H`` and ``K <= W``; ``c1``, ``c2``: the SSIM constants. Writes ``out_cs[p]``, and
    ``out_ssim[p]`` when ``want_ssim`` (float64 arrays of length ``P``).
    """
    n_planes, h, w = x.shape
    k = g.shape[0]
    ho, wo = h - k + 1, w - k + 1
    n5 = 5 * w
    nh = n5 - k + 1
    c1f = np.float32(c1)
    c2f = np.float32(c2)
    two = np.float32(2.0)
    ring = np.empty((k, n5), np.float32)
    vert = np.empty(n5, np.float32)
    horiz = np.empty(nh, np.float32)
    sum_x = np.empty(w, np.float64)
    sum_y = np.empty(w, np.float64)
    row_cs = np.empty(wo, np.float32)
    row_ssim = np.empty(wo, np.float32)
    acc_cs = np.empty(wo, np.float64)
    acc_ssim = np.empty(wo, np.float64)
    # the five moments' columns inside a row of 5W (views: plain indices in the loops below)
    fa = horiz[0:wo]
    fb = horiz[w : w + wo]
    faa = horiz[2 * w : 2 * w + wo]
    fbb = horiz[3 * w : 3 * w + wo]
    fab = horiz[4 * w : 4 * w + wo]
    for p in range(n_planes):
        xp = x[p]
        yp = y[p]
        sum_x[:] = 0.0
        sum_y[:] = 0.0
        for i in range(h):
            xr = xp[i]
            yr = yp[i]
            for j in range(w):
                sum_x[j] += xr[j]
                sum_y[j] += yr[j]
        mx = np.float32(sum_x.sum() / (h * w))
        my = np.float32(sum_y.sum() / (h * w))
        acc_cs[:] = 0.0
        acc_ssim[:] = 0.0
        for i in range(-(k - 1), ho):
            # products of input row i + K - 1 into its ring slot
            src = i + k - 1
            slot = ring[src % k]
            xr = xp[src]
            yr = yp[src]
            s_a = slot[0:w]
            s_b = slot[w : 2 * w]
            s_aa = slot[2 * w : 3 * w]
            s_bb = slot[3 * w : 4 * w]
            s_ab = slot[4 * w : 5 * w]
            for j in range(w):
                a = xr[j] - mx
                b = yr[j] - my
                s_a[j] = a
                s_b[j] = b
                s_aa[j] = a * a
                s_bb[j] = b * b
                s_ab[j] = a * b
            if i < 0:
                continue
            # vertical K-tap sum of ring rows i .. i+K-1 (all five moments at once)
            r0 = ring[i % k]
            g0 = g[0]
            for j in range(n5):
                vert[j] = g0 * r0[j]
            t = 1
            while t + 1 < k:
                r1 = ring[(i + t) % k]
                r2 = ring[(i + t + 1) % k]
                g1 = g[t]
                g2 = g[t + 1]
                for j in range(n5):
                    vert[j] += g1 * r1[j] + g2 * r2[j]
                t += 2
            if t < k:
                r1 = ring[(i + t) % k]
                g1 = g[t]
                for j in range(n5):
                    vert[j] += g1 * r1[j]
            # horizontal K-tap sum
            g0 = g[0]
            for j in range(nh):
                horiz[j] = g0 * vert[j]
            t = 1
            while t + 1 < k:
                v1 = vert[t:]
                v2 = vert[t + 1 :]
                g1 = g[t]
                g2 = g[t + 1]
                for j in range(nh):
                    horiz[j] += g1 * v1[j] + g2 * v2[j]
                t += 2
            if t < k:
                v1 = vert[t:]
                g1 = g[t]
                for j in range(nh):
                    horiz[j] += g1 * v1[j]
            # cs = (2 cov + C2) / (var_a + var_b + C2); luminance from the uncentred local means
            if want_ssim:
                for j in range(wo):
                    da = fa[j]
                    db = fb[j]
                    cs = (two * (fab[j] - da * db) + c2f) / ((faa[j] - da * da) + (fbb[j] - db * db) + c2f)
                    ux = da + mx
                    uy = db + my
                    lum = (two * ux * uy + c1f) / (ux * ux + uy * uy + c1f)
                    row_cs[j] = cs
                    row_ssim[j] = lum * cs
                for j in range(wo):
                    acc_cs[j] += row_cs[j]
                    acc_ssim[j] += row_ssim[j]
            else:
                for j in range(wo):
                    da = fa[j]
                    db = fb[j]
                    row_cs[j] = (two * (fab[j] - da * db) + c2f) / ((faa[j] - da * da) + (fbb[j] - db * db) + c2f)
                for j in range(wo):
                    acc_cs[j] += row_cs[j]
        n_out = ho * wo
        out_cs[p] = acc_cs.sum() / n_out
        if want_ssim:
            out_ssim[p] = acc_ssim.sum() / n_out


@_jit
def halve_planes(x):  # pragma: no cover - compiled
    """MS-SSIM down-sampling of every plane of ``x`` (``(P, H, W)`` float32, C-contiguous).

    The 2x2 average of ``F.avg_pool2d(x, 2, padding=(H % 2, W % 2))``: an odd side gets one zero
    row / column in front (the one behind is never reached), and the padding counts in the
    average. Returns ``(P, ceil(H/2), ceil(W/2))`` float32.
    """
    n_planes, h, w = x.shape
    ph, pw = h % 2, w % 2
    ho, wo = (h + ph) // 2, (w + pw) // 2
    out = np.empty((n_planes, ho, wo), np.float32)
    pair = np.zeros(w + pw, np.float32)  # two input rows summed, behind pw zero columns
    body = pair[pw:]
    quarter = np.float32(0.25)
    for p in range(n_planes):
        xp = x[p]
        for i in range(ho):
            r1 = xp[2 * i + 1 - ph]
            if ph == 1 and i == 0:
                for j in range(w):
                    body[j] = r1[j]
            else:
                r0 = xp[2 * i - ph]
                for j in range(w):
                    body[j] = r0[j] + r1[j]
            o = out[p, i]
            for j in range(wo):
                o[j] = (pair[2 * j] + pair[2 * j + 1]) * quarter
    return out
