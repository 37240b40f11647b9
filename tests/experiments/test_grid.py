"""The configuration grid, sizes, real/synthetic selection and the iteration split (no training)."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.errors import ConfigError
from tests.experiments.conftest import small
from synth_core.experiments.results import MODES, REAL_ONLY
from training.experiments.config import (
    build_grid,
    build_usability_config,
    fractions_needing_generators,
    n_real_for,
    n_synthetic_for,
    plan_phases,
)
from training.experiments.usability import select_real, select_synthetic


def test_default_grid_collapses_multiplier_zero_into_one_baseline_per_fraction():
    cfg = build_usability_config(None, {"synthetic_set": "s", "generators": "given-set"})
    grid = build_grid(cfg)
    assert len(grid) == 4 * (1 + 6 * 3)  # per fraction: one baseline + 6 multipliers x 3 modes
    assert len({c.key for c in grid}) == len(grid)
    # one set for every row: below 100 % its generator saw slices the row does not have
    assert {(c.real_fraction < 1, c.generator) for c in grid if c.synthetic_multiplier > 0} == {
        (False, "fraction"), (True, "oracle")}


def test_default_grid_has_a_no_leak_and_an_oracle_row_below_100_percent():
    grid = build_grid(build_usability_config(None, {"synthetic_set": "s"}))
    assert len(grid) == (1 + 18) + 3 * (1 + 18 * 2)
    assert len({c.key for c in grid}) == len(grid)
    for f in (0.5, 0.2, 0.1):
        mine = [c for c in grid if c.real_fraction == f and c.synthetic_multiplier > 0]
        assert sorted({c.generator for c in mine}) == ["fraction", "oracle"]
        assert sum(c.generator == "fraction" for c in mine) == sum(c.generator == "oracle" for c in mine) == 18
    assert {c.generator for c in grid if c.real_fraction == 1.0 and c.synthetic_multiplier > 0} == {"fraction"}
    assert {c.generator for c in grid if c.synthetic_multiplier == 0} == {""}
    no_oracle = build_grid(build_usability_config(None, {"synthetic_set": "s", "oracle_rows": False}))
    assert {c.generator for c in no_oracle if c.synthetic_multiplier > 0} == {"fraction"}
    assert fractions_needing_generators(build_usability_config(None, {"synthetic_set": "s"})) == [0.5, 0.2, 0.1]
    assert fractions_needing_generators(small(real_fractions=(1.0, 0.5), synthetic_multipliers=(0,))) == []
    base = [c for c in grid if c.synthetic_multiplier == 0]
    assert [c.real_fraction for c in base] == [1.0, 0.5, 0.2, 0.1]
    assert all(c.mode == REAL_ONLY and not c.augmentation for c in base)
    assert {c.mode for c in grid if c.synthetic_multiplier > 0} == set(MODES)
    assert not any(c.augmentation for c in grid)


def test_augmentation_control_adds_one_real_only_row_per_fraction():
    grid = build_grid(small(real_fractions=(1.0, 0.1), synthetic_multipliers=(0, 1), modes=("random",),
                            augmentation_control=True))
    assert [(c.real_fraction, c.synthetic_multiplier, c.mode, c.augmentation) for c in grid] == [
        (1.0, 0.0, REAL_ONLY, False), (1.0, 0.0, REAL_ONLY, True), (1.0, 1.0, "random", False),
        (0.1, 0.0, REAL_ONLY, False), (0.1, 0.0, REAL_ONLY, True), (0.1, 1.0, "random", False)]


def test_no_baseline_without_multiplier_zero_and_duplicates_dropped():
    grid = build_grid(small(real_fractions=(0.5, 0.5), synthetic_multipliers=(1, 1, 2), modes=("real-first", "real-first")))
    assert [(c.synthetic_multiplier, c.mode) for c in grid] == [(1.0, "real-first"), (2.0, "real-first")]


def test_with_early_stopping_every_phase_may_train_the_whole_budget():
    assert plan_phases("real-first", 30, 40, 20, early_stopping=True) == [("real", 30), ("synthetic", 30)]
    assert plan_phases("synthetic-first", 30, 40, 20, early_stopping=True) == [("synthetic", 30), ("real", 30)]
    assert plan_phases("random", 30, 40, 20, early_stopping=True) == [("mixed", 30)]
    assert plan_phases("real-first", 30, 40, 0, early_stopping=True) == [("real", 30)]


def test_sequential_iterations_are_proportional_to_the_amounts():
    assert plan_phases("real-first", 30, 40, 20) == [("real", 20), ("synthetic", 10)]
    assert plan_phases("synthetic-first", 30, 40, 20) == [("synthetic", 10), ("real", 20)]
    assert plan_phases("random", 30, 40, 20) == [("mixed", 30)]
    assert plan_phases("synthetic-first", 30, 40, 0) == [("real", 30)]  # k = 0: real only
    assert plan_phases("real-first", 10, 1000, 1) == [("real", 9), ("synthetic", 1)]  # at least one step each
    assert plan_phases("synthetic-first", 10, 1, 1000) == [("synthetic", 9), ("real", 1)]


def test_sizes_round_half_up():
    assert n_real_for(0.2, 672) == 134 and n_real_for(0.1, 672) == 67 and n_real_for(0.01, 10) == 1
    assert n_synthetic_for(0.5, 134) == 67 and n_synthetic_for(0.5, 5) == 3 and n_synthetic_for(0, 5) == 0
    assert n_synthetic_for(0.01, 5) == 1  # k > 0 always adds at least one sample


def test_real_subset_takes_whole_cases_exact_count_and_nests():
    cases = np.repeat(np.array(["a", "b", "c", "d", "e"]), 10)
    rows = np.arange(100, 150)
    for seed in (0, 1):
        prev = set()
        for n in (7, 13, 25, 50):
            got = select_real(cases, rows, n, seed)
            assert len(got) == n == len(set(got.tolist())) and set(got.tolist()) <= set(rows.tolist())
            per_case = [int(np.isin(rows[cases == c], got).sum()) for c in "abcde"]
            assert sum(1 for k in per_case if 0 < k < 10) <= 1  # at most one partial case
            assert prev <= set(got.tolist())  # smaller fractions are subsets of larger ones
            prev = set(got.tolist())
    assert not np.array_equal(select_real(cases, rows, 20, 0), select_real(cases, rows, 20, 1))


def test_synthetic_subset_is_seeded_and_nested():
    pool = np.array([3, 5, 8, 13, 21, 34])
    a, b = select_synthetic(pool, 2, 0), select_synthetic(pool, 5, 0)
    assert set(a) <= set(b) <= set(pool) and len(set(b)) == 5
    assert np.array_equal(a, select_synthetic(pool, 2, 0))


@pytest.mark.parametrize("values, message", [
    ({"real_fractions": "0"}, "real fraction 0 is outside (0, 1]"),
    ({"real_fractions": "1.5"}, "real fraction 1.5 is outside (0, 1]"),
    ({"synthetic_multipliers": "0,-1"}, "synthetic multiplier -1 is negative"),
    ({"modes": "random,mixed"}, "unknown mode 'mixed'"),
    ({"seeds": 0}, "seeds must be >= 1"),
    ({"steps": 1, "modes": "real-first"}, "need steps >= 2"),
    ({"bogus": 1}, "unknown setting(s) bogus"),
    ({"generators": "all"}, "generators must be one of per-fraction, given-set"),
    ({"generator_scale": 0}, "generator_scale must be > 0"),
    ({"patience": -1}, "patience and val_slices must be >= 0"),
    ({"val_every": 0}, "val_every must be >= 1"),
])
def test_bad_settings_are_refused(values, message):
    with pytest.raises(ConfigError, match=None) as err:
        build_usability_config(None, {"synthetic_set": "s", **values})
    assert message in str(err.value) and "\n" not in str(err.value)


def test_demo_preset_is_the_no_leak_headline_comparison():
    cfg = build_usability_config("usability-demo", {"synthetic_set": "s"})
    grid = build_grid(cfg)
    assert cfg.generators == "per-fraction" and cfg.early_stopping and cfg.seeds >= 3
    assert [(c.real_fraction, c.synthetic_multiplier, c.mode, c.generator) for c in grid] == [
        (1.0, 0.0, REAL_ONLY, ""), (1.0, 1.0, "synthetic-first", "fraction"),
        (0.1, 0.0, REAL_ONLY, ""), (0.1, 1.0, "synthetic-first", "fraction"), (0.1, 1.0, "synthetic-first", "oracle")]
    assert fractions_needing_generators(cfg) == [0.1]


def test_paper_preset_loads():
    cfg = build_usability_config("usability-paper", {"synthetic_set": "s"})
    assert cfg.base_channels == 64 and cfg.steps >= 10000 and cfg.lr == 1e-4
    assert cfg.generators == "per-fraction" and cfg.generator_preset == "paper" and cfg.early_stopping
    with pytest.raises(ConfigError, match="unknown usability preset"):
        build_usability_config("nope", {})
