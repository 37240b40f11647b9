"""Quality: set-level metric tables (FRD, FID, KID, diversity, lesion validity, reconstructions)
per set, run and modality, side by side; the realism table (classifier two-sample test and
precision/recall/density/coverage, each beside its real-vs-real control); per-sample figures from
the catalogs; the human review (how many were kept and rejected, why, and whether the automatic
figures would have caught the rejections); the usability experiment's table when one exists; CSV
downloads; and a form to evaluate a set."""

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from synth_core.errors import SynthCoreError, warnings_to
from synth_core.evaluation.judges import scored_by  # no torch
from synth_core.experiments.results import PAIRED_COLUMNS, signed  # no torch
from synth_core.evaluation.table import (C2ST_FEW_SAMPLES, METRIC_HELP, better, few_c2st_samples,  # no torch
                                         load_evaluations, realism_table, stale_notes)
from synth_core.review import REASONS
from synth_core.review.analysis import rejection_signals, review_counts
from ui.state import open_synthetic_set, synthetic_sets, workspace_selector

def _marked(paired: pd.DataFrame, line: pd.Series, metric: str, keys: tuple[str, ...] = ()) -> str:
    """The paired difference of ``line`` on ``metric`` (``+0.0520 ◆`` when it exceeds the spread; :func:`signed`), ``""``
    when it was not tested (the reference itself, or fewer than 2 seeds)."""
    if paired.empty:
        return ""
    sel = paired["metric"] == metric
    for k in keys or [c for c in paired.columns if c in line.index and c not in ("metric", "against", *PAIRED_COLUMNS)]:
        sel &= paired[k].astype(str) == str(line[k])
    if not sel.any():
        return ""
    t = paired[sel].iloc[0]
    return signed(float(t["mean_diff"])) + (" ◆" if bool(t["exceeds_spread"]) else "")


def _paired_expander(paired: pd.DataFrame, labels, against: str, key: str) -> None:
    """Every paired test (difference, its sd and 95 % interval, t-test and Wilcoxon p, the mark)."""
    with st.expander(f"Paired tests per seed against {against} ({len(paired)})"):
        if paired.empty:
            st.caption("No row has 2 or more seeds paired with the reference yet.")
            return
        view = paired.assign(compared=list(labels))[["compared", "metric", *PAIRED_COLUMNS]]
        view["exceeds_spread"] = view["exceeds_spread"].map(lambda b: "◆ yes" if bool(b) else "")
        st.dataframe(view, hide_index=True, width="stretch", key=key,
                     column_config={c: st.column_config.NumberColumn(c, format="%.4g")
                                    for c in ("mean_diff", "sd_diff", "ci_low", "ci_high", "p_ttest", "p_wilcoxon")})


ws = workspace_selector()
st.title("Quality")
st.caption("How close the synthetic images are to real ones, how varied they are, whether their lesions are where "
           "the labels say, and whether they help a segmenter. Every number here can be recomputed with "
           "`python -m synth_core evaluate` (and `python -m training usability`).")

sets = synthetic_sets(ws, then="Then evaluate it with `python -m synth_core evaluate --set demo-set --real demo`.")


try:
    ev = load_evaluations(ws)
except SynthCoreError as err:
    st.error(str(err))
    ev = pd.DataFrame()

# ---- set-level metrics ----------------------------------------------------------------------------------
st.subheader("Set-level metrics")
if ev.empty:
    st.info("No set has been evaluated yet — use the form at the bottom of this page, or "
            "`python -m synth_core evaluate --set SET --real DATASET`.")
