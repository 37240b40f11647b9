"""Distances between two sets of feature vectors: Fréchet distance (FID) and kernel inception
distance (KID). Both are computed from ``(N, D)`` feature arrays; which feature space they live in
(Inception pool3, the project's segmenter encoder, radiomics) is the caller's choice and must be
recorded with the value.

- FID (Heusel et al. 2017): fit a Gaussian to each set and take the squared Fréchet (Wasserstein-2)
  distance ``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))``. Lower is better, 0 for identical
  statistics. Biased for small N (it falls as N grows), so compare values only at equal N.
- KID (Bińkowski et al. 2018): the unbiased estimate of the squared maximum mean discrepancy with
  the cubic polynomial kernel ``k(x, y) = (x.y / D + 1)^3``, averaged over random subsets, with its
  standard deviation over the subsets (as torch-fidelity reports it). Unbiased, so it is usable
  with few samples; it can be slightly negative when the sets match.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
from scipy import linalg

from synth_core.errors import SynthCoreError

log = logging.getLogger(__name__)

__all__ = ["fid_from_features", "frechet_distance", "gaussian_stats", "kid_from_features", "polynomial_mmd2"]


class NumericalError(SynthCoreError):
    """A distance could not be computed stably (e.g. far too few samples for the feature size)."""


def _features(f: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(f, dtype=np.float64)
    if a.ndim != 2:
        raise ValueError(f"{name} must be (N, D) features, got shape {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return a


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and sample covariance ``(D, D)`` (``ddof = 1``, as pytorch-fid's ``np.cov``)."""
    f = _features(features, "features")
    if len(f) < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance, got {len(f)}")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def _sqrtm(a: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns on singular input; we check the result ourselves
        out = linalg.sqrtm(a)
    return out[0] if isinstance(out, tuple) else out


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, *,
                     eps: float = 1e-6) -> float:
    """Squared Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``d^2 = ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2))`` with
    ``scipy.linalg.sqrtm``, handled as pytorch-fid does: when the product is (nearly) singular and
    the root is not finite, ``eps`` is added to both diagonals and the root taken again; a complex
    root whose diagonal has imaginary parts below 1e-3 is replaced by its real part. Larger
    imaginary parts (the root is meaningless) retry with the ``eps`` offset once more and then
    raise :class:`NumericalError` (pytorch-fid raises ValueError there).
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched statistics: means {mu1.shape}, {mu2.shape}; covariances {s1.shape}, {s2.shape}")
    diff = mu1 - mu2
    offset = np.eye(s1.shape[0]) * eps
    covmean = _sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():
        log.debug("Fréchet distance: singular product; adding %g to the covariance diagonals", eps)
        covmean = _sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            covmean = _sqrtm((s1 + offset) @ (s2 + offset))
            if np.iscomplexobj(covmean) and not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
                m = float(np.max(np.abs(covmean.imag)))
                raise NumericalError(f"Fréchet distance is numerically unstable (imaginary component {m:.3g} in the "
                                     f"covariance root, {s1.shape[0]}-d features); use more samples")
        covmean = covmean.real
    if not np.isfinite(covmean).all():
        raise NumericalError(f"Fréchet distance: the covariance root is not finite ({s1.shape[0]}-d features)")
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def fid_from_features(features1: np.ndarray, features2: np.ndarray, *, eps: float = 1e-6) -> float:
    """FID of two feature sets ``(N1, D)`` and ``(N2, D)`` (each N >= 2): the squared Fréchet
    distance of their Gaussian fits (:func:`gaussian_stats`, :func:`frechet_distance`)."""
    f1, f2 = _features(features1, "features1"), _features(features2, "features2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature sizes differ: {f1.shape[1]} vs {f2.shape[1]}")
    mu1, s1 = gaussian_stats(f1)
    mu2, s2 = gaussian_stats(f2)
    return frechet_distance(mu1, s1, mu2, s2, eps=eps)


def polynomial_mmd2(x: np.ndarray, y: np.ndarray, *, degree: int = 3, gamma: float | None = None,
                    coef0: float = 1.0) -> float:
    """Unbiased MMD^2 of two samples of equal size ``m >= 2`` with the polynomial kernel
    ``k(a, b) = (gamma a.b + coef0)^degree`` (``gamma = 1/D`` by default):
    ``[sum_{i!=j} k(x_i,x_j) + sum_{i!=j} k(y_i,y_j)] / (m(m-1)) - 2 mean_{i,j} k(x_i, y_j)``."""
    x, y = _features(x, "x"), _features(y, "y")
    m = len(x)
    if len(y) != m or m < 2:
        raise ValueError(f"need two samples of equal size >= 2, got {len(x)} and {len(y)}")
    g = 1.0 / x.shape[1] if gamma is None else float(gamma)
    kxx = (g * (x @ x.T) + coef0) ** degree
    kyy = (g * (y @ y.T) + coef0) ** degree
    kxy = (g * (x @ y.T) + coef0) ** degree
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.mean())


def kid_from_features(features1: np.ndarray, features2: np.ndarray, *, n_subsets: int = 100,
                      subset_size: int = 1000, degree: int = 3, gamma: float | None = None, coef0: float = 1.0,
                      seed: int = 0) -> tuple[float, float, int]:
    """KID: mean and standard deviation (ddof 0) of :func:`polynomial_mmd2` over ``n_subsets``
    random subsets, each drawing ``m = min(subset_size, N1, N2)`` vectors without replacement from
    each set (torch-fidelity's defaults: 100 subsets of 1000, cubic kernel, gamma 1/D, coef0 1;
    torch-fidelity refuses sets smaller than the subset size, this shrinks the subset instead).
    Returns ``(mean, std, m)``. Seeded by ``seed`` (numpy ``default_rng``)."""
    f1, f2 = _features(features1, "features1"), _features(features2, "features2")
    if f1.shape[1] != f2.shape[1]:
        raise ValueError(f"feature sizes differ: {f1.shape[1]} vs {f2.shape[1]}")
    if n_subsets < 1 or subset_size < 2:
        raise ValueError(f"need n_subsets >= 1 and subset_size >= 2, got {n_subsets}, {subset_size}")
    m = min(subset_size, len(f1), len(f2))
    if m < 2:
        raise ValueError(f"KID needs at least 2 feature vectors per set, got {len(f1)} and {len(f2)}")
    rng = np.random.default_rng(seed)
    values = np.array([
        polynomial_mmd2(f1[rng.choice(len(f1), m, replace=False)], f2[rng.choice(len(f2), m, replace=False)],
                        degree=degree, gamma=gamma, coef0=coef0)
        for _ in range(n_subsets)
    ])
    return float(values.mean()), float(values.std()), m
