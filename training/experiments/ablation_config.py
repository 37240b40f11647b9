"""Settings of the ablation study (thesis Table 1): :class:`AblationConfig`, parsing of ``--rows`` and
``--set``, and the multimodal configuration each row trains with (:func:`row_config`).

No torch and no workspace access here: these are pure functions that the command, the tests and
:mod:`training.experiments.ablation` (which runs the experiment) call cheaply.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, fields
from typing import Any

from synth_core.errors import ConfigError
from synth_core.experiments.ablation import ROWS
from synth_core.runs.config import build_config, make_config, param
from synth_core.runs.folder import JUDGE_MARK
from synth_core.runs.stage_configs import ABLATIONS, MultimodalConfig

SWITCHES = tuple(s for s in ABLATIONS.values() if s)
HELPER_STAGES = ("structure", "segmenter", "translator")
#: multimodal settings the experiment sets itself (``--rows`` picks the switches)
RESERVED = ("ablation", "dataset", *SWITCHES, "structure_run", "segmenter_run", "translator_run")


@dataclass(frozen=True)
class AblationConfig:
    """Everything that defines an ablation experiment (saved in its ``config.json``)."""

    dataset: str = param("demo", "real dataset in the workspace (must have lesion labels)")
    name: str = param("", "experiment folder name under workspace/experiments (default ablation-<dataset>)")
    rows: tuple[str, ...] = param(ROWS, "thesis Table 1 rows to run, of A B C D E F")
    preset: str = param("cpu-demo", "training preset (synth_core/runs/configs) whose multimodal section every row uses")
    steps: int = param(120, "adversarial steps of every row (cpu-demo preset: ~0.6 s each on 2 CPU cores at "
                            "128 px; the module docstring has the whole budget)")
    pretrain_steps: int = param(100, "self-supervised pre-training steps of every row (eq. 18)")
    n: int = param(64, "samples per set (the same seed for every row)")
    seed: int = param(0, "seed of training and of the sets (the first seed when seeds > 1)")
    seeds: int = param(1, "training seeds per row (seed, seed+1, ...): the tables give mean ± sd over them; rerun "
                          "with more to add seeds to an experiment")
    checkpoint: str = param("last", "checkpoint the sets are made from: last | best (best is chosen by different "
                                    "scores across rows)")
    lesions: str = param("augmented", "lesions of the sets: augmented | bank")
    synth_batch: int = param(16, "samples per network call in synthesis")
    frd: bool = param(True, "compute FRD (radiomics; the slowest metric)")
    n_frd: int = param(16, "slices per side for FRD (~0.3 s per slice, region and modality at 128 px)")
    n_pairs: int = param(128, "random pairs for the MS-SSIM diversity")
    n_max: int = param(96, "at most this many real and synthetic slices for the other metrics (the real-slice "
                           "reconstruction dominates the evaluation time)")
    device: str = param("auto", "auto | cpu | cuda (training, synthesis, evaluation)")
    threads: int = param(0, "CPU threads for torch (0 = torch's default)")
    judge_seed: int = param(1000, "seed of the two judges (the helpers' default is 0): another initialisation and "
                                  "other batches than the networks the rows train against")
    judge_width: int = param(16, "base_channels of the two judges (cpu-demo helpers: 12, so another network; 0 = the "
                                 "preset's width); at 128 px a 16-wide judge costs about (16/12)^2 = 1.8x a step of "
                                 "a 12-wide one")
    judge_steps: int = param(0, "training steps of each judge (0 = the preset's: cpu-demo segmenter 500, translator 600)")
    judge_settings: tuple[str, ...] = param((), "further judge settings as key=value (from --set judge.KEY=VALUE); "
                                                "each applies to the judges whose stage has that setting")
    multimodal: tuple[str, ...] = param((), "multimodal settings as key=value (from --set), applied to every row")

    def __post_init__(self) -> None:
        object.__setattr__(self, "rows", parse_rows(self.rows))
        for name in ("steps", "n", "synth_batch", "n_pairs", "seeds"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, not {getattr(self, name)}")
        for name in ("pretrain_steps", "seed", "threads", "judge_seed", "judge_width", "judge_steps"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.n_frd < 2 or self.n_max < 2:
            raise ConfigError(f"n_frd and n_max must be >= 2, not {self.n_frd}, {self.n_max}")
        if self.checkpoint not in ("last", "best"):
            raise ConfigError(f'checkpoint must be "last" or "best", not "{self.checkpoint}"')
        if self.lesions not in ("augmented", "bank"):
            raise ConfigError(f'lesions must be "augmented" or "bank", not "{self.lesions}" (the ablation is about '
                              "lesions)")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f'device must be "auto", "cpu" or "cuda", not "{self.device}"')
        overrides = multimodal_overrides(self.multimodal)
        bad = sorted(set(overrides) & set(RESERVED) - {"structure_run", "segmenter_run", "translator_run"})
        if bad:
            raise ConfigError(f"--set {', '.join(bad)}: the ablation sets these itself (choose rows with --rows, "
                              "the dataset with --dataset)")

    @property
    def experiment_name(self) -> str:
        return self.name or f"ablation-{self.dataset}"

    @property
    def seed_list(self) -> tuple[int, ...]:
        return tuple(range(self.seed, self.seed + self.seeds))

    def judge_run_id(self, stage: str) -> str:
        """The judge run of ``stage`` (segmenter or translator) that scores every row."""
        return f"{self.experiment_name}{JUDGE_MARK}{stage}"

    def run_id(self, row: str, seed: int | None = None) -> str:
        """The multimodal run of ``row`` trained with ``seed`` (default: the first seed); also the name of its set."""
        if seed is None or seed == self.seed:
            return f"{self.experiment_name}-{row}"
        return f"{self.experiment_name}-{row}-s{seed}"


#: multimodal settings that do not change what a row's numbers mean (where it runs, how often it
#: logs, validates and saves); they may differ when an experiment is continued
NOT_IDENTITY = ("device", "threads", "amp", "sample_every", "checkpoint_every", "val_every", "val_slices")
#: AblationConfig settings that change what a finished row's numbers mean
IDENTITY_FIELDS = ("dataset", "preset", "steps", "pretrain_steps", "n", "seed", "checkpoint", "lesions", "n_frd",
                   "n_pairs", "n_max", "judge_seed", "judge_width", "judge_steps", "judge_settings")
#: the stages of the judges (independent networks that score lesion fidelity and registration)
JUDGE_STAGES = ("segmenter", "translator")
#: prefix of ``--set`` keys that set the judges (``--set judge.depth=2``)
JUDGE_PREFIX = "judge."


# ---- parsing --------------------------------------------------------------------------------------
def parse_rows(raw: str | typing.Iterable[str] | None) -> tuple[str, ...]:
    """``"a, C,b"`` or ``["A", "C"]`` -> ``("A", "B", "C")``: upper case, duplicates removed, Table 1
    order. An unknown letter or an empty list is a :class:`ConfigError`."""
    if raw is None:
        return ROWS
    items = raw.split(",") if isinstance(raw, str) else [str(x) for x in raw]
    rows = {x.strip().upper() for x in items if x.strip()}
    if not rows:
        raise ConfigError(f"no ablation row given; choose from {', '.join(ROWS)}")
    unknown = sorted(rows - set(ROWS))
    if unknown:
        raise ConfigError(f"unknown ablation row(s) {', '.join(unknown)}; valid: {', '.join(ROWS)} "
                          "(thesis Table 1)")
    return tuple(r for r in ROWS if r in rows)


def multimodal_overrides(items: typing.Iterable[str]) -> dict[str, str]:
    """``("key=value", ...)`` -> dict (the multimodal settings given with ``--set``)."""
    out: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, not {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def ablation_fields() -> list[dict[str, Any]]:
    hints = typing.get_type_hints(AblationConfig)
    return [{"name": f.name, "type": getattr(hints[f.name], "__name__", str(hints[f.name])), "default": f.default,
             "help": f.metadata.get("help", "")} for f in fields(AblationConfig)]


def build_ablation_config(values: dict[str, Any] | None = None) -> AblationConfig:
    """Defaults <- ``values`` (strings are coerced; unknown keys name the valid ones)."""
    return make_config(AblationConfig, dict(values or {}))


def split_settings(items: typing.Iterable[str]) -> tuple[dict[str, str], list[str]]:
    """``--set`` items -> (ablation settings, multimodal ``key=value`` items). A key that is an
    :class:`AblationConfig` field (``steps``, ``n``, ``seed``, ``device``, ...) sets the experiment
    (which passes ``steps``, ``seed``, ``device`` and ``threads`` on to every run); any other key is
    a multimodal setting (checked when the experiment starts); ``judge.KEY`` sets the judges (collected
    in ``judge_settings``)."""
    own = {f.name for f in fields(AblationConfig)} - {"multimodal", "rows", "judge_settings"}
    mine: dict[str, str] = {}
    rest: list[str] = []
    judge: list[str] = []
    for k, v in multimodal_overrides(items).items():
        if k.startswith(JUDGE_PREFIX):
            judge.append(f"{k[len(JUDGE_PREFIX):]}={v}")
        elif k in own:
            mine[k] = v
        else:
            rest.append(f"{k}={v}")
    if judge:
        mine["judge_settings"] = tuple(judge)  # type: ignore[assignment]  # a tuple, so values may hold commas
    return mine, rest


# ---- the judges' training configurations ----------------------------------------------------------
def judge_config(cfg: AblationConfig, stage: str) -> Any:
    """The settings of the judge of ``stage``: the preset's ``stage`` section with the judge's seed,
    width and steps, the experiment's device and threads, and the ``judge_settings`` the stage has."""
    from synth_core.runs.stage_configs import CONFIGS

    cls = CONFIGS[stage]
    names = {f.name for f in fields(cls)}
    extra = multimodal_overrides(cfg.judge_settings)
    unknown = sorted(k for k in extra if not any(k in {f.name for f in fields(CONFIGS[s])} for s in JUDGE_STAGES))
    if unknown:
        raise ConfigError(f"judge setting(s) {', '.join(unknown)}: neither a segmenter nor a translator setting "
                          "(`python -m training config segmenter`)")
    values: dict[str, Any] = {k: v for k, v in extra.items() if k in names}
    values.update(dataset=cfg.dataset, seed=cfg.judge_seed, device=cfg.device)
    if cfg.judge_width:
        values["base_channels"] = cfg.judge_width
    if cfg.judge_steps:
        values["steps"] = cfg.judge_steps
    if cfg.threads:
        values["threads"] = cfg.threads
    try:
        return build_config(cls, stage, cfg.preset or None, values)
    except ConfigError as err:
        raise ConfigError(f"judge {stage} settings: {err}") from None


# ---- the rows' training configurations ------------------------------------------------------------
def row_config(cfg: AblationConfig, row: str, helpers: dict[str, str], seed: int | None = None) -> Any:
    """The :class:`~synth_core.runs.stage_configs.MultimodalConfig` of ``row`` trained with ``seed``
    (default ``cfg.seed``)."""
    values: dict[str, Any] = dict(multimodal_overrides(cfg.multimodal))
    values.update(dataset=cfg.dataset, steps=cfg.steps, pretrain_steps=cfg.pretrain_steps,
                  seed=cfg.seed if seed is None else seed, device=cfg.device, ablation=row)
    if cfg.threads:
        values["threads"] = cfg.threads
    for stage in HELPER_STAGES:
        values[f"{stage}_run"] = helpers.get(stage, "")
    try:
        return build_config(MultimodalConfig, "multimodal", cfg.preset or None, values)
    except ConfigError as err:
        raise ConfigError(f"multimodal settings: {err}") from None
