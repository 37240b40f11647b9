"""Simulated MRI contrasts: tissue intensity models, bias field, Rician noise, normalisation.

Each modality is a partial-volume mix of tissue classes: ``I = sum_t f_t * I_t`` where ``f_t`` is
the fraction of tissue ``t`` in a voxel (grey matter, white matter and CSF from the deformed
MNI152 probability maps, with the tumour compartments replacing them) and ``I_t`` the tissue's
relative signal in that contrast (:data:`INTENSITY`). T1 and T1c start from the deformed real
template T1 instead (see :func:`clean_contrasts`); the table then gives the tumour signal relative
to white matter.

Relative signal (white matter = 1 for T1/T1c; brightest tissue = 1 for T2/FLAIR)::

    tissue                    T1     T1c    T2     FLAIR
    CSF                       0.30   0.30   1.00   0.12   (T2 bright, suppressed on FLAIR)
    grey matter               0.70   0.78   0.55   0.62
    white matter              1.00   1.00   0.40   0.48
    necrotic / non-enh. core  0.35   0.38   0.90   0.55   (fluid-like: dark T1, bright T2)
    enhancing tumour          0.60   1.50   0.70   0.75   (gadolinium: bright rim on T1c only)
    oedema                    0.75   0.78   0.85   0.95   (water: slightly dark T1, bright T2/FLAIR)

Orderings reproduced: T1 WM > GM > CSF; T2 CSF > GM > WM; FLAIR GM > WM > CSF with oedema the
brightest; T1c as T1 with the enhancing rim the brightest. The normal-tissue values follow the
contrast expected from relaxation times at 1.5–3 T (WM T1 ~0.8–0.9 s, GM ~1.3–1.4 s, CSF ~4 s;
T2 WM ~70–80 ms, GM ~90–110 ms, CSF > 1 s; Wansapura et al., JMRI 9:531, 1999) in clinical
T1-weighted, T2-weighted and FLAIR protocols; the tumour appearances follow the BraTS description
of the sub-regions (Menze et al., IEEE TMI 34:1993, 2015). They are chosen for a plausible look,
not fitted to a scanner.

Acquisition effects (:func:`acquire`): fine tissue texture, a smooth multiplicative bias field
(``exp`` of a random 3rd-order polynomial, as torchio's ``RandomBiasField``), Rician noise
(magnitude of a complex signal with Gaussian noise in both channels), skull-stripped background
(zero outside the brain), then per-volume, per-channel percentile normalisation to [0, 1] as the
ingest pipeline does for MR (0.5 % over all voxels, i.e. the zero background; 99.5 % over the
brain).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage

#: Output channel order (matches the BraTS ingest).
MODALITIES: tuple[str, ...] = ("t1", "t1ce", "t2", "flair")
TISSUES: tuple[str, ...] = ("csf", "gm", "wm", "necrosis", "enhancing", "oedema")
LESION_TISSUES: tuple[str, ...] = ("necrosis", "enhancing", "oedema")

#: Relative tissue signal per modality (the table in the module docstring).
INTENSITY: dict[str, dict[str, float]] = {
    "t1": {"csf": 0.30, "gm": 0.70, "wm": 1.00, "necrosis": 0.35, "enhancing": 0.60, "oedema": 0.75},
    "t1ce": {"csf": 0.30, "gm": 0.78, "wm": 1.00, "necrosis": 0.38, "enhancing": 1.50, "oedema": 0.78},
    "t2": {"csf": 1.00, "gm": 0.55, "wm": 0.40, "necrosis": 0.90, "enhancing": 0.70, "oedema": 0.85},
    "flair": {"csf": 0.12, "gm": 0.62, "wm": 0.48, "necrosis": 0.55, "enhancing": 0.75, "oedema": 0.95},
}

#: Largest per-subject intensity jitter that keeps every documented ordering.
MAX_JITTER = 0.11


@dataclass(frozen=True)
class ContrastParams:
    """Per-subject variation and acquisition effects."""

    intensity_jitter: float = 0.04  # each table value scaled by 1 + U(-x, x) per subject
    t1ce_template_weight: float = 0.75  # T1c background: this much template T1, the rest tissue model
    lesion_heterogeneity: float = 0.12  # tumour signal scaled by 1 + x * smooth noise (patchy)
    texture: float = 0.025  # fine multiplicative tissue texture (std), per modality
    bias_strength: tuple[float, float] = (0.04, 0.12)  # std of log bias field, uniform in range
    noise_sigma: tuple[float, float] = (0.015, 0.035)  # Rician sigma / 99th pct of clean brain
    percentiles: tuple[float, float] = (0.5, 99.5)  # normalisation window over brain voxels

    def __post_init__(self) -> None:
        for name in ("intensity_jitter", "t1ce_template_weight", "lesion_heterogeneity", "texture"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise ValueError(f"ContrastParams.{name} must be a finite number >= 0, not {v!r}")
        if self.intensity_jitter >= MAX_JITTER:
            raise ValueError(f"ContrastParams.intensity_jitter must be < {MAX_JITTER} (keeps the tissue order), not {self.intensity_jitter!r}")
        for name in ("bias_strength", "noise_sigma"):
            lo, hi = getattr(self, name)
            if not (0 <= lo <= hi):
                raise ValueError(f"ContrastParams.{name} must be a range 0 <= low <= high, not {(lo, hi)!r}")
        lo, hi = self.percentiles
        if not (0 <= lo < hi <= 100):
            raise ValueError(f"ContrastParams.percentiles must satisfy 0 <= low < high <= 100, not {(lo, hi)!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def jitter_intensities(rng: np.random.Generator, amount: float) -> dict[str, dict[str, float]]:
    """A subject's intensity table: every :data:`INTENSITY` value scaled by ``1 + U(-amount, amount)``.

    With ``amount <`` :data:`MAX_JITTER` no documented ordering can flip: the closest ordered pair,
    FLAIR oedema/enhancing, differs by a factor 1.27, and (1 - a) * 1.27 > 1 + a for a < 0.118.
    """
    if not (0 <= amount < MAX_JITTER):
        raise ValueError(f"intensity jitter must be in [0, {MAX_JITTER}), not {amount!r}")
    return {m: {t: v * (1.0 + rng.uniform(-amount, amount)) for t, v in row.items()} for m, row in INTENSITY.items()}


def tissue_image(fractions: dict[str, np.ndarray], intensities: dict[str, float]) -> np.ndarray:
    """Partial-volume image ``sum_t fractions[t] * intensities[t]`` over the tissues given.

    ``fractions``: tissue name -> array (all the same shape), values in [0, 1]. Returns float32.
    """
    out = None
    for tissue, f in fractions.items():
        term = np.asarray(f, dtype=np.float32) * np.float32(intensities[tissue])
        out = term if out is None else out + term
    if out is None:
        raise ValueError("tissue_image needs at least one tissue fraction")
    return out


def clean_contrasts(
    t1: np.ndarray,
    tissues: dict[str, np.ndarray],
    table: dict[str, dict[str, float]],
    *,
    texture: np.ndarray | None = None,
    params: ContrastParams = ContrastParams(),
) -> np.ndarray:
    """Noise-free modalities ``(4, Z, H, W)`` float32 in :data:`MODALITIES` order.

    ``t1``: the subject's deformed template T1 (values in [0, 1]); ``tissues``: fractions for all
    of :data:`TISSUES` (the normal tissues already reduced where tumour replaces them);
    ``texture``: optional zero-mean smooth noise (std ~1) that makes the tumour signal patchy.

    T1 = template T1 where there is no tumour, tumour compartments at ``table["t1"]`` x the
    subject's white-matter level; T1c likewise with the T1c table over a background of
    ``t1ce_template_weight`` template + rest tissue model; T2 and FLAIR purely from the tissue model.
    """
    normal = {t: tissues[t] for t in ("csf", "gm", "wm")}
    lesion_frac = sum(tissues[t] for t in LESION_TISSUES)
    wm_sel = tissues["wm"] > 0.9
    wm_level = float(t1[wm_sel].mean()) if wm_sel.any() else 1.0
    het = 1.0 if texture is None else (1.0 + params.lesion_heterogeneity * texture).astype(np.float32)

    def lesion_signal(modality: str) -> np.ndarray:
        return tissue_image({t: tissues[t] for t in LESION_TISSUES}, table[modality]) * het

    # the normal-tissue fractions are already reduced in the tumour, so t1 * (1 - lesion) is the
    # template signal of the tissue left in each voxel
    keep = np.clip(1.0 - lesion_frac, 0.0, 1.0)
    t1_out = t1 * keep + wm_level * lesion_signal("t1")
    w = params.t1ce_template_weight
    t1ce_bg = w * t1 * keep + (1.0 - w) * wm_level * tissue_image(normal, table["t1ce"])
    t1ce_out = t1ce_bg + wm_level * lesion_signal("t1ce")
    t2_out = tissue_image(normal, table["t2"]) + lesion_signal("t2")
    flair_out = tissue_image(normal, table["flair"]) + lesion_signal("flair")
    return np.stack([t1_out, t1ce_out, t2_out, flair_out]).astype(np.float32)


def smooth_noise(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Gaussian white noise blurred by ``sigma`` voxels and rescaled to zero mean, unit std."""
    n = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="reflect")
    n -= n.mean()
    return n / max(float(n.std()), 1e-6)


