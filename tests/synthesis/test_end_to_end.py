"""Issue 4's whole flow from the command line: synthesize a set, evaluate it, export it filtered
beside the real data, check the export, and regenerate an exported synthetic case bit-exactly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from synth_core.cli import main
from synth_core.export.encode import read_array
from synth_core.synthesis.setstore import SyntheticSet


def _cli(ws, *args):
    return main(["--workspace", str(ws), *args])


def test_synthesize_evaluate_export_regenerate(synth_ws, capsys):
    ws = synth_ws
    assert _cli(ws, "synthesize", "--run", "mm", "--n", "10", "--batch", "4", "--name", "e2e", "--seed", "3") == 0
    assert _cli(ws, "evaluate", "--set", "e2e", "--real", "tiny", "--n-frd", "4", "--n-pairs", "6",
                "--no-progress") == 0
    ev = pd.read_parquet(ws / "synthetic" / "e2e" / "evaluation.parquet")
    assert {"fid", "kid", "frd", "diversity_ms_ssim"} <= set(ev["metric"])
    assert np.isfinite(ev.loc[ev["metric"] == "fid", "value"]).all()

    cat = SyntheticSet(ws / "synthetic" / "e2e").catalog
    cut = float(np.median(cat["nn_dist"]))
    capsys.readouterr()
    assert _cli(ws, "export", "--dataset", "tiny", "--set", "e2e", "--filter", f"nn_dist >= {cut!r}",
                "--out", "e2e-export", "--no-progress") == 0
    assert _cli(ws, "check-export", "e2e-export") == 0
    out = ws / "exports" / "e2e-export"
    manifest = pd.read_parquet(out / "manifest.parquet")
    syn = manifest[(manifest["source"] == "synthetic") & (manifest["path"] != "")]
    expected = set(cat.loc[cat["nn_dist"] >= cut, "sample_id"])
    assert set(syn["sample_id"]) == expected and not syn["split"].eq("test").any()
    assert dataset_cases(out) >= len(expected)

    # regenerate one exported synthetic case and compare with the exported file itself
    row = syn[syn["kind"] == "label"].iloc[0] if "kind" in syn else syn.iloc[0]
    capsys.readouterr()
    assert _cli(ws, "regenerate", "--set", "e2e", "--sample", row["sample_id"], "--out", str(ws / "r.npz")) == 0
    assert json.loads(capsys.readouterr().out)["identical"] is True
    image_rows = syn[(syn["sample_id"] == row["sample_id"]) & (syn["kind"] == "image")].sort_values("path")
    with np.load(ws / "r.npz") as z:
        for k, (_, r) in enumerate(image_rows.iterrows()):
            data = np.squeeze(read_array(out / r["path"])).astype(np.float32)
            assert np.array_equal(data, z["images"][k]), r["path"]


def dataset_cases(out) -> int:
    return int(json.loads((out / "dataset.json").read_text())["numTraining"])
