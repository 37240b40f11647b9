"""AppTest of the Quality page: empty states, per-sample figures, evaluation tables side by side."""

from __future__ import annotations

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from synth_core.evaluation.table import save_evaluation
from tests.conftest import ROOT
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset

PAGE = str(ROOT / "pages" / "quality.py")


def test_quality_page_empty_state(workspace):
    make_tiny_dataset(workspace)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("synthesize" in i.value for i in at.info)


def _rows(set_name: str, fid: float) -> pd.DataFrame:
    base = {"set": set_name, "dataset": "tiny", "run": "r", "region": "image", "n": 10, "extractor": "own:sg",
            "metric_version": "fid/1", "created": "2026-11-23T00:00:00Z", "note": ""}
    return pd.DataFrame([{**base, "modality": m, "metric": "fid", "value": fid + k} for k, m in enumerate(("t1", "t2"))]
                        + [{**base, "modality": "t1", "metric": "kid", "value": np.nan, "note": "no segmenter run"}])


def test_quality_page_tables_side_by_side(workspace):
    make_tiny_dataset(workspace, cases=6)
    for name, fid in (("a", 10.0), ("b", 20.0)):
        p = make_fake_set(workspace, n=8, name=name, seed=len(name))
        save_evaluation(p, _rows(name, fid))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    fid = table[(table["metric"] == "fid") & (table["modality"] == "t2")]
    assert fid["a"].item() == 11.0 and fid["b"].item() == 21.0 and fid["better"].item() == "lower"
    assert any(e.label.startswith("2 metric(s) could not be computed") for e in at.expander), [e.label for e in at.expander]
    figures = at.dataframe[-1].value
    assert list(figures["set"]) == ["a", "b"] and (figures["samples"] == 8).all()
    at.multiselect(key="quality_sets").set_value(["b"]).run()
    assert not at.exception
    assert list(at.dataframe[0].value.columns[-1:]) == ["b"]
    assert any("usability" in i.value for i in at.info)


def test_quality_page_builds_the_report(workspace):
    make_tiny_dataset(workspace, cases=6)
    save_evaluation(make_fake_set(workspace, n=8, name="a"), _rows("a", 10.0))
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert any("python -m training ablation" in i.value for i in at.info)
    at.button(key="quality_report_build").click().run()
    assert not at.exception, at.exception
    html = at.session_state["quality_report_html"]
    assert html.startswith("<!DOCTYPE html>") or html.lstrip().lower().startswith("<!doctype html>")
    assert "data:image/png;base64" in html and "case0" not in html
    assert html.count("data:image/png;base64") == 1 and "No real scans are pictured" in html  # synthetic only
    at.checkbox(key="quality_report_real").check().run()
    at.button(key="quality_report_build").click().run()
    assert not at.exception, at.exception
    html = at.session_state["quality_report_html"]
    assert html.count("data:image/png;base64") == 2 and "No real scans are pictured" not in html


def _ablation(ws, name: str, seeds: tuple[int, ...], *, judged: bool = True) -> None:
    """An ablation folder with rows E and F; ``judged=False`` writes it as before judges existed
    (lesion_fidelity scored by the helpers)."""
    from synth_core.workspace import Workspace
    from synth_core.experiments.ablation import ROW_OFF, summary_frame
    from synth_core.experiments.results import ExperimentStore, write_parquet

    store = ExperimentStore(Workspace.open(ws).experiments / name)
    config = {"kind": "ablation", "dataset": "tiny", "rows": ["E", "F"], "seeds": list(seeds),
              "config": {"steps": 3, "pretrain_steps": 1, "n": 4, "seed": seeds[0]}}
    if judged:
        config["judges"] = {"segmenter": {"run_id": f"{name}-judge-segmenter", "sha256": "1" * 64},
                            "translator": {"run_id": f"{name}-judge-translator", "sha256": "2" * 64}}
    store.write_config(config)
    dice = "lesion_dice" if judged else "lesion_fidelity"
    # E: 0.2, 0.3, 0.4 (+0.01 noise on seed 2) and F: 0.5, 0.6, 0.7: E is 0.3 below F on every seed but one
    rows = [{"row": r, "switched_off": ROW_OFF[r], "seed": s, "run": f"{name}-{r}-s{s}", "set": f"{name}-{r}-s{s}",
             "n": 4, dice: base + 0.1 * k + (0.01 if (r, k) == ("E", 2) else 0.0), "registration_error": 0.01,
             **({"scored_by": "judge", "lesion_dice_helper": 0.9} if judged else {})}
            for r, base in (("E", 0.2), ("F", 0.5)) for k, s in enumerate(seeds)]
    if judged:
        store.write_summary(summary_frame(rows))
    else:
        from synth_core.experiments.ablation import SUMMARY_NAMES

        new = ("lesion_dice", "lesion_dice_helper", "registration_error_helper", "scored_by")
        old = [n for n in SUMMARY_NAMES if n not in new] + ["lesion_fidelity", "seg_dice_synthetic"]
        write_parquet(store.path / "summary.parquet", pd.DataFrame(rows).reindex(columns=old))


