"""The HTML report: self-contained (no scripts, no URLs, pictures embedded), every section
present, injected numbers shown with their meaning, no patient identifiers, missing parts say what
to run, and the command refuses a bad --out in one line without writing anything."""

from __future__ import annotations

import argparse
import base64
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from synth_core.cli_edge import run_at_edge
from synth_core.dataset import Dataset
from synth_core.evaluation.table import COLUMNS, METRIC_HELP, save_evaluation
from synth_core.readerstudy import create_study, open_study, record_answer
from synth_core.report import build_report, write_report
from synth_core.report.command import add_report_arguments, run_report_command
from synth_core.workspace import Workspace
from tests.synthesis.fixtures import make_fake_set, make_painted_set
from tests.training.conftest import make_tiny_dataset
from synth_core.experiments.ablation import ROW_OFF, SUMMARY_COLUMNS, summary_frame
from synth_core.experiments.results import ExperimentStore
from synth_core.runs.folder import RunDir

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = ("images", "quality", "realism", "validity", "ablation", "usability", "readers", "training", "details")
SECRET_PATH = "/home/alice.smith/scans/case3_t1.nii.gz"


def _evaluation(ws: Path) -> None:
    base = {"set": "fake", "dataset": "tiny", "run": "fake-run", "metric_version": "test",
            "created": "2026-01-01T00:00:00+00:00", "note": ""}
    rows = []
    for m, fid, dice in (("t1", 12.3456, 0.40), ("t2", 14.3456, 0.44)):
        rows += [{**base, "modality": m, "metric": "fid", "region": "image", "value": fid, "n": 12,
                  "extractor": "own:sg"},
                 {**base, "modality": m, "metric": "diversity_ms_ssim", "region": "image", "value": 0.61, "n": 30,
                  "extractor": "ms-ssim"},
                 {**base, "modality": m, "metric": "diversity_ms_ssim_real", "region": "image", "value": 0.35,
                  "n": 30, "extractor": "ms-ssim"},
                 {**base, "modality": m, "metric": "seg_dice_real", "region": "lesion", "value": 0.84, "n": 4,
                  "extractor": "segmenter:sg"},
                 {**base, "modality": m, "metric": "seg_dice_synthetic", "region": "lesion", "value": dice, "n": 9,
                  "extractor": "segmenter:sg"},
                 {**base, "modality": m, "metric": "frd", "region": "image", "value": float("nan"), "n": 0,
                  "extractor": "radiomics", "note": f"could not read {SECRET_PATH}"}]
    for m, auc, ctl in (("t1", 0.97, 0.52), ("t2", 0.99, 0.50), ("structure", 0.91, 0.55)):
        rows += [{**base, "modality": m, "metric": metric, "region": "image", "value": v, "n": 12,
                  "extractor": "handmade"} for metric, v in (("c2st_auc", auc), ("c2st_auc_control", ctl),
                                                             ("c2st_auc_sd", 0.0125), ("c2st_auc_sd_control", 0.0375))]
    rows += [{**base, "modality": "t1", "metric": metric, "region": "image", "value": v, "n": 12, "extractor": "own:sg"}
             for metric, v in (("prd_coverage", 0.123), ("prd_coverage_control", 0.876))]
    save_evaluation(ws / "synthetic" / "fake", pd.DataFrame(rows, columns=COLUMNS))


def _usability(ws: Workspace) -> None:
    store = ExperimentStore(ws.experiments / "usab")
    store.write_config({"kind": "usability", "dataset": "tiny", "set": "fake", "config": {"steps": 5},
                        "n_test_slices": 4, "grid": [], "seeds": [0, 1]})
    for k, mode, dices in ((0.0, "real-only", (0.65, 0.75)), (0.5, "random", (0.80, 0.84))):
        for seed, d in enumerate(dices):
            store.append_result({"config": f"k={k}", "real_fraction": 1.0, "synthetic_multiplier": k, "mode": mode,
                                 "augmentation": False, "n_real": 12, "n_synthetic": int(12 * k), "seed": seed,
                                 "dice": d, "dice_lesion": d, "mse": 0.01, "hd95": 3.0, "capped": False})