else:
    have = sorted(ev["set"].unique())
    chosen = st.multiselect("Sets side by side", have, have, key="quality_sets")
    regions = st.radio("Region", ["image", "lesion", "both"], horizontal=True, key="quality_region")
    view = ev[ev["set"].isin(chosen)]
    sizes = {}
    for name in chosen:
        try:
            sizes[name] = len(open_synthetic_set(ws, name))
        except SynthCoreError:
            continue  # an evaluated set deleted or broken since: its rows are shown as stored
    for note in stale_notes(view, sizes).values():  # samples added on the Latent space page since
        st.warning(note)
    if regions != "both":
        view = view[view["region"] == regions]
    view = view.assign(scored_by=view["note"].map(scored_by))  # lesion validity and registration: judge or helper
    table = view.pivot_table(index=["metric", "modality", "extractor", "scored_by"], columns="set", values="value",
                             aggfunc="first").reset_index().rename(columns={"scored_by": "scored by"})
    table.insert(1, "better", table["metric"].map(better))
    st.dataframe(table, hide_index=True, width="stretch", key="quality_table",
                 column_config={s: st.column_config.NumberColumn(s, format="%.4g") for s in chosen})
    if (table["scored by"] == "training helper (circular)").any():
        st.caption("'training helper (circular)': lesion validity or registration scored by a network the set's "
                   "generator trained against, so it partly measures the loss the generator optimised. Evaluate with "
                   "independent judge runs (below, or `--judge-segmenter RUN --judge-translator RUN`) for a fair "
                   "score.")
    skipped = view[view["value"].isna() & view["note"].astype(str).ne("")]
    if len(skipped):
        with st.expander(f"{len(skipped)} metric(s) could not be computed — why"):
            st.dataframe(skipped[["set", "metric", "modality", "note"]], hide_index=True, key="quality_skipped")
    metrics = sorted(view["metric"].dropna().unique())
    if metrics:
        m = st.selectbox("Plot a metric", metrics, index=metrics.index("fid") if "fid" in metrics else 0,
                         key="quality_plot_metric")
        sub = view[view["metric"] == m]
        fig = px.bar(sub, x="modality", y="value", color="set", barmode="group", height=320,
                     title=f"{m} ({better(m)} is better)")
        ref = view[view["metric"] == f"{m}_real"].drop_duplicates(["modality"], keep="last")
        if better(m) == "closer to real" and len(ref):  # the real slices' value, the target, on the same chart
            fig.add_scatter(x=ref["modality"].tolist(), y=ref["value"].tolist(), mode="markers",
                            name=f"{m}_real (real scans)", marker={"symbol": "line-ew-open", "size": 36, "color": "black", "line": {"width": 3}})
        st.plotly_chart(fig, key="quality_bar")
        st.caption(METRIC_HELP.get(m, ""))
    st.download_button("Download the metric table (CSV)", view.to_csv(index=False).encode(), "quality-metrics.csv",
                       "text/csv", key="quality_csv")
    with st.expander("What each metric means"):
        for name, text in METRIC_HELP.items():
            st.markdown(f"**{name}** — {text}")

# ---- realism ---------------------------------------------------------------------------------------------
st.subheader("Realism: can a classifier tell synthetic from real?")
st.caption("C2ST AUC: a classifier trained to tell real slices of held-out patients from synthetic samples, scored on "
           "images it did not train on — 0.5 = indistinguishable, 1.0 = always told apart. Precision, recall, "
           "density and coverage: how much of the synthetic data lies where real data lie, and how much of the real "
           "variety it reaches. The control column repeats each measure between two groups of real patients "
           "(training vs held-out): the value to compare with.")
realism = realism_table(ev[ev["set"].isin(chosen)] if not ev.empty else ev)
if realism.empty:
    st.info("No realism measured yet: evaluate a set (form at the bottom of this page, or `python -m synth_core "
            "evaluate --set SET --real DATASET`).")
else:
    fmt = {c: st.column_config.NumberColumn(c, format="%.3f")
           for c in ("synthetic vs real", "sd", "real vs real (control)", "control sd")}
    st.dataframe(realism, hide_index=True, width="stretch", key="quality_realism", column_config=fmt)
    few = few_c2st_samples(realism)
    if few:
        st.warning(f"Set(s) {', '.join(sorted(few))}: the C2ST AUC rests on fewer than "
                   f"{C2ST_FEW_SAMPLES} synthetic samples ({min(few.values())}), so it is a rough figure: it is "
                   "the mean over five ways of dealing the samples into folds ('sd': how much they differ), and "
                   "another draw of samples can still differ by a few hundredths. Compare models on sets of at "
                   "least 100 samples (the benchmark uses 256).")
    st.caption("Views: 'handmade' = downsampled pixels, intensity and edge-strength histograms (no network); "
               "own:/inception: = the FID feature network. Per-sample realness is a catalog column (`realness`) "
               "that the Export page filters on.")

