"""Settings and the configuration grid of the usability experiment (thesis Table 5).

No torch here: the grid, the sizes and the iteration split are pure functions that the command,
the tests and the pages can call cheaply.

Grid (:func:`build_grid`), for each real fraction ``f`` in the order given:

- multiplier ``0`` (when listed): ONE real-only baseline row (``mode = "real-only"``); the mixing
  modes would all train the same thing, so they collapse to this row;
- with ``augmentation_control``: one real-only row with classic augmentation (``augmentation =
  True``: random flips, 90° rotations, per-channel intensity scaling of the real data);
- every mode × every multiplier ``k > 0``.

Sizes: ``n_real = max(1, round(f × N_train))`` slices (:func:`n_real_for`) and ``n_synthetic =
max(1, round(k × n_real))`` samples for ``k > 0`` (:func:`n_synthetic_for`); round half up.

Generators (``generators``): with ``per-fraction`` (the default) the synthetic rows of a real
fraction ``f < 1`` use a set made by a generator trained on that fraction's real slices only
(``generator = "fraction"``: no information from slices the row does not have), and with
``oracle_rows`` the same rows are repeated with ``--set`` (``generator = "oracle"``: its generator
saw all training data, the thesis's setting, an upper bound). At ``f = 1`` ``--set``'s generator was
trained on exactly that fraction's data, so its rows are ``fraction`` rows. ``given-set`` uses
``--set`` for every row (oracle rows below 100 %). Each fraction's real slices are fixed by
``subset_seed`` (the same for every seed and row) and recorded in the experiment's ``config.json``.

Iterations (:func:`plan_phases`): ``random`` draws its batches from the union of both sources
(one shuffled pool, as the thesis copies both into one folder); ``real-first`` / ``synthetic-first``
train on one source, then continue (same network and Adam state) on the other. With early stopping
(``patience > 0``, the default) every phase trains up to ``steps`` steps, is scored on real
validation slices every ``val_every`` steps, ends after ``patience`` scores without improving on its
own best and hands on the best weights so far; the network tested is the best one seen (the same
rule for every row).
With ``patience = 0`` every configuration trains exactly ``steps`` steps, sequential modes split in
proportion to the amounts: ``steps_real = round(steps × n_real / (n_real + n_synthetic))``, at least
1 step each, and the last network is tested.
"""

from __future__ import annotations

import json
import math
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from synth_core.errors import ConfigError
from synth_core.experiments.results import MODES, REAL_ONLY
from synth_core.runs.config import make_config, param

PRESET_DIR = Path(__file__).parent / "presets"
SECTION = "usability"


