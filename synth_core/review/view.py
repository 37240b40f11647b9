"""Which samples a review gallery shows, in what order, page by page (no Streamlit: the Review page
calls these, tests call them directly)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from synth_core.synthesis.query import apply_filter

#: which samples to show, by their review
SHOW: dict[str, str] = {"all": "", "not reviewed": "", "kept": "kept", "rejected": "rejected"}
#: catalog columns that are ids or settings, not something to sort a gallery by
NOT_SORTABLE = ("index", "seed", "latent_index", "noise_seed", "batch_start", "batch_size", "nn_index", "lesion_index")


@dataclass(frozen=True)
class ViewSpec:
    """A gallery view: sort column and direction, which reviews, an optional catalog filter."""

    sort_by: str = "sample_id"
    ascending: bool = True  # lowest first: worst realism, lowest lesion Dice, smallest nn_dist
    show: str = "all"  # a key of SHOW
    filter: str = ""  # catalog query (synth_core.synthesis.query), "" = every sample


def sort_columns(catalog: pd.DataFrame) -> list[str]:
    """Columns a gallery can be sorted by: the numeric figures, then sample id and review."""
    numeric = [c for c in catalog.columns if pd.api.types.is_numeric_dtype(catalog[c])
               and not pd.api.types.is_bool_dtype(catalog[c]) and c not in NOT_SORTABLE]
    return numeric + [c for c in ("sample_id", "review") if c in catalog.columns]


def default_sort(catalog: pd.DataFrame) -> str:
    """The column that finds bad samples first: realness, else a lesion Dice, else nn_dist."""
    for c in ("realness", *[c for c in catalog.columns if c.startswith("dice_")], "nn_dist"):
        if c in catalog.columns:
            return c
    return "sample_id"


def select_view(catalog: pd.DataFrame, spec: ViewSpec) -> pd.DataFrame:
    """The catalog rows of ``spec``, sorted (undefined values last, ties by sample order). An
    invalid filter or unknown column is a :class:`~synth_core.errors.ConfigError`."""
    rows = catalog[apply_filter(catalog, spec.filter or None)]
    if spec.show == "not reviewed":
        rows = rows[rows["review"].astype(str) == ""]
    elif spec.show in ("kept", "rejected"):
        rows = rows[rows["review"].astype(str) == SHOW[spec.show]]
    if spec.sort_by not in rows.columns:
        from synth_core.errors import ConfigError

        raise ConfigError(f"cannot sort by {spec.sort_by!r}: not a catalog column")
    return rows.sort_values([spec.sort_by, "index"], ascending=[spec.ascending, True], na_position="last",
                            kind="stable")


def page_of(order: Sequence[str], sample_id: str, per_page: int) -> int:
    """The 0-based page holding ``sample_id`` in ``order`` (0 if absent)."""
    try:
        return list(order).index(sample_id) // per_page
    except ValueError:
        return 0


def step(order: Sequence[str], current: str | None, by: int) -> str | None:
    """The sample ``by`` places after ``current`` in ``order`` (clamped to the ends); the first one
    when ``current`` is not in it; ``None`` for an empty order."""
    if not order:
        return None
    order = list(order)
    if current not in order:
        return order[0]
    return order[min(max(order.index(current) + by, 0), len(order) - 1)]
