"""Lesion inpainting (pix2pix, METHOD.md §10): pick a real slice, put a bank lesion into its organ
(transformed by hand or at random) or draw one, see the whitened input and the fill of every chosen
pix2pix run (one per modality) side by side, keep the ones you like in a set."""

import numpy as np
import streamlit as st

from synth_core.errors import SynthCoreError
from synth_core.lesions import AugmentParams, AugmentRanges, LesionBank
from synth_core.render import overlay, to_uint8, upscale
from synth_core.runs.loading import find_runs
from synth_core.workspace import validate_name
from ui.state import workspace_selector
from ui.widgets import dataset_picker, make_window, show_warnings, window_control

ws = workspace_selector()
st.title("Lesion inpainting")
st.caption("The liver paper's way to make lesion images with exact labels: paint a lesion shape white into a real "
           "slice and let a trained pix2pix generator fill it in. Only the lesion pixels are new; the rest is the "
           "real slice. Kept samples become an ordinary synthetic set (Quality, Review, Export work on it).")

ds = dataset_picker(ws, key="inpaint_dataset")
if ds is None:
    st.stop()
if not ds.has_lesions:
    st.info(f"Dataset '{ds.name}' has no lesion labels, so there is no lesion bank to paint from.")
    st.stop()
runs = find_runs(ws, "pix2pix", ds.name)
if not runs:
    st.info(f"No finished pix2pix run on dataset '{ds.name}'. Train one on the Training page or with "
            f"`python -m training pix2pix --dataset {ds.name}`.")
    st.stop()


@st.cache_resource(show_spinner="Loading the pix2pix generators…", max_entries=2)
def get_models(root: str, run_ids: tuple[str, ...], mtime: float):
    from synth_core.synthesis.inpaint import load_inpaint_models
    from synth_core.workspace import Workspace

    return load_inpaint_models(Workspace.open(root, create=False), list(run_ids), figures=False)


@st.cache_resource(show_spinner="Building the lesion bank…", max_entries=4)
def get_bank(path: str, fingerprint: str, min_area: int) -> LesionBank:
    from synth_core.dataset import Dataset

    return LesionBank.from_dataset(Dataset(path), splits=("train",), min_area=min_area)


c = st.columns(3)
run_ids = tuple(c[0].multiselect("pix2pix runs (one per modality)", runs, default=runs[:1], key="inpaint_runs",
                                 help="Each run fills the modality it was trained on, all of the same placed lesion. "
                                      "The set holds the filled modalities only; the dataset's others are left out "
                                      "(a lesion label there would mark a lesion the image does not show)."))
if not run_ids:
    st.info("Choose at least one pix2pix run.")
    st.stop()
slices = c[1].radio("Real slices", ["healthy", "lesion", "any"], horizontal=True, key="inpaint_slices",
                    help="Training-split slices without a lesion, with one (the new lesion never overlaps it), or both.")
min_area = c[2].number_input("Smallest bank lesion (pixels)", 1, 1000, 10, key="inpaint_min_area")
try:
    from synth_core.datalink import check_link
    from synth_core.synthesis.inpaint import place_at_random, place_by_hand, source_rows

    mtime = max((p.stat().st_mtime for r in run_ids for p in (ws.runs / r / "checkpoints").glob("*.pt")), default=0.0)
    models = get_models(str(ws.root), run_ids, mtime)
    with show_warnings():
        match = check_link(ds, fingerprint=models.fingerprint, content=models.dataset_content,
                           what=f"run {run_ids[0]!r}", dataset=models.dataset)
    bank = get_bank(str(ds.path), ds.fingerprint, int(min_area))
    rows = source_rows(ds, slices)
except SynthCoreError as err:
    st.error(str(err))
    st.stop()
if len(bank) == 0 or len(rows) == 0:
    st.warning("No bank lesion reaches that size." if len(bank) == 0 else f"No {slices} training slices with an organ.")
    st.stop()
left_out = [m for m in ds.modalities if m not in models.modalities]
st.caption(f"Filled: {models.describe()}"
           + (f"; left out of the set (no run chosen): {', '.join(left_out)}" if left_out else "")
           + f". {len(rows)} {slices} training slices; {len(bank)} bank lesions.")