# ---- per-sample figures ---------------------------------------------------------------------------------
st.subheader("Per-sample figures (from each set's catalog)")
st.caption("Lesion Dice of the frozen segmenters (higher is better), registration error between modalities "
           "(lower is better), distance to the nearest real training slice (memorisation: very small values are "
           "possible copies), structure-map pixels outside the organ (0 for a valid map), realness (a classifier's "
           "probability that the sample is real, from the last evaluation; about 0.5 = looks real, near 0 = clearly "
           "synthetic).")


rows, cats = [], {}
for name in sets:
    try:
        cat = open_synthetic_set(ws, name).catalog  # re-read when the review log grows
    except SynthCoreError as err:
        st.error(str(err))
        continue
    cats[name] = cat
    meta = open_synthetic_set(ws, name).meta
    judged = "judge runs" in str(meta.get("judges", ""))  # an ablation set scored by its judges
    row = {"set": name, "samples": len(cat),
           "dice/reg_err scored by": "independent judge" if judged else
           ("training helper (circular)" if (meta.get("runs") or {}).get("segmenter") else "")}
    for col in cat.columns:
        if col.startswith(("dice_", "reg_err_")) or col in ("nn_dist", "contour_outside", "lesion_area", "realness"):
            vals = cat[col].to_numpy(dtype=float)
            row[col] = float(np.nanmean(vals)) if np.isfinite(vals).any() else np.nan
    if "has_lesion" in cat:
        row["with lesion"] = f"{cat['has_lesion'].mean():.0%}"
    rows.append(row)
fig_table = pd.DataFrame(rows)
st.dataframe(fig_table, hide_index=True, width="stretch", key="quality_figures")
if cats:
    cols = sorted({c for cat in cats.values() for c in cat.columns
                   if c.startswith(("dice_", "reg_err_")) or c in ("nn_dist", "lesion_area", "realness")})
    if cols:
        col = st.selectbox("Distribution of", cols, index=cols.index("nn_dist") if "nn_dist" in cols else 0,
                           key="quality_hist_col")
        long = pd.concat([pd.DataFrame({"set": n, col: c[col]}) for n, c in cats.items() if col in c])
        st.plotly_chart(px.histogram(long, x=col, color="set", barmode="overlay", nbins=40, height=300),
                        key="quality_hist")
    st.download_button("Download the per-sample summary (CSV)", fig_table.to_csv(index=False).encode(),
                       "quality-per-sample.csv", "text/csv", key="quality_fig_csv")

# ---- human review ------------------------------------------------------------------------------------------
st.subheader("Human review: what people kept and rejected")
reviewed = {n: c for n, c in cats.items() if "review" in c and (c["review"] != "").any()}
if not reviewed:
    st.info("No sample has been reviewed yet. Keep or reject samples on the Review page (or `python -m synth_core "
            "review SET --reject ID --reason artefact`); the counts, reasons and whether the automatic figures "
            "would have caught the rejections appear here.")
