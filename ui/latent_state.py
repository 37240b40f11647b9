"""The Latent space page's session state as plain functions on a mapping (``st.session_state`` on the
page, a dict in tests; no Streamlit here): the tabs' control values kept while a tab is hidden and
clamped to the current model and dataset, the latent chosen in each tab, and the latents of a tab
that "Add every latent of the tab" saves.

Keys: each tab's controls (:data:`DEFAULTS`, and the bounded ones in :func:`keep_controls`),
``latent_z_<source>`` (the latent picked in tab ``source``: ``random``, ``traversal`` or
``interpolation``) and ``render_source`` (the tab the whole-sample view shows).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import numpy as np

#: tab controls without bounds that depend on the model or dataset, with their first values
DEFAULTS: dict[str, Any] = {"latent_n": 8, "latent_screen": True, "trav_span": 2.0, "trav_steps": 5, "interp_steps": 7,
                            "interp_mode": "slerp", "proj_real": 64, "proj_gen": 64, "proj_method": "pca"}
SOURCES = ("random", "traversal", "interpolation")
MAX_SEED = 2**31 - 1
#: "Screen by D_s" on the Random maps tab when the image generator chosen does not screen (or none is):
#: the bar and tries of the cpu-demo preset's image generator
SCREEN_REALNESS, SCREEN_TRIES = 0.9, 50


def keep(state: MutableMapping[str, Any], key: str, default: Any, low: int | None = None,
         high: int | None = None) -> Any:
    """Keep a control's value (Streamlit forgets the state of widgets it does not draw; only the open
    tab is drawn), ``default`` when it has none, clamped to ``[low, high]`` (another model may have
    fewer latent dimensions, another dataset fewer slices). Returns the value kept."""
    v = state.get(key, default)
    if low is not None:
        v = max(low, v)
    if high is not None:
        v = min(high, v)
    state[key] = v
    return v


def keep_controls(state: MutableMapping[str, Any], *, latent_dim: int, n_rows: int) -> None:
    """Every tab's controls, kept and clamped for a model with ``latent_dim`` dimensions and a
    dataset of ``n_rows`` slices (1 when there is none)."""
    for key, default in DEFAULTS.items():
        keep(state, key, default)
    keep(state, "latent_seed", 0, 0, MAX_SEED)
    keep(state, "latent_pick_random", 0, 0, state["latent_n"] - 1)
    keep(state, "trav_dim_u", 0, 0, latent_dim - 1)
    keep(state, "trav_dim_v", min(1, latent_dim - 1), 0, latent_dim - 1)
    keep(state, "trav_pick", 0, 0, state["trav_steps"] ** 2 - 1)
    keep(state, "interp_a", 0, 0, n_rows - 1)
    keep(state, "interp_b", min(n_rows - 1, 7), 0, n_rows - 1)
    keep(state, "interp_pick", state["interp_steps"] // 2, 0, state["interp_steps"] - 1)


def pick(state: MutableMapping[str, Any], source: str, z: np.ndarray) -> bool:
    """Remember latent ``z`` chosen in tab ``source``. True when the page must rerun: the whole-sample
    view shows this tab's latent and it changed (tabs rerun alone, as fragments)."""
    key = f"latent_z_{source}"
    old = state.get(key)
    state[key] = z
    return old is not None and state.get("render_source", "random") == source and not np.array_equal(old, z)


def picked(state: MutableMapping[str, Any], source: str) -> np.ndarray | None:
    """The latent last chosen in tab ``source``, or None before that tab was opened."""
    return state.get(f"latent_z_{source}")


def tab_latents(state: MutableMapping[str, Any], source: str, explorer: Any, structure: Any) -> np.ndarray:
    """Every latent tab ``source`` shows, from its kept controls: the random seed's samples, the
    traversal grid, or the interpolation between real maps ``structure[interp_a]`` and
    ``structure[interp_b]``. ``explorer``: the page's :class:`~synth_core.synthesis.explorer.LatentExplorer`."""
    if source == "random":
        return random_latents(state, explorer)
    if source == "traversal":
        return explorer.traversal((state["trav_dim_u"], state["trav_dim_v"]), steps=state["trav_steps"],
                                  span=state["trav_span"])
    if source == "interpolation":
        a, b = np.asarray(structure[state["interp_a"]]), np.asarray(structure[state["interp_b"]])
        return explorer.interpolation(a, b, state["interp_steps"], state["interp_mode"])
    raise ValueError(f"source must be one of {', '.join(SOURCES)}, not {source!r}")


def screening(state: MutableMapping[str, Any], explorer: Any) -> tuple[float, int]:
    """``(min_realness, tries)`` of the Random maps tab: the chosen image generator's own screening
    when it screens (what ``synthesize`` does), else the tab's "screen by D_s" choice."""
    if explorer.screening[0] > 0:
        return explorer.screening
    if state.get("latent_screen", True) and explorer.D_s is not None:
        return SCREEN_REALNESS, SCREEN_TRIES
    return 0.0, 1


def random_latents(state: MutableMapping[str, Any], explorer: Any) -> np.ndarray:
    """The latents the Random maps tab shows (its seed, count and screening)."""
    bar, tries = screening(state, explorer)
    return explorer.random_latents(state["latent_seed"], state["latent_n"], min_realness=bar, tries=tries)
