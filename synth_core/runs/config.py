"""Stage configurations: frozen dataclasses with a help text on every field.

The same dataclasses feed the CLI (``--preset``, ``--set key=value``), the run folder's
``config.json`` and the dashboard's forms (:func:`describe_fields`). Presets live in
``synth_core/runs/configs/<name>.json`` as ``{"<stage>": {field: value}}``.
"""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from synth_core.errors import ConfigError

PRESET_DIR = Path(__file__).parent / "configs"


def param(default: Any, help: str) -> Any:  # noqa: A002 - mirrors argparse's name
    """A dataclass field with a default and a help text (shown by the CLI and the dashboard)."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class CommonConfig:
    """Settings every stage has."""

    dataset: str = param("demo", "dataset name in the workspace")
    steps: int = param(1000, "optimisation steps of the main phase")
    batch_size: int = param(8, "images per step (per process under torchrun)")
    lr: float = param(2e-4, "Adam learning rate")
    beta1: float = param(0.5, "Adam beta1 (0.5 is usual for GANs; thesis and pix2pix)")
    beta2: float = param(0.999, "Adam beta2")
    seed: int = param(0, "seed of weights, batches and noise")
    sample_every: int = param(100, "write a sample grid every K steps (0 = only at the end)")
    checkpoint_every: int = param(100, "write the 'last' checkpoint every K steps")
    val_every: int = param(0, "evaluate on the validation split every K steps (0 = at checkpoints)")
    device: str = param("auto", "auto | cpu | cuda")
    amp: bool = param(True, "bf16 autocast on GPU (ignored on CPU)")
    threads: int = param(0, "CPU threads for torch (0 = torch's default)")
    lr_decay: str = param("none", "learning-rate schedule over the main phase (the last `steps` steps): none | cosine "
                                  "(half a cosine from lr down to lr_min_factor * lr)")
    lr_min_factor: float = param(0.1, "final learning rate of the cosine schedule, as a fraction of lr")
    ema_decay: float = param(0.0, "exponential moving average of the generator weights (0 = off; e.g. 0.999); "
                                  "samples, validation and synthesis use the averaged weights")

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, not {getattr(self, name)}")
        for name in ("sample_every", "checkpoint_every", "val_every", "threads"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, not {self.seed}")
        if not (self.lr > 0):
            raise ConfigError(f"lr must be > 0, not {self.lr}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError(f"beta1 and beta2 must be in [0, 1), not {self.beta1}, {self.beta2}")
        if self.lr_decay not in ("none", "cosine"):
            raise ConfigError(f'lr_decay must be "none" or "cosine", not "{self.lr_decay}"')
        if not (0.0 <= self.lr_min_factor <= 1.0):
            raise ConfigError(f"lr_min_factor must be in [0, 1], not {self.lr_min_factor}")
        if not (0.0 <= self.ema_decay < 1.0):
            raise ConfigError(f"ema_decay must be in [0, 1) (0 = off), not {self.ema_decay}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f'device must be "auto", "cpu" or "cuda", not "{self.device}"')


def field_help(cls: type) -> dict[str, str]:
    return {f.name: f.metadata.get("help", "") for f in fields(cls)}


def describe_fields(cls: type) -> list[dict[str, Any]]:
    """Name, type, default and help of every field, for forms and ``--help``."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in fields(cls):
        out.append({"name": f.name, "type": _type_name(hints[f.name]), "default": f.default, "help": f.metadata.get("help", "")})
    return out


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(name: str, tp: Any, raw: Any) -> Any:
    """Convert ``raw`` (a string from ``--set`` or a JSON value) to the field's type."""
    origin = typing.get_origin(tp)
    try:
        if tp is bool:
            if isinstance(raw, bool):
                return raw
            s = str(raw).strip().lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if tp is int:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError(raw)
            return int(raw)
        if tp is float:
            return float(raw)
        if tp is str:
            return str(raw)
        if origin is tuple:
            items = raw if isinstance(raw, (list, tuple)) else [x for x in str(raw).split(",") if x.strip()]
            args = typing.get_args(tp)
            inner = args[0] if args else str
            return tuple(_coerce(name, inner, x) for x in items)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: cannot read {raw!r} as {_type_name(tp)}") from None
    return raw


def make_config(cls: type, values: dict[str, Any]) -> Any:
    """Build ``cls`` from ``values``; an unknown key is an error naming the valid ones."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    unknown = sorted(set(values) - set(names))
    if unknown:
        raise ConfigError(f"unknown setting(s) {', '.join(unknown)} for {cls.__name__}; valid: {', '.join(names)}")
    kwargs = {k: _coerce(k, hints[k], v) for k, v in values.items()}
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{cls.__name__}: {err}") from None


def parse_overrides(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, not {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def list_presets() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_preset(name: str) -> dict[str, dict[str, Any]]:
    path = PRESET_DIR / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"unknown preset {name!r}; available: {', '.join(list_presets())}")
    try:
        data = json.loads(path.read_text())
    except ValueError as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    return {k: v for k, v in data.items() if not k.startswith("_")}


def build_config(cls: type, stage: str, preset: str | None, overrides: dict[str, Any]) -> Any:
    """Defaults <- preset's ``common`` and ``<stage>`` sections <- ``overrides``."""
    values: dict[str, Any] = {}
    if preset:
        p = load_preset(preset)
        names = {f.name for f in fields(cls)}
        values.update({k: v for k, v in p.get("common", {}).items() if k in names})
        values.update(p.get(stage, {}))
    values.update(overrides)
    return make_config(cls, values)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    return {f.name: (list(v) if isinstance(v := getattr(cfg, f.name), tuple) else v) for f in fields(cfg)}


def saved_with_defaults(cls: type, saved: dict[str, Any]) -> dict[str, Any]:
    """A saved run's settings with every field added to ``cls`` since then at its default: a run
    made before a setting existed behaves as that setting's default (the thing to compare with)."""
    values = {f.name: (list(f.default) if isinstance(f.default, tuple) else f.default)
              for f in fields(cls) if f.default is not dataclasses.MISSING}
    return {**values, **saved}


def config_replace(cfg: Any, **changes: Any) -> Any:
    return dataclasses.replace(cfg, **changes)
