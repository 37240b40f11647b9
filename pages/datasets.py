"""Dataset browser: slices, modalities, organ masks, lesion labels and structure maps."""

import numpy as np
import pandas as pd
import streamlit as st

from synth_core.render import overlay, to_uint8, upscale
from ui.state import workspace_selector
from ui.widgets import dataset_picker, make_window, window_control

ws = workspace_selector()
st.title("Datasets")
st.caption("What the tool learns from: each slice's modalities, organ mask (cyan outline), "
           "lesion label (colours) and Sobel structure map (thesis Algorithm 1).")

ds = dataset_picker(ws)
if ds is None:
    st.stop()

summary = ds.summary()
c = st.columns(5)
c[0].metric("Cases", summary["cases"])
c[1].metric("Slices", summary["slices"])
c[2].metric("Modalities", len(summary["modalities"]))
c[3].metric("Size", f"{summary['size']} px")
c[4].metric("Lesions", summary["lesions"])
unlabelled = ds.spec.params.get("layout", {}).get("unlabelled_cases", [])
if unlabelled:
    st.warning(f"{len(unlabelled)} case(s) had no segmentation file and were ingested without lesion labels "
               f"(--allow-unlabelled): {', '.join(unlabelled)}. Their slices show no tumour even where there is one.")

left, right = st.columns([1, 3])
with left:
    split = st.selectbox("Split", ["all", "train", "val", "test"], key="split_select")
    only_lesions = st.checkbox("Only slices with lesions", value=True, key="only_lesions")
    show_label = st.checkbox("Show lesion label", value=True, key="show_label")
    show_mask = st.checkbox("Show organ mask", value=False, key="show_mask")
    idx = ds.index
    sel = np.ones(len(idx), bool)
    if split != "all":
        sel &= (idx["split"] == split).to_numpy()
    if only_lesions and ds.has_lesions:
        sel &= (idx["lesion_pixels"] > 0).to_numpy()
    rows = np.flatnonzero(sel)
    if len(rows) == 0:
        st.warning("No slice matches these filters.")
        st.stop()
    pos = st.slider("Slice", 0, len(rows) - 1, 0, key="slice_slider") if len(rows) > 1 else 0
    mode = window_control(ds.spec.kind)

i = int(rows[pos])
sample = ds.sample(i)
meta = sample.meta
with right:
    st.markdown(f"**{meta.case_id}**, slice {meta.slice_index} · split *{meta.split}* · "
                f"pixel {meta.spacing[0]:.2f} × {meta.spacing[1]:.2f} mm · source `{meta.source_path}`"
                + (" · **no segmentation file: no lesion label**" if meta.case_id in unlabelled else ""))
    zoom = max(1, 256 // ds.spec.size)
    tiles, captions = [], []
    for ch, name in enumerate(ds.modalities):
        img = sample.image[ch]
        rgb = overlay(img, sample.label if show_label else None,
                      mask=sample.mask if show_mask else None, window=make_window(mode, img))
        tiles.append(upscale(rgb, zoom))
        captions.append(name)
    tiles.append(upscale(to_uint8(sample.structure.astype(np.float32)), zoom))
    captions.append(f"structure map ({ds.modalities[ds.spec.structure_modality]})")
    cols = st.columns(min(len(tiles), 5))
    for k, (t, cap) in enumerate(zip(tiles, captions)):
        cols[k % len(cols)].image(t, caption=cap, width="stretch")

st.subheader("Lesion classes")
if summary["label_classes"]:
    st.dataframe(pd.DataFrame([{"class": n, **v} for n, v in summary["label_classes"].items()]),
                 hide_index=True, key="classes_table")
else:
    st.info("This dataset has no lesion labels: stages that need lesions (segmenter, lesion guidance, pix2pix) will refuse it.")
with st.expander("Dataset details"):
    st.caption("fingerprint: the dataset's identity (spec, case ids, splits), the same on every machine; "
               "content_sha256: the exact bytes of its arrays, whose last bits can differ from one CPU to another.")
    st.json({"fingerprint": ds.fingerprint, "content_sha256": ds.content_sha256, "spec": ds.info["spec"],
             "created": ds.info.get("created")})
