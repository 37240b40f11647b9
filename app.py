"""MedSynth Studio dashboard: ``streamlit run app.py -- --workspace DIR``."""

import streamlit as st

st.set_page_config(page_title="MedSynth Studio", page_icon="🧠", layout="wide")

PAGES = [
    st.Page("pages/home.py", title="Workspace", icon="🏠", default=True),
    st.Page("pages/datasets.py", title="Datasets", icon="🗂️"),
    st.Page("pages/training.py", title="Training", icon="📈"),
    st.Page("pages/lesions.py", title="Lesion augmentation", icon="🎯"),
]

st.navigation(PAGES).run()
