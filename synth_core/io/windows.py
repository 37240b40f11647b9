"""CT display windows in Hounsfield units: named presets and ``"low,high"`` strings.

A window ``(low, high)`` maps HU linearly to [0, 1]: values <= low become 0, >= high become 1
(METHOD.md §1: "clip to a Hounsfield window, then scale to [0,1]").
"""

from __future__ import annotations

import numpy as np

from synth_core.errors import ConfigError

#: Named windows as (low, high) HU. Liver and lung follow METHOD.md §1; the others are the usual
#: radiology presets written as level ± width/2 (abdomen L40/W400, brain L40/W80,
#: bone L400/W1800, mediastinum L50/W350).
WINDOW_PRESETS: dict[str, tuple[float, float]] = {
    "liver": (-100.0, 200.0),
    "abdomen": (-160.0, 240.0),
    "lung": (-1000.0, 400.0),
    "brain": (0.0, 80.0),
    "bone": (-500.0, 1300.0),
    "mediastinum": (-125.0, 225.0),
}

#: Window used for CT when neither the user nor the layout chooses one (a general soft-tissue window).
DEFAULT_CT_WINDOW = "abdomen"


def parse_window(value: str | tuple[float, float] | list[float]) -> tuple[float, float]:
    """``"liver"`` -> (-100, 200); ``"-100,200"`` -> (-100, 200); a 2-sequence is checked and returned.

    Raises :class:`ConfigError` naming the value and what is accepted.
    """
    accepted = f"a preset ({', '.join(WINDOW_PRESETS)}) or 'low,high' in HU with low < high"
    if isinstance(value, str):
        text = value.strip().lower()
        if text in WINDOW_PRESETS:
            return WINDOW_PRESETS[text]
        parts = text.split(",")
        if len(parts) != 2:
            raise ConfigError(f"window {value!r} is not {accepted}")
        try:
            low, high = float(parts[0]), float(parts[1])
        except ValueError:
            raise ConfigError(f"window {value!r} is not {accepted}") from None
    else:
        try:
            low, high = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ConfigError(f"window {value!r} is not {accepted}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ConfigError(f"window {value!r} is not {accepted}")
    return (low, high)


def apply_window(hu: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Clip ``hu`` (any shape) to ``window`` and scale to float32 [0, 1]."""
    low, high = window
    out = (np.asarray(hu, dtype=np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(out, 0.0, 1.0, out=out)


def percentile_scale(x: np.ndarray, percentiles: tuple[float, float] = (0.5, 99.5)) -> np.ndarray:
    """Scale ``x`` (one channel of one volume, any shape) to float32 [0, 1] between two percentiles.

    The low percentile is taken over all voxels (so the zero background of a skull-stripped MR
    stays 0 and the darkest tissue keeps its contrast to it); the high one over the non-zero
    voxels (so a small object in a large empty field still sets the top of the range). Values
    outside are clipped. Falls back to min-max when the percentiles coincide; a constant volume
    becomes 0.
    """
    x = np.asarray(x, dtype=np.float32)
    flat = x.reshape(-1)
    if flat.size == 0:
        return x.copy()
    nz = flat[flat != 0]
    low = float(np.percentile(flat, percentiles[0]))
    high = float(np.percentile(nz if nz.size else flat, percentiles[1]))
    if not high > low:
        low, high = float(flat.min()), float(flat.max())
    if not high > low:
        return np.zeros_like(x)
    out = (x - np.float32(low)) / np.float32(high - low)
    return np.clip(out, 0.0, 1.0, out=out)