st.subheader("1 · Slice and lesion")
c = st.columns([2, 1])
pick = c[0].slider("Slice", 0, len(rows) - 1, 0, key="inpaint_slice", help="Position among the candidate slices.")
row = int(rows[int(pick)])
how = c[1].radio("Lesion", ["by hand", "random", "draw"], horizontal=True, key="inpaint_how",
                 help="by hand: a bank lesion, its transform and its centre from the controls; random: the "
                      "synthesis placement (any bank lesion, random transform, anywhere inside the organ); draw: "
                      "an ellipse of your size, class and rotation, centred where you say.")
organ = np.argwhere(np.asarray(ds.masks[row]) > 0)
centre = organ.mean(axis=0) if len(organ) else np.array([ds.spec.size / 2] * 2)
if how == "by hand":
    c = st.columns(4)
    lesion = c[0].number_input("Bank lesion #", 0, len(bank) - 1, 0, key="inpaint_lesion")
    scale = c[1].slider("Scale", 0.3, 2.0, 1.0, 0.05, key="inpaint_scale")
    rotation = c[2].slider("Rotation (degrees)", -180, 180, 0, 5, key="inpaint_rotation")
    flips = c[3].multiselect("Flip", ["left-right", "up-down"], key="inpaint_flips")
    c = st.columns(2)
    cy = c[0].slider("Centre row", 0, ds.spec.size - 1, int(centre[0]), key="inpaint_cy")
    cx = c[1].slider("Centre column", 0, ds.spec.size - 1, int(centre[1]), key="inpaint_cx")
    params = AugmentParams(scale=scale, rotation_deg=float(rotation), flip_lr="left-right" in flips,
                           flip_ud="up-down" in flips, center=(float(cy), float(cx)))
    placement, spec = place_by_hand(ds, bank, row, int(lesion), params)
    if spec is None:
        st.warning(f"This lesion does not fit here ({placement.reason.replace('_', ' ')}): move it into the organ, "
                   "away from the slice's own lesion, or make it smaller.")
elif how == "draw":
    from synth_core.lesions.drawn import DrawnLesion
    from synth_core.synthesis.inpaint import place_drawn

    classes = {k: v for k, v in sorted(ds.label_names.items()) if k > 0}
    c = st.columns(4)
    ry = c[0].slider("Half-height (pixels)", 1.0, ds.spec.size / 4, min(4.0, ds.spec.size / 4), 0.5, key="draw_ry")
    rx = c[1].slider("Half-width (pixels)", 1.0, ds.spec.size / 4, min(3.0, ds.spec.size / 4), 0.5, key="draw_rx")
    rotation = c[2].slider("Rotation (degrees)", -180, 180, 0, 5, key="draw_rotation")
    label = c[3].selectbox("Class", list(classes), format_func=lambda k: f"{k} {classes[k]}", key="draw_label")
    c = st.columns(4)
    core_fraction = c[0].slider("Core (fraction of the size; 0 = none)", 0.0, 0.9, 0.0, 0.05, key="draw_core",
                                help="A smaller ellipse of another class inside, as a tumour core in its oedema.")
    core_label = c[1].selectbox("Core class", list(classes), format_func=lambda k: f"{k} {classes[k]}",
                                key="draw_core_label", disabled=core_fraction == 0)
    cy = c[2].slider("Centre row", 0, ds.spec.size - 1, int(centre[0]), key="draw_cy")
    cx = c[3].slider("Centre column", 0, ds.spec.size - 1, int(centre[1]), key="draw_cx")
    try:
        drawn = DrawnLesion(radii=(ry, rx), label=int(label), core_fraction=float(core_fraction),
                            core_label=int(core_label) if core_fraction > 0 else 0)
        placement, spec = place_drawn(ds, row, drawn, AugmentParams(rotation_deg=float(rotation),
                                                                    center=(float(cy), float(cx))))
    except SynthCoreError as err:
        st.error(str(err))
        st.stop()
    if spec is None:
        outside = ("" if not np.isfinite(placement.inside_fraction)
                   else f"; {1 - placement.inside_fraction:.0%} of it lies outside the organ")
        st.warning(f"The drawn lesion does not fit here ({placement.reason.replace('_', ' ')}{outside}): move its "
                   "centre into the organ, away from the slice's own lesion, or make it smaller.")
