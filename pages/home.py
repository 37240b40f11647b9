"""Workspace overview: what the workspace holds and what to do next."""

import pandas as pd
import streamlit as st

from synth_core.overview import workspace_overview
from ui.state import workspace_selector

ws = workspace_selector()
st.title("MedSynth Studio")
st.caption("Synthetic, labelled multi-modal medical images from your own scans — two-stage GAN synthesis.")

ov = workspace_overview(ws)
cols = st.columns(4)
for col, (kind, label) in zip(cols, [("datasets", "Datasets"), ("runs", "Training runs"),
                                     ("synthetic", "Synthetic sets"), ("exports", "Exports")]):
    col.metric(label, len(ov[kind]))

st.subheader("Datasets")
if ov["datasets"]:
    st.dataframe(pd.DataFrame(ov["datasets"]), hide_index=True, width="stretch", key="datasets_table")
else:
    st.info(
        "No datasets yet. Build the embedded demo with `python -m synth_core demo-data` "
        "or bring your own scans with `python -m synth_core ingest --layout brats|lits|msd|nifti|dicom|png SRC --name NAME`."
    )

st.subheader("Training runs")
if ov["runs"]:
    st.dataframe(pd.DataFrame(ov["runs"]), hide_index=True, width="stretch")
else:
    st.info("No training runs yet. Train the demo pipeline with `python -m training demo`.")

st.subheader("Synthetic sets and exports")
left, right = st.columns(2)
left.write(", ".join(i["name"] for i in ov["synthetic"]) or "No synthetic sets yet.")
right.write(", ".join(i["name"] for i in ov["exports"]) or "No exports yet.")
st.caption(f"Workspace: `{ws.root}`")