def bias_field(rng: np.random.Generator, shape: tuple[int, int, int], strength: float, *, order: int = 3) -> np.ndarray:
    """Smooth multiplicative field ``exp(P(z, y, x))``, ``P`` a random polynomial of ``order`` in
    coordinates scaled to [-1, 1], rescaled so that ``P`` has standard deviation ``strength``
    and zero mean. Returns float32 of ``shape``, values around 1."""
    n = order + 1
    coef = np.zeros((n, n, n), dtype=np.float32)
    for i in range(n):
        for j in range(n - i):
            for k in range(n - i - j):
                if i + j + k:
                    coef[i, j, k] = rng.uniform(-1.0, 1.0)
    # sum_ijk c_ijk z^i y^j x^k, one axis at a time (element-wise, not BLAS: reproducible bits)
    vz, vy, vx = (np.linspace(-1.0, 1.0, m, dtype=np.float32)[:, None] ** np.arange(n, dtype=np.float32) for m in shape)
    t = sum(vz[:, i, None, None] * coef[i][None] for i in range(n))  # (Z, j, k)
    t = sum(vy[None, :, j, None] * t[:, None, j, :] for j in range(n))  # (Z, Y, k)
    log = sum(t[:, :, k, None] * vx[None, None, :, k] for k in range(n)).astype(np.float32)  # (Z, Y, X)
    log -= log.mean()
    log *= np.float32(strength / max(float(log.std()), 1e-6))
    return np.exp(log)