else:
    rset = st.selectbox("Set", list(reviewed), key="quality_review_set")
    rcat = reviewed[rset]
    counts = review_counts(rcat)
    c = st.columns(4)
    c[0].metric("Reviewed", f"{counts.reviewed} / {counts.total}")
    c[1].metric("Kept", counts.kept)
    c[2].metric("Rejected", counts.rejected)
    c[3].metric("Not reviewed", counts.unreviewed)
    if counts.reasons:
        why = pd.DataFrame({"reason": list(counts.reasons), "rejected": list(counts.reasons.values())})
        why["meaning"] = why["reason"].map(REASONS).fillna("")
        st.dataframe(why, hide_index=True, key="quality_review_reasons")
    signals = rejection_signals(rcat)
    if signals.empty:
        st.caption("Whether the automatic figures agree with the reviewers needs both kept and rejected samples.")
    else:
        st.caption("Would a filter on an automatic figure have caught the rejected samples? AUC: how well the figure "
                   "separates rejected from kept samples (0.5 = not at all, 1.0 = perfectly); 'filter' keeps 90 % of "
                   "the kept samples, and 'caught' is the share of rejected samples it would have left out.")
        st.dataframe(signals, hide_index=True, width="stretch", key="quality_review_signals",
                     column_config={"auc": st.column_config.NumberColumn(format="%.2f"),
                                    "caught": st.column_config.NumberColumn(format="percent"),
                                    "median_kept": st.column_config.NumberColumn(format="%.4g"),
                                    "median_rejected": st.column_config.NumberColumn(format="%.4g")})
        fig_col = st.selectbox("Compare kept and rejected on", signals["figure"].tolist(), key="quality_review_figure")
        both = rcat[rcat["review"].isin(["kept", "rejected"])]
        st.plotly_chart(px.box(both, x="review", y=fig_col, color="review", points="all", height=300,
                               color_discrete_map={"kept": "#2ca02c", "rejected": "#d62728"}),
                        key="quality_review_plot")

# ---- usability -------------------------------------------------------------------------------------------
st.subheader("Usability: does synthetic data help a segmenter?")
from synth_core.experiments.results import list_experiments, load_experiment  # noqa: E402  (no torch)

exps = list_experiments(ws)
if not exps:
    st.info("No usability experiment yet. Run `python -m training usability --preset usability-demo --dataset demo "
            "--set demo-set` (thesis Table 5: a segmenter trained on mixes of real and synthetic data, tested on real "
            "data only; about 1.5 hours on a 2-core CPU, most of it training the 10 % rows' own generator).")
else:
    from synth_core.experiments.conclusions import usability_conclusions, usability_label
    from synth_core.experiments.results import GENERATOR_LABELS, mean_sd, paired_usability

    exp = st.selectbox("Experiment", exps, key="quality_experiment")
    try:
        _, summary, per_seed = load_experiment(ws, exp)
        paired = paired_usability(per_seed)
        shown = summary.drop(columns=[c for c in summary if c.endswith(("_mean", "_sd"))])
        if "generator" in shown:
            shown["generator"] = [GENERATOR_LABELS.get(str(g), str(g)) for g in shown["generator"]]
        for m, digits in (("dice", 3), ("dice_lesion", 3), ("mse", 4), ("hd95", 2)):
            shown[m] = [mean_sd(a, b, digits) for a, b in zip(summary[f"{m}_mean"].astype(float),
                                                              summary[f"{m}_sd"].astype(float))]
        shown["Δ dice vs real-only"] = [_marked(paired, line, "dice") for _, line in summary.iterrows()]
        st.caption("Mean ± standard deviation over seeds (segmenters tested on real test slices only). 'Δ dice vs "
                   "real-only': the mean paired difference per seed from real-only at the same real fraction; ◆ = "
                   "larger than the spread (its 95 % interval excludes 0).")
        st.dataframe(shown, hide_index=True, width="stretch", key="quality_usability")
        for sentence in usability_conclusions(summary, paired):
            st.markdown(f"- {sentence}")
        _paired_expander(paired, paired.apply(usability_label, axis=1) if len(paired) else [], "real-only",
                         "quality_usability_paired")
        with st.expander("Every seed (one line per configuration and seed)"):
            st.dataframe(per_seed, hide_index=True, width="stretch", key="quality_usability_seeds")
        st.download_button("Download (CSV)", summary.to_csv(index=False).encode(), f"{exp}.csv", "text/csv",
                           key="quality_usability_csv")
    except SynthCoreError as err:
        st.error(str(err))

