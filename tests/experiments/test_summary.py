"""Summary statistics (mean ± sample sd over seeds) from injected per-seed numbers, the text table
and load_experiment."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from synth_core.errors import NotFoundError
from synth_core.workspace import Workspace
from synth_core.experiments.results import ExperimentStore, format_table, load_experiment, summarise


def _row(f, k, mode, aug, seed, dice, mse, hd95, n_real=10, n_syn=0):
    key = f"f={f:g} k={k:g} mode={mode} aug={int(aug)}"
    return {"config": key, "real_fraction": f, "synthetic_multiplier": k, "mode": mode, "augmentation": aug,
            "n_real": n_real, "n_synthetic": n_syn, "n_synthetic_wanted": n_syn, "capped": False, "seed": seed,
            "dice": dice, "dice_lesion": dice, "mse": mse, "hd95": hd95}


ROWS = [
    _row(0.5, 1.0, "random", False, 0, 0.5, 1.0, 4.0, n_syn=10),
    _row(0.5, 1.0, "random", False, 1, 0.7, 2.0, 6.0, n_syn=10),
    _row(0.5, 1.0, "random", False, 2, 0.9, 3.0, 8.0, n_syn=10),
    _row(1.0, 0.0, "real-only", True, 0, 0.6, 0.5, 1.0),
    _row(1.0, 0.0, "real-only", False, 0, 0.8, 0.25, 2.0),
    _row(1.0, 0.0, "real-only", False, 1, 0.6, 0.75, 4.0),
]


def test_mean_and_sample_sd_known_answers():
    s = summarise(pd.DataFrame(ROWS))
    assert list(zip(s["real_fraction"], s["mode"], s["augmentation"])) == [
        (1.0, "real-only", False), (1.0, "real-only", True), (0.5, "random", False)]  # table order
    rnd = s.iloc[2]
    assert rnd["n_seeds"] == 3 and rnd["n_real"] == 10 and rnd["n_synthetic"] == 10
    assert rnd["dice_mean"] == pytest.approx(0.7) and rnd["dice_sd"] == pytest.approx(0.2)
    assert rnd["mse_mean"] == pytest.approx(2.0) and rnd["mse_sd"] == pytest.approx(1.0)
    assert rnd["hd95_mean"] == pytest.approx(6.0) and rnd["hd95_sd"] == pytest.approx(2.0)
    base = s.iloc[0]
    assert base["dice_mean"] == pytest.approx(0.7) and base["dice_sd"] == pytest.approx(math.sqrt(0.02))
    assert base["mse_mean"] == pytest.approx(0.5) and base["mse_sd"] == pytest.approx(math.sqrt(0.125))
    assert math.isnan(s.iloc[1]["dice_sd"]) and s.iloc[1]["n_seeds"] == 1  # one seed: no sd


def test_table_text():
    text = format_table(summarise(pd.DataFrame(ROWS)))
    assert "0.700 ± 0.200" in text and "2.0000 ± 1.0000" in text and "6.00 ± 2.00" in text
    assert "0.600 ± -" in text and "50%" in text and "x1" in text
    assert format_table(summarise(pd.DataFrame())) == "(no finished configurations yet)"


def test_store_appends_and_load_experiment_reads(workspace):
    ws = Workspace.open(workspace)
    with pytest.raises(NotFoundError, match="experiments 'exp' not found"):
        load_experiment(ws, "exp")
    store = ExperimentStore.open(ws, "exp", must_exist=False)
    store.write_config({"kind": "usability", "config": {"steps": 3}})
    for r in ROWS:
        store.append_result(r)
    cfg, summary, per_seed = load_experiment(ws, "exp")
    assert cfg["config"]["steps"] == 3 and len(per_seed) == 6 and len(summary) == 3
    on_disk = pd.read_parquet(store.path / "summary.parquet")
    pd.testing.assert_frame_equal(on_disk.reset_index(drop=True), summary, check_dtype=False)
    assert pd.read_csv(store.path / "summary.csv").shape[0] == 3
