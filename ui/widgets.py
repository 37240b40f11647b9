"""Reusable dashboard widgets: dataset picker, display-window controls, library remarks as warnings."""

from __future__ import annotations

import numpy as np
import streamlit as st

from synth_core.dataset import Dataset
from synth_core.errors import SynthCoreError, warnings_to
from synth_core.render import DisplayWindow
from synth_core.workspace import Workspace


@st.cache_resource(show_spinner=False, max_entries=8)
def _open_dataset(path: str, mtime: float) -> Dataset:
    return Dataset(path)


def show_warnings():
    """``with show_warnings(): ...`` — the library's remarks inside (:func:`synth_core.errors.warn_user`,
    e.g. a dataset rebuilt on another machine) appear as ``st.warning``, once each."""
    return warnings_to(st.warning)


def open_dataset(ws: Workspace, name: str) -> Dataset:
    path = ws.existing("datasets", name)
    return _open_dataset(str(path), (path / "dataset.json").stat().st_mtime)


def dataset_picker(ws: Workspace, key: str = "dataset_select") -> Dataset | None:
    """Select box over the workspace's datasets; shows an empty state and returns None if none."""
    names = ws.list("datasets")
    if not names:
        st.info("No datasets in this workspace yet. Run `python -m synth_core demo-data` for the demo, "
                "or `python -m synth_core ingest ...` for your own scans.")
        return None
    default = names.index("demo") if "demo" in names else 0
    name = st.selectbox("Dataset", names, index=default, key=key)
    try:
        return open_dataset(ws, name)
    except SynthCoreError as err:
        st.error(str(err))
        return None


def window_control(kind: str, key: str = "window") -> str:
    """Choose how stored [0,1] images are displayed. Returns a mode string for :func:`make_window`."""
    options = ["As stored", "Percentile 1–99 %", "Level / width"]
    help_text = ("CT was windowed in Hounsfield units at ingest; MR was scaled by percentiles. "
                 "This re-maps the stored [0, 1] values for viewing only.")
    mode = st.radio("Display window", options, horizontal=True, key=f"{key}_mode", help=help_text)
    if mode == "Level / width":
        c1, c2 = st.columns(2)
        c1.slider("Level", 0.0, 1.0, 0.5, 0.01, key=f"{key}_level")
        c2.slider("Width", 0.05, 1.0, 1.0, 0.01, key=f"{key}_width")
    return mode


def make_window(mode: str, image: np.ndarray, key: str = "window") -> DisplayWindow:
    if mode == "Percentile 1–99 %":
        return DisplayWindow.from_percentiles(image)
    if mode == "Level / width":
        return DisplayWindow.from_level_width(st.session_state[f"{key}_level"], st.session_state[f"{key}_width"])
    return DisplayWindow()