# ---- ablation --------------------------------------------------------------------------------------------
st.subheader("Ablation: what each part of the method contributes")
abls = list_experiments(ws, kind="ablation")
if not abls:
    st.info("No ablation study yet. Run `python -m training ablation --dataset demo` (thesis Table 1: the "
            "generator trained with one part switched off per row A-E, and in full as F; about an hour per seed "
            "on the demo with a 2-core CPU, plus 20 minutes for the two judges the first time).")
else:
    from synth_core.experiments.ablation import (MEASURES, SUMMARY_COLUMNS, aggregate_ablation, load_ablation,
                                                 paired_ablation, scored_column)
    from synth_core.experiments.conclusions import ablation_conclusions
    from synth_core.experiments.results import mean_sd

    abl = st.selectbox("Ablation study", abls, key="quality_ablation")
    try:
        abl_config, table = load_ablation(ws, abl)
        agg = aggregate_ablation(table)
        paired_abl = paired_ablation(table)
        judges = abl_config.get("judges") or {}
        if judges:
            st.caption("Lesion Dice and registration error are scored by judge runs trained separately ("
                       + ", ".join(f"{k}: `{j.get('run_id')}`" for k, j in judges.items()) + "); the `_helper` "
                       "columns repeat them as scored by the training helpers the rows trained against (circular).")
        else:
            st.caption("Lesion Dice and registration error of this experiment were scored by the training helpers "
                       "(circular), so they are in the `_helper` columns and the judge columns are empty: it was made "
                       "before the ablation trained independent judges.")
        if (agg["seeds"] > 1).any():  # several trainings per row: mean ± sd, every training below
            st.caption(f"Mean ± standard deviation over the trainings of each row ({len(table)} trainings; the "
                       "'seeds' column says how many per row). A difference smaller than the spread can be chance.")
            shown = agg[["row", "switched_off", "seeds", "n", "scored_by"]].copy()
            for m in MEASURES:
                if agg[m].notna().any():
                    shown[m] = [mean_sd(a, b, 4, no_sd="")
                                for a, b in zip(agg[m].astype(float), agg[f"{m}_sd"].astype(float))]
            for m in (scored_column(agg, c) for c in ("lesion_dice", "registration_error")):  # as scored
                # beside its measure, so the evidence is in view without scrolling the wide table
                shown.insert(list(shown.columns).index(m) + 1 if m in shown else len(shown.columns), f"Δ {m} vs F",
                             [_marked(paired_abl, line, m, keys=("row",)) for _, line in agg.iterrows()])
            st.caption("'Δ … vs F': the mean paired difference per seed from the full model F; ◆ = larger than the "
                       "spread (its 95 % interval excludes 0).")
            st.dataframe(shown, hide_index=True, width="stretch", key="quality_ablation_table")
            with st.expander("Every training (one line per row and seed)"):
                st.dataframe(table, hide_index=True, width="stretch", key="quality_ablation_runs")
        else:
            st.caption("One training per row: small differences can be chance (`--seeds 3` trains each row three "
                       "times and reports mean ± sd).")
            st.dataframe(table, hide_index=True, width="stretch", key="quality_ablation_table")
        directions = {c: d for c, _, d in SUMMARY_COLUMNS}
        for sentence in ablation_conclusions(agg, paired_abl, directions,
                                             scored_by="judge" if set(agg["scored_by"]) <= {"judge"} else "helper"):
            st.markdown(f"- {sentence}")
        _paired_expander(paired_abl, [f"row {r}" for r in paired_abl["row"]], "F", "quality_ablation_paired")
        with st.expander("What the columns mean"):
            for col, text, direction in SUMMARY_COLUMNS:
                st.markdown(f"**{col}** — {text}" + (f" ({direction} is better)" if direction else ""))
        st.download_button("Download (CSV)", table.to_csv(index=False).encode(), f"{abl}.csv", "text/csv",
                           key="quality_ablation_csv")
    except SynthCoreError as err:
        st.error(str(err))

