"""Training progress: runs, live loss curves, sample grids over time, checkpoints; start and stop runs."""

from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from synth_core.errors import SynthCoreError
from training.launch import read_log, start_run, stop_run
from synth_core.runs.folder import RunDir
from synth_core.runs.summary import checkpoints_table, eta_seconds, metrics_frame, runs_table, validation_frame
from ui.state import workspace_selector

NOT_LOSSES = {"step", "time", "sec_per_step", "images_per_sec", "phase"}

ws = workspace_selector()
st.title("Training")
st.caption("Every stage writes one row per step: each named loss, learning rates, seconds per step and images/s. "
           "Curves refresh while a run is writing.")


def new_run_form() -> None:
    from synth_core.runs.config import describe_fields, list_presets
    from training.stages import STAGES, get_config_class

    datasets = ws.list("datasets")
    if not datasets:
        st.info("Build or ingest a dataset first (`python -m synth_core demo-data`).")
        return
    c1, c2, c3 = st.columns(3)
    stage = c1.selectbox("Stage", list(STAGES), key="new_stage")
    dataset = c2.selectbox("Dataset", datasets, key="new_dataset")
    preset = c3.selectbox("Preset", ["(defaults)"] + list_presets(), index=1 + list_presets().index("cpu-demo")
                          if "cpu-demo" in list_presets() else 0, key="new_preset")
    try:
        from synth_core.runs.config import build_config

        cls = get_config_class(stage)
        cfg = build_config(cls, stage, None if preset == "(defaults)" else preset, {"dataset": dataset})
    except SynthCoreError as err:
        st.error(str(err))
        return
    settings = {}
    with st.form(f"form_{stage}"):
        cols = st.columns(3)
        for k, f in enumerate(x for x in describe_fields(cls) if x["name"] != "dataset"):
            col, value, key = cols[k % 3], getattr(cfg, f["name"]), f"cfg_{stage}_{f['name']}"
            if f["type"] == "bool":
                settings[f["name"]] = col.checkbox(f["name"], value=bool(value), help=f["help"], key=key)
            elif f["type"] == "int":
                settings[f["name"]] = col.number_input(f["name"], value=int(value), step=1, help=f["help"], key=key)
            elif f["type"] == "float":
                settings[f["name"]] = col.number_input(f["name"], value=float(value), format="%g", help=f["help"], key=key)
            else:
                settings[f["name"]] = col.text_input(f["name"], value=str(value), help=f["help"], key=key)
        name = st.text_input("Run name (optional)", key="new_run_name")
        submitted = st.form_submit_button("Start training", type="primary")
    if submitted:
        changed = {k: v for k, v in settings.items() if v != getattr(cfg, k)}
        try:
            rid = start_run(ws, stage, dataset=dataset, settings=changed,
                            preset=None if preset == "(defaults)" else preset, run_id=name or None)
            st.success(f"Started run {rid}. It appears in the table below within a few seconds.")
            st.session_state["run_select"] = rid
        except SynthCoreError as err:
            st.error(str(err))


with st.expander("Start a new run", expanded=not ws.list("runs")):
    new_run_form()

table = runs_table(ws)
if table.empty:
    st.info("No training runs yet. Start one above, or run `python -m training demo` to train every stage on the demo data.")
    st.stop()
st.dataframe(table, hide_index=True, width="stretch", key="runs_table")
run_ids = list(table["run"])
if st.session_state.get("run_select") not in run_ids:
    st.session_state["run_select"] = run_ids[-1]
rid = st.selectbox("Run", run_ids, key="run_select")
run = RunDir(ws.runs / rid)
status = run.read_status()
running = status.get("state") == "running"


def loss_figure(df: pd.DataFrame, loss_names: list[str]) -> go.Figure:
    names = [n for n in loss_names if n in df] or [c for c in df.columns if c not in NOT_LOSSES and not c.startswith("lr_")]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("losses", "throughput (images/s)"))
    smooth = max(1, len(df) // 100)
    for n in names:
        y = df[n].rolling(smooth, min_periods=1).mean()
        fig.add_trace(go.Scatter(x=df["step"], y=y, mode="lines", name=n), row=1, col=1)
    if "images_per_sec" in df:
        fig.add_trace(go.Scatter(x=df["step"], y=df["images_per_sec"].rolling(smooth, min_periods=1).mean(),
                                 mode="lines", name="images/s", line={"color": "#555"}), row=1, col=2)
    fig.update_layout(height=380, margin={"l": 10, "r": 10, "t": 30, "b": 10}, legend={"orientation": "h"})
    fig.update_xaxes(title_text="step")
    return fig


@st.fragment(run_every=2.0 if running else None)
def live_view() -> None:
    st_now = run.read_status()
    try:
        cfg = run.read_config()
    except (OSError, ValueError):
        st.info("This run is starting; its configuration appears in a moment.")
        return
    df = metrics_frame(run)
    total = st_now.get("total_steps") or cfg.get("total_steps")
    step = int(df["step"].iloc[-1]) if len(df) else 0
    c = st.columns(4)
    c[0].metric("State", st_now.get("state", "?"))
    c[1].metric("Step", f"{step} / {total}")
    eta = eta_seconds(df.to_dict("records"), total) if len(df) else None
    c[2].metric("ETA", "—" if eta is None or st_now.get("state") != "running" else str(timedelta(seconds=int(eta))))
    c[3].metric("Images/s", f"{df['images_per_sec'].tail(20).median():.1f}" if len(df) else "—")
    if total:
        st.progress(min(1.0, step / float(total)))
    if st_now.get("message") and st_now.get("state") in ("failed", "stopped"):
        (st.error if st_now["state"] == "failed" else st.warning)(st_now["message"])
    if len(df):
        st.plotly_chart(loss_figure(df, cfg.get("loss_names", [])), key="loss_chart")
    val = validation_frame(run)
    if not val.empty:
        st.caption("Validation at each checkpoint (score: higher is better; it selects the 'best' checkpoint)")
        st.line_chart(val.set_index("step"))


live_view()

st.subheader("Sample grids over time")
samples = run.sample_files()
if samples:
    k = st.select_slider("Step", options=list(range(len(samples))), value=len(samples) - 1,
                         format_func=lambda i: samples[i].stem.replace("step-", "").lstrip("0") or "0", key="sample_slider")
    st.image(str(samples[k]), caption=f"{samples[k].name} — fixed inputs, so changes show learning")
else:
    st.info("No sample grid yet; the first one appears after `sample_every` steps.")

st.subheader("Checkpoints")
ck = checkpoints_table(run)
if ck.empty:
    st.info("No checkpoint yet.")
else:
    st.dataframe(ck, hide_index=True, width="stretch")

c1, c2 = st.columns(2)
if running and c1.button("Stop this run (checkpoint, then stop)", key="stop_button"):
    st.success("Stop requested.") if stop_run(ws, rid) else st.warning("The run is not running any more.")
if status.get("state") in ("stopped", "failed") and (run.checkpoint_path("last").exists()) and c2.button("Resume", key="resume_button"):
    try:
        start_run(ws, status.get("stage", ""), dataset="", resume=rid)
        st.success("Resumed.")
    except SynthCoreError as err:
        st.error(str(err))
with st.expander("Log"):
    try:
        st.code(read_log(ws, rid)[-5000:] or "(empty)")
    except SynthCoreError as err:
        st.caption(str(err))
with st.expander("Configuration"):
    try:
        st.json(run.read_config())
    except (OSError, ValueError):
        st.caption("not written yet")
