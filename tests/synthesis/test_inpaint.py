"""pix2pix lesion inpainting as a synthetic set (synth_core.synthesis.inpaint): known answers with a
hand-made generator, the shared placement, per-sample seeding, and the command end to end with a
tiny trained pix2pix run (set, provenance, bit-exact regenerate)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from synth_core.dataset import Dataset, DatasetSpec, DatasetWriter
from synth_core.errors import ConfigError
from synth_core.lesions.augment import AugmentRanges
from synth_core.lesions.bank import LesionBank
from synth_core.structure import StructureParams
from synth_core.synthesis.inpaint import (
    InpaintModels,
    InpaintSpec,
    ModalityFill,
    choose_specs,
    fill_batch,
    inpaint_set,
    save_chosen,
    source_rows,
    spec_from_params,
)
from synth_core.synthesis.lesions import LesionSource
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace

SIZE = 32
FILL = 0.25


def make_inpaint_dataset(ws_root: Path, name: str = "paint", cases: int = 6, slices: int = 4,
                         modalities: tuple[str, ...] = ("t1", "t2"), seed: int = 0) -> Dataset:
    """32 px slices: a disc organ; odd slices have a small lesion (core 1 in edema 2) off centre,
    even slices are healthy."""
    ws = Workspace.open(ws_root)
    rng = np.random.default_rng(seed)
    spec = DatasetSpec(name=name, layout="demo", kind="mri", modalities=modalities,
                       label_names={0: "background", 1: "core", 2: "edema"}, size=SIZE,
                       structure=StructureParams(median=1))
    yy, xx = np.mgrid[:SIZE, :SIZE]
    with DatasetWriter(ws.path("datasets", name), spec) as w:
        for c in range(cases):
            imgs = np.zeros((slices, len(modalities), SIZE, SIZE), np.float32)
            masks = np.zeros((slices, SIZE, SIZE), np.uint8)
            labels = np.zeros((slices, SIZE, SIZE), np.uint8)
            for s in range(slices):
                organ = np.hypot(yy - 16, xx - 16) < 13
                masks[s] = organ
                if s % 2:
                    d = np.hypot(yy - 12 - rng.integers(-2, 3), xx - 12 - rng.integers(-2, 3))
                    labels[s][d < 3.5] = 2
                    labels[s][d < 1.8] = 1
                for k in range(len(modalities)):
                    img = organ * (0.3 + 0.2 * k) + (labels[s] > 0) * 0.3 + rng.normal(0, 0.02, (SIZE, SIZE))
                    imgs[s, k] = np.clip(img, 0, 1)
            w.add_case(f"case{c}", imgs, masks, labels, list(range(slices)), (1.0, 1.0, 1.0), f"case{c}")
    return Dataset(ws.path("datasets", name))


class Constant(nn.Module):
    """A 'generator' that paints FILL everywhere (so the fill is a known answer)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return torch.full_like(x, FILL) + self.w


def _models(ds: Dataset, channel: int = 1) -> InpaintModels:
    return InpaintModels(fills=(ModalityFill(ds.modalities[channel], channel, Constant(),
                                             {"run_id": "const", "sha256": "0"}),),
                         size=SIZE, label_names=ds.label_names)


@pytest.fixture(scope="module")
def paint_ds(tmp_path_factory) -> Dataset:
    return make_inpaint_dataset(tmp_path_factory.mktemp("paint") / "ws")


def _lesions(ds: Dataset) -> LesionSource:
    return LesionSource("augmented", LesionBank.from_dataset(ds, ("train",)), AugmentRanges(scale=(0.8, 1.2)))


def test_source_rows_pick_healthy_lesion_or_any_training_slices(paint_ds):
    train = paint_ds.split_indices("train")
    lesion = paint_ds.index["lesion_pixels"].to_numpy() > 0
    healthy, sick, both = (source_rows(paint_ds, s) for s in ("healthy", "lesion", "any"))
    assert set(healthy) | set(sick) == set(both) == set(train) and not set(healthy) & set(sick)
    assert not lesion[healthy].any() and lesion[sick].all()
    with pytest.raises(ConfigError, match="slices must be one of healthy, lesion, any, not 'sick'"):
        source_rows(paint_ds, "sick")


