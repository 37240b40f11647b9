"""Export: filter a synthetic set on its catalog, preview what passes, and export it beside the
real data in a layout nnU-Net / MONAI read (with a manifest of every file)."""

import shlex

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from synth_core.errors import SynthCoreError
from synth_core.export import FORMATS, check_export, export
from synth_core.export.folds import describe as describe_folds
from synth_core.render import grid, overlay, upscale
from synth_core.synthesis.query import apply_filter
from synth_core.workspace import validate_name
from ui.state import open_synthetic_set, synthetic_sets, workspace_selector
from ui.widgets import make_window, open_dataset, show_warnings, window_control

ws = workspace_selector()
st.title("Export")
st.caption("Choose which synthetic samples to keep — every filter is a query on the set's catalog — and write "
           "them next to the real data. Synthetic samples only ever go into the training part; the real test "
           "split is exported untouched.")

sets = synthetic_sets(ws)
set_name = st.selectbox("Synthetic set", sets, key="export_set")
try:
    sset = open_synthetic_set(ws, set_name)
    cat = sset.catalog
    ds = open_dataset(ws, sset.dataset)
except SynthCoreError as err:
    st.error(str(err))
    st.stop()
st.caption(f"{len(sset)} samples of {', '.join(sset.modalities)} at {sset.size} px, made from dataset "
           f"'{sset.dataset}' with run {sset.meta.get('runs', {}).get('multimodal', {}).get('run_id', '?')}.")

# ---- filters --------------------------------------------------------------------------------------
st.subheader("Filters")
numeric = [c for c in cat.columns if pd.api.types.is_numeric_dtype(cat[c]) and not pd.api.types.is_bool_dtype(cat[c])
           and c not in ("index", "seed", "latent_index", "noise_seed", "batch_start", "batch_size", "nn_index",
                         "lesion_index")]
defaults = [c for c in numeric if c.startswith("dice_")][:1] + [c for c in ("nn_dist", "contour_outside", "realness")
                                                                   if c in numeric]
chosen = st.multiselect("Columns to filter on", numeric, defaults, key="export_filter_columns",
                        help="Hover the column names in the catalog table below for what they mean.")
help_text = sset.column_help
if "realness" not in cat.columns:
    st.caption("No `realness` column yet: evaluating the set (`python -m synth_core evaluate`, or the Quality page) "
               "adds each sample's realness, a classifier's probability that it is a real slice, to filter on.")
parts: list[str] = []
for col in chosen:
    vals = cat[col].to_numpy(dtype=float)
    finite = vals[np.isfinite(vals)]
    if not len(finite):
        st.caption(f"{col}: no values")
        continue
    lo, hi = float(finite.min()), float(finite.max())
    note = next((v for k, v in help_text.items() if col.startswith(k)), "")
    c1, c2 = st.columns([3, 2])
    if hi > lo:
        sel = c1.slider(col, lo, hi, (lo, hi), (hi - lo) / 100, key=f"export_range_{col}", help=note or None)
    else:
        sel = (lo, hi)
        c1.caption(f"{col}: every sample has {lo:g}")
    keep_nan = False
    if np.isnan(vals).any():
        keep_nan = c1.checkbox(f"keep samples where {col} is undefined ({int(np.isnan(vals).sum())}, e.g. no lesion)",
                               True, key=f"export_nan_{col}")
    cond = []
    if sel[0] > lo:
        cond.append(f"{col} >= {sel[0]:.6g}")
    if sel[1] < hi:
        cond.append(f"{col} <= {sel[1]:.6g}")
    if cond:
        expr = " and ".join(cond)
        parts.append(f"({expr} or {col} != {col})" if keep_nan else f"({expr})")
    elif not keep_nan and np.isnan(vals).any():
        parts.append(f"({col} == {col})")
    c2.plotly_chart(px.histogram(cat, x=col, nbins=30, height=180).update_layout(margin=dict(l=0, r=0, t=10, b=0)),
                    key=f"export_hist_{col}")
extra = st.text_input("Extra condition (catalog query, optional)", "", key="export_extra",
                      placeholder="e.g. has_lesion == True and lesion_area > 20")
if extra.strip():
    parts.append(f"({extra.strip()})")
expr = " and ".join(parts)
try:
    passing = apply_filter(cat, expr or None)
except SynthCoreError as err:
    st.error(str(err))
    st.stop()
rejected = cat["review"].astype(str).eq("rejected") if "review" in cat else pd.Series(False, index=cat.index)
if rejected.any():  # the export leaves them out whatever the filter says (synth_core.export.selection)
    passing = passing & ~rejected
    st.caption(f"{int(rejected.sum())} sample(s) rejected on the Review page are left out of every export "
               "(catalog column `review`; `review == 'kept'` in the extra condition takes only the kept ones).")