# ---- report ----------------------------------------------------------------------------------------------
st.subheader("Report for clinicians")
st.caption("One self-contained HTML file (images embedded, nothing loaded from the internet): sample images, these "
           "tables, training curves and reader-study results, in plain words first. The same as "
           "`python -m synth_core report --out report.html`. Synthetic samples only unless you tick the box below.")
real_images = st.checkbox("Include real scans (patient images)", value=False, key="quality_report_real",
                          help="Off: the report pictures synthetic samples only and says so. On: real test-split "
                               "slices too, and the samples of pix2pix sets (real training slices with a painted "
                               "lesion) (`--real-images`); share that file only where patient images may go.")
if st.button("Build the report", key="quality_report_build"):
    from synth_core.report import build_report

    try:
        with st.spinner("Building the report…"):
            st.session_state["quality_report_html"] = build_report(ws, real_images=real_images)
    except SynthCoreError as err:
        st.error(str(err))
if st.session_state.get("quality_report_html"):
    st.download_button("Download the report (HTML)", st.session_state["quality_report_html"].encode(),
                       "medsynth-report.html", "text/html", key="quality_report_download")

# ---- evaluate ---------------------------------------------------------------------------------------------
st.subheader("Evaluate a set")
if st.session_state.get("quality_msg"):
    st.success(st.session_state.pop("quality_msg"))
for remark in st.session_state.pop("quality_warnings", []):  # e.g. a run trained on this dataset built elsewhere
    st.warning(remark)
with st.form("quality_evaluate"):
    c = st.columns(4)
    ev_set = c[0].selectbox("Set", sets, key="quality_ev_set")
    datasets = ws.list("datasets")
    ev_real = c[1].selectbox("Real dataset", datasets, key="quality_ev_real")
    features = c[2].text_input("Features", "own", key="quality_ev_features",
                               help="own = the project's segmenter encoder (always offline); or the path of a local "
                                    "FID Inception-v3 weight file (pt_inception-2015-12-05).")
    n_frd = int(c[3].number_input("Slices per side for FRD (0 = skip FRD)", 0, 512, 16, key="quality_ev_nfrd",
                                  help="Radiomics take about half a second per slice and region."))
    from synth_core.runs.summary import runs_table  # no torch

    runs = runs_table(ws)
    done = runs[(runs["state"] == "finished") & (runs["dataset"] == ev_real)]
    none = "none: the training helper scores (circular)"
    j = st.columns(2)
    judge_seg = j[0].selectbox("Judge segmenter", [none, *done[done["stage"] == "segmenter"]["run"]],
                               key="quality_ev_judge_seg",
                               help="A segmenter run trained separately from the set's generator: it scores lesion "
                                    "validity beside the generator's own helper. One of the set's training helpers "
                                    "is refused.")
    judge_tr = j[1].selectbox("Judge translator", [none, *done[done["stage"] == "translator"]["run"]],
                              key="quality_ev_judge_tr",
                              help="A translator run trained separately: it scores the registration error.")
    go = st.form_submit_button("Evaluate", type="primary")
if go:
    from synth_core.evaluation.evaluate import evaluate_set  # loads torch and the networks only when asked

    bar = st.progress(0.0, text="starting…")
    try:
        with warnings_to(lambda remark: None) as remarks:  # shown after the rerun below
            out = evaluate_set(ws, ev_set, ev_real, features=features.strip() or "own", n_frd=max(n_frd, 2),
                               frd=n_frd > 0, judge_segmenter=None if judge_seg == none else judge_seg,
                               judge_translator=None if judge_tr == none else judge_tr, progress=lambda f, msg: bar.progress(min(max(f, 0.0), 1.0), text=msg))
    except SynthCoreError as err:
        bar.empty()
        st.error(str(err))
    else:
        bar.progress(1.0, text="done")
        st.session_state["quality_warnings"] = list(remarks)
        st.session_state["quality_msg"] = (f"Evaluated {ev_set} against {ev_real}: {int(out['value'].notna().sum())} "
                                           "values; the tables above include them.")
        st.rerun()