def test_fill_batch_known_answer_composite_and_raw(paint_ds):
    lesions = _lesions(paint_ds)
    rows = source_rows(paint_ds, "any")
    specs = choose_specs(paint_ds, rows, lesions, seed=3, indices=range(6))
    b = fill_batch(_models(paint_ds), paint_ds, lesions.bank, specs)
    assert b.images.shape == (6, 1, SIZE, SIZE) and b.images.dtype == np.float32
    for r, spec in enumerate(specs):
        new = b.new_labels[r] > 0
        real = np.asarray(paint_ds.images[spec.source_row, 1])
        own = np.asarray(paint_ds.labels[spec.source_row])
        assert new.any() and (np.asarray(paint_ds.masks[spec.source_row])[new] == 1).all()  # inside the organ
        assert not (own[new] > 0).any()  # never on the slice's own lesion
        np.testing.assert_array_equal(b.images[r, 0][new], np.float32(FILL))  # the generator's fill
        np.testing.assert_array_equal(b.images[r, 0][~new], real[~new])  # composite: the real slice exactly
        np.testing.assert_array_equal(b.whitened[r, 0][new], 1.0)
        np.testing.assert_array_equal(b.whitened[r, 0][~new], real[~new])
        np.testing.assert_array_equal(b.labels[r], np.where(new, b.new_labels[r], own))  # exact label
        np.testing.assert_array_equal(b.masks[r], paint_ds.masks[spec.source_row])
    raw = fill_batch(_models(paint_ds), paint_ds, lesions.bank, specs, composite=False)
    np.testing.assert_array_equal(raw.images, np.float32(FILL))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), i=st.integers(0, 40), extra=st.integers(1, 5))
def test_a_sample_depends_only_on_seed_and_index(paint_ds, seed, i, extra):
    lesions = _lesions(paint_ds)
    rows = source_rows(paint_ds, "healthy")
    alone = choose_specs(paint_ds, rows, lesions, seed, [i])
    among = choose_specs(paint_ds, rows, lesions, seed, list(range(i, i + extra)))
    assert alone[0] == among[0] and alone[0].source_row in rows


def test_inpaint_set_writes_an_ordinary_set(paint_ds, tmp_path):
    lesions = _lesions(paint_ds)
    dest = inpaint_set(_models(paint_ds), paint_ds, lesions, tmp_path / "set", n=5, seed=1, batch_size=2,
                       slices="healthy")
    s = SyntheticSet(dest)
    assert len(s) == 5 and s.modalities == ("t2",) and s.images.shape == (5, 1, SIZE, SIZE)
    assert s.meta["generator"] == "pix2pix" and s.meta["options"]["slices"] == "healthy"
    cat = s.catalog
    assert list(cat["batch_start"]) == [0, 0, 2, 2, 4] and (cat["seed"] == 1).all()
    assert cat["has_lesion"].all() and not cat["source_lesion"].any()
    assert (cat["fill_mean_t2"] == FILL).all() and cat["new_lesion_area"].eq(cat["lesion_area"]).all()
    # the nearest real training slice in the set's one modality is the source slice itself
    assert (cat["nn_index"] == cat["source_row"]).all()
    prov = s.provenance(0)
    assert {"source_row", "lesion_index", "lesion_params", "generator"} <= set(prov)
    assert (dest / "bank").is_dir()
    text = json.dumps(s.meta) + cat.to_json()
    assert "case0" not in text  # no case id of the dataset enters the set


def test_save_chosen_keeps_the_hand_made_specs_in_order(paint_ds, tmp_path):
    lesions = _lesions(paint_ds)
    row = int(source_rows(paint_ds, "healthy")[0])
    params = {"scale": 1.0, "rotation_deg": 0.0, "flip_lr": False, "flip_ud": False, "translate": [0, 0],
              "center": [16.0, 18.0]}
    spec = spec_from_params(row, 0, params)
    dest = save_chosen(_models(paint_ds), paint_ds, lesions, [spec, spec], tmp_path / "kept", batch_size=4)
    s = SyntheticSet(dest)
    assert len(s) == 2 and (s.catalog["seed"] == -1).all() and (s.catalog["source_row"] == row).all()
    np.testing.assert_array_equal(s.images[0], s.images[1])
    with pytest.raises(ConfigError, match="keep at least one sample"):
        save_chosen(_models(paint_ds), paint_ds, lesions, [], tmp_path / "none")
    with pytest.raises(ConfigError, match="needs a source slice and one lesion"):
        InpaintSpec(row, -1, "")


def test_placement_that_never_fits_names_the_sample(paint_ds):
    huge = LesionSource("augmented", LesionBank.from_dataset(paint_ds, ("train",)), AugmentRanges(scale=(9.0, 9.0)),
                        tries=2)
    with pytest.raises(ConfigError, match=r"sample 0: no lesion fitted inside the organ of 3 source slices"):
        choose_specs(paint_ds, source_rows(paint_ds, "any"), huge, 0, [0], source_tries=3)


