"""MedSynth Studio dashboard: ``streamlit run app.py -- --workspace DIR``."""

import streamlit as st

# an emoji favicon is drawn by the browser itself; a ":material/...:" one would be fetched from fonts.gstatic.com
st.set_page_config(page_title="MedSynth Studio", page_icon="🧠", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Workspace", icon=":material/home:", default=True),
    st.Page("pages/datasets.py", title="Datasets", icon=":material/folder_open:"),
    st.Page("pages/training_runs.py", title="Training", icon=":material/monitoring:", url_path="training"),
    st.Page("pages/latent.py", title="Latent space", icon=":material/scatter_plot:"),
    st.Page("pages/lesions.py", title="Lesion augmentation", icon=":material/healing:"),
    st.Page("pages/inpainting.py", title="Lesion inpainting", icon=":material/format_paint:"),
    st.Page("pages/quality.py", title="Quality", icon=":material/analytics:"),
    st.Page("pages/review.py", title="Review", icon=":material/fact_check:"),
    st.Page("pages/export.py", title="Export", icon=":material/ios_share:"),
    st.Page("pages/reader_study.py", title="Reader study", icon=":material/visibility:"),
]

st.navigation(PAGES).run()
