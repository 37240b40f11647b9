"""The usability experiment (thesis Table 5, METHOD.md §12): is synthetic data useful for training
a downstream segmenter?

For every configuration of the grid (:mod:`training.experiments.config`) and every seed, one
multi-channel U-Net segmenter (all modalities stacked as input channels; the segmenter stage's
U-Net and Dice + cross-entropy loss) is trained from scratch for the SAME number of steps on a mix
of real and synthetic data, then tested on the real TEST split only.

Data:

- **Real subset** (fraction ``f``): ``n_real = round(f × N_train)`` slices of the real TRAIN split,
  chosen BY CASE with ``subset_seed``: the training cases are put in a seeded order and taken whole
  while they fit; the next case contributes a seeded subset of its slices to reach ``n_real``
  exactly. So at most one case is partial, the smaller fractions are subsets of the larger ones,
  and a fraction's slices are the same for every seed and row (recorded in ``config.json``).
- **Synthetic data**: a row's ``generator`` says where it comes from (``training.experiments.config``):
  ``fraction`` rows below 100 % use a set made by a generator trained on the row's real slices
  only (:mod:`training.experiments.fraction_generators`), ``oracle`` rows and 100 % rows ``--set``.
- **Synthetic subset** (multiplier ``k``): ``round(k × n_real)`` samples of the row's set (after
  the optional catalog filter), the first of a seeded permutation (nested over ``k``). When
  ``--set`` has fewer than the grid needs, the experiment REFUSES before training (saying how
  many are needed and available) unless ``cap_synthetic`` is set: then every configuration uses at
  most what the set has and its rows say ``capped`` (the summary's ``note``).
- **Validation and model selection** (early stopping, ``patience > 0``): the real VALIDATION split's
  slices with a lesion (a fixed seeded subset of ``val_slices``) are scored (mean foreground
  Dice) every ``val_every`` steps; a phase ends after ``patience`` scores without improving on its
  own best (:class:`EarlyStopping`), the next phase starts from the best weights so far, and the
  network tested is the best one of the whole training.
  Rows record ``steps_run`` (steps trained), ``best_step`` and ``val_dice``. The test split is
  touched only once, by the network chosen.

Metrics (:func:`score_segmenter`), on the real test slices whose label has a lesion (as the
lesion-validity table), averaged over those slices:

- ``dice``: per slice, the Dice of each foreground class (a class absent from both prediction
  and label scores 1), averaged over the foreground classes ("mean foreground Dice");
- ``dice_lesion``: Dice of the whole lesion (all classes merged, ``> 0``);
- ``mse``: mean over pixels AND classes (background included) of ``(softmax(logits) −
  one_hot(label))²``;
- ``hd95``: per slice and foreground class the 95 % Hausdorff distance in PIXELS (MONAI's
  definition, :func:`synth_core.metrics.hausdorff`); BraTS convention for empty masks: both empty
  0, exactly one empty the image diagonal; averaged over classes.
"""

from __future__ import annotations

import math
import sys
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from synth_core.datalink import check_set
from synth_core.dataset import Dataset
from synth_core.dataset_subset import rows_sha256
from synth_core.errors import ConfigError
from synth_core.metrics import dice, hausdorff, mse
from synth_core.nets import UNet
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace, validate_name
from synth_core.runs.config import config_to_dict
from synth_core.distributed import resolve_device
from training.experiments.config import (
    IDENTITY_FIELDS,
    Configuration,
    UsabilityConfig,
    build_grid,
    fractions_needing_generators,
    n_real_for,
    n_synthetic_for,
    plan_phases,
)
from synth_core.experiments.results import ExperimentStore, summarise
from training.losses import segmentation_loss
from training.loop import init_seed

METRIC_DEFINITIONS = {
    "test_slices": "real TEST split slices whose label has a lesion; every metric is a mean over them",
    "dice": "mean over foreground classes of the per-class Dice (class absent from both = 1)",
    "dice_lesion": "Dice of the whole lesion (label > 0 vs prediction > 0)",
    "mse": "mean over pixels and classes (background included) of (softmax probability - one-hot label)^2",
    "hd95": "95% Hausdorff distance in pixels per foreground class (MONAI definition); both empty 0, "
            "one empty = image diagonal (BraTS convention); mean over classes",
    "summary": "mean over seeds +- sample standard deviation (ddof=1; '-' for one seed)",
}
REAL_SUBSET = ("by case: training cases in an order seeded by subset_seed, whole cases while they fit, the next "
               "case's slices subsampled (seeded) to reach round(f x N_train) exactly; nested over fractions; the "
               "same slices for every seed and row")
