"""Classifier two-sample test (C2ST; Lopez-Paz & Oquab 2017): can a classifier tell two samples apart?

Two sets of images (say real slices and synthetic samples) are turned into feature vectors, a
classifier learns to tell them apart on part of the data, and its ROC AUC on the held-out part is
the statistic: **0.5 = indistinguishable** (the classifier guesses), **1.0 = always told apart**.
Unlike FID, the number has a fixed scale that does not depend on the feature space or the sample
count, and every sample gets an out-of-fold probability of belonging to the "real" side — its
*realness* (higher = more real-looking; with balanced class weights, about 0.5 for a sample the
classifier cannot place).

Classifier: logistic regression (L2, ``C = 0.01``, balanced class weights) on standardised features
(:func:`make_classifier`), each feature divided by its standard deviation but never by less than a
tenth of its group's typical one (:mod:`synth_core.evaluation.scaling`: with plain standardisation a
few stray pixels in an empty corner, a feature that is 0 in every real slice, became as loud as the
strongest cue and swung the AUC; the hand-made view's groups are :data:`HAND_VIEW_GROUPS`).

Why not a gradient-boosting model: the samples are small (a few hundred
per side) and the features wide (300 hand-made, 240-2048 network features); a regularised linear
model is stable there, fits in well under a second per fold on a CPU, and its AUC on identical
distributions stays near 0.5, where boosting overfits and needs tuning per feature space. The
hand-made view (:func:`handmade_features`) already holds non-linear summaries (histograms,
gradient statistics), so a linear classifier on it still sees texture and contrast differences.

Folds (:func:`assign_folds`): ``k``-fold cross-validation grouped by subject — all slices of one
real subject (its case id) are in the same fold, so no subject is on both sides of a split (slices
of one scan are alike, and a classifier that has seen a neighbour slice would find a held-out slice
"real" for the wrong reason); a synthetic sample is its own group. Folds are made per side with
``GroupKFold(shuffle=True)`` and fold ``f`` of one side is paired with fold ``f`` of the other, so
every fold holds both sides (stratified). ``k = min(5, subjects on either side)``; fewer than two
subjects on a side is an error (:class:`C2STError`). One split gives one AUC over the pooled
out-of-fold probabilities.

Repeated splits (``repeats``, :data:`REPEATS` by default). With a few dozen samples per side, which
samples share a fold moves the AUC a lot: on the demo's shipped models, 48 synthetic samples against
256 held-out real slices gave 0.999 with one fold split and 0.96 with two others (256 samples:
0.91-0.92 whatever the split; both with the plain standardisation of ``c2st/2``). So the test is
run over ``repeats`` fold splits (seeds ``seed``, ``seed + 2``, ...; the two sides of a split use
``seed + 2r`` and ``seed + 2r + 1``), and reports the **mean** AUC, its standard deviation over the splits (``auc_sd``) and every split's AUC (``aucs``).
The realness of a sample is the mean of its out-of-fold probabilities over the splits. ``repeats =
1`` is the single split of before. What the repeats do not remove is the spread between different
draws of samples: few samples stay a rough figure (:data:`FEW_SAMPLES`).

Hand-made view (``HAND_VIEW``): for each grey image in [0, 1] — the image area-averaged to 16 x 16
(256 values), a 16-bin intensity histogram on [0, 1], a 16-bin histogram of the gradient magnitude
(central differences) on [0, 0.5] and the gradient magnitude's mean, standard deviation and 50th,
90th and 99th percentiles: 293 features. No network is involved, so it works on every set and for
the binary structure maps, where the network features of an image segmenter mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synth_core.errors import SynthCoreError

__all__ = ["C2STError", "C2STResult", "FEW_SAMPLES", "GRID", "HAND_VIEW", "HAND_VIEW_DIM", "HAND_VIEW_GROUPS", "REPEATS",
           "assign_folds", "c2st", "handmade_features", "make_classifier"]

HAND_VIEW = "handmade"
GRID = 16  # area-averaged size
BINS = 16  # histogram bins (intensity and gradient magnitude)
GRAD_MAX = 0.5  # upper edge of the gradient-magnitude histogram (the last bin takes everything above)
HAND_VIEW_DIM = GRID * GRID + 2 * BINS + 5
#: the hand-made view's feature groups (features of one unit): 0 area averages, 1 intensity histogram,
#: 2 gradient-magnitude histogram, 3 gradient statistics (see :mod:`synth_core.evaluation.scaling`)
HAND_VIEW_GROUPS = np.repeat([0, 1, 2, 3], [GRID * GRID, BINS, BINS, 5])
N_SPLITS = 5
C = 0.01  # inverse L2 strength of the logistic regression (strong: stable realness, best power in trials)
REPEATS = 5  # fold splits averaged by default (module docstring)
#: below this many samples on the smaller side the AUC is a rough figure: different draws of 48 synthetic
#: samples of the demo's models gave 0.91-0.95, of 256 samples 0.91-0.92 (each the mean over splits; c2st/2)
FEW_SAMPLES = 100


class C2STError(SynthCoreError):
    """The test cannot be run on these samples (too few subjects, empty input)."""


# ---- the hand-made view ---------------------------------------------------------------------------
def _edges(n: int, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive-pooling bin edges (as ``torch.nn.AdaptiveAvgPool2d``): bin ``i`` covers
    ``[floor(i n / k), ceil((i + 1) n / k))``."""
    i = np.arange(k)
    return (i * n) // k, -((-(i + 1) * n) // k)


