"""Small static line charts as inline SVG for the HTML report.

Why hand-written SVG: the report must open offline with no scripts; plotly's inlined JavaScript
would add ~4.6 MB per file and Matplotlib is not a dependency. A training curve needs only a
polyline, two axes and four numbers. The SVG has no ``xmlns`` (HTML5 inline SVG needs none) and
no links, so the report stays free of URLs.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np

#: at most this many points per polyline (curves are thinned by averaging blocks of steps)
MAX_POINTS = 300


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average over ``window`` finite values (NaN/inf are skipped, not spread)."""
    v = np.asarray(values, dtype=float)
    if window <= 1 or len(v) == 0:
        return v
    ok = np.isfinite(v)
    c = np.concatenate([[0.0], np.cumsum(np.where(ok, v, 0.0))])
    k = np.concatenate([[0], np.cumsum(ok)])
    hi = np.arange(1, len(v) + 1)
    lo = np.maximum(hi - window, 0)
    cnt = k[hi] - k[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, (c[hi] - c[lo]) / np.maximum(cnt, 1), np.nan)


def _fmt(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    a = abs(x)
    if a != 0 and (a < 1e-3 or a >= 1e4):
        return f"{x:.2e}"
    return f"{x:.4g}"


def line_chart(steps: Sequence[float], values: Sequence[float], *, title: str, width: int = 280,
               height: int = 150, colour: str = "#2f6db5") -> str:
    """An inline ``<svg>`` of ``values`` against ``steps`` (raw values light, smoothed values dark),
    with the step range on the x axis and the value range on the y axis. Empty data gives a
    panel that says so."""
    x = np.asarray(steps, dtype=float)
    y = np.asarray(values, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    left, right, top, bottom = 48, 8, 20, 22
    pw, ph = width - left - right, height - top - bottom
    head = (f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{html.escape(title)}">'
            f'<text x="{left}" y="13" class="ct">{html.escape(title)}</text>')
    if len(x) == 0:
        return head + f'<text x="{left}" y="{top + ph / 2:.0f}" class="cl">no values logged</text></svg>'
    ys = smooth(y, max(1, len(y) // 50))
    if len(x) > MAX_POINTS:  # thin by averaging blocks of consecutive steps
        edges = np.linspace(0, len(x), MAX_POINTS + 1).astype(int)
        x, y, ys = (np.array([np.nanmean(a[s:e]) for s, e in zip(edges[:-1], edges[1:]) if e > s])
                    for a in (x, y, ys))
    lo, hi = float(np.nanmin(y)), float(np.nanmax(y))
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5, hi + 0.5
    x0, x1 = float(x.min()), float(x.max())
    span = x1 - x0 if x1 > x0 else 1.0

    def pts(v: np.ndarray) -> str:
        px = left + (x - x0) / span * pw
        py = top + (1 - (v - lo) / (hi - lo)) * ph
        return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(px, py) if math.isfinite(b))

    return (head
            + f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="cf"/>'
            + f'<polyline points="{pts(y)}" fill="none" stroke="{colour}" stroke-opacity="0.25" stroke-width="1"/>'
            + f'<polyline points="{pts(ys)}" fill="none" stroke="{colour}" stroke-width="1.6"/>'
            + f'<text x="{left - 4}" y="{top + 8}" class="cl" text-anchor="end">{_fmt(hi)}</text>'
            + f'<text x="{left - 4}" y="{top + ph}" class="cl" text-anchor="end">{_fmt(lo)}</text>'
            + f'<text x="{left}" y="{height - 6}" class="cl">step {x0:.0f}</text>'
            + f'<text x="{left + pw}" y="{height - 6}" class="cl" text-anchor="end">{x1:.0f}</text>'
            + "</svg>")
