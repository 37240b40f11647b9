"""The Latent page's session state (ui.latent_state) on a plain dict, without Streamlit: controls
kept and clamped, the picked latent and when the page must rerun, the latents of a tab."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ui.latent_state import DEFAULTS, keep, keep_controls, pick, picked, tab_latents


def test_keep_sets_the_default_keeps_a_value_and_clamps_it():
    state: dict = {}
    assert keep(state, "k", 3) == 3 and state == {"k": 3}
    state["k"] = 9
    assert keep(state, "k", 3) == 9  # a value set while the tab was open survives
    assert keep(state, "k", 3, 0, 4) == 4 and state["k"] == 4  # above the bound: the bound
    state["k"] = -2
    assert keep(state, "k", 3, 0, 4) == 0


def test_keep_controls_defaults_and_bounds_of_the_model_and_dataset():
    state: dict = {}
    keep_controls(state, latent_dim=1, n_rows=3)
    assert {k: state[k] for k in DEFAULTS} == DEFAULTS
    assert state["trav_dim_u"] == state["trav_dim_v"] == 0  # one latent dimension: both directions are e0
    assert state["interp_a"] == 0 and state["interp_b"] == 2  # three slices: B is the last one
    assert state["interp_pick"] == 3 and state["latent_pick_random"] == 0 and state["latent_seed"] == 0
    # a smaller model, dataset and grid than the values kept: everything clamps into range
    state.update(trav_dim_u=15, trav_dim_v=15, interp_a=40, interp_b=40, trav_steps=3, trav_pick=24,
                 latent_n=4, latent_pick_random=7, interp_steps=3, interp_pick=8)
    keep_controls(state, latent_dim=8, n_rows=10)
    assert (state["trav_dim_u"], state["trav_dim_v"], state["interp_a"], state["interp_b"]) == (7, 7, 9, 9)
    assert (state["trav_pick"], state["latent_pick_random"], state["interp_pick"]) == (8, 3, 2)
    keep_controls(state, latent_dim=8, n_rows=10)  # a second pass changes nothing
    assert state["trav_dim_v"] == 7 and state["interp_b"] == 9


def test_pick_reruns_only_when_the_shown_latent_changed():
    state: dict = {}
    a, b = np.zeros(4), np.ones(4)
    assert picked(state, "random") is None
    assert pick(state, "random", a) is False  # first pick: the view below draws it anyway
    assert picked(state, "random") is a
    assert pick(state, "random", a.copy()) is False  # same latent
    assert pick(state, "random", b) is True  # the view shows 'random' (default) and it changed
    assert pick(state, "traversal", a) is False
    assert pick(state, "traversal", b) is False  # changed, but the view shows another tab
    state["render_source"] = "traversal"
    assert pick(state, "traversal", a) is True and picked(state, "traversal") is a


class _Explorer:
    """Records what the page would ask the LatentExplorer for."""

    screening = (0.0, 1)  # the image generator does not screen
    D_s = object()

    def random_latents(self, seed, n, *, min_realness=None, tries=50):
        return ("random", seed, n, min_realness, tries)

    def traversal(self, dims, *, steps, span):
        return ("traversal", dims, steps, span)

    def interpolation(self, a, b, steps, mode):
        return ("interpolation", float(a.sum()), float(b.sum()), steps, mode)


def test_tab_latents_come_from_the_kept_controls():
    state: dict = {}
    keep_controls(state, latent_dim=4, n_rows=3)
    state.update(latent_seed=5, latent_n=12, trav_dim_u=2, trav_span=1.5, interp_a=1, interp_b=2, interp_mode="linear")
    structure = np.arange(3)[:, None, None] * np.ones((3, 2, 2))  # slice i sums to 4 i
    ex = _Explorer()
    assert tab_latents(state, "random", ex, structure) == ("random", 5, 12, 0.9, 50)  # screened by default
    state["latent_screen"] = False
    assert tab_latents(state, "random", ex, structure) == ("random", 5, 12, 0.0, 1)
    ex.screening = (0.6, 7)  # an image generator that screens: always its own bar, as synthesize
    assert tab_latents(state, "random", ex, structure) == ("random", 5, 12, 0.6, 7)
    ex.screening, ex.D_s, state["latent_screen"] = (0.0, 1), None, True
    assert tab_latents(state, "random", ex, structure) == ("random", 5, 12, 0.0, 1)  # nothing to screen with
    assert tab_latents(state, "traversal", ex, structure) == ("traversal", (2, 1), 5, 1.5)
    assert tab_latents(state, "interpolation", ex, structure) == ("interpolation", 4.0, 8.0, 7, "linear")
    with pytest.raises(ValueError, match="not 'projection'"):
        tab_latents(state, "projection", ex, structure)


def test_the_state_module_needs_no_streamlit():
    code = "import sys, ui.latent_state; assert 'streamlit' not in sys.modules and 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