# ---- end to end: a tiny trained pix2pix run, the command, regenerate ---------------------------
TINY = ["--no-progress", "--set", "threads=1", "--set", "sample_every=0", "--set", "base_channels=4",
        "--set", "d_channels=4", "--set", "batch_size=2"]


@pytest.fixture(scope="module")
def p2p_ws(tmp_path_factory) -> Path:
    from training.cli import main as training_main

    root = tmp_path_factory.mktemp("p2p") / "ws"
    make_inpaint_dataset(root)
    common = ["--dataset", "paint", "--steps", "2"]
    # p2p-t1 first, so that p2p (t2) is the newest pix2pix run the other tests default to
    assert training_main(["--workspace", str(root), "pix2pix", *common, "--run-name", "p2p-t1", *TINY,
                          "--set", "modality=t1", "--set", "seed=7"]) == 0
    assert training_main(["--workspace", str(root), "pix2pix", *common, "--run-name", "p2p", *TINY, "--set", "modality=t2"]) == 0
    assert training_main(["--workspace", str(root), "segmenter", *common, "--run-name", "seg", "--no-progress", "--set", "threads=1",
                          "--set", "sample_every=0", "--set", "base_channels=4", "--set", "depth=2"]) == 0
    return root


def _synth(ws: Path, *args: str) -> int:
    from synth_core.cli import main

    return main(["--workspace", str(ws), "synthesize", "--generator", "pix2pix", "--dataset", "paint", *args])


def test_synthesize_pix2pix_then_regenerate_bit_exact(p2p_ws, capsys):
    from synth_core.synthesis.regenerate import regenerate

    assert _synth(p2p_ws, "--n", "5", "--batch", "2", "--name", "painted", "--seed", "4") == 0
    out = capsys.readouterr().out
    assert "wrote 5 samples" in out and "filled: t2 by run 'p2p' (best.pt)" in out
    assert "left out (no pix2pix run): t1; the set holds t2 only" in out
    ws = Workspace.open(p2p_ws)
    s = SyntheticSet(ws.existing("synthetic", "painted"))
    assert s.modalities == ("t2",) and s.meta["dataset_modalities"] == ["t1", "t2"]
    runs = s.meta["runs"]
    assert runs["pix2pix"]["run_id"] == "p2p" and len(runs["pix2pix"]["sha256"]) == 64
    assert runs["segmenter"]["run_id"] == "seg" and "dice_t2" in s.catalog
    assert s.meta["options"]["composite"] is True and s.meta["dataset_content"]["match"] == "identical"
    for i in range(5):
        res = regenerate(ws, "painted", i)
        assert res.identical and res.note == "bit-exact", res.note
    # the same seed gives the same set
    assert _synth(p2p_ws, "--n", "5", "--batch", "2", "--name", "again", "--seed", "4", "--no-figures") == 0
    again = SyntheticSet(ws.existing("synthetic", "again"))
    np.testing.assert_array_equal(again.images, s.images)
    np.testing.assert_array_equal(again.labels, s.labels)


def _record_sha256(ws: Workspace, set_name: str, key: str, sha256: str) -> None:
    """Make set.json record another checkpoint sha256 for run entry ``key`` (as if the run changed)."""
    meta_path = ws.existing("synthetic", set_name) / "set.json"
    meta = json.loads(meta_path.read_text())
    meta["runs"][key]["sha256"] = sha256
    meta_path.write_text(json.dumps(meta))


def test_regenerate_refuses_a_changed_checkpoint(p2p_ws, tmp_path):
    import shutil

    from synth_core.synthesis.regenerate import regenerate

    assert _synth(p2p_ws, "--n", "2", "--name", "tamper", "--no-figures") == 0
    ws = Workspace.open(p2p_ws)
    _record_sha256(ws, "tamper", "pix2pix", "f" * 64)
    with pytest.raises(ConfigError, match=r"pix2pix run 'p2p': checkpoint best.pt changed since set 'tamper'"):
        regenerate(ws, "tamper", 0)
    shutil.rmtree(ws.existing("synthetic", "tamper"))


@pytest.mark.parametrize("args, message", [
    (["--lesions", "none"], "error: --generator pix2pix paints lesions into real slices; --lesions none makes "
                            "nothing to fill"),
    (["--run", "seg"], "error: run 'seg' is a 'segmenter' run, expected a 'pix2pix' run"),
    (["--min-lesion-area", "1000"], "error: dataset 'paint' has no lesion of at least 1000 px in its training split; "
                                    "lower --min-lesion-area"),
])
def test_bad_pix2pix_synthesis_options_fail_in_one_line(p2p_ws, capsys, args, message):
    assert _synth(p2p_ws, "--n", "2", "--name", "bad", *args) == 2
    assert capsys.readouterr().err.strip() == message
    assert not (p2p_ws / "synthetic" / "bad").exists()


