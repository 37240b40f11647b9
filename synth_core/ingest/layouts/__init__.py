"""Layout readers: each turns one folder convention into a stream of :class:`CaseVolume`.

Contract of a layout module (``synth_core/ingest/layouts/<name>.py``)::

    def describe(src: Path, options: IngestOptions) -> LayoutInfo
        # what the dataset will hold; cheap (file names, headers, dataset.json), raises
        # InputError for a missing/empty folder or no cases
    def iter_cases(src: Path, options: IngestOptions) -> Iterator[CaseVolume]
        # one case at a time (never all cases in memory), read strictly; every problem is an
        # InputError naming the file

``images`` of each case are raw intensities in the channel order of ``LayoutInfo.modalities``
(Hounsfield units for CT); labels are already mapped to ``LayoutInfo.label_names``. The shared
pipeline (``synth_core/ingest/pipeline.py``) normalises, selects slices, resizes and writes.

Modules are imported lazily by name, so a layout whose module is missing or broken does not
stop the others from working.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from synth_core.errors import ConfigError, InputError
from synth_core.ingest.case import CaseVolume
from synth_core.ingest.options import IngestOptions
from synth_core.structure import KINDS

#: Layout name -> module implementing ``describe`` and ``iter_cases``.
LAYOUTS: dict[str, str] = {
    "brats": "synth_core.ingest.layouts.brats",
    "lits": "synth_core.ingest.layouts.lits",
    "msd": "synth_core.ingest.layouts.msd",
    "nifti": "synth_core.ingest.layouts.nifti",
    "dicom": "synth_core.ingest.layouts.dicom",
    "png": "synth_core.ingest.layouts.png",
}


@dataclass(frozen=True)
class LayoutInfo:
    """What a layout will produce, known before any case is read."""

    kind: str  # mri | ct | xray | other (after applying options.kind)
    modalities: tuple[str, ...]  # channel names, in the order of CaseVolume.images
    label_names: dict[int, str]  # lesion classes after mapping; 0 must be "background"
    structure_modality: int = 0  # index into modalities that Algorithm 1 runs on
    erase_lesion_contours: bool = True  # remove lesion contours from the structure map
    window: tuple[float, float] | None = None  # CT: HU window the pipeline applies (None = options / default)
    value_range: tuple[float, float] | None = None  # fixed input range scaled to [0, 1] (8-bit PNG: 0..255); None = by kind
    params: dict[str, Any] = field(default_factory=dict)  # layout-specific, JSON-serialisable, recorded in the dataset

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if not self.modalities:
            raise ConfigError("a layout must provide at least one modality")
        if not (0 <= self.structure_modality < len(self.modalities)):
            raise ConfigError(f"structure modality {self.structure_modality} out of range for {list(self.modalities)}")
        if self.label_names.get(0) != "background":
            raise ConfigError(f"label 0 must be 'background', not {self.label_names.get(0)!r}")


class Layout(Protocol):
    def describe(self, src: Path, options: IngestOptions) -> LayoutInfo: ...

    def iter_cases(self, src: Path, options: IngestOptions) -> Iterator[CaseVolume]: ...


def get_layout(name: str) -> Layout:
    """The layout module called ``name``; :class:`ConfigError` for an unknown or unavailable one."""
    if name not in LAYOUTS:
        raise ConfigError(f"unknown layout {name!r}; expected one of {', '.join(LAYOUTS)}")
    try:
        module: ModuleType = importlib.import_module(LAYOUTS[name])
    except ImportError as err:
        raise ConfigError(f"layout {name!r} is not available ({err})") from None
    for attr in ("describe", "iter_cases"):
        if not callable(getattr(module, attr, None)):
            raise ConfigError(f"layout {name!r} is not available (its module has no {attr}())")
    return module  # type: ignore[return-value]


def select_modalities(
    available: tuple[str, ...], options: IngestOptions, aliases: dict[str, str] | None = None
) -> tuple[str, ...]:
    """``options.modalities`` matched case-insensitively (and through ``aliases``) against
    ``available``, in the user's order; ``available`` when not set. ConfigError names a missing one."""
    if options.modalities is None:
        return available
    by_lower = {a.lower(): a for a in available}
    aliases = {k.lower(): v for k, v in (aliases or {}).items()}
    out = []
    for m in options.modalities:
        key = m.lower()
        key = aliases.get(key, key).lower()
        if key not in by_lower:
            raise ConfigError(f"modality {m!r} is not in this data; available: {', '.join(available)}")
        out.append(by_lower[key])
    if len(set(out)) != len(out):
        raise ConfigError(f"modalities {list(options.modalities)} name the same channel twice")
    return tuple(out)




# -- helpers shared by the layouts ------------------------------------------------------------


def check_source(src: str | Path) -> Path:
    """``src`` as a Path if it is an existing, non-empty folder; else InputError naming it."""
    src = Path(src)
    if not src.exists():
        raise InputError(src, "no such folder")
    if not src.is_dir():
        raise InputError(src, "not a folder; give the folder that holds the scans")
    if not any(p for p in src.iterdir() if not p.name.startswith(".")):
        raise InputError(src, "the folder is empty")
    return src


def generic_label_names(options: IngestOptions) -> dict[int, str]:
    """Lesion classes of the layouts without a label convention of their own (nifti, png, dicom):
    ``options.label_names`` if given, else one binary class ``{1: "lesion"}``."""
    names = dict(options.label_names) if options.label_names else {1: "lesion"}
    return {0: "background", **dict(sorted(names.items()))}


def map_generic_label(path: str | Path, label: np.ndarray, options: IngestOptions) -> np.ndarray:
    """Check and map a label of a generic layout to :func:`generic_label_names` (uint8).

    Without ``options.label_names`` a label must be binary: values in {0, 1} or in {0, 255}
    (both become {0, 1}). With names, every non-zero value must be one of the named classes.
    """
    values = set(np.unique(label).tolist())
    if options.label_names:
        bad = sorted(values - {0} - set(options.label_names))
        if bad:
            raise InputError(path, f"label values {bad} are not among the named classes {sorted(options.label_names)}")
        return label.astype(np.uint8)
    if values <= {0, 1}:
        return label.astype(np.uint8)
    if values <= {0, 255}:
        return (label == 255).astype(np.uint8)
    shown = sorted(values)[:8]
    raise InputError(
        path,
        f"label values {shown}{'...' if len(values) > 8 else ''} are not binary ({{0,1}} or {{0,255}}); "
        "name the classes with --label-names, e.g. 1=tumour,2=cyst",
    )


__all__ = [
    "LAYOUTS",
    "Layout",
    "LayoutInfo",
    "check_source",
    "generic_label_names",
    "get_layout",
    "map_generic_label",
    "select_modalities",
]