@dataclass(frozen=True)
class UsabilityConfig:
    """Everything that defines a usability experiment (saved as its ``config.json``)."""

    dataset: str = param("demo", "real dataset in the workspace (train split: real training data; test split: the only test data)")
    synthetic_set: str = param("", "synthetic set made from that dataset (workspace/synthetic/SET)")
    name: str = param("", "experiment folder name under workspace/experiments (default usability-<set>)")
    real_fractions: tuple[float, ...] = param((1.0, 0.5, 0.2, 0.1), "fractions of the real TRAIN slices used, each in (0, 1]")
    synthetic_multipliers: tuple[float, ...] = param(
        (0.0, 0.2, 0.5, 0.8, 1.0, 2.0, 3.0), "synthetic samples added, as multiples of the real slices used (0 = real-only baseline)")
    modes: tuple[str, ...] = param(MODES, "mixing modes: random | real-first | synthetic-first")
    augmentation_control: bool = param(False, "add a classic-augmentation control row (real only) per real fraction")
    seeds: int = param(3, "repetitions with seeds 0..N-1 (subset, synthetic sample, weights and batches)")
    filter: str = param("", "filter on the set's catalog before sampling synthetic data (e.g. 'contour_outside == 0')")
    generators: str = param("per-fraction", "per-fraction: below 100 % real, synthetic data comes from a generator "
                                            "trained on that fraction's real slices only (no leakage); given-set: "
                                            "every row uses --set (the thesis's setting; leaks below 100 %)")
    oracle_rows: bool = param(True, "per-fraction: also run the synthetic rows below 100 % with --set, labelled "
                                    "oracle (its generator saw all training data)")
    generator_preset: str = param("cpu-demo", "per-fraction: stage preset the fraction generators are trained with")
    generator_scale: float = param(1.0, "per-fraction: the preset's step counts (steps, pretrain_steps, mask_steps) "
                                        "times this, for every stage")
    subset_seed: int = param(0, "seed of each fraction's real slices (whole cases first; fixed for every seed and row)")
    cap_synthetic: bool = param(False, "when the set is too small, use all it has (noted per row) instead of refusing")
    steps: int = param(400, "most optimisation steps of each training phase (with patience 0: exactly this many "
                            "steps per configuration)")
    val_every: int = param(25, "early stopping: score the real validation slices every K steps")
    patience: int = param(4, "early stopping: end a phase after this many scores without improvement and keep its "
                             "best weights (0 = no early stopping: train `steps` steps, test the last network)")
    val_slices: int = param(64, "early stopping: validation slices with a lesion scored (a fixed seeded subset; 0 = all)")
    batch_size: int = param(8, "images per step")
    lr: float = param(5e-3, "Adam learning rate (5e-3 learnt fastest in 20-25 CPU steps; 1e-2 collapsed)")
    beta1: float = param(0.9, "Adam beta1")
    beta2: float = param(0.999, "Adam beta2")
    base_channels: int = param(8, "U-Net width of the first level (thesis: 64)")
    depth: int = param(3, "U-Net down-sampling steps")
    norm: str = param("instance", "normalisation: instance | batch | group | none")
    dice_weight: float = param(1.0, "weight of the soft Dice loss")
    ce_weight: float = param(1.0, "weight of the cross-entropy loss")
    intensity_scale: float = param(0.1, "augmentation control: intensities scaled by U(1-a, 1+a) per channel")
    test_slices: int = param(0, "score at most this many test slices with a lesion (a fixed seeded subset; 0 = all)")
    eval_batch: int = param(32, "test slices per forward pass")
    device: str = param("auto", "auto | cpu | cuda")
    threads: int = param(0, "CPU threads for torch (0 = torch's default)")

    def __post_init__(self) -> None:
        if not self.real_fractions:
            raise ConfigError("real_fractions must list at least one fraction")
        for f in self.real_fractions:
            if not (math.isfinite(f) and 0.0 < f <= 1.0):
                raise ConfigError(f"real fraction {f:g} is outside (0, 1]")
        if not self.synthetic_multipliers:
            raise ConfigError("synthetic_multipliers must list at least one multiplier (0 = real only)")
        for k in self.synthetic_multipliers:
            if not math.isfinite(k) or k < 0:
                raise ConfigError(f"synthetic multiplier {k:g} is negative or not finite; use 0 for real only")
        if not self.modes:
            raise ConfigError(f"modes must list at least one of {', '.join(MODES)}")
        for m in self.modes:
            if m not in MODES:
                raise ConfigError(f"unknown mode {m!r}; valid: {', '.join(MODES)}")
        for name in ("seeds", "steps", "batch_size", "base_channels", "depth", "eval_batch", "val_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.threads < 0 or self.test_slices < 0 or self.patience < 0 or self.val_slices < 0:
            raise ConfigError(f"threads, test_slices, patience and val_slices must be >= 0, not {self.threads}, "
                              f"{self.test_slices}, {self.patience}, {self.val_slices}")
        if self.generators not in GENERATOR_MODES:
            raise ConfigError(f"generators must be one of {', '.join(GENERATOR_MODES)}, not {self.generators!r}")
        if not (math.isfinite(self.generator_scale) and self.generator_scale > 0):
            raise ConfigError(f"generator_scale must be > 0, not {self.generator_scale}")
        if self.steps < 2 and any(k > 0 for k in self.synthetic_multipliers) and (set(self.modes) - {"random"}):
            raise ConfigError("the sequential modes need steps >= 2 (one phase per source)")
        if not (self.lr > 0) or not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError(f"lr must be > 0 and beta1, beta2 in [0, 1), not {self.lr}, {self.beta1}, {self.beta2}")
        if self.dice_weight < 0 or self.ce_weight < 0 or self.dice_weight + self.ce_weight == 0:
            raise ConfigError("dice_weight and ce_weight must be >= 0 and not both 0")
        if not (0 <= self.intensity_scale < 1):
            raise ConfigError(f"intensity_scale must be in [0, 1), not {self.intensity_scale}")
        if self.norm not in ("instance", "batch", "group", "none"):
            raise ConfigError(f"norm must be instance, batch, group or none, not {self.norm!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f'device must be "auto", "cpu" or "cuda", not "{self.device}"')

    @property
    def experiment_name(self) -> str:
        return self.name or f"usability-{self.synthetic_set}"

    @property
    def early_stopping(self) -> bool:
        return self.patience > 0


GENERATOR_MODES = ("per-fraction", "given-set")


#: Settings that change what a finished configuration's numbers mean: an existing experiment folder
#: is only resumed when these agree (the grid itself may grow between runs).
IDENTITY_FIELDS = ("dataset", "synthetic_set", "filter", "cap_synthetic", "steps", "batch_size", "lr", "beta1", "beta2",
                   "base_channels", "depth", "norm", "dice_weight", "ce_weight", "intensity_scale", "test_slices",
                   "generators", "generator_preset", "generator_scale", "subset_seed", "val_every", "patience",
                   "val_slices")


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_preset(name: str) -> dict[str, Any]:
    """The ``usability`` section of ``training/experiments/presets/<name>.json``."""
    path = PRESET_DIR / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"unknown usability preset {name!r}; available: {', '.join(list_presets()) or 'none'}")
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    return dict(data.get(SECTION, {}))


def build_usability_config(preset: str | None = None, overrides: dict[str, Any] | None = None) -> UsabilityConfig:
    """Defaults <- the preset's ``usability`` section <- ``overrides`` (strings are coerced)."""
    values: dict[str, Any] = dict(load_preset(preset)) if preset else {}
    values.update(overrides or {})
    return make_config(UsabilityConfig, values)


def config_from_dict(d: dict[str, Any]) -> UsabilityConfig:
    names = {f.name for f in fields(UsabilityConfig)}
    return make_config(UsabilityConfig, {k: v for k, v in d.items() if k in names})


def usability_fields() -> list[dict[str, Any]]:
    hints = typing.get_type_hints(UsabilityConfig)
    return [{"name": f.name, "type": getattr(hints[f.name], "__name__", str(hints[f.name])), "default": f.default,
             "help": f.metadata.get("help", "")} for f in fields(UsabilityConfig)]


# ---- the grid ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Configuration:
    """One row of Table 5 (before the seeds)."""

    real_fraction: float
    synthetic_multiplier: float
    mode: str
    augmentation: bool = False
    generator: str = ""  # "" (real only) | "fraction" | "oracle": see the module docstring

    @property
    def key(self) -> str:
        gen = f" gen={self.generator}" if self.generator else ""
        return (f"f={self.real_fraction:g} k={self.synthetic_multiplier:g} mode={self.mode} "
                f"aug={int(self.augmentation)}{gen}")

    def as_dict(self) -> dict[str, Any]:
        return {"real_fraction": float(self.real_fraction), "synthetic_multiplier": float(self.synthetic_multiplier),
                "mode": self.mode, "augmentation": bool(self.augmentation), "generator": self.generator}


def _unique(values) -> list:
    out = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


def build_grid(cfg: UsabilityConfig) -> list[Configuration]:
    """The configurations of ``cfg`` (see the module docstring), duplicates removed."""
    out: list[Configuration] = []
    ks = _unique(float(k) for k in cfg.synthetic_multipliers)
    modes = _unique(cfg.modes)
    for f in _unique(float(x) for x in cfg.real_fractions):
        if 0.0 in ks:
            out.append(Configuration(f, 0.0, REAL_ONLY, False))
        if cfg.augmentation_control:
            out.append(Configuration(f, 0.0, REAL_ONLY, True))
        if f >= 1.0 or cfg.generators == "given-set":
            gens = ["fraction" if f >= 1.0 else "oracle"]
        else:
            gens = ["fraction", "oracle"] if cfg.oracle_rows else ["fraction"]
        for mode in modes:
            for k in ks:
                if k > 0:
                    out.extend(Configuration(f, k, mode, False, g) for g in gens)
    return out


def fractions_needing_generators(cfg: UsabilityConfig) -> list[float]:
    """Real fractions whose synthetic rows need a generator of their own (per-fraction, f < 1)."""
    return sorted({c.real_fraction for c in build_grid(cfg) if c.generator == "fraction" and c.real_fraction < 1.0},
                  reverse=True)


def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def n_real_for(fraction: float, n_train: int) -> int:
    return max(1, min(n_train, round_half_up(fraction * n_train)))


def n_synthetic_for(multiplier: float, n_real: int) -> int:
    return 0 if multiplier <= 0 else max(1, round_half_up(multiplier * n_real))


def plan_phases(mode: str, steps: int, n_real: int, n_synthetic: int, *,
                early_stopping: bool = False) -> list[tuple[str, int]]:
    """``[(source, steps), ...]`` with source ``real``, ``synthetic`` or ``mixed``. Without early
    stopping the steps sum to ``steps``; with it each phase may train up to ``steps`` steps.

    >>> plan_phases("real-first", 30, 40, 20)
    [('real', 20), ('synthetic', 10)]
    >>> plan_phases("real-first", 30, 40, 20, early_stopping=True)
    [('real', 30), ('synthetic', 30)]
    """
    if n_synthetic == 0:
        return [("real", steps)]
    if mode == "random":
        return [("mixed", steps)]
    if early_stopping and mode in ("real-first", "synthetic-first"):
        first, second = ("real", "synthetic") if mode == "real-first" else ("synthetic", "real")
        return [(first, steps), (second, steps)]
    if steps < 2:
        raise ConfigError(f"mode {mode} needs at least 2 steps (one per source)")
    s_real = round_half_up(steps * n_real / (n_real + n_synthetic))
    s_real = min(max(s_real, 1), steps - 1)
    if mode == "real-first":
        return [("real", s_real), ("synthetic", steps - s_real)]
    if mode == "synthetic-first":
        return [("synthetic", steps - s_real), ("real", s_real)]
    raise ConfigError(f"unknown mode {mode!r}; valid: {', '.join(MODES)}")