def test_evaluate_a_pix2pix_set_against_its_modality_with_the_paper_convention(p2p_ws):
    from synth_core.evaluation.evaluate import evaluate_set

    assert _synth(p2p_ws, "--n", "6", "--name", "to-score", "--no-figures") == 0
    ev = evaluate_set(p2p_ws, "to-score", "paint", split="test", frd=False, n_pairs=8, n_max=40)
    assert set(ev["modality"]) <= {"t2", "structure"} and (ev["run"] == "p2p").all()
    v = ev.set_index(["metric", "region"])["value"]
    assert np.isfinite(v[("fill_psnr", "image")]) and np.isfinite(v[("seg_dice_synthetic", "lesion")])
    assert v[("fill_psnr_paper", "image")] == pytest.approx(v[("fill_psnr", "image")] + 20 * np.log10(255), abs=1e-3)
    assert v[("fill_ssim_paper", "image")] >= v[("fill_ssim", "image")]
    assert np.isfinite(v[("c2st_auc", "image")].to_numpy(float)).any()  # realism of the set in its one modality


# ---- several pix2pix runs, one per modality; export of full and partial sets -------------------
def test_one_set_from_one_pix2pix_run_per_modality(p2p_ws, capsys):
    from synth_core.synthesis.regenerate import regenerate

    assert _synth(p2p_ws, "--run", "p2p", "--run", "p2p-t1", "--n", "4", "--batch", "3", "--name", "both",
                  "--seed", "2") == 0
    out = capsys.readouterr().out
    assert "filled: t1 by run 'p2p-t1' (best.pt), t2 by run 'p2p' (best.pt)" in out and "left out" not in out
    ws = Workspace.open(p2p_ws)
    s = SyntheticSet(ws.existing("synthetic", "both"))
    ds = Dataset(ws.existing("datasets", "paint"))
    assert s.modalities == ("t1", "t2") and s.meta["left_out_modalities"] == []
    runs = s.meta["runs"]
    assert runs["pix2pix:t1"]["run_id"] == "p2p-t1" and runs["pix2pix:t2"]["run_id"] == "p2p"
    assert runs["pix2pix:t1"]["modality"] == "t1" and "pix2pix" not in runs
    assert runs["pix2pix:t1"]["sha256"] != runs["pix2pix:t2"]["sha256"]
    assert all(len(runs[k]["sha256"]) == 64 for k in ("pix2pix:t1", "pix2pix:t2"))
    cat = s.catalog
    assert {"fill_mean_t1", "fill_mean_t2", "dice_t1", "dice_t2"} <= set(cat.columns)
    for i, row in enumerate(cat.itertuples()):
        real = np.asarray(ds.images[row.source_row])
        new = (np.asarray(s.labels[i]) != np.asarray(ds.labels[row.source_row]))
        assert new.any()
        for k in range(2):  # each modality: real outside the one placed lesion, filled inside it
            np.testing.assert_array_equal(s.images[i, k][~new], real[k][~new])
        assert not np.array_equal(s.images[i, 0][new], real[0][new])
    # the same specs as a one-run set with that seed: the same lesion, placed on the same slice
    assert _synth(p2p_ws, "--run", "p2p", "--n", "4", "--batch", "3", "--name", "t2-only", "--seed", "2",
                  "--no-figures") == 0
    single = SyntheticSet(ws.existing("synthetic", "t2-only"))
    np.testing.assert_array_equal(single.labels, s.labels)
    np.testing.assert_array_equal(single.images[:, 0], s.images[:, 1])
    for i in range(4):
        res = regenerate(ws, "both", i)
        assert res.identical and res.note == "bit-exact", res.note


def test_two_runs_of_one_modality_and_two_multimodal_runs_are_refused(p2p_ws, capsys):
    assert _synth(p2p_ws, "--run", "p2p", "--run", "p2p", "--n", "2", "--name", "twice") == 2
    assert capsys.readouterr().err.strip() == ("error: pix2pix runs 'p2p' and 'p2p' both fill modality 't2'; "
                                               "give one run per modality")
    from synth_core.cli import main

    assert main(["--workspace", str(p2p_ws), "synthesize", "--run", "a", "--run", "b", "--n", "2",
                 "--name", "mm-twice"]) == 2
    assert capsys.readouterr().err.strip() == ("error: --generator multimodal takes one --run, not 2 (several "
                                               "runs, one per modality, are for --generator pix2pix)")
    assert not (p2p_ws / "synthetic" / "twice").exists() and not (p2p_ws / "synthetic" / "mm-twice").exists()