def _ablation(ws: Workspace) -> None:
    store = ExperimentStore(ws.experiments / "abl")
    store.write_config({"kind": "ablation", "dataset": "tiny", "rows": ["E", "F"],
                        "config": {"steps": 3, "pretrain_steps": 1, "n": 4},
                        "columns": {n: {"help": h, "better": d} for n, h, d in SUMMARY_COLUMNS}})
    rows = [{"row": r, "switched_off": ROW_OFF[r], "run": f"abl-{r}", "set": f"abl-{r}", "n": 4,
             "lesion_fidelity": lf, "registration_error": 0.01} for r, lf in (("E", 0.2111), ("F", 0.5222))]
    store.write_summary(summary_frame(rows))


def _run(ws: Workspace) -> None:
    run = RunDir.create(ws, "multimodal", "fake-run")
    run.write_config({"stage": "multimodal", "dataset": "tiny", "loss_names": ["pre_total", "g_total", "d_total"]})
    for step in range(1, 41):
        run.metrics.append({"step": step, "pre_total": 1.0 / step, **({"g_total": 2.0, "d_total": 1.0}
                                                                       if step > 20 else {})})
    run.metrics.close()
    run.write_status("finished", step=40)


def _study(ws: Path) -> None:
    create_study(ws, "s1", dataset="tiny", set_name="fake", n_real=4, n_synthetic=4, modality="t1", seed=1)
    key = dict(open_study(ws, "s1").key()[["item", "source"]].itertuples(index=False))
    for rater, right in (("alice_smith", True), ("bob-jones", False)):
        for item, source in key.items():
            answer = source if right else ("real" if source == "synthetic" else "synthetic")
            record_answer(ws, "s1", rater, item, answer, 3)