def _block_means(x: np.ndarray, grid: int) -> np.ndarray:
    """``(N, H, W)`` -> ``(N, grid * grid)`` area averages (integral image, any H, W)."""
    n, h, w = x.shape
    s = np.zeros((n, h + 1, w + 1), np.float64)
    s[:, 1:, 1:] = x.cumsum(axis=1).cumsum(axis=2)
    r0, r1 = _edges(h, grid)
    c0, c1 = _edges(w, grid)
    total = (s[:, r1][:, :, c1] - s[:, r0][:, :, c1] - s[:, r1][:, :, c0] + s[:, r0][:, :, c0])
    area = (r1 - r0)[:, None] * (c1 - c0)[None, :]
    return (total / area).reshape(n, grid * grid)


def _histograms(v: np.ndarray, bins: int, top: float) -> np.ndarray:
    """Per-row histogram of ``v (N, P)`` on ``[0, top]`` (values outside go to the end bins), as fractions."""
    n, p = v.shape
    idx = np.clip((v * (bins / top)).astype(np.int64), 0, bins - 1)
    counts = np.bincount((idx + bins * np.arange(n)[:, None]).ravel(), minlength=n * bins).reshape(n, bins)
    return counts / float(p)


def handmade_features(images: Any, *, chunk: int = 256) -> np.ndarray:
    """The hand-made view of grey images ``(N, H, W)`` (or ``(N, 1, H, W)``) in [0, 1]:
    ``(N, HAND_VIEW_DIM)`` float64 (module docstring). Binary maps (uint8 {0, 1}) work as they are."""
    a = np.asarray(images)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3:
        raise ValueError(f"expected grey images (N, H, W), got shape {a.shape}")
    out = np.zeros((len(a), HAND_VIEW_DIM), np.float64)
    for s in range(0, len(a), chunk):
        x = np.asarray(a[s : s + chunk], dtype=np.float64)
        n = len(x)
        gy, gx = np.gradient(x, axis=(1, 2)) if min(x.shape[1:]) > 1 else (np.zeros_like(x), np.zeros_like(x))
        mag = np.hypot(gy, gx).reshape(n, -1)
        stats = np.column_stack([mag.mean(axis=1), mag.std(axis=1), *np.percentile(mag, (50, 90, 99), axis=1)])
        out[s : s + n] = np.concatenate([_block_means(x, GRID), _histograms(x.reshape(n, -1), BINS, 1.0),
                                         _histograms(mag, BINS, GRAD_MAX), stats], axis=1)
    return out


# ---- the test ---------------------------------------------------------------------------------------
def make_classifier(seed: int = 0, feature_groups: Any = None) -> Any:
    """Standardise with a floor per feature group (``feature_groups``: one id per feature, ``None`` =
    one group; :class:`~synth_core.evaluation.scaling.FlooredScaler`), then L2 logistic regression
    with balanced class weights (module docstring)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from synth_core.evaluation.scaling import FlooredScaler

    return make_pipeline(FlooredScaler(feature_groups), LogisticRegression(C=C, class_weight="balanced", max_iter=2000,
                                                                           random_state=seed))


def assign_folds(labels: Any, groups: Any, n_splits: int, seed: int = 0) -> np.ndarray:
    """Fold index per sample: each side (``labels`` 0 / 1) split into ``n_splits`` folds of whole
    groups with ``GroupKFold(shuffle=True, random_state=seed)``; fold ``f`` of side 1 is paired
    with fold ``f`` of side 0. Every fold holds at least one group of each side when each side has
    ``>= n_splits`` groups; a group is never in two folds (groups must not span the two sides)."""
    from sklearn.model_selection import GroupKFold

    labels = np.asarray(labels).astype(np.int64)
    groups = np.asarray(groups).astype(str)
    folds = np.full(len(labels), -1, np.int64)
    for side in (0, 1):
        idx = np.flatnonzero(labels == side)
        gkf = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed + side)
        for f, (_, test) in enumerate(gkf.split(idx, groups=groups[idx])):
            folds[idx[test]] = f
    return folds


@dataclass
class C2STResult:
    """One test: ``auc`` the mean over the fold splits of each split's AUC over its pooled
    out-of-fold probabilities (``aucs``, one per split; ``auc_sd`` their standard deviation, NaN for
    one split); ``p_real`` the mean out-of-fold probability of the "real" side for each sample of the
    *other* side (its realness), in input order; ``model`` the classifier refitted on everything (for
    samples outside the test); ``folds`` the first split's fold of each sample (real, then other)."""

    auc: float
    n_real: int
    n_other: int
    n_folds: int
    p_real: np.ndarray
    model: Any
    folds: np.ndarray
    aucs: tuple[float, ...] = ()
    auc_sd: float = float("nan")

    @property
    def repeats(self) -> int:
        return max(len(self.aucs), 1)

    @property
    def few(self) -> bool:
        """Whether a side has fewer than :data:`FEW_SAMPLES` samples (the AUC is a rough figure)."""
        return min(self.n_real, self.n_other) < FEW_SAMPLES

    def note(self) -> str:
        if self.repeats == 1:
            return f"{self.n_folds}-fold, subject-grouped"
        return (f"{self.n_folds}-fold, subject-grouped, mean of {self.repeats} fold splits "
                f"(sd {self.auc_sd:.3f}, range {min(self.aucs):.3f}-{max(self.aucs):.3f})")