def _ablation_tables(at) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe if "switched_off" in d.value.columns]


def test_quality_page_ablation_mean_and_spread_over_seeds(workspace):
    make_tiny_dataset(workspace, cases=6)
    make_fake_set(workspace, n=4, name="abl-1-F")  # the page starts from the synthetic sets
    _ablation(workspace, "abl-1", (0,), judged=False)
    _ablation(workspace, "abl-3", (0, 1, 2))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["quality_ablation"] = "abl-1"
    at.run()
    assert not at.exception, at.exception
    [one] = _ablation_tables(at)
    assert one["lesion_dice_helper"].tolist() == [0.2, 0.5] and one["scored_by"].tolist() == ["helper", "helper"]
    assert one["lesion_dice"].isna().all() and one["registration_error"].isna().all()  # no judge scored them
    assert any("--seeds 3" in c.value for c in at.caption)
    assert any("scored by the training helpers" in c.value and "circular" in c.value for c in at.caption)
    assert any("No compared row has 2 or more seeds paired" in m.value for m in at.markdown)  # what one seed allows, in words
    at.selectbox(key="quality_ablation").set_value("abl-3").run()
    assert not at.exception, at.exception
    three, runs = _ablation_tables(at)[:2]  # mean ± sd, then every training
    assert three["lesion_dice"].tolist() == ["0.3033 ± 0.1050", "0.6000 ± 0.1000"]
    assert three["seeds"].tolist() == [3, 3] and three["scored_by"].tolist() == ["judge", "judge"]
    # E - F per seed: -0.3, -0.3, -0.29: far beyond its spread (marked); registration identical (not marked)
    assert three["Δ lesion_dice vs F"].tolist() == ["-0.297 ◆", ""]
    assert three["Δ registration_error vs F"].tolist() == ["+0", ""]
    cols = list(three.columns)  # each Δ right after its measure, in view without scrolling
    assert cols[cols.index("lesion_dice") + 1] == "Δ lesion_dice vs F"
    assert cols[cols.index("registration_error") + 1] == "Δ registration_error vs F"
    assert len(runs) == 6 and runs["seed"].tolist() == [0, 1, 2, 0, 1, 2]
    assert any("abl-3-judge-segmenter" in c.value for c in at.caption)
    words = " ".join(m.value for m in at.markdown if m.value.startswith("- "))  # the conclusions
    assert "3 seeds paired per test: only differences larger than the spread between seeds are evidence" in words
    assert "row E without lesion guidance (eq. 15): lesion_dice lower than the full model F by 0.297" in words
    assert "registration_error with the full model F stay within the spread" in words
    assert "circular" not in words
    paired = [d.value for d in at.dataframe if "p_ttest" in d.value.columns]
    assert len(paired) == 1 and "◆ yes" in paired[0]["exceeds_spread"].tolist()


def _usability(ws, name: str) -> None:
    from synth_core.workspace import Workspace
    from synth_core.experiments.results import ExperimentStore, write_parquet

    store = ExperimentStore(Workspace.open(ws).experiments / name)
    store.write_config({"kind": "usability", "config": {"steps": 3}})
    rows = []
    for seed, (base, syn, big) in enumerate(((0.40, 0.50, 0.10), (0.40, 0.60, 0.90), (0.50, 0.70, 0.60))):
        for k, mode, dice in ((0.0, "real-only", base), (1.0, "synthetic-first", syn), (2.0, "random", big)):
            rows.append({"config": f"{k}-{mode}", "real_fraction": 0.1, "synthetic_multiplier": k, "mode": mode,
                         "augmentation": False, "generator": "" if k == 0 else "fraction", "n_real": 4,
                         "n_synthetic": int(4 * k), "seed": seed, "steps": 3, "dice": dice, "dice_lesion": dice,
                         "mse": 0.1, "hd95": 2.0})
    write_parquet(store.results_path, __import__("pandas").DataFrame(rows))