def test_regenerate_refuses_when_one_of_several_runs_changed(p2p_ws):
    from synth_core.synthesis.regenerate import regenerate

    assert _synth(p2p_ws, "--run", "p2p", "--run", "p2p-t1", "--n", "2", "--name", "tamper2", "--no-figures") == 0
    ws = Workspace.open(p2p_ws)
    _record_sha256(ws, "tamper2", "pix2pix:t1", "e" * 64)
    with pytest.raises(ConfigError, match=r"pix2pix run 'p2p-t1': checkpoint best.pt changed since set 'tamper2'"):
        regenerate(ws, "tamper2", 1)


def _export(ws_root: Path, set_name: str, out: str, capsys) -> tuple[int, str]:
    from synth_core.cli import main

    code = main(["--workspace", str(ws_root), "export", "--dataset", "paint", "--set", set_name, "--out", out])
    return code, capsys.readouterr().out


def test_a_one_modality_set_exports_as_a_one_modality_dataset(p2p_ws, capsys):
    from synth_core.export.check import check_export

    assert _synth(p2p_ws, "--run", "p2p", "--n", "3", "--name", "exp-t2", "--no-figures") == 0
    capsys.readouterr()
    code, out = _export(p2p_ws, "exp-t2", "exp-t2-nn", capsys)
    assert code == 0, out
    assert ("set 'exp-t2' holds t2 only (no generator filled t1), so the export holds those modalities of the real "
            "slices too, not t1") in out
    root = p2p_ws / "exports" / "exp-t2-nn"
    info = json.loads((root / "dataset.json").read_text())
    assert info["channel_names"] == {"0": "t2"} and info["medsynth"]["modalities"] == ["t2"]
    assert info["medsynth"]["dataset"]["modalities"] == ["t1", "t2"]
    assert not list((root / "imagesTr").glob("*_0001.nii.gz"))  # one channel per case
    assert check_export(root) == []
    # the real slices carry the dataset's t2 channel, the synthetic ones the set's image
    import nibabel as nib

    ds = Dataset(p2p_ws / "datasets" / "paint")
    m = pd.read_parquet(root / "manifest.parquet")
    real = m[(m["source"] == "real") & (m["kind"] == "image")].iloc[0]
    vol = np.asarray(nib.load(root / real["path"]).dataobj)
    row = int(np.flatnonzero(ds.index["split"].isin(["train", "val"]).to_numpy())[0])
    np.testing.assert_array_equal(vol[:, :, 0], np.asarray(ds.images[row, 1]))


def test_a_set_with_every_modality_filled_exports_like_any_set(p2p_ws, capsys):
    from synth_core.export.check import check_export

    assert _synth(p2p_ws, "--run", "p2p-t1", "--run", "p2p", "--n", "3", "--name", "exp-all", "--no-figures") == 0
    capsys.readouterr()
    code, out = _export(p2p_ws, "exp-all", "exp-all-nn", capsys)
    assert code == 0 and "holds" not in out, out
    root = p2p_ws / "exports" / "exp-all-nn"
    info = json.loads((root / "dataset.json").read_text())
    assert info["channel_names"] == {"0": "t1", "1": "t2"} and info["numTraining"] > 3
    assert len(list((root / "imagesTr").glob("*_0001.nii.gz"))) == info["numTraining"] and check_export(root) == []
    runs = info["medsynth"]["set"]["runs"]
    assert runs["pix2pix:t1"]["sha256"] and runs["pix2pix:t2"]["sha256"]  # provenance of both runs


def test_evaluate_a_set_of_several_runs_scores_each_runs_fill(p2p_ws):
    from synth_core.evaluation.evaluate import evaluate_set

    assert _synth(p2p_ws, "--run", "p2p-t1", "--run", "p2p", "--n", "4", "--name", "to-score-2", "--no-figures") == 0
    ev = evaluate_set(p2p_ws, "to-score-2", "paint", split="test", frd=False, realism=False, n_pairs=4, n_max=20)
    fill = ev[ev["metric"] == "fill_psnr"]
    assert set(zip(fill["modality"], fill["extractor"])) == {("t1", "pix2pix:p2p-t1"), ("t2", "pix2pix:p2p")}
    assert np.isfinite(fill["value"].to_numpy(float)).all() and (ev["run"] == "p2p-t1+p2p").all()