METRIC_DEFINITIONS["val_dice"] = ("mean foreground Dice on the real validation slices with a lesion of the network "
                                  "kept (early stopping); steps_run: steps trained; best_step: the step it was kept at")


# ---- data selection ---------------------------------------------------------------------------


def _rng(*words: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(w) for w in words]))


def select_real(case_ids: np.ndarray, rows: np.ndarray, n: int, seed: int) -> np.ndarray:
    """``n`` of the dataset ``rows`` (with their ``case_ids``), whole cases first (see module doc)."""
    case_ids, rows = np.asarray(case_ids), np.asarray(rows)
    cases = sorted(set(case_ids.tolist()))
    order = [cases[i] for i in _rng(seed, 0x4EA1).permutation(len(cases))]
    out: list[np.ndarray] = []
    left = int(n)
    for c in order:
        if left <= 0:
            break
        mine = np.sort(rows[case_ids == c])
        if len(mine) <= left:
            out.append(mine)
            left -= len(mine)
        else:
            perm = _rng(seed, 0x4EA2, zlib.crc32(str(c).encode())).permutation(len(mine))
            out.append(np.sort(mine[perm[:left]]))
            left = 0
    return np.sort(np.concatenate(out)) if out else np.zeros(0, np.int64)


def select_synthetic(pool: np.ndarray, n: int, seed: int) -> np.ndarray:
    """The first ``n`` of a seeded permutation of the set indices ``pool``."""
    pool = np.sort(np.asarray(pool, dtype=np.int64))
    return pool[_rng(seed, 0x5E7).permutation(len(pool))[:n]]


@dataclass
class Prepared:
    """Everything checked and loaded before the first training."""

    ds: Dataset
    syn: SyntheticSet
    train_rows: np.ndarray
    train_cases: np.ndarray
    test_rows: np.ndarray
    pool: np.ndarray
    grid: list[Configuration]
    n_classes: int
    val_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    subset_seed: int = 0
    #: per-fraction generators' sets: fraction -> (set, pool after the filter)
    fraction_sets: dict[float, tuple[SyntheticSet, np.ndarray]] = field(default_factory=dict)

    def real_rows(self, fraction: float) -> np.ndarray:
        """The fraction's real training rows (the same for every seed and row)."""
        return select_real(self.train_cases, self.train_rows, n_real_for(fraction, len(self.train_rows)),
                           self.subset_seed)

    def source(self, conf: Configuration) -> tuple[SyntheticSet, np.ndarray]:
        """The set (and its pool) a configuration's synthetic data comes from."""
        if conf.generator == "fraction" and conf.real_fraction < 1.0:
            if conf.real_fraction not in self.fraction_sets:
                raise ConfigError(f"no generator of real fraction {conf.real_fraction:g} yet")
            return self.fraction_sets[conf.real_fraction]
        return self.syn, self.pool

    def sizes(self, conf: Configuration, cap: bool) -> tuple[int, int, int]:
        """``(n_real, n_synthetic, n_synthetic_wanted)`` of a configuration."""
        n_real = n_real_for(conf.real_fraction, len(self.train_rows))
        wanted = n_synthetic_for(conf.synthetic_multiplier, n_real)
        if not cap or wanted == 0:
            return n_real, wanted, wanted
        pool = self.fraction_sets[conf.real_fraction][1] if (
            conf.generator == "fraction" and conf.real_fraction in self.fraction_sets) else self.pool
        return n_real, min(wanted, len(pool)), wanted

    def uses_given_set(self, conf: Configuration) -> bool:
        return conf.synthetic_multiplier > 0 and not (conf.generator == "fraction" and conf.real_fraction < 1.0)

    def test_arrays(self) -> tuple["RowView", np.ndarray]:
        """Images ``(N,C,H,W)`` (read batch by batch from the memory map) and labels ``(N,H,W)`` of
        the real test rows."""
        return RowView(self.ds.images, self.test_rows), np.asarray(self.ds.labels[self.test_rows])


