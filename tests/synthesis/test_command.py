"""synthesize / regenerate from the command line on runs trained for a few steps."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from synth_core.cli import main
from synth_core.structure import MASK_MIN_AREA
from synth_core.synthesis.setstore import SyntheticSet


def _cli(ws, *args):
    return main(["--workspace", str(ws), *args])


@pytest.fixture(scope="module")
def made(synth_ws):
    assert _cli(synth_ws, "synthesize", "--run", "mm", "--n", "7", "--batch", "3", "--name", "a", "--seed", "5") == 0
    return synth_ws


def test_set_has_provenance_and_figures(made):
    s = SyntheticSet(made / "synthetic" / "a")
    assert len(s) == 7 and s.dataset == "tiny" and s.size == 32
    runs = s.meta["runs"]
    assert set(runs) == {"multimodal", "structure", "segmenter", "translator"}
    assert all(len(r["sha256"]) == 64 for r in runs.values())
    cat = s.catalog
    for col in ("seed", "latent_index", "noise_seed", "lesion_index", "lesion_params", "dice_t1", "dice_t2",
                "reg_err_t1", "reg_err_t2", "nn_dist", "nn_index", "contour_outside", "lesion_area", "mean_t1"):
        assert col in cat.columns, col
    assert (cat["seed"] == 5).all() and cat["latent_index"].tolist() == list(range(7))
    assert (cat["nn_dist"] >= 0).all() and cat["nn_index"].isin(range(24)).all()
    assert not any("case" in str(v) for v in cat["lesion_params"])  # no case ids in the catalog
    np.testing.assert_array_equal(cat["contour_outside"].to_numpy(),
                                  (np.asarray(s.structure).astype(bool) & ~np.asarray(s.masks).astype(bool)).sum((1, 2)))


def test_regenerate_is_bit_exact_and_notices_changes(made, tmp_path, capsys):
    capsys.readouterr()
    assert _cli(made, "regenerate", "--set", "a", "--sample", "syn-000004", "--out", str(tmp_path / "x.npz")) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {"set": "a", "sample": "syn-000004", "identical": True, "max_abs_diff": 0.0,
                   "within_tolerance": False, "note": "bit-exact"}
    with np.load(tmp_path / "x.npz") as z:
        assert np.array_equal(z["images"], SyntheticSet(made / "synthetic" / "a").images[4])
    # a set whose stored pixels were altered no longer matches
    shutil.copytree(made / "synthetic" / "a", made / "synthetic" / "b")
    imgs = np.load(made / "synthetic" / "b" / "images.npy", mmap_mode="r+")
    imgs[6, 1, 3, 3] = 1.0 - imgs[6, 1, 3, 3]
    imgs.flush()
    del imgs
    capsys.readouterr()
    assert _cli(made, "regenerate", "--set", "b", "--sample", "6") == 1  # same machine: nothing but bit-exact passes
    out = json.loads(capsys.readouterr().out)
    assert not out["identical"] and not out["within_tolerance"] and "machine (and settings) that made" in out["note"]
    # a checkpoint that changed since the set was made is refused
    import torch

    used = made / "runs" / "mm" / "checkpoints" / SyntheticSet(made / "synthetic" / "a").meta["runs"]["multimodal"]["checkpoint"]
    original = used.read_bytes()
    try:
        payload = torch.load(used, weights_only=True)
        payload["meta"]["retrained"] = True  # same weights, different file: provenance no longer matches
        torch.save(payload, used)
        capsys.readouterr()
        assert _cli(made, "regenerate", "--set", "a", "--sample", "0") == 2
        assert "changed since set 'a' was made" in capsys.readouterr().err
    finally:
        used.write_bytes(original)


@pytest.mark.parametrize("args, message", [
    (["--run", "nope", "--n", "2", "--name", "x"], "nope"),
    (["--run", "sg", "--n", "2", "--name", "x"], "synthesis needs a multimodal run"),
    (["--run", "mm", "--n", "0", "--name", "x"], "--n and --batch must be >= 1"),
    (["--run", "mm", "--n", "2", "--name", "../x"], "set name"),
    (["--run", "mm", "--n", "2", "--name", "a"], "already exists"),
])
def test_bad_input_is_one_line_and_leaves_nothing(made, capsys, args, message):
    before = sorted(p.name for p in (made / "synthetic").iterdir())
    capsys.readouterr()
    assert _cli(made, "synthesize", *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1, err
    assert sorted(p.name for p in (made / "synthetic").iterdir()) == before


def test_regenerate_unknown_sample_and_set(made, capsys):
    capsys.readouterr()
    assert _cli(made, "regenerate", "--set", "a", "--sample", "syn-999999") == 2
    assert "has no sample 'syn-999999'" in capsys.readouterr().err
    assert _cli(made, "regenerate", "--set", "zzz", "--sample", "0") == 2


@pytest.mark.slow
def test_torchrun_two_processes_make_the_same_set(made):
    """Ranks split the batches; the merged set equals the one-process set sample for sample."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from tests.conftest import ROOT

    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
    env = dict(os.environ, MEDSYNTH_WORKSPACE=str(made), OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    res = subprocess.run([torchrun, "--standalone", "--nproc_per_node=2", "-m", "synth_core", "synthesize",
                          "--multimodal-run", "mm", "--samples", "7", "--batch", "3", "--name", "a-ddp", "--seed", "5"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    one, two = SyntheticSet(made / "synthetic" / "a"), SyntheticSet(made / "synthetic" / "a-ddp")
    assert two.meta["options"]["world_size"] == 2
    for name in ("images", "masks", "labels", "structure"):
        assert np.array_equal(getattr(one, name), getattr(two, name)), name
    cols = [c for c in one.catalog.columns]
    assert one.catalog[cols].equals(two.catalog[cols])
    assert not [p for p in (made / "synthetic").iterdir() if p.name.startswith(".tmp")]


def test_regenerate_on_another_machine_reports_the_difference(made, capsys, monkeypatch):
    """A set made elsewhere: last-bit differences within the tolerance pass (exit 0, not identical),
    larger ones fail (exit 1); either way the measured max_abs_diff is reported."""
    import synth_core.synthesis.pipeline as pipeline
    from synth_core.synthesis.regenerate import FLOAT_TOLERANCE

    s = SyntheticSet(made / "synthetic" / "a")
    assert s.meta["made_on"]["cpu"] and s.meta["made_on"]["torch"]
    real = pipeline.generate_batch

    def elsewhere(scale):
        def gen(*args, **kwargs):
            b = real(*args, **kwargs)
            b.images = np.clip(b.images + np.float32(scale), 0, 1)  # what another CPU's rounding could do
            return b
        return gen

    monkeypatch.setattr("synth_core.environment.cpu_model", lambda: "Another CPU 9000")
    for scale, rc, within in ((3e-7, 0, True), (10 * FLOAT_TOLERANCE, 1, False)):
        monkeypatch.setattr(pipeline, "generate_batch", elsewhere(scale))
        capsys.readouterr()
        assert _cli(made, "regenerate", "--set", "a", "--sample", "2") == rc
        out = json.loads(capsys.readouterr().out)
        assert out["identical"] is False and out["within_tolerance"] is within
        assert 0 < out["max_abs_diff"] <= scale + 1e-7
        assert "another machine (cpu" in out["note"] and "Another CPU 9000" in out["note"]


def test_zero_background_follows_the_dataset_and_sets_keep_their_own(made, tmp_path, capsys, monkeypatch):
    """``zero_background = "auto"`` is on only for a dataset whose images are 0 outside the organ;
    a set made with it has nothing outside its masks and regenerates bit-exactly, and a set made
    before (or without) it still regenerates as it was made."""
    import synth_core.synthesis.loading as loading
    from synth_core.workspace import Workspace
    from tests.training.conftest import make_tiny_dataset

    other = Workspace.open(tmp_path / "ws")
    make_tiny_dataset(other.root, name="stripped", zero_background=True)
    assert loading.zero_background(other, "auto", "stripped") is True
    assert loading.zero_background(Workspace.open(made), "auto", "tiny") is False  # noisy background
    assert loading.zero_background(other, "auto", "gone") is False  # not in the workspace: left as generated
    assert loading.zero_background(other, "on", "tiny") is True and loading.zero_background(other, "off", "stripped") is False

    monkeypatch.setattr(loading, "zero_background", lambda ws, setting, dataset: True)
    assert _cli(made, "synthesize", "--run", "mm", "--n", "5", "--batch", "3", "--name", "zb", "--seed", "5") == 0
    zb = SyntheticSet(made / "synthetic" / "zb")
    assert zb.meta["options"]["settings"]["zero_background"] is True
    assert zb.meta["options"]["settings"]["mask_min_area"] == MASK_MIN_AREA  # the run's config default
    outside = np.asarray(zb.masks) == 0
    assert outside.any() and np.all(np.asarray(zb.images).transpose(1, 0, 2, 3)[:, outside] == 0)
    a = SyntheticSet(made / "synthetic" / "a")  # same seed, made without it: equal inside the masks
    inside = ~outside
    np.testing.assert_array_equal(np.asarray(zb.images).transpose(1, 0, 2, 3)[:, inside],
                                  np.asarray(a.images[:5]).transpose(1, 0, 2, 3)[:, inside])
    shutil.copytree(made / "synthetic" / "a", made / "synthetic" / "old")  # a set from before the setting existed
    meta = json.loads((made / "synthetic" / "old" / "set.json").read_text())
    del meta["options"]["settings"]["zero_background"]
    (made / "synthetic" / "old" / "set.json").write_text(json.dumps(meta))
    for name in ("zb", "a", "old"):
        capsys.readouterr()
        assert _cli(made, "regenerate", "--set", name, "--sample", "4") == 0, name
        assert json.loads(capsys.readouterr().out)["identical"] is True, name


def test_as_set_made_restores_the_synthesis_settings_a_set_recorded():
    from synth_core.synthesis.loading import as_set_made
    from synth_core.synthesis.models import GenerationSettings, SynthesisModels

    models = SynthesisModels(G_s=torch.nn.Identity(), G_m=torch.nn.Identity(), G=torch.nn.Identity(), modalities=("t1",),
                             label_names={0: "bg"}, size=32,
                             settings=GenerationSettings(zero_background=True, mask_min_area=0.01))
    made = as_set_made(models, {"options": {"settings": {"zero_background": False, "mask_min_area": 0.002}}})
    assert made.settings.zero_background is False and made.settings.mask_min_area == 0.002
    before = as_set_made(models, {"options": {"settings": {}}})  # a set from before both settings existed
    assert before.settings.zero_background is False and before.settings.mask_min_area == 0.0
    assert before.settings.noise_low == models.settings.noise_low  # the rest as the run says
