"""Lesion augmentation: browse the lesion bank, set augmentation ranges, preview candidates with
accept/reject verdicts on real organ masks, and save an augmented label set for synthesis."""

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

from synth_core.errors import SynthCoreError
from synth_core.lesions import AugmentRanges, LesionBank
from synth_core.lesions.labelset import make_label_set, preview_candidates, target_rows
from synth_core.render import LABEL_COLOURS, overlay, upscale
from synth_core.workspace import validate_name
from ui.state import workspace_selector
from ui.widgets import dataset_picker

ws = workspace_selector()
st.title("Lesion augmentation")
st.caption("New lesion labels from real ones: scale, rotate, flip and move lesions from the bank; a candidate is "
           "kept only if it lies inside the organ mask (METHOD.md §8). Every kept label records the parameters "
           "that rebuild it exactly.")

ds = dataset_picker(ws)
if ds is None:
    st.stop()
if not ds.has_lesions:
    st.info(f"Dataset '{ds.name}' has no lesion labels, so there is no lesion bank to augment. "
            "Choose a dataset with labels (e.g. the demo).")
    st.stop()


@st.cache_resource(show_spinner="Building the lesion bank…", max_entries=4)
def get_bank(path: str, fingerprint: str, min_area: int) -> LesionBank:
    from synth_core.dataset import Dataset

    return LesionBank.from_dataset(Dataset(path), splits=("train",), min_area=min_area)


min_area = st.number_input("Smallest lesion kept in the bank (pixels)", 1, 1000, 10, key="bank_min_area",
                           help="Connected lesion pieces smaller than this (scattered fragments) are left out.")
bank = get_bank(str(ds.path), ds.fingerprint, int(min_area))
if len(bank) == 0:
    st.warning("No lesion in the training split reaches that size.")
    st.stop()
frame = bank.to_frame()