n_pass = int(passing.sum())
c = st.columns(3)
c[0].metric("Pass the filter", f"{n_pass} / {len(cat)}")
min_nn = c[1].number_input("Memorisation screen: block nn_dist below", 0.0, 1.0, 0.0, 0.01, key="export_min_nn",
                           help="Samples this close to a real training slice are blocked (and listed in the manifest).")
if "nn_dist" in cat and min_nn > 0:
    c[2].metric("…and are not blocked", int((passing & (cat["nn_dist"] >= min_nn)).sum()))
st.code(expr or "(no filter: every sample)", language="python")

with st.expander("Catalog (rows passing the filter)"):
    st.dataframe(cat[passing], hide_index=True, height=260, key="export_catalog")

# ---- preview ----------------------------------------------------------------------------------------
st.subheader("Preview of what passes")
rows = cat.index[passing].to_numpy()[:16]
if len(rows):
    c = st.columns([1, 3])
    k = c[0].selectbox("Modality", list(sset.modalities), key="export_preview_modality")
    with c[1]:
        wmode = window_control(ds.spec.kind, key="export_window")
    mi = sset.modalities.index(k)
    tiles = []
    for r in rows:
        img = np.asarray(sset.images[int(cat.loc[r, "index"]), mi])
        tiles.append(overlay(img, np.asarray(sset.labels[int(cat.loc[r, "index"])]),
                             window=make_window(wmode, img, key="export_window")))
    st.image(upscale(grid(tiles, columns=8, pad=2), max(1, 96 // sset.size)),
             caption=f"first {len(rows)} passing samples, {k}, lesion labels in colour")
else:
    st.warning("No sample passes this filter; loosen it to export synthetic data.")

# ---- export -----------------------------------------------------------------------------------------
st.subheader("Export")
c = st.columns(4)
fmt = c[0].radio("Layout", list(FORMATS), horizontal=False, key="export_format",
                 help="nnunet: nnU-Net v2 (imagesTr/<case>_<channel>.nii.gz); msd: Decathlon 4-D NIfTI; png: 16-bit PNG")
use_ratio = c[1].checkbox("Limit synthetic to a ratio of the real training slices", False, key="export_use_ratio")
ratio = c[1].number_input("Synthetic ratio", 0.0, 10.0, 1.0, 0.1, key="export_ratio", disabled=not use_ratio)
seed = int(c[2].number_input("Seed (which samples the ratio draws)", 0, 2**31 - 1, 0, key="export_seed"))
out = c[3].text_input("Export name", f"{sset.dataset}-{set_name}", key="export_out")
cmd = ["python", "-m", "synth_core", "export", "--dataset", sset.dataset, "--set", set_name, "--out", out,
       "--format", fmt]
if expr:
    cmd += ["--filter", expr]
if use_ratio:
    cmd += ["--synthetic-ratio", f"{ratio:g}", "--seed", str(seed)]
if min_nn > 0:
    cmd += ["--min-nn-dist", f"{min_nn:g}"]
st.caption("The same export from a terminal:")
st.code(shlex.join(cmd), language="bash")

if st.button("Export", type="primary", key="export_go", disabled=n_pass == 0):
    bar = st.progress(0.0, text="exporting…")
    try:
        validate_name(out, "export name")
        with show_warnings():
            result = export(ws, sset.dataset, set_name, out, filter=expr or None, fmt=fmt,
                            synthetic_ratio=ratio if use_ratio else None, min_nn_dist=min_nn if min_nn > 0 else None,
                            seed=seed, progress=lambda done, total: bar.progress(min(1.0, done / max(total, 1)),
                                                                                 text=f"{done} / {total} cases"))
    except SynthCoreError as err:
        bar.empty()
        st.error(str(err))
    else:
        bar.progress(1.0, text="done")
        counts = result.counts()
        st.success(f"Exported to {result.path}: {counts['real_train']} real training, {counts['real_test']} real "
                   f"test and {counts['synthetic']} synthetic cases ({counts['files']} files).")
        for note in result.notes:
            st.info(note)
        st.info(f"nnU-Net folds: {describe_folds(result.n_folds)}.")
        problems = check_export(result.path)
        if problems:
            st.error("The check found problems: " + "; ".join(problems[:5]))
        else:
            st.caption("Checked: every file listed exists, shapes and label values agree, checksums match the manifest.")
        st.download_button("Download the manifest (CSV)", (result.path / "manifest.csv").read_bytes(),
                           file_name=f"{out}-manifest.csv", mime="text/csv", key="export_manifest")

done = ws.list("exports")
if done:
    with st.expander(f"Exports in this workspace ({len(done)})"):
        st.write(", ".join(done))