class RowView:
    """``array[rows]`` read lazily: ``len``, ``shape``, slicing (``[a:b]`` reads those rows) and
    ``np.asarray`` (reads all)."""

    def __init__(self, array: np.ndarray, rows: np.ndarray):
        self.array, self.rows = array, np.asarray(rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self.rows), *self.array.shape[1:])

    def __getitem__(self, item: slice) -> np.ndarray:
        if not isinstance(item, slice):
            raise TypeError("RowView supports slices only")
        return np.asarray(self.array[self.rows[item]])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        out = np.asarray(self.array[self.rows])
        return out if dtype is None else out.astype(dtype)


def prepare(ws: Workspace, cfg: UsabilityConfig) -> Prepared:
    """Check everything that can be checked before training; raise one-line errors."""
    validate_name(cfg.dataset, "dataset name")
    if not cfg.synthetic_set:
        raise ConfigError("no synthetic set given (--set SET)")
    validate_name(cfg.synthetic_set, "set name")
    validate_name(cfg.experiment_name, "experiment name")
    ds = Dataset(ws.existing("datasets", cfg.dataset))
    syn = SyntheticSet(ws.existing("synthetic", cfg.synthetic_set))
    if syn.dataset != ds.name:
        raise ConfigError(f"set {syn.name!r} was made from dataset {syn.dataset!r}, not from {ds.name!r}; use a set "
                          f"made from {ds.name!r}")
    check_set(ds, syn.meta, f"set {syn.name!r}")  # one line if made from another version of it
    if tuple(syn.modalities) != tuple(ds.modalities) or syn.size != ds.spec.size:
        raise ConfigError(f"set {syn.name!r} has modalities {list(syn.modalities)} at {syn.size} px but dataset "
                          f"{ds.name!r} has {list(ds.modalities)} at {ds.spec.size} px")
    if not ds.has_lesions:
        raise ConfigError(f"dataset {ds.name!r} has no lesion labels; the usability experiment trains lesion segmenters")
    if ds.spec.size % 2**cfg.depth:
        raise ConfigError(f"image size {ds.spec.size} is not divisible by 2**depth = {2**cfg.depth}")
    idx = ds.index
    train_rows = ds.split_indices("train")
    if len(train_rows) == 0:
        raise ConfigError(f"dataset {ds.name!r} has no slices in the train split")
    test_rows = ds.split_indices("test")
    test_rows = test_rows[idx["lesion_pixels"].to_numpy()[test_rows] > 0]
    if len(test_rows) == 0:
        raise ConfigError(f"dataset {ds.name!r} has no test slices with a lesion; nothing to test on")
    if cfg.test_slices and len(test_rows) > cfg.test_slices:  # the same subset for every configuration
        test_rows = np.sort(_rng(0, 0x7E57).choice(test_rows, cfg.test_slices, replace=False))
    n_classes = max(ds.label_names) + 1
    extra = set(syn.label_names) - set(ds.label_names)
    if extra:
        raise ConfigError(f"set {syn.name!r} has label classes {sorted(extra)} that dataset {ds.name!r} lacks")
    grid = build_grid(cfg)
    if not grid:
        raise ConfigError("the grid is empty: list multiplier 0 (baseline), a multiplier > 0 or --augmentation-control")
    val_rows = np.zeros(0, np.int64)
    if cfg.early_stopping:
        val_rows = ds.split_indices("val")
        val_rows = val_rows[idx["lesion_pixels"].to_numpy()[val_rows] > 0]
        if len(val_rows) == 0:
            raise ConfigError(f"dataset {ds.name!r} has no validation slices with a lesion; early stopping needs them "
                              "(or set patience=0 for a fixed step budget)")
        if cfg.val_slices and len(val_rows) > cfg.val_slices:
            val_rows = np.sort(_rng(0, 0x7A1).choice(val_rows, cfg.val_slices, replace=False))
    pool = np.sort(syn.select(cfg.filter or None)["index"].to_numpy(dtype=np.int64))
    prep = Prepared(ds=ds, syn=syn, train_rows=train_rows, train_cases=idx["case_id"].to_numpy()[train_rows],
                    test_rows=test_rows, pool=pool, grid=grid, n_classes=n_classes, val_rows=val_rows,
                    subset_seed=cfg.subset_seed)
    need = max((prep.sizes(c, False)[1] for c in grid if prep.uses_given_set(c)), default=0)
    if need > 0 and len(pool) == 0:
        raise ConfigError(f"the filter {cfg.filter!r} leaves no sample of set {syn.name!r} ({len(syn)} samples)")
    if need > len(pool) and not cfg.cap_synthetic:
        worst = max((c for c in grid if prep.uses_given_set(c)), key=lambda c: prep.sizes(c, False)[1])
        n_real = prep.sizes(worst, False)[0]
        where = f"after the filter, of {len(syn)}" if cfg.filter else "in all"
        raise ConfigError(f"set {syn.name!r} has {len(pool)} samples {where} but the grid needs up to {need} "
                          f"(x{worst.synthetic_multiplier:g} of {n_real} real slices at fraction {worst.real_fraction:g}); "
                          "make a larger set, lower --synthetic-multipliers or --real-fractions, "
                          "or pass --cap-synthetic to use at most what the set has")
    return prep


