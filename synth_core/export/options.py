"""What an export is asked to do (:class:`ExportOptions`) and what it did (:class:`ExportResult`).

One frozen record feeds the library call, the CLI and (later) the export page, and it validates
itself, so every caller gets the same one-line errors for the same bad values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from synth_core.errors import ConfigError
from synth_core.workspace import validate_name

ExportFormat = Literal["nnunet", "msd", "png"]
FORMATS: tuple[str, ...] = ("nnunet", "msd", "png")
FORMAT_VERSION = 1  # of the export folder (dataset.json "medsynth" block + manifest columns)


@dataclass(frozen=True)
class ExportOptions:
    """One export: which real dataset, which synthetic set and samples, where, in what layout."""

    dataset: str  # real dataset in workspace/datasets
    out: str  # export name: workspace/exports/<out>
    set_name: str | None = None  # synthetic set in workspace/synthetic; None = real data only
    filter: str | None = None  # catalog filter (synth_core.synthesis.query); None = every sample
    fmt: ExportFormat = "nnunet"  # nnunet | msd | png (synth_core.export.formats)
    synthetic_ratio: float | None = None  # synthetic cases = round(ratio x real training cases)
    min_nn_dist: float | None = None  # memorisation screen: block samples with nn_dist below this
    seed: int = 0  # seeds the draw of synthetic samples when a ratio is given

    def __post_init__(self) -> None:
        if self.filter is not None and not self.filter.strip():
            object.__setattr__(self, "filter", None)  # an empty filter keeps every sample
        validate_name(self.dataset, "dataset name")
        validate_name(self.out, "export name")
        if self.set_name is not None:
            validate_name(self.set_name, "set name")
        if self.fmt not in FORMATS:
            raise ConfigError(f"unknown export format {self.fmt!r}; expected one of {', '.join(FORMATS)}")
        for what, v in (("synthetic ratio", self.synthetic_ratio), ("minimum nn_dist", self.min_nn_dist)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0):
                raise ConfigError(f"{what} must be a finite number >= 0, not {v!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"seed must be an integer, not {self.seed!r}")
        if self.set_name is None:
            given = [n for n, v in (("filter", self.filter), ("synthetic ratio", self.synthetic_ratio),
                                    ("minimum nn_dist", self.min_nn_dist)) if v is not None]
            if given:
                verb = "applies" if len(given) == 1 else "apply"
                raise ConfigError(f"{' and '.join(given)} {verb} only to a synthetic set, but no set was given")


@dataclass(frozen=True)
class ExportResult:
    """Counts and notes of a finished export (the same figures as dataset.json's medsynth block)."""

    path: Path
    fmt: str
    dataset: str
    set_name: str | None
    n_real_train: int  # real train + val slices, in imagesTr
    n_real_test: int  # real test slices, in imagesTs
    n_synthetic: int  # synthetic cases written (imagesTr only)
    n_blocked: int  # passed the filter, blocked by the memorisation screen
    n_filtered_out: int  # did not pass the filter
    n_not_drawn: int  # eligible but not drawn because of the synthetic ratio
    n_wanted: int | None  # synthetic cases the ratio asked for (None without a ratio)
    n_files: int  # image + label files written
    notes: tuple[str, ...] = ()  # e.g. "ratio 2 wants 24 synthetic cases but only 12 pass; exported 12"
    n_rejected: int = 0  # rejected by a person (catalog column review): never exported
    n_folds: int = 0  # folds in splits_final.json (0: fewer than 2 training subjects, no file)
    modalities: tuple[str, ...] = ()  # exported channels: the dataset's, or the set's when it holds fewer

    def counts(self) -> dict[str, int | None]:
        return {
            "real_train": self.n_real_train,
            "real_test": self.n_real_test,
            "synthetic": self.n_synthetic,
            "blocked": self.n_blocked,
            "filtered_out": self.n_filtered_out,
            "not_drawn": self.n_not_drawn,
            "rejected_in_review": self.n_rejected,
            "synthetic_wanted": self.n_wanted,
            "files": self.n_files,
        }
