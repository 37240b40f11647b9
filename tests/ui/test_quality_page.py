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


def _ablation(ws, name: str, seeds: tuple[int, ...]) -> None:
    from synth_core.workspace import Workspace
    from synth_core.experiments.ablation import ROW_OFF, summary_frame
    from synth_core.experiments.results import ExperimentStore

    store = ExperimentStore(Workspace.open(ws).experiments / name)
    store.write_config({"kind": "ablation", "dataset": "tiny", "rows": ["E", "F"], "seeds": list(seeds),
                        "config": {"steps": 3, "pretrain_steps": 1, "n": 4, "seed": seeds[0]}})
    rows = [{"row": r, "switched_off": ROW_OFF[r], "seed": s, "run": f"{name}-{r}-s{s}", "set": f"{name}-{r}-s{s}",
             "n": 4, "lesion_fidelity": base + 0.1 * k, "registration_error": 0.01}
            for r, base in (("E", 0.2), ("F", 0.5)) for k, s in enumerate(seeds)]
    store.write_summary(summary_frame(rows))


def _ablation_tables(at) -> list[pd.DataFrame]:
    return [d.value for d in at.dataframe if "switched_off" in d.value.columns]


def test_quality_page_ablation_mean_and_spread_over_seeds(workspace):
    make_tiny_dataset(workspace, cases=6)
    make_fake_set(workspace, n=4, name="abl-1-F")  # the page starts from the synthetic sets
    _ablation(workspace, "abl-1", (0,))
    _ablation(workspace, "abl-3", (0, 1, 2))
    at = AppTest.from_file(PAGE, default_timeout=60)
    at.session_state["quality_ablation"] = "abl-1"
    at.run()
    assert not at.exception, at.exception
    [one] = _ablation_tables(at)
    assert one["lesion_fidelity"].tolist() == [0.2, 0.5]  # the per-training table itself
    assert any("--seeds 3" in c.value for c in at.caption)
    at.selectbox(key="quality_ablation").set_value("abl-3").run()
    assert not at.exception, at.exception
    three, runs = _ablation_tables(at)  # mean ± sd, then every training
    # E: 0.2, 0.3, 0.4 -> mean 0.3, sd 0.1; F: 0.5, 0.6, 0.7 -> 0.6 ± 0.1
    assert three["lesion_fidelity"].tolist() == ["0.3000 ± 0.1000", "0.6000 ± 0.1000"]
    assert three["seeds"].tolist() == [3, 3]
    assert len(runs) == 6 and runs["seed"].tolist() == [0, 1, 2, 0, 1, 2]


def test_quality_page_shows_the_realism_table_with_controls(workspace):
    make_tiny_dataset(workspace, cases=6)
    path = make_fake_set(workspace, n=8, name="a")
    base = {"set": "a", "dataset": "tiny", "run": "r", "region": "image", "n": 8, "metric_version": "c2st/1",
            "created": "2026-11-23T00:00:00Z", "note": ""}
    rows = [{**base, "modality": m, "metric": metric, "extractor": "handmade", "value": v}
            for m in ("t1", "structure") for metric, v in (("c2st_auc", 0.97), ("c2st_auc_control", 0.52))]
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