# ---- training ---------------------------------------------------------------------------------


def build_usability_net(cfg: UsabilityConfig, in_channels: int, n_classes: int) -> UNet:
    """The segmenter stage's U-Net (``training.stages.segmenter.build_segmenter``) with every
    modality as an input channel."""
    return UNet(in_channels=in_channels, out_channels=n_classes, base_channels=cfg.base_channels, depth=cfg.depth,
                norm=cfg.norm, out_activation="none")


class PoolBatches:
    """Batches from a pool of ``(source, index)`` entries: epoch ``e`` is a seeded permutation of
    the pool (the shuffled union for ``random``); batch ``k`` is a pure function of the seed words."""

    def __init__(self, source: np.ndarray, index: np.ndarray, batch_size: int, words: list[int]):
        if len(index) == 0:
            raise ConfigError("empty training pool")
        self.source, self.index, self.batch_size, self.words = np.asarray(source), np.asarray(index), batch_size, words
        self._cache: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._cache:
            if len(self._cache) >= 4:
                self._cache.clear()
            self._cache[epoch] = _rng(*self.words, epoch, 0xBA7C).permutation(len(self.index))
        return self._cache[epoch]

    def entries(self, step: int) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.index)
        pos = np.empty(self.batch_size, np.int64)
        for j in range(self.batch_size):
            epoch, off = divmod(step * self.batch_size + j, n)
            pos[j] = self._perm(epoch)[off]
        return self.source[pos], self.index[pos]


def _read(arr: np.ndarray, rows: np.ndarray) -> np.ndarray:
    order = np.argsort(rows, kind="stable")
    out = np.asarray(arr[rows[order]])
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order))
    return out[inv]