def rician_noise(image: np.ndarray, sigma: float, rng: np.random.Generator, mask: np.ndarray | None = None) -> np.ndarray:
    """Magnitude of ``image`` + complex Gaussian noise: ``sqrt((x + n1)^2 + n2^2)``, n ~ N(0, sigma).

    With ``mask`` (bool, same shape) only the voxels inside get noise (the rest are copied), which
    saves time when the outside is discarded anyway."""
    out = np.array(image, dtype=np.float32)
    x = out if mask is None else out[mask]
    n1 = rng.standard_normal(x.shape, dtype=np.float32) * np.float32(sigma)
    n2 = rng.standard_normal(x.shape, dtype=np.float32) * np.float32(sigma)
    noisy = np.sqrt((x + n1) ** 2 + n2**2)
    if mask is None:
        return noisy
    out[mask] = noisy
    return out


def normalise_percentile(volume: np.ndarray, mask: np.ndarray, low: float = 0.5, high: float = 99.5) -> np.ndarray:
    """Skull-strip and scale one channel of one volume to [0, 1], as the ingest pipeline does
    for a skull-stripped MR (BraTS).

    The background (``mask == 0``) is set to 0; the ``low`` percentile is taken over all voxels
    (so, with a zero background, it is 0 and the darkest tissue keeps its contrast to the
    background), the ``high`` one over the voxels inside ``mask``; values outside are clipped.
    Returns float32.
    """
    inside = np.asarray(mask) > 0
    x = np.where(inside, volume, 0.0).astype(np.float32)
    if not inside.any():
        return np.zeros(x.shape, dtype=np.float32)
    lo = float(np.percentile(x, low))
    hi = float(np.percentile(x[inside], high))
    span = hi - lo if hi > lo else 1.0
    return np.clip((x - np.float32(lo)) / np.float32(span), 0.0, 1.0).astype(np.float32)


def acquire(clean: np.ndarray, mask: np.ndarray, rng: np.random.Generator, params: ContrastParams = ContrastParams()) -> np.ndarray:
    """Apply acquisition effects to noise-free modalities ``(C, Z, H, W)``: fine tissue texture (shared by the channels), bias
    field, Rician noise, zero background (skull-stripped) and per-channel percentile
    normalisation over ``mask`` (the brain). Returns float32 in [0, 1]."""
    inside = np.asarray(mask) > 0
    out = np.empty(clean.shape, dtype=np.float32)
    # tissue texture is anatomy, so it is shared by all modalities
    grain = 1.0 + params.texture * smooth_noise(rng, clean.shape[1:], 0.8) if params.texture > 0 else None
    for c in range(clean.shape[0]):
        img = clean[c] if grain is None else clean[c] * grain
        img = img * bias_field(rng, img.shape, rng.uniform(*params.bias_strength))
        ref = float(np.percentile(clean[c][inside], 99)) if inside.any() else 1.0
        img = rician_noise(img, rng.uniform(*params.noise_sigma) * ref, rng, mask=inside)
        out[c] = normalise_percentile(img, inside, *params.percentiles)
    return out