@pytest.fixture(scope="module")
def full_ws(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report") / "ws"
    make_tiny_dataset(root, cases=6)
    make_fake_set(root, n=12)
    ws = Workspace.open(root)
    _evaluation(root)
    _usability(ws)
    _ablation(ws)
    _run(ws)
    _study(root)
    return root


@pytest.fixture(scope="module")
def report(full_ws) -> str:
    return build_report(full_ws)


def test_is_self_contained_with_every_section_and_embedded_images(report):
    assert report.startswith("<!DOCTYPE html>") and report.rstrip().endswith("</html>")
    assert "http://" not in report and "https://" not in report and "<script" not in report.lower()
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", report)  # only data: pictures and in-page links
    assert "<link" not in report.lower() and "@import" not in report
    assert report.count("data:image/png;base64,") == 1  # the one set; no real scans unless asked for
    assert 'id="no-real-images"' in report and "No real scans are pictured in this report" in report
    for anchor in SECTIONS:
        assert f'<section id="{anchor}">' in report
    assert "What this is" in report and "What we found" in report


def test_real_scans_only_on_explicit_choice(full_ws, report, tmp_path, capsys):
    from synth_core.cli import main
    from synth_core.report import gather

    png, split = gather.real_sheet(Workspace.open(full_ws), "tiny", gather.SAMPLES, 0)
    real_b64 = base64.b64encode(png).decode()
    assert split == "test" and real_b64 not in report
    with_real = build_report(full_ws, real_images=True)
    assert with_real.count("data:image/png;base64,") == 2 and real_b64 in with_real
    assert 'id="no-real-images"' not in with_real and "Real scans:" in with_real
    out = tmp_path / "r.html"
    assert main(["--workspace", str(full_ws), "report", "--out", str(out)]) == 0
    assert real_b64 not in out.read_text() and "no real scans" in capsys.readouterr().out
    assert main(["--workspace", str(full_ws), "report", "--out", str(out), "--real-images"]) == 0
    assert real_b64 in out.read_text() and "with real scans" in capsys.readouterr().out


def test_a_set_painted_on_real_slices_is_pictured_only_with_real_scans(workspace):
    """pix2pix samples are real training slices with a painted lesion: patient images. The default
    report leaves them out with a visible note, and pictures them only with real_images=True."""
    from synth_core.report import gather

    make_tiny_dataset(workspace, cases=6)
    make_fake_set(workspace, n=6)
    ws = Workspace.open(workspace)
    train = [int(i) for i in Dataset(ws.existing("datasets", "tiny")).split_indices("train")[:6]]
    make_painted_set(workspace, train)
    painted_png, _ = gather.set_sheet(ws, "painted", gather.SAMPLES, 0)
    fake_png, _ = gather.set_sheet(ws, "fake", gather.SAMPLES, 0)
    painted_b64, fake_b64 = (base64.b64encode(p).decode() for p in (painted_png, fake_png))
    default = build_report(workspace)
    assert painted_b64 not in default and fake_b64 in default  # the synthetic set is still pictured
    assert default.count("data:image/png;base64,") == 1
    assert "<b>Set painted is not pictured</b>" in default and "patient images" in default
    assert 'id="no-real-images"' in default
    with_real = build_report(workspace, real_images=True)
    assert painted_b64 in with_real and fake_b64 in with_real and "Set painted is not pictured" not in with_real
    assert "<b>painted</b> of real training slices with a painted lesion" in with_real


def test_shows_the_injected_numbers_with_their_meaning(report):
    assert "13.3456" in report  # FID: mean of 12.3456 and 14.3456 over the two modalities
    assert METRIC_HELP["fid"].split(". ")[0] in report
    assert "Dice overlap of 0.42 on average, against 0.84" in report  # lesion validity sentence
    assert "less varied than the real scans" in report  # diversity 0.61 vs 0.35, honestly reported
    assert "0.700 ± 0.071" in report and "0.820 ± 0.028" in report and "+0.120" in report  # usability mean ± sd
    # results written before per-fraction generators came from one set trained on all data: oracle rows
    assert "all train (oracle)" in report and "5 steps per training" in report
    # Δ Dice paired by seed: differences 0.15 and 0.09, mean 0.12, sd 0.0424, t(0.975, 1) = 12.71
    assert "+0.120 [-0.261, +0.501]" in report and "0 of 1 mixes differ from their real-only baseline" in report
    assert "Largest gain" in report and "seed-to-seed spread" in report
    assert "0.522" in report and "0.211" in report and ROW_OFF["E"] in report  # the ablation table
    # a summary written before judges: its lesion Dice is the helper's and the finding says so
    assert "worsened lesion Dice (scored by the training helper, circular) from 0.522 to 0.211" in report
    assert "Reader 1" in report and "Reader 2" in report and "50% accuracy" in report  # the two readers together
    assert "accuracy from 0% to 100%" in report  # ... who disagree completely
    assert report.count("<svg") == 3  # three losses of the fake run
    assert "Not computed: frd" in report
    # realism: the table with controls beside, and the sentence (mean over modalities; maps on their own)
    assert "0.123" in report and "0.876" in report and "real vs real (control)" in report
    assert ("separated them from real slices of unseen patients with an AUC of 0.98 (0.5 = cannot tell, 1 = always; "
            "between two groups of real patients: 0.51)") in report
    assert "(structure maps): a classifier separated them" in report and "almost every time" in report
    # each AUC with its spread over fold splits; 12 samples: a rough figure, said once per set
    assert "0.970 ± 0.013" in report and "0.520 ± 0.037" in report and "0.123</td>" in report
    assert report.count("fewer than 100 synthetic samples (12)") == 1


def test_contains_no_patient_identifiers(full_ws, report):
    assert not re.search(r"case\d", report)
    assert "alice" not in report.lower() and "bob-jones" not in report and "/home/" not in report
    assert str(full_ws) not in report


def test_missing_parts_say_what_to_run(workspace):
    make_tiny_dataset(workspace)
    html = build_report(workspace)
    assert "Nothing has been measured yet" in html
    assert "python -m synth_core synthesize --dataset tiny" in html
    assert "python -m training ablation --dataset tiny" in html
    make_fake_set(workspace, n=4)
    html = build_report(workspace, sets=["fake"])
    assert "python -m synth_core evaluate --set fake --real tiny" in html
    assert "python -m training usability --preset usability-demo --dataset tiny --set fake" in html
    assert "reader-study create STUDY --dataset tiny --set fake" in html
    assert "Run folder(s) no longer in the workspace: fake-run" in html


def test_an_evaluation_older_than_added_samples_is_called_stale(workspace):
    make_tiny_dataset(workspace)
    path = make_fake_set(workspace, n=4)
    row = {"set": "fake", "dataset": "tiny", "run": "fake-run", "modality": "t1", "metric": "fid", "region": "image",
           "value": 3.0, "n": 3, "extractor": "own:sg", "metric_version": "test", "created": "2026-01-01T00:00:00+00:00",
           "note": ""}
    save_evaluation(path, pd.DataFrame([{**row, "set_n": 3}]))
    html = build_report(workspace, sets=["fake"])
    assert ("set &#x27;fake&#x27;: 1 of its metric rows were computed when it held 3 samples; it holds 4 now (samples "
            "were added since): evaluate it again: <code>python -m synth_core evaluate --set fake --real tiny</code>"
            in html)
    save_evaluation(path, pd.DataFrame([{**row, "set_n": 4}]))
    assert "evaluate it again" not in build_report(workspace, sets=["fake"])


@pytest.mark.parametrize("texture, grain, says", [
    (0.9, 0.55, "has the wrong kind of fine detail</span>: about as much as real scans (0.90 ×), but it runs in "
                "lines far more (grain 0.55 vs 0.32"),
    (0.3, 0.55, "is smoother than the real scans</span>: it carries 0.30 × their fine detail"),  # smooth comes first
    (0.9, 0.34, "has fine detail like real scans: 0.90 × their amount, grain 0.34 vs 0.32"),
])
def test_the_kind_of_fine_detail_gets_one_finding(workspace, texture, grain, says):
    make_tiny_dataset(workspace)
    path = make_fake_set(workspace, n=4)
    base = {"set": "fake", "dataset": "tiny", "run": "fake-run", "region": "image", "n": 4, "set_n": 4,
            "metric_version": "test", "created": "2026-01-01T00:00:00+00:00", "note": ""}
    rows = [{**base, "modality": m, "metric": metric, "value": v, "extractor": ext}
            for m in ("t1", "t2") for metric, v, ext in (("texture", texture * 0.1, "laplacian"),
                                                         ("texture_real", 0.1, "laplacian"),
                                                         ("grain", grain, "coherence"), ("grain_real", 0.32, "coherence"))]
    save_evaluation(path, pd.DataFrame(rows, columns=COLUMNS))
    html = build_report(workspace, sets=["fake"])
    assert says in html
    assert sum(k in html for k in ("wrong kind of fine detail", "smoother than the real scans", "fine detail like real")) == 1


def test_sample_sheet_leaves_out_rejected_samples_and_says_how_many(workspace):
    import numpy as np

    from synth_core.report import gather
    from synth_core.review.setreview import SetReview
    from synth_core.synthesis.setstore import SyntheticSet

    make_tiny_dataset(workspace, cases=6)
    path = make_fake_set(workspace, n=12)
    ws = Workspace.open(workspace)
    before, none_left_out = gather.set_sheet(ws, "fake", 6, 0)
    assert none_left_out == 0 and "rejected in review" not in build_report(workspace)
    # reject 6 of the 12: with 6 tiles the sheet must now show exactly the other 6
    rejected = [f"syn-{i:06d}" for i in (0, 2, 4, 6, 8, 10)]
    SetReview.open(ws, "fake").reject(rejected, reason="artefact")
    SetReview.open(ws, "fake").keep(["syn-000001"])  # a kept sample stays eligible
    png, left_out = gather.set_sheet(ws, "fake", 6, 0)
    s = SyntheticSet(path)
    rest = np.array([i for i in range(12) if f"syn-{i:06d}" not in rejected])
    assert left_out == 6 and png != before
    assert png == gather.sample_sheet(np.asarray(s.images[rest]), np.asarray(s.labels[rest]), np.asarray(s.masks[rest]))
    html = build_report(workspace)
    assert "6 samples rejected in review (the Review page) are left out." in html
    assert base64.b64encode(png).decode() in html
    # a sample rejected and then kept again is back; every sample rejected: no sheet, and the report says why
    SetReview.open(ws, "fake").keep(["syn-000000"])
    assert gather.set_sheet(ws, "fake", 6, 0)[1] == 5
    SetReview.open(ws, "fake").reject([f"syn-{i:06d}" for i in range(12)], reason="artefact")
    assert gather.set_sheet(ws, "fake", 6, 0) == (None, 12)
    html = build_report(workspace)
    assert "All 12 samples of set fake were rejected in review; none is pictured." in html
    assert "synthetic samples of fake" not in html


def _command(ws: Path, *args: str) -> int:
    p = argparse.ArgumentParser()
    add_report_arguments(p)
    parsed = p.parse_args(list(args))
    return run_at_edge(lambda: run_report_command(parsed, Workspace.open(ws)), debug=False, interrupted="",
                       catch_bugs=True)


def test_command_writes_the_file_and_refuses_bad_inputs_in_one_line(full_ws, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert _command(full_ws, "--out", str(out), "--sets", "fake", "--dataset", "tiny") == 0
    assert out.read_text().count("data:image/png;base64,") == 1
    capsys.readouterr()
    for args, message in (((("--out", str(tmp_path / "nope" / "r.html"))), "folder does not exist"),
                          (("--out", str(tmp_path)), "is a folder"),
                          (("--out", str(tmp_path / "x.html"), "--sets", "nope"), "synthetic 'nope' not found"),
                          (("--out", str(tmp_path / "x.html"), "--dataset", "nope"), "datasets 'nope' not found")):
        assert _command(full_ws, *args) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err
    assert not (tmp_path / "nope").exists() and not (tmp_path / "x.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html"]  # no temporary files left
    assert write_report(full_ws, tmp_path / "w.html", dataset="tiny").is_file()


def test_report_modules_do_not_import_streamlit():
    code = ("import sys, synth_core.report, synth_core.report.command, synth_core.report.build; "
            "assert 'streamlit' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_building_a_full_report_loads_no_torch(full_ws, tmp_path):
    """Every section (evaluations, experiments, studies, curves) comes from stored tables: no network loads."""
    out = tmp_path / "r.html"
    code = ("import sys; from synth_core.report import write_report; "
            f"write_report({str(full_ws)!r}, {str(out)!r}, dataset='tiny'); "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=120)
    report = out.read_text()
    assert "13.3456" in report and "0.522" in report  # the evaluation and the ablation tables made it in


def test_ablation_over_seeds_reports_mean_sd_and_whether_a_change_beats_the_spread(full_ws, tmp_path):
    import shutil

    root = tmp_path / "ws"
    shutil.copytree(full_ws, root)
    store = ExperimentStore(Workspace.open(root).experiments / "abl")
    store.write_config({"kind": "ablation", "dataset": "tiny", "rows": ["D", "E", "F"], "seeds": [0, 1, 2],
                        "config": {"steps": 3, "pretrain_steps": 1, "n": 4, "seed": 0},
                        "columns": {n: {"help": h, "better": d} for n, h, d in SUMMARY_COLUMNS}})
    # lesion Dice per seed: F 0.4, 0.5, 0.6; E 0.3 below F at every seed (beyond the spread, paired);
    # D +0.15, -0.15, -0.15 from F (mean -0.05, within the spread of its differences)
    step = {"D": (0.1, -0.1, 0.0), "E": (-0.1, 0.0, 0.1), "F": (-0.1, 0.0, 0.1)}
    rows = [{"row": r, "switched_off": ROW_OFF[r], "seed": s, "run": f"abl-{r}-{s}", "set": f"abl-{r}-{s}", "n": 4,
             "lesion_fidelity": base + step[r][s], "registration_error": 0.01}
            for r, base in (("D", 0.45), ("E", 0.2), ("F", 0.5)) for s in (0, 1, 2)]
    store.write_summary(summary_frame(rows))
    html = build_report(root)
    assert "0.200 ± 0.100" in html and "0.500 ± 0.100" in html and "9 trainings over 3 seeds" in html
    assert "mean ± sd over 3 trainings per row" in html
    # written before judges (lesion_fidelity): the helpers scored lesion Dice, and the findings say so
    helper = "lesion Dice (scored by the training helper, circular)"
    assert (f"Larger than the spread over seeds: switching off the lesion guidance (row E) worsened {helper} "
            "from 0.500 ± 0.100 to 0.200 ± 0.100 (paired difference -0.3, 95 % interval -0.3 to -0.3, 3 seeds)." in html)
    assert (f"Within the spread (possibly chance): switching off the registration loss (row D) worsened {helper} "
            "from 0.500 ± 0.100 to 0.450 ± 0.100" in html)
    assert "worsened lesion Dice from" not in html
    assert "did not show their value" not in html  # row E made things clearly worse
    # every paired test counted (rows D, E; every compared measure the summary holds), as the Quality page says it
    assert "comparisons were tested at the 5 % level and 1 exceed the spread" in html


def test_usability_section_names_each_rows_generator_and_the_stopping_rule(tmp_path):
    from synth_core.report.build import _stopping

    cfg = {"config": {"patience": 4, "val_every": 25, "steps": 600}, "n_val_slices": 64}
    assert _stopping(cfg) == ("each network trained until 4 checks on 64 real validation slices (every 25 steps, at "
                              "most 600 per phase) brought no improvement, and the best one was tested")
    assert _stopping({"config": {"patience": 0, "steps": 20}}) == "20 steps per training"