def load_batch(ds: Dataset, syn: SyntheticSet, source: np.ndarray, index: np.ndarray,
               device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``image (B,C,H,W)`` float32 and ``label (B,H,W)`` long; source 0 = real row, 1 = set index."""
    c, s = len(ds.modalities), ds.spec.size
    img = np.empty((len(index), c, s, s), np.float32)
    lab = np.empty((len(index), s, s), np.int64)
    for src, store in ((0, ds), (1, syn)):
        sel = np.flatnonzero(source == src)
        if len(sel):
            img[sel] = _read(store.images, index[sel])
            lab[sel] = _read(store.labels, index[sel])
    return torch.from_numpy(img).to(device), torch.from_numpy(lab).to(device)


def augment_batch(img: torch.Tensor, lab: torch.Tensor, rng: np.random.Generator,
                  intensity_scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Classic augmentation per sample: flip left-right and up-down (p = 0.5 each), rotate by a
    random multiple of 90°, scale each channel's intensities by U(1-a, 1+a), clip to [0, 1]."""
    imgs, labs = [], []
    for i in range(len(img)):
        x, y = img[i], lab[i]
        if rng.random() < 0.5:
            x, y = x.flip(-1), y.flip(-1)
        if rng.random() < 0.5:
            x, y = x.flip(-2), y.flip(-2)
        k = int(rng.integers(4))
        if k:
            x, y = torch.rot90(x, k, dims=(-2, -1)), torch.rot90(y, k, dims=(-2, -1))
        if intensity_scale > 0:
            f = torch.from_numpy(rng.uniform(1 - intensity_scale, 1 + intensity_scale, (x.shape[0], 1, 1))).to(x)
            x = (x * f).clamp(0.0, 1.0)
        imgs.append(x)
        labs.append(y)
    return torch.stack(imgs), torch.stack(labs)


@torch.no_grad()
def score_segmenter(net: torch.nn.Module, images: np.ndarray | RowView, labels: np.ndarray, n_classes: int, *,
                    batch_size: int = 32, device: torch.device | str = "cpu") -> dict[str, float]:
    """Dice, whole-lesion Dice, probability MSE and HD95 (definitions in the module docstring) of
    ``net`` on ``images (N,C,H,W)`` with ``labels (N,H,W)``."""
    was = net.training
    net.eval()
    preds, mses = [], []
    try:
        for s in range(0, len(images), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[s : s + batch_size], dtype=np.float32)).to(device)
            y = torch.from_numpy(np.asarray(labels[s : s + batch_size], dtype=np.int64)).to(device)
            logits = net(x).float()
            prob = logits.softmax(1)
            onehot = F.one_hot(y, n_classes).permute(0, 3, 1, 2).to(prob.dtype)
            mses.append(np.atleast_1d(mse(prob.cpu(), onehot.cpu())))
            preds.append(logits.argmax(1).cpu().numpy().astype(np.uint8))
    finally:
        net.train(was)
    pred = np.concatenate(preds)
    lab = np.asarray(labels)
    fg = list(range(1, n_classes))
    per_class = np.atleast_2d(dice(pred, lab, labels=fg))
    hd = np.atleast_2d(hausdorff(pred, lab, percentile=95, labels=fg))
    diag = math.hypot(*lab.shape[-2:])
    hd = np.where(np.isnan(hd), diag, hd)
    return {"dice": float(per_class.mean(axis=1).mean()), "dice_lesion": float(np.mean(dice(pred > 0, lab > 0))),
            "mse": float(np.concatenate(mses).mean()), "hd95": float(hd.mean(axis=1).mean()), "n_test": int(len(lab))}


@torch.no_grad()
def validation_dice(net: torch.nn.Module, images: RowView, labels: np.ndarray, n_classes: int, *,
                    batch_size: int = 32, device: torch.device | str = "cpu") -> float:
    """Mean over slices of the mean foreground Dice (the ``dice`` metric) — what early stopping watches."""
    was = net.training
    net.eval()
    try:
        preds = [net(torch.from_numpy(np.ascontiguousarray(images[s : s + batch_size], dtype=np.float32)).to(device))
                 .argmax(1).cpu().numpy().astype(np.uint8) for s in range(0, len(images), batch_size)]
    finally:
        net.train(was)
    per_class = np.atleast_2d(dice(np.concatenate(preds), np.asarray(labels), labels=list(range(1, n_classes))))
    return float(per_class.mean(axis=1).mean())


class EarlyStopping:
    """Early stopping over one or more phases. ``update`` says whether the current phase should stop:
    ``patience`` scores without beating the phase's OWN best (a phase that starts from a poor
    hand-over — e.g. real data after synthetic pre-training that taught little — gets its full
    patience to recover, and is not held to the earlier phase's score). The weights kept
    (:meth:`restore`) are the best of all phases."""

    def __init__(self, patience: int):
        self.patience = patience
        self.best_score, self.best_step, self.best_state = -math.inf, 0, None
        self.phase_best, self.since_best = -math.inf, 0

    def new_phase(self) -> None:
        self.phase_best, self.since_best = -math.inf, 0

    def update(self, score: float, step: int, net: torch.nn.Module) -> bool:
        if score > self.best_score:
            self.best_score, self.best_step = score, step
            self.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
        if score > self.phase_best:
            self.phase_best, self.since_best = score, 0
        else:
            self.since_best += 1
        return self.since_best >= self.patience

    def restore(self, net: torch.nn.Module) -> None:
        if self.best_state is not None:
            net.load_state_dict(self.best_state)