st.subheader(f"Lesion bank — {len(bank)} lesions from the training split")
c1, c2 = st.columns(2)
c1.plotly_chart(px.histogram(frame, x="area", nbins=40, title="lesion area (pixels)", height=260), key="bank_area")
class_col = "dominant_name" if "dominant_name" in frame else frame.columns[0]
c2.plotly_chart(px.histogram(frame, x=class_col, title="dominant class", height=260), key="bank_class")
with st.expander("Browse the bank"):
    st.dataframe(frame, hide_index=True, width="stretch", key="bank_table")
    pick = st.number_input("Lesion #", 0, len(bank) - 1, 0, key="bank_pick")
    e = bank[int(pick)]
    src = ds.sample(e.row) if e.row >= 0 else None
    cols = st.columns(2)
    cols[0].image(upscale(np.asarray(LABEL_COLOURS[np.clip(e.patch, 0, 7)]), max(1, 96 // max(e.patch.shape))),
                  caption=f"{e.id}: {e.area} px")
    if src is not None:
        cols[1].image(upscale(overlay(src.image[ds.spec.structure_modality], src.label), 2),
                      caption=f"source: {e.case_id}, slice {e.slice_index}")

st.subheader("Augmentation ranges")
c = st.columns(3)
scale = c[0].slider("Scale", 0.3, 2.0, (0.7, 1.3), 0.05, key="scale_range")
rotation = c[1].slider("Rotation (degrees)", -180, 180, (-180, 180), 5, key="rotation_range")
translate = c[2].slider("Translation (pixels, near-source placement)", -20, 20, (-5, 5), 1, key="translate_range")
c = st.columns(4)
p_lr = c[0].slider("P(flip left-right)", 0.0, 1.0, 0.5, 0.05, key="p_flip_lr")
p_ud = c[1].slider("P(flip up-down)", 0.0, 1.0, 0.5, 0.05, key="p_flip_ud")
containment = c[2].slider("Containment threshold", 0.5, 1.0, 1.0, 0.05, key="containment",
                          help="Fraction of the lesion that must lie inside the organ mask (1.0 = entirely inside).")
position = c[3].radio("Placement", ["uniform", "near_source"], key="position",
                      help="uniform: anywhere in the organ; near_source: where the lesion was, plus the translation.")
try:
    ranges = AugmentRanges(scale=scale, rotation_deg=rotation, p_flip_lr=p_lr, p_flip_ud=p_ud,
                           translate=translate, containment=containment, min_area=4)
except SynthCoreError as err:
    st.error(str(err))
    st.stop()

st.subheader("Preview on real organ masks")
c = st.columns(3)
n_prev = c[0].number_input("Candidates", 4, 64, 16, 4, key="n_preview")
seed = c[1].number_input("Seed", 0, 10_000, 0, key="preview_seed")
split = c[2].selectbox("Target masks from split", ["train", "val", "test"], key="target_split")
try:
    rows = target_rows(ds, split, 64, int(seed))
    cands = preview_candidates(bank, ds, rows, int(n_prev), ranges, seed=int(seed), position=position)
except SynthCoreError as err:
    st.error(str(err))
    st.stop()
acc = sum(c.accepted for c in cands)
st.metric("Accepted in this preview", f"{acc} / {len(cands)}", help="green = accepted, red = rejected (reason below)")
cols = st.columns(8)
for k, cand in enumerate(cands):
    img = ds.images[cand.row, ds.spec.structure_modality]
    rgb = overlay(np.asarray(img), None, mask=np.asarray(ds.masks[cand.row]))
    sel = cand.drawn > 0
    colour = np.array([60, 200, 90] if cand.accepted else [230, 60, 60], np.float32)
    rgb = rgb.astype(np.float32)
    rgb[sel] = 0.4 * rgb[sel] + 0.6 * colour
    cols[k % 8].image(upscale(rgb.astype(np.uint8), 2),
                      caption="accepted" if cand.accepted else f"rejected: {cand.reason.replace('_', ' ')}")

st.subheader("Acceptance, size and location over many candidates")
stats_n = st.slider("Candidates to score", 50, 1000, 200, 50, key="stats_n")
cands_many = preview_candidates(bank, ds, rows, int(stats_n), ranges, seed=int(seed) + 1, position=position)
verdicts = pd.Series([c.reason or "accepted" for c in cands_many]).value_counts().rename_axis("verdict").reset_index()
acc_rate = sum(c.accepted for c in cands_many) / len(cands_many)
c1, c2, c3 = st.columns(3)
c1.metric("Acceptance rate", f"{acc_rate:.0%}")
c1.dataframe(verdicts, hide_index=True, key="verdicts")
areas = [int((c.drawn > 0).sum()) for c in cands_many if c.accepted]
c2.plotly_chart(px.histogram(x=areas, nbins=30, labels={"x": "area of accepted labels (px)"}, height=260), key="acc_area")
cent = [np.argwhere(c.drawn > 0).mean(axis=0) for c in cands_many if c.accepted and c.drawn.any()]
if cent:
    cc = np.array(cent)
    c3.plotly_chart(px.density_heatmap(x=cc[:, 1], y=cc[:, 0], nbinsx=16, nbinsy=16, height=260,
                                       labels={"x": "column", "y": "row"}).update_yaxes(autorange="reversed"),
                    key="acc_loc")

st.subheader("Save an augmented label set")
c = st.columns(3)
set_name = c[0].text_input("Label-set name", value=f"{ds.name}-augmented", key="labelset_name")
n_labels = c[1].number_input("Labels", 1, 100_000, 500, key="labelset_n")
if c[2].button("Generate and save", type="primary", key="labelset_save"):
    try:
        validate_name(set_name, "label set name")
        with st.spinner("Drawing labels…"):
            path = make_label_set(ws.lesions, set_name, ds, bank, n=int(n_labels), ranges=ranges, seed=int(seed),
                                  split="train", position=position)
        st.success(f"Saved {path.name} in {ws.lesions}: each label with the parameters that rebuild it.")
    except SynthCoreError as err:
        st.error(str(err))
existing = ws.list("lesions")
if existing:
    st.caption("Saved label sets: " + ", ".join(existing))