def test_quality_page_usability_spread_paired_tests_and_conclusions(workspace):
    make_tiny_dataset(workspace, cases=6)
    make_fake_set(workspace, n=4, name="a")
    _usability(workspace, "use")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    frames = [d.value for d in at.dataframe]
    [table] = [f for f in frames if "Δ dice vs real-only" in f.columns]
    assert table["mode"].tolist() == ["real-only", "random", "synthetic-first"]
    assert table["generator"].tolist() == ["-", "this fraction only", "this fraction only"]  # words, not codes
    assert table["dice"].tolist() == ["0.433 ± 0.058", "0.533 ± 0.404", "0.600 ± 0.100"]
    # synthetic-first: +0.1, +0.2, +0.2 per seed (t = 5, p = 0.038): marked; random: -0.3, +0.5, +0.1: not
    assert table["Δ dice vs real-only"].tolist() == ["", "+0.100", "+0.167 ◆"]
    words = " ".join(m.value for m in at.markdown if m.value.startswith("- "))  # the conclusions
    assert ("10% real + synthetic x1 (synthetic-first, generator: this fraction only): dice higher than real-only "
            "at the same real fraction" in words)
    assert "p = 0.038" in words and "The other 1 comparison(s) of dice" in words and "cannot tell" in words
    assert "3 seeds paired per test" in words and "Wilcoxon" in words
    [seeds] = [f for f in frames if "config" in f.columns]
    assert len(seeds) == 9
    [paired] = [f for f in frames if "compared" in f.columns]
    assert paired.loc[paired["metric"] == "dice", "compared"].tolist() == [
        "10% real + synthetic x2 (random, generator: this fraction only)",
        "10% real + synthetic x1 (synthetic-first, generator: this fraction only)"]


def test_quality_page_shows_the_realism_table_with_controls(workspace):
    make_tiny_dataset(workspace, cases=6)
    path = make_fake_set(workspace, n=8, name="a")
    base = {"set": "a", "dataset": "tiny", "run": "r", "region": "image", "n": 8, "metric_version": "c2st/1",
            "created": "2026-11-23T00:00:00Z", "note": ""}
    rows = [{**base, "modality": m, "metric": metric, "extractor": "handmade", "value": v}
            for m in ("t1", "structure") for metric, v in (("c2st_auc", 0.97), ("c2st_auc_control", 0.52),
                                                          ("c2st_auc_sd", 0.02), ("c2st_auc_sd_control", 0.05))]
    rows += [{**base, "modality": "t1", "metric": metric, "extractor": "own:sg", "value": v}
             for metric, v in (("prd_precision", 0.4), ("prd_precision_control", 0.8), ("fid", 3.0))]
    save_evaluation(path, pd.DataFrame(rows))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    realism = [d.value for d in at.dataframe if "real vs real (control)" in d.value.columns]
    assert len(realism) == 1
    t = realism[0]
    assert list(t.measure) == ["c2st_auc", "c2st_auc", "prd_precision"]
    assert list(t.modality) == ["t1", "structure", "t1"] and list(t.view) == ["handmade", "handmade", "own:sg"]
    assert list(t["synthetic vs real"]) == [0.97, 0.97, 0.4] and list(t["real vs real (control)"]) == [0.52, 0.52, 0.8]
    assert list(t["sd"])[:2] == [0.02, 0.02] and list(t["control sd"])[:2] == [0.05, 0.05]
    assert t["sd"].isna().iloc[2]  # PRDC has no fold splits
    # 8 synthetic samples: the page says the AUC is a rough figure
    assert any("fewer than 100 synthetic samples (8)" in w.value and "Set(s) a" in w.value for w in at.warning)
    main = at.dataframe[0].value
    assert main.loc[main.metric == "c2st_auc", "better"].iloc[0] == "closer to 0.5"
    assert main.loc[main.metric == "c2st_auc_control", "better"].iloc[0] == "reference (real data)"
    from synth_core.evaluation.table import better

    assert main.loc[main.metric == "fid", "better"].iloc[0] == "lower"
    assert all(main["better"] == main["metric"].map(better))  # the library's one definition, as the report shows it