def _groups(g: Any, n: int, prefix: str) -> np.ndarray:
    if g is None:  # every sample its own group
        return np.array([f"{prefix}{i}" for i in range(n)])
    g = np.asarray(g).astype(str)
    if len(g) != n:
        raise ValueError(f"{len(g)} groups for {n} samples")
    return np.char.add(prefix, g)


def c2st(real: np.ndarray, other: np.ndarray, real_groups: Any, other_groups: Any = None, *,
         n_splits: int = N_SPLITS, seed: int = 0, repeats: int = REPEATS,
         feature_groups: Any = None) -> C2STResult:
    """Classifier two-sample test of feature arrays ``real (N1, D)`` against ``other (N2, D)``.

    ``real_groups`` / ``other_groups``: the subject of each sample (``None``: each sample is its
    own group, as for synthetic samples). ``repeats``: fold splits averaged (module docstring).
    ``feature_groups``: the features' groups for the scaling (:func:`make_classifier`; pass
    :data:`HAND_VIEW_GROUPS` for :func:`handmade_features`); ``None`` = one group.
    Raises :class:`C2STError` when a side has fewer than two groups. Seeded: the same inputs and
    seed give the same result.
    """
    from sklearn.metrics import roc_auc_score

    if int(repeats) < 1:
        raise ValueError(f"repeats must be at least 1, not {repeats}")
    real = np.asarray(real, np.float64)
    other = np.asarray(other, np.float64)
    if real.ndim != 2 or other.ndim != 2 or real.shape[1] != other.shape[1]:
        raise ValueError(f"need two (N, D) feature arrays of the same D, got {real.shape} and {other.shape}")
    if not (np.isfinite(real).all() and np.isfinite(other).all()):
        raise ValueError("features hold NaN or infinite values")
    g1, g0 = _groups(real_groups, len(real), "r:"), _groups(other_groups, len(other), "o:")
    n1, n0 = len(np.unique(g1)), len(np.unique(g0))
    if min(n1, n0) < 2:
        raise C2STError(f"a classifier two-sample test needs at least 2 subjects on each side, got {n1} real and "
                        f"{n0} other")
    k = int(min(n_splits, n1, n0))
    x = np.concatenate([real, other])
    y = np.concatenate([np.ones(len(real), np.int64), np.zeros(len(other), np.int64)])
    groups = np.concatenate([g1, g0])
    p_sum = np.zeros(len(x), np.float64)
    aucs, first = [], np.empty(0, np.int64)
    for r in range(int(repeats)):
        folds = assign_folds(y, groups, k, seed + 2 * r)
        if r == 0:
            first = folds
        p = np.zeros(len(x), np.float64)
        for f in range(k):
            test = folds == f
            clf = make_classifier(seed, feature_groups).fit(x[~test], y[~test])
            p[test] = clf.predict_proba(x[test])[:, 1]
        aucs.append(float(roc_auc_score(y, p)))
        p_sum += p
    model = make_classifier(seed, feature_groups).fit(x, y)
    sd = float(np.std(aucs, ddof=1)) if len(aucs) > 1 else float("nan")
    return C2STResult(auc=float(np.mean(aucs)), n_real=len(real), n_other=len(other), n_folds=k,
                      p_real=p_sum[len(real):] / len(aucs), model=model, folds=first, aucs=tuple(aucs), auc_sd=sd)
