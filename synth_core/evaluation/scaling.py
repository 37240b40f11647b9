"""Feature scaling for the classifier two-sample test that a nearly constant feature cannot take over.

Plain standardisation divides every feature by its own standard deviation. A feature that is
almost constant — the area average of an empty corner of a skull-stripped scan, exactly 0 in every
real slice — then turns a few stray pixels of 0.001 into values of several units, as large as the
strongest real cue, and invisible detail swings the AUC either way. On the demo's shipped models,
whose samples have scattered near-black specks (mean 0.01) outside the brain, removing them took
the hand-made T1 AUC from 0.906 to 0.979: the classifier had spent its strongly penalised weight on
specks that differ from sample to sample. In a toy test (``tests/evaluation/test_scaling.py``),
specks of 0.004 in the same corners of every synthetic image took it from 0.82 to 1.00.

:class:`FlooredScaler` centres each feature and divides it by its standard deviation, but never by
less than ``floor`` times the root-mean-square standard deviation of its *group* (features that
share a unit: the hand-made view's area averages, intensity histogram, gradient histogram and
gradient statistics). Ordinary features are standardised exactly as before; a feature with
almost no spread keeps its values at the scale of its group, where a speck is a speck.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

__all__ = ["FLOOR", "FlooredScaler", "group_floors"]

FLOOR = 0.1  # a feature is divided by at least this fraction of its group's RMS standard deviation


def group_floors(sd: np.ndarray, groups: np.ndarray | None, floor: float = FLOOR) -> np.ndarray:
    """Per-feature lower bound of the scale: ``floor`` x the RMS of ``sd`` over the feature's group
    (``groups``: one group id per feature; ``None`` = one group). A group whose features are all
    constant gets 1 (its features stay 0 after centring)."""
    sd = np.asarray(sd, np.float64)
    ids = np.zeros(len(sd), np.int64) if groups is None else np.asarray(groups)
    if ids.shape != sd.shape:
        raise ValueError(f"{len(ids)} feature groups for {len(sd)} features")
    out = np.ones_like(sd)
    for g in np.unique(ids):
        sel = ids == g
        rms = float(np.sqrt(np.mean(sd[sel] ** 2)))
        out[sel] = floor * rms if rms > 0 else 1.0
    return out


class FlooredScaler(TransformerMixin, BaseEstimator):
    """``(x - mean) / max(sd, floor x group RMS sd)`` per feature (module docstring)."""

    def __init__(self, groups: Any = None, floor: float = FLOOR) -> None:
        self.groups = groups
        self.floor = floor

    def fit(self, X: Any, y: Any = None) -> FlooredScaler:
        if not 0 < float(self.floor) <= 1:
            raise ValueError(f"floor must be in (0, 1], not {self.floor!r}")
        x = np.asarray(X, np.float64)
        sd = x.std(axis=0)
        self.mean_ = x.mean(axis=0)
        self.scale_ = np.maximum(sd, group_floors(sd, self.groups, float(self.floor)))
        self.n_features_in_ = x.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        x = np.asarray(X, np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features_in_:
            raise ValueError(f"expected (N, {self.n_features_in_}) features, got shape {x.shape}")
        return (x - self.mean_) / self.scale_