def train_configuration(prep: Prepared, cfg: UsabilityConfig, conf: Configuration, seed: int,
                        device: torch.device) -> dict[str, Any]:
    """Train one network for (configuration, seed), test it on the real test split; one result row."""
    t0, c0 = time.perf_counter(), time.process_time()
    n_real, n_syn, wanted = prep.sizes(conf, cfg.cap_synthetic)
    syn, pool = prep.source(conf)
    real = prep.real_rows(conf.real_fraction)
    synth = select_synthetic(pool, n_syn, seed)
    pools = {
        "real": (np.zeros(len(real), np.int8), real),
        "synthetic": (np.ones(len(synth), np.int8), synth),
        "mixed": (np.concatenate([np.zeros(len(real), np.int8), np.ones(len(synth), np.int8)]),
                  np.concatenate([real, synth])),
    }
    phases = plan_phases(conf.mode, cfg.steps, n_real, n_syn, early_stopping=cfg.early_stopping)
    k = prep.n_classes
    torch.manual_seed(init_seed(seed))  # the same initial weights for every configuration of a seed
    net = build_usability_net(cfg, len(prep.ds.modalities), k).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(cfg.beta1, cfg.beta2))
    words = [seed, zlib.crc32(conf.key.encode())]
    losses: list[float] = []
    stopper = EarlyStopping(cfg.patience) if cfg.early_stopping else None
    val_images, val_labels = RowView(prep.ds.images, prep.val_rows), np.asarray(prep.ds.labels[prep.val_rows])
    steps_of = {"real": 0, "synthetic": 0, "mixed": 0}
    for p, (source, n_steps) in enumerate(phases):
        batches = PoolBatches(*pools[source], cfg.batch_size, [*words, p])
        if stopper is not None:
            stopper.new_phase()
        for step in range(n_steps):
            src, idx = batches.entries(step)
            img, lab = load_batch(prep.ds, syn, src, idx, device)
            if conf.augmentation:
                img, lab = augment_batch(img, lab, _rng(*words, p, step, 0xA06), cfg.intensity_scale)
            parts = segmentation_loss(net(img), lab, k)
            loss = cfg.dice_weight * parts["dice"] + cfg.ce_weight * parts["ce"]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = float(loss.item())
            if not math.isfinite(value):
                raise ConfigError(f"{conf.key} seed {seed}: the loss became {value} at step {len(losses) + 1}; "
                                  "lower the learning rate (--set lr=...)")
            losses.append(value)
            steps_of[source] += 1
            last = step + 1 == n_steps
            if stopper is not None and ((step + 1) % cfg.val_every == 0 or last):
                score = validation_dice(net, val_images, val_labels, k, batch_size=cfg.eval_batch, device=device)
                if stopper.update(score, len(losses), net) and not last:
                    break
        if stopper is not None:
            stopper.restore(net)  # the next phase (and the test) starts from the best weights so far
    t_train = time.perf_counter() - t0
    images, labels = prep.test_arrays()
    scores = score_segmenter(net, images, labels, k, batch_size=cfg.eval_batch, device=device)
    return {
        "config": conf.key, **conf.as_dict(), "generator_set": syn.name if n_syn else "",
        "n_real": int(n_real), "n_synthetic": int(n_syn),
        "n_synthetic_wanted": int(wanted), "capped": bool(wanted > n_syn), "seed": int(seed), "steps": int(cfg.steps),
        "steps_real": steps_of["real"], "steps_synthetic": steps_of["synthetic"], "steps_mixed": steps_of["mixed"],
        "steps_run": len(losses), "best_step": int(stopper.best_step) if stopper else len(losses),
        "val_dice": float(stopper.best_score) if stopper else math.nan,
        **scores, "final_loss": float(np.mean(losses[-10:])) if losses else math.nan,
        "seconds": time.perf_counter() - t0, "train_seconds": t_train,
        "cpu_seconds": time.process_time() - c0, "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


# ---- the experiment ---------------------------------------------------------------------------


def _describe(prep: Prepared, cfg: UsabilityConfig, device: torch.device,
              generators: dict[str, Any] | None = None) -> dict[str, Any]:
    grid = []
    for c in prep.grid:
        n_real, n_syn, wanted = prep.sizes(c, cfg.cap_synthetic)
        grid.append({"config": c.key, **c.as_dict(), "n_real": n_real, "n_synthetic": n_syn,
                     "n_synthetic_wanted": wanted,
                     "phases": plan_phases(c.mode, cfg.steps, n_real, n_syn, early_stopping=cfg.early_stopping)})
    fractions = sorted({c.real_fraction for c in prep.grid}, reverse=True)
    subsets = {}
    for f in fractions:
        rows = prep.real_rows(f)
        cases = prep.ds.index["case_id"].to_numpy().astype(str)[rows]
        subsets[f"{f:g}"] = {"n_real": int(len(rows)), "cases": sorted(set(cases.tolist())),
                             "rows_sha256": rows_sha256(rows)}
    return {
        "kind": "usability", "config": config_to_dict(cfg), "dataset": prep.ds.name,
        "dataset_fingerprint": prep.ds.fingerprint, "dataset_sha256": prep.ds.content_sha256,
        "set": prep.syn.name, "set_fingerprint": prep.syn.fingerprint,
        "set_samples": len(prep.syn), "set_pool": int(len(prep.pool)), "n_train_slices": int(len(prep.train_rows)),
        "n_train_cases": int(len(set(prep.train_cases.tolist()))), "n_test_slices": int(len(prep.test_rows)),
        "n_classes": prep.n_classes, "modalities": list(prep.ds.modalities), "size": prep.ds.spec.size,
        "real_subset": REAL_SUBSET, "real_subsets": subsets, "metrics": METRIC_DEFINITIONS, "device": str(device),
        "n_val_slices": int(len(prep.val_rows)), "grid": grid, "seeds": list(range(cfg.seeds)),
        "generators": generators or {},
    }


def _check_resumable(store: ExperimentStore, cfg: UsabilityConfig, meta: dict[str, Any]) -> str | None:
    """The saved ``created`` time when the folder may be continued; refuse when settings differ."""
    if not store.config_path.is_file():
        return None
    old = store.read_config()
    saved = old.get("config", {})
    now = meta["config"]
    diff = [f"{k} {saved.get(k)!r} -> {now.get(k)!r}" for k in IDENTITY_FIELDS if saved.get(k) != now.get(k)]
    # before dataset format 2 the dataset fingerprint was its byte hash: the same bytes are the same dataset
    if old.get("dataset_fingerprint") not in (meta["dataset_fingerprint"], meta["dataset_sha256"]):
        diff.append("dataset_fingerprint changed")
    if old.get("set_fingerprint") != meta["set_fingerprint"]:
        diff.append("set_fingerprint changed")
    if diff:
        raise ConfigError(f"experiment {store.path.name!r} exists with other settings ({'; '.join(diff)}); "
                          "choose another --name, or delete the folder to start over")
    return old.get("created")


def make_fraction_generators(ws: Workspace, prep: Prepared, cfg: UsabilityConfig, device: torch.device,
                             store: ExperimentStore, *, progress: bool = True) -> dict[str, Any]:
    """Train (or reuse) the generator of every fraction that needs one and make its set
    (:mod:`training.experiments.fraction_generators`); fills ``prep.fraction_sets``. Returns what
    ``config.json`` records of them, by fraction."""
    from training.experiments.fraction_generators import ensure_fraction_set

    out: dict[str, Any] = {}
    todo = fractions_needing_generators(cfg)
    if todo and progress:
        print(f"usability: below 100 % real the synthetic data comes from generators trained on each fraction only: "
              f"{len(todo)} generator(s) ({', '.join(f'{f:g}' for f in todo)}) with preset {cfg.generator_preset} x"
              f"{cfg.generator_scale:g} steps, reused when already trained (--generators given-set: the thesis's "
              "setting, one set for every row)", file=sys.stderr)
    for f in todo:
        rows = prep.real_rows(f)
        need = max(n_synthetic_for(c.synthetic_multiplier, len(rows)) for c in prep.grid
                   if c.real_fraction == f and c.generator == "fraction")
        n = need if not cfg.filter else 2 * need  # a filter keeps part of the set
        store.log("generator", fraction=f, n_real=int(len(rows)), samples=n)
        syn, record = ensure_fraction_set(ws, prep.ds, rows, experiment=cfg.experiment_name, fraction=f, n=n,
                                          preset=cfg.generator_preset, scale=cfg.generator_scale,
                                          threads=cfg.threads, device="cuda" if device.type == "cuda" else "cpu",
                                          progress=progress)
        pool = np.sort(syn.select(cfg.filter or None)["index"].to_numpy(dtype=np.int64))
        if len(pool) == 0:  # even with cap_synthetic: its rows would train on real data only, as synthetic rows
            raise ConfigError(f"the filter {cfg.filter!r} leaves no sample of set {syn.name!r} ({len(syn)} samples), "
                              f"which fraction {f:g}'s synthetic rows need; loosen the filter")
        if len(pool) < need and not cfg.cap_synthetic:
            raise ConfigError(f"the filter {cfg.filter!r} keeps {len(pool)} of set {syn.name!r}'s {len(syn)} samples "
                              f"but fraction {f:g} needs {need}; pass --cap-synthetic or loosen the filter")
        prep.fraction_sets[f] = (syn, pool)
        out[f"{f:g}"] = record
    return out


def run_usability(ws: Workspace, cfg: UsabilityConfig, *, progress: bool = True,
                  on_result: Callable[[dict[str, Any]], None] | None = None) -> ExperimentStore:
    """Run (or continue) the experiment; returns its store. Finished (configuration, seed) pairs
    found in ``results.parquet`` are skipped, so rerunning after an interruption resumes.
    ``on_result(row)`` is called after each finished and saved training. A second run of the same
    experiment while one is running is refused (:meth:`ExperimentStore.running`)."""
    store = ExperimentStore.open(ws, validate_name(cfg.experiment_name, "experiment name"), must_exist=False)
    with store.running():
        return _run_usability(ws, cfg, progress=progress, on_result=on_result)


def _run_usability(ws: Workspace, cfg: UsabilityConfig, *, progress: bool,
                   on_result: Callable[[dict[str, Any]], None] | None) -> ExperimentStore:
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    prep = prepare(ws, cfg)
    store = ExperimentStore.open(ws, cfg.experiment_name, must_exist=False)
    meta = _describe(prep, cfg, device)
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    meta["created"] = _check_resumable(store, cfg, meta) or now
    meta["updated"] = now
    store.write_config(meta)
    generators = make_fraction_generators(ws, prep, cfg, device, store, progress=progress)
    if generators:
        meta = {**_describe(prep, cfg, device, generators), "created": meta["created"], "updated": now}
        store.write_config(meta)
    results = store.read_results()
    done = set(zip(results["config"].astype(str), results["seed"].astype(int))) if not results.empty else set()
    jobs = [(c, s) for s in range(cfg.seeds) for c in prep.grid]
    todo = [(c, s) for c, s in jobs if (c.key, s) not in done]
    store.log("start", total=len(jobs), todo=len(todo), device=str(device))
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc="usability", unit="config", file=sys.stderr,
                   dynamic_ncols=True)
    try:
        for i, (conf, seed) in enumerate(todo):
            if bar is not None:
                bar.set_postfix_str(f"{conf.key} seed={seed}", refresh=True)
            row = train_configuration(prep, cfg, conf, seed, device)
            store.append_result(row)
            store.log("done", config=conf.key, seed=seed, seconds=round(row["seconds"], 3), dice=row["dice"],
                      done=len(jobs) - len(todo) + i + 1, total=len(jobs))
            if bar is not None:
                bar.update(1)
            if on_result is not None:
                on_result(row)
    except KeyboardInterrupt:
        store.log("interrupted")
        raise
    finally:
        if bar is not None:
            bar.close()
    store.log("finished", total=len(jobs))
    if not (store.path / "summary.parquet").is_file():  # everything was already done
        store.write_summary(summarise(results))
    return store
