"""Ingest options: one frozen dataclass shared by every layout, the CLI and the pages.

Validation happens in ``__post_init__`` and raises :class:`~synth_core.errors.ConfigError`
naming the bad value, so the CLI reports it as one line (exit code 2).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from synth_core.errors import ConfigError, InputError
from synth_core.io.windows import parse_window
from synth_core.structure import KINDS, MaskParams, StructureParams


@dataclass(frozen=True)
class IngestOptions:
    """How to turn a folder of scans into a dataset (everything but the layout and the paths)."""

    size: int = 128  # working size: every kept slice is padded to square and resized to size x size
    modalities: tuple[str, ...] | None = None  # select / order channels by name; None = the layout's default order
    window: str | tuple[float, float] | None = None  # CT only: preset (liver, abdomen, lung, brain, bone, mediastinum) or "low,high" HU; None = layout default (LiTS: liver [-100, 200])
    percentiles: tuple[float, float] = (0.5, 99.5)  # MR / X-ray / other: per-volume, per-channel percentile scaling to [0, 1]
    slice_range: tuple[int, int] | None = None  # keep raw slice indices start <= z < stop (after reorientation); None = all
    min_foreground: float = 0.05  # keep a slice only if at least this fraction of it lies inside the organ mask
    kind: str | None = None  # override the data kind (mri, ct, xray, other); None = the layout's own
    organ_labels: tuple[str, ...] | None = None  # MSD: label names that are the organ, not lesions; None = auto-detect
    label_names: dict[int, str] | None = None  # nifti / png: names of the integer lesion classes; None = binary ({0,1} or {0,255} -> one "lesion" class)
    structure: dict[str, Any] = field(default_factory=dict)  # overrides of Algorithm 1 parameters (alpha, sigma1, ...)
    mask: dict[str, Any] = field(default_factory=dict)  # overrides of Algorithm 2 parameters (threshold, grow, ...)
    erase_lesion_contours: bool | None = None  # None = the layout's default (on for every built-in layout)
    seed: int = 0  # seeds the train/val/test split by case
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train / val / test fractions of cases
    max_pixels: int = 4096  # refuse an image with more rows or columns than this (checked from the header, before reading)
    max_slices: int = 2000  # refuse a volume with more slices than this (checked from the header, before reading)
    allow_unlabelled: bool = False  # LiTS: ingest volumes that have no segmentation file (each named in a warning); else refused

    def __post_init__(self) -> None:
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen)
        if isinstance(self.size, bool) or not isinstance(self.size, (int, np.integer)) or not (8 <= self.size <= 2048):
            raise ConfigError(f"size must be an integer between 8 and 2048 pixels, not {self.size!r}")
        if self.modalities is not None:
            mods = tuple(str(m) for m in self.modalities)
            if not mods or any(not m.strip() for m in mods):
                raise ConfigError(f"modalities must be a non-empty list of names, not {self.modalities!r}")
            if len(set(m.lower() for m in mods)) != len(mods):
                raise ConfigError(f"modalities must not repeat a name: {list(mods)}")
            set_("modalities", mods)
        if self.window is not None:
            parse_window(self.window)  # raises ConfigError naming the value
        try:
            lo, hi = (float(p) for p in self.percentiles)
        except (TypeError, ValueError):
            raise ConfigError(f"percentiles must be two numbers (low, high), not {self.percentiles!r}") from None
        if not (0.0 <= lo < hi <= 100.0):
            raise ConfigError(f"percentiles must satisfy 0 <= low < high <= 100, not {self.percentiles!r}")
        set_("percentiles", (lo, hi))
        if self.slice_range is not None:
            try:
                start, stop = (int(v) for v in self.slice_range)
            except (TypeError, ValueError):
                raise ConfigError(f"slice_range must be two integers (start, stop), not {self.slice_range!r}") from None
            if not (0 <= start < stop):
                raise ConfigError(f"slice_range must satisfy 0 <= start < stop, not {self.slice_range!r}")
            set_("slice_range", (start, stop))
        if not (isinstance(self.min_foreground, (int, float)) and 0.0 <= float(self.min_foreground) <= 1.0):
            raise ConfigError(f"min_foreground must be a fraction in [0, 1], not {self.min_foreground!r}")
        if self.kind is not None and self.kind not in KINDS:
            raise ConfigError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if self.organ_labels is not None:
            names = tuple(str(n) for n in self.organ_labels)
            if not names or any(not n.strip() for n in names):
                raise ConfigError(f"organ_labels must be a non-empty list of label names, not {self.organ_labels!r}")
            set_("organ_labels", names)
        if self.label_names is not None:
            if not isinstance(self.label_names, dict) or not self.label_names:
                raise ConfigError(f"label_names must map lesion values to names, not {self.label_names!r}")
            clean: dict[int, str] = {}
            for k, v in self.label_names.items():
                try:
                    key = int(k)
                except (TypeError, ValueError):
                    raise ConfigError(f"label value {k!r} is not an integer") from None
                if not (1 <= key <= 255):
                    raise ConfigError(f"label value {key} must be between 1 and 255 (0 is the background)")
                if not str(v).strip():
                    raise ConfigError(f"label value {key} needs a name")
                clean[key] = str(v).strip()
            if len(set(clean.values())) != len(clean):
                raise ConfigError(f"label names must be unique: {sorted(clean.values())}")
            set_("label_names", clean)
        _check_overrides("structure", self.structure, StructureParams)
        _check_overrides("mask", self.mask, MaskParams)
        if self.erase_lesion_contours is not None and not isinstance(self.erase_lesion_contours, bool):
            raise ConfigError(f"erase_lesion_contours must be true, false or unset, not {self.erase_lesion_contours!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, not {self.seed!r}")
        fr = tuple(float(f) for f in self.split_fractions)
        if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
            raise ConfigError(f"split_fractions must be 3 non-negative numbers summing to 1, not {self.split_fractions!r}")
        set_("split_fractions", fr)
        for name in ("max_pixels", "max_slices"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ConfigError(f"{name} must be a positive integer, not {v!r}")

    # -- helpers shared by the layout readers -------------------------------------------------

    def check_dimensions(self, path: str | Path, rows: int, cols: int, slices: int = 1) -> None:
        """Refuse an implausibly large image before its data is read (from header values)."""
        if rows > self.max_pixels or cols > self.max_pixels:
            raise InputError(path, f"image of {rows} x {cols} pixels is larger than the {self.max_pixels} px limit (max_pixels)")
        if slices > self.max_slices:
            raise InputError(path, f"volume of {slices} slices is more than the {self.max_slices} slice limit (max_slices)")
        if min(rows, cols, slices) < 1:
            raise InputError(path, f"empty image ({rows} x {cols} x {slices})")

    def window_hu(self, default: str | tuple[float, float]) -> tuple[float, float]:
        """The CT window in HU: this option if set, else ``default``."""
        return parse_window(self.window if self.window is not None else default)

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable copy (recorded in the dataset's parameters)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "allow_unlabelled" and not v:
                continue  # recorded only when used, so datasets made before it keep their fingerprint
            if isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, dict):
                v = {str(k): x for k, x in v.items()}
            out[f.name] = v
        return out


def _check_overrides(what: str, overrides: dict[str, Any], cls: type) -> None:
    if not isinstance(overrides, dict):
        raise ConfigError(f"{what} overrides must be a mapping of parameter names to values, not {overrides!r}")
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ConfigError(f"unknown {what} parameter(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
    try:
        cls(**overrides)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"bad {what} parameter: {err}") from None