else:
    c = st.columns(2)
    seed = c[0].number_input("Seed", 0, 1_000_000, 0, key="inpaint_seed")
    scale_range = c[1].slider("Scale range", 0.3, 2.0, (0.7, 1.3), 0.05, key="inpaint_scale_range")
    spec = place_at_random(ds, bank, row, AugmentRanges(scale=scale_range), int(seed))
    if spec is None:
        st.warning("No lesion fitted inside this slice's organ in 50 tries; pick another slice or smaller lesions.")

st.subheader("2 · Whitened input and filled result")
wmode = window_control(ds.spec.kind, key="inpaint_window")
composite = st.toggle("Keep every pixel outside the lesion from the real slice", True, key="inpaint_composite",
                      help="Off shows the generator's whole output (what the paper scores).")
if spec is not None:
    from synth_core.synthesis.inpaint import fill_batch

    b = fill_batch(models, ds, bank, [spec], composite=composite)
    new = b.new_labels[0] > 0
    big = max(1, 384 // ds.spec.size)
    for k, m in enumerate(models.modalities):  # one row per filled modality, each at the chosen window
        win = make_window(wmode, b.original[0, k], key="inpaint_window")
        cols = st.columns(4)
        cols[0].image(upscale(to_uint8(b.original[0, k], win), big), caption=f"real slice ({m})")
        cols[1].image(upscale(to_uint8(b.whitened[0, k], win), big), caption=f"whitened input ({m})")
        cols[2].image(upscale(to_uint8(b.images[0, k], win), big), caption=f"filled by run {models.fills[k].run['run_id']!r}")
        if k == 0:
            cols[3].image(upscale(overlay(b.images[0, 0], b.labels[0], window=win), big), caption="label")
        st.caption(f"{m}: new lesion {int(new.sum())} px, mean fill {b.images[0, k][new].mean():.3f} (real slice "
                   f"there: {b.original[0, k][new].mean():.3f}).")
    kept = st.session_state.setdefault("inpaint_kept", [])
    if st.button("Keep this sample", type="primary", key="inpaint_keep"):
        kept.append({"runs": run_ids, "dataset": ds.name, "spec": spec, "composite": composite})
        st.toast(f"Kept ({len(kept)} in the list)")

st.subheader("3 · Keep in a set")
kept = [k for k in st.session_state.get("inpaint_kept", []) if k["runs"] == run_ids and k["dataset"] == ds.name]
if not kept:
    st.info("Kept samples appear here; save them as a synthetic set.")
    st.stop()
st.write(f"{len(kept)} kept samples (slice rows {', '.join(str(k['spec'].source_row) for k in kept[:12])}"
         f"{' …' if len(kept) > 12 else ''}; {sum(bool(k['spec'].drawn) for k in kept)} drawn).")
c = st.columns([2, 1, 1])
name = c[0].text_input("Set name", f"{ds.name}-inpainted", key="inpaint_set_name")
if c[2].button("Clear the list", key="inpaint_clear"):
    st.session_state["inpaint_kept"] = []
    st.rerun()
if c[1].button("Save set", key="inpaint_save"):
    try:
        from synth_core.datalink import provenance
        from synth_core.synthesis.inpaint import save_chosen
        from synth_core.synthesis.lesions import LesionSource

        validate_name(name, "set name")
        if len({k["composite"] for k in kept}) > 1:
            raise SynthCoreError("kept samples mix composited and raw fills; keep one kind per set")
        with st.spinner("Writing the set…"):
            path = save_chosen(models, ds, LesionSource("augmented", bank), [k["spec"] for k in kept],
                               ws.path("synthetic", name), composite=kept[0]["composite"],
                               dataset_content=provenance(ds, match, models.dataset_content))
        st.session_state["inpaint_kept"] = []
        st.success(f"Saved {len(kept)} samples as set '{path.name}'; open it on the Quality or Review page.")
    except SynthCoreError as err:
        st.error(str(err))