def test_quality_page_says_when_an_evaluation_predates_added_samples(workspace):
    """A set that grew after its evaluation (samples added on the Latent space page) keeps its table,
    and the page says which set must be evaluated again; a current evaluation gets no such warning."""
    make_tiny_dataset(workspace, cases=6)
    save_evaluation(make_fake_set(workspace, n=8, name="grown"), _rows("grown", 10.0).assign(set_n=6))
    save_evaluation(make_fake_set(workspace, n=8, name="current", seed=1), _rows("current", 20.0).assign(set_n=8))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert warnings == ["set 'grown': 3 of its metric rows were computed when it held 6 samples; it holds 8 now "
                        "(samples were added since): evaluate it again"]
    assert at.dataframe[0].value.columns[-2:].tolist() == ["current", "grown"]  # the values are still shown


from tests.evaluation.test_judges import judged_ws  # noqa: E402,F401  (a fixture: a set, its helpers, judges)


def test_quality_page_evaluates_with_a_judge_and_refuses_a_helper(judged_ws):
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    seg = at.selectbox(key="quality_ev_judge_seg")
    assert seg.options[0] == "none: the training helper scores (circular)"
    assert {"h-sg", "h-sg-copy", "j-sg"} <= set(seg.options) and "j-tr" in at.selectbox(key="quality_ev_judge_tr").options
    at.number_input(key="quality_ev_nfrd").set_value(0)
    seg.set_value("h-sg-copy")
    at.button[-1].click().run()  # the form's submit button
    assert not at.exception, at.exception
    assert [e.value for e in at.error] == ["judge segmenter run 'h-sg-copy' is set 'fake''s training helper (segmenter "
                                           f"run 'h-sg'; same checkpoint sha256 {_sha(judged_ws, 'h-sg-copy')[:12]}); "
                                           "choose a segmenter run trained separately"]
    at.selectbox(key="quality_ev_judge_seg").set_value("j-sg")
    at.button[-1].click().run()
    assert not at.exception, at.exception
    at.radio(key="quality_region").set_value("lesion").run()
    table = at.dataframe[0].value
    rows = table[table["metric"] == "seg_dice_synthetic"].set_index("extractor")
    assert rows.loc["segmenter:j-sg", "scored by"].tolist() == ["independent judge"] * 2
    assert rows.loc["segmenter:h-sg", "scored by"].tolist() == ["training helper (circular)"] * 2
    assert any("'training helper (circular)'" in c.value for c in at.caption)


def _sha(ws, run_id: str) -> str:
    from synth_core.runs.checkpoint import file_sha256

    return file_sha256(ws.runs / run_id / "checkpoints" / "last.pt")


def test_quality_page_grain_chart_marks_the_real_scans_value(workspace):
    """A 'closer to real' metric is drawn with its real-scan value as a marker on the same chart;
    a plain metric (FID) has no such marker. Enough samples: no rough-figure warning."""
    import json

    make_tiny_dataset(workspace, cases=6)
    path = make_fake_set(workspace, n=8, name="a")
    base = {"set": "a", "dataset": "tiny", "run": "r", "region": "image", "n": 200, "extractor": "coherence",
            "metric_version": "grain/1", "created": "2026-11-23T00:00:00Z", "note": ""}
    rows = [{**base, "modality": m, "metric": metric, "value": v}
            for m, g in (("t1", 0.5), ("t2", 0.6)) for metric, v in (("grain", g), ("grain_real", 0.31))]
    rows += [{**base, "modality": "t1", "metric": metric, "extractor": "handmade", "value": v}
             for metric, v in (("c2st_auc", 0.9), ("c2st_auc_control", 0.5))]
    save_evaluation(path, pd.DataFrame(rows))
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception, at.exception
    assert not any("rough figure" in w.value for w in at.warning)
    at.selectbox(key="quality_plot_metric").set_value("grain").run()
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    marker = [tr for tr in fig["data"] if tr.get("mode") == "markers"]
    assert len(marker) == 1 and marker[0]["y"] == [0.31, 0.31] and marker[0]["x"] == ["t1", "t2"]
    at.selectbox(key="quality_plot_metric").set_value("c2st_auc").run()
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert not [tr for tr in fig["data"] if tr.get("mode") == "markers"]
