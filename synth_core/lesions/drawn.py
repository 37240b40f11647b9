"""A lesion shape drawn by a person instead of taken from the bank: an ellipse given by a few numbers.

:class:`DrawnLesion` is the shape only — its radii in pixels, its label class and an optional core of
another class (a smaller ellipse of the same proportions, as a tumour core inside its oedema). Its
:meth:`~DrawnLesion.patch` is an integer label patch like a bank lesion's, so it is placed, rotated
and checked by exactly the same code (:func:`synth_core.lesions.placement.place_lesion` with an
:class:`~synth_core.lesions.augment.AugmentParams` giving the centre and the rotation: inside the
organ, not on the slice's own lesions) and replayed bit-exactly by
:func:`~synth_core.lesions.augment.apply_transform`. It is stored as the JSON of :meth:`to_json`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from synth_core.errors import ConfigError

SHAPES = ("ellipse",)
MAX_RADIUS = 512.0


@dataclass(frozen=True)
class DrawnLesion:
    """An ellipse with semi-axes ``radii = (rows, columns)`` pixels filled with class ``label``;
    with ``core_fraction`` in (0, 1) the ellipse scaled by that fraction gets class ``core_label``."""

    radii: tuple[float, float]
    label: int
    core_label: int = 0
    core_fraction: float = 0.0
    shape: str = "ellipse"

    def __post_init__(self) -> None:
        if self.shape not in SHAPES:
            raise ConfigError(f"a drawn lesion's shape must be one of {', '.join(SHAPES)}, not {self.shape!r}")
        try:
            ry, rx = (float(v) for v in self.radii)
        except (TypeError, ValueError):
            raise ConfigError(f"a drawn lesion's radii must be two numbers, not {self.radii!r}") from None
        if not (math.isfinite(ry) and math.isfinite(rx) and 0.5 <= ry <= MAX_RADIUS and 0.5 <= rx <= MAX_RADIUS):
            raise ConfigError(f"a drawn lesion's radii must be between 0.5 and {MAX_RADIUS:g} pixels, not {self.radii!r}")
        object.__setattr__(self, "radii", (ry, rx))
        for name in ("label", "core_label"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not 0 <= int(v) <= 255:
                raise ConfigError(f"a drawn lesion's {name} must be a class number 0-255, not {v!r}")
            object.__setattr__(self, name, int(v))
        if self.label < 1:
            raise ConfigError(f"a drawn lesion's label must be a lesion class (>= 1), not {self.label}")
        frac = float(self.core_fraction)
        if not (math.isfinite(frac) and 0.0 <= frac < 1.0):
            raise ConfigError(f"a drawn lesion's core_fraction must be in [0, 1), not {self.core_fraction!r}")
        if frac > 0 and self.core_label < 1:
            raise ConfigError("a drawn lesion with a core needs a core_label (>= 1)")
        object.__setattr__(self, "core_fraction", frac)

    @property
    def classes(self) -> tuple[int, ...]:
        """The label classes the patch holds."""
        return (self.label, self.core_label) if self.core_fraction > 0 and self.core_label != self.label else (self.label,)

    def patch(self) -> np.ndarray:
        """The label patch ``(2 ceil(ry) + 1, 2 ceil(rx) + 1)`` uint8, centred on its middle pixel."""
        ry, rx = self.radii
        hy, hx = math.ceil(ry), math.ceil(rx)
        yy, xx = np.mgrid[-hy:hy + 1, -hx:hx + 1].astype(np.float64)
        d = (yy / ry) ** 2 + (xx / rx) ** 2
        out = np.where(d <= 1.0, self.label, 0).astype(np.uint8)
        if self.core_fraction > 0:
            out[d <= self.core_fraction ** 2] = self.core_label
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"shape": self.shape, "radii": list(self.radii), "label": self.label,
                "core_label": self.core_label, "core_fraction": self.core_fraction}

    def to_json(self) -> str:
        """The record stored in a set's catalog (``lesion_drawn``); :meth:`from_json` reads it back."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DrawnLesion:
        if not isinstance(d, dict):
            raise ConfigError(f"a drawn lesion must be a JSON object, not {d!r}")
        unknown = set(d) - {"shape", "radii", "label", "core_label", "core_fraction"}
        if unknown:
            raise ConfigError(f"a drawn lesion has unknown keys {sorted(unknown)}")
        if "radii" not in d or "label" not in d:
            raise ConfigError("a drawn lesion needs radii and label")
        return cls(radii=tuple(d["radii"]), label=d["label"], core_label=d.get("core_label", 0),
                   core_fraction=d.get("core_fraction", 0.0), shape=d.get("shape", "ellipse"))

    @classmethod
    def from_json(cls, text: str) -> DrawnLesion:
        try:
            d = json.loads(text)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"a drawn lesion record is not JSON ({err})") from None
        return cls.from_dict(d)
