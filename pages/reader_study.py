"""Reader study: can clinicians tell synthetic images from real ones?

Three parts. *Set up* draws a blinded, shuffled study from a dataset's test split and a synthetic
set. *Rate* shows one image at a time with "Real" / "Synthetic" and a confidence 1–5; every answer
is saved the moment it is given, and nothing on screen reveals the source. Presentation mode
leaves only the image, the question and the buttons (for a clinician at a shared screen).
*Results* reveals the key: accuracy, sensitivity, ROC AUC, Cohen's kappa between readers and
per-image agreement, with CSV downloads.
"""

import base64

import pandas as pd
import streamlit as st

from synth_core.errors import SynthCoreError
from synth_core.readerstudy import (
    available_images,
    create_study,
    item_png,
    list_studies,
    open_study,
    progress,
    record_answer,
    results,
    sets_for_dataset,
    validate_rater,
)
from synth_core.readerstudy.study import render_item, window_spec
from synth_core.render import upscale
from ui.state import current_workspace, workspace_selector
from ui.widgets import dataset_picker, make_window, show_warnings, window_control

SETUP, RATE, RESULTS = "Set up a study", "Rate images", "Results"
PERCENTILE = "Percentile 1–99 %"
MIDDLE_CONFIDENCE = 3
# Presentation mode: no sidebar, no header bar, a centred column. Layout only (no per-page config).
PRESENTATION_CSS = """<style>
section[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], header[data-testid="stHeader"]
{display: none !important;}
.block-container {padding-top: 1.5rem !important;}
</style>"""

presenting = bool(st.session_state.get("presentation")) and st.session_state.get("part") == RATE
if presenting:
    ws = current_workspace()
    st.markdown(PRESENTATION_CSS, unsafe_allow_html=True)
    view = st.container()
    controls = st.expander("Reader, study and presentation mode", expanded=False)
else:
    ws = workspace_selector()
    st.title("Reader study")
    st.caption("Can clinicians tell synthetic images from real ones? Readers see a blinded, shuffled mix of real "
               "test-split slices and synthetic samples, answer real or synthetic with a confidence, and the "
               "results score them against the key.")
    controls = st.container()
    view = st.container()

with controls:
    part = st.radio("Part", [SETUP, RATE, RESULTS], horizontal=True, key="part", label_visibility="collapsed")


def setup_part() -> None:
    """Choose dataset, set, modality, counts, window and name; create the study."""
    ds = dataset_picker(ws, key="study_dataset")
    if ds is None:
        return
    sets = sets_for_dataset(ws, ds.name)
    if not sets:
        st.info(f"No synthetic set made from dataset '{ds.name}' yet. Make one with "
                f"`python -m synth_core synthesize --dataset {ds.name} ...` or on the Latent space page, then "
                "come back here.")
        return
    c = st.columns(3)
    set_name = c[0].selectbox("Synthetic set", sets, key="study_set")
    try:
        avail = available_images(ws, ds.name, set_name)
    except SynthCoreError as err:
        st.error(str(err))
        return
    if avail["real"] == 0 or not avail["modalities"]:
        st.warning(f"Dataset '{ds.name}' has no test-split slices or no modality in common with set "
                   f"'{set_name}': nothing to build a study from.")
        return
    modality = c[1].selectbox("Modality shown", avail["modalities"], key="study_modality")
    seed = c[2].number_input("Seed (which images, which order)", 0, 1_000_000, 0, key="study_seed")
    c = st.columns(3)
    # no max_value: it would go stale when the set changes; create_study says "ask for at most N"
    n_real = c[0].number_input(f"Real images (test split has {avail['real']})", min_value=1,
                               value=min(20, avail["real"]), key="study_n_real")
    n_syn = c[1].number_input(f"Synthetic images (set has {avail['synthetic']})", min_value=1,
                              value=min(20, avail["synthetic"]), key="study_n_synthetic")
    name = c[2].text_input("Study name", value=f"{set_name}-{modality}-study", key="study_name")
    st.caption("Real images come only from the dataset's **test** split: slices the generator never saw while "
               "training, so no synthetic image can be a near-copy of a real one in the study.")
    mode = window_control(ds.spec.kind, key="study_window")
    window = {"percentile": [1.0, 99.0]} if mode == PERCENTILE else make_window(mode, None, key="study_window")
    row = int(ds.split_indices("test")[0])
    preview = render_item(ds.images[row, ds.modalities.index(modality)], window_spec(window))
    st.image(upscale(preview, max(1, 192 // ds.spec.size)), caption="how readers will see a real test slice",
             width=192)
    if st.button("Create study", type="primary", key="study_create"):
        try:
            with st.spinner("Rendering the blinded images…"), show_warnings():
                path = create_study(ws, name, dataset=ds.name, set_name=set_name, n_real=int(n_real),
                                    n_synthetic=int(n_syn), modality=modality, window=window, seed=int(seed))
            st.success(f"Created study {path.name}: {int(n_real) + int(n_syn)} blinded images. "
                       f"Readers start under '{RATE}'.")
        except SynthCoreError as err:
            st.error(str(err))
    existing = list_studies(ws)
    if existing:
        st.caption("Studies in this workspace: " + ", ".join(existing))


def _answer(study: str, rater: str, item: str, answer: str) -> None:
    """Button callback: save the answer for the item that was on screen, reset the confidence."""
    try:
        record_answer(ws, study, rater, item, answer, int(st.session_state.get("confidence", MIDDLE_CONFIDENCE)))
    except SynthCoreError as err:
        st.session_state["answer_error"] = str(err)
        return
    st.session_state["confidence"] = MIDDLE_CONFIDENCE


def rate_part() -> None:
    """One blinded image at a time; answers saved as they are given."""
    studies = list_studies(ws)
    if not studies:
        view.info(f"No reader studies yet. Set one up under '{SETUP}' or run "
                  "`python -m synth_core reader-study create NAME --dataset D --set S --n-real R --n-synthetic K "
                  "--modality M`.")
        return
    with controls:
        c = st.columns([2, 2, 1])
        study = c[0].selectbox("Study", studies, key="rate_study")
        rater_text = c[1].text_input("Your reader ID", key="rater_id", placeholder="e.g. reader-07",
                                     help="Any pseudonym: letters, digits, - or _. No name needed.")
        c[2].toggle("Presentation mode", key="presentation", help="Large image and the question only.")
    with view:
        if not rater_text.strip():
            st.info("Type your reader ID to start (any pseudonym: letters, digits, - or _).")
            return
        try:
            rater = validate_rater(rater_text)
            answered, total, item = progress(ws, study, rater)
        except SynthCoreError as err:
            st.error(str(err))
            return
        error = st.session_state.pop("answer_error", None)
        if error:
            st.error(error)
        st.progress(answered / total, text=f"{answered} of {total}")
        if item is None:
            st.success(f"All {total} images rated. Thank you, {rater}: your answers are saved.")
            return
        if presenting:
            st.markdown(f"## Image {answered + 1}: is it real or synthetic?")
            _, mid, _ = st.columns([1, 4, 1])
        else:
            st.subheader(f"Image {answered + 1}: real or synthetic?")
            mid = st.container()
        with mid:
            try:
                st.image(item_png(ws, study, item, min_size=720 if presenting else 448),
                         width=720 if presenting else 448)
            except (OSError, SynthCoreError) as err:
                st.error(f"Cannot show image {item}: {err}")
                return
            if "confidence" not in st.session_state:
                st.session_state["confidence"] = MIDDLE_CONFIDENCE
            st.slider("How sure are you? 1 = guessing, 5 = certain", 1, 5, key="confidence")
            b = st.columns(2)
            b[0].button("Real", key="answer_real", width="stretch", on_click=_answer,
                        args=(study, rater, item, "real"))
            b[1].button("Synthetic", key="answer_synthetic", width="stretch", on_click=_answer,
                        args=(study, rater, item, "synthetic"))
        if not presenting:
            st.caption("Each answer is saved as soon as you click. Answering an image again later replaces the "
                       "earlier answer.")


def _fmt(v: float) -> str:
    return "n/a" if pd.isna(v) else f"{v:.2f}"


def results_part() -> None:
    """Reveal the key and score the answers."""
    studies = list_studies(ws)
    if not studies:
        st.info(f"No reader studies yet. Set one up under '{SETUP}'.")
        return
    study = st.selectbox("Study", studies, key="results_study")
    try:
        meta = open_study(ws, study).meta
    except SynthCoreError as err:
        st.error(str(err))
        return
    st.caption(f"{meta['counts']['real']} real ({meta['split']} split of '{meta['dataset']}') + "
               f"{meta['counts']['synthetic']} synthetic (set '{meta['set']}'), modality {meta['modality']}, "
               f"created {meta.get('created', '?')}.")
    if not st.toggle("Show the key and the results", key="reveal_key",
                     help="Reveals which images are synthetic: turn on only when every reader has finished."):
        st.info("The results reveal which images are synthetic. Turn on 'Show the key and the results' once every "
                "reader has finished.")
        return
    try:
        res = results(ws, study)
    except SynthCoreError as err:
        st.error(str(err))
        return
    o = res.overall
    if o["n_answers"] == 0:
        st.info(f"No answers yet. Readers answer under '{RATE}'.")
        return
    c = st.columns(6)
    c[0].metric("Readers", o["n_raters"])
    c[1].metric("Accuracy", _fmt(o["accuracy"]), help="Fraction of answers that matched the source.")
    c[2].metric("Sensitivity", _fmt(o["sensitivity"]), help="Synthetic images called synthetic.")
    c[3].metric("Specificity", _fmt(o["specificity"]), help="Real images called real.")
    c[4].metric("ROC AUC", _fmt(o["auc"]), help="From confidence-weighted answers; 0.5 = readers cannot tell.")
    c[5].metric("Mean κ", _fmt(o["mean_kappa"]), help="Cohen's kappa between readers, averaged over pairs.")
    st.subheader("Per reader")
    st.dataframe(res.raters, hide_index=True, key="rater_table")
    st.subheader("Agreement between readers (Cohen's κ)")
    if len(res.raters) >= 2:
        st.dataframe(res.kappa_matrix(), key="kappa_matrix")
        st.dataframe(res.kappa, hide_index=True, key="kappa_table")
    else:
        st.caption("Cohen's κ needs at least two readers.")
    st.subheader("Per image")
    table = res.agreement.copy()
    table.insert(1, "image", ["data:image/png;base64," + base64.b64encode(item_png(ws, study, i, min_size=64)).decode()
                              for i in table["item"]])
    st.dataframe(table, hide_index=True, key="agreement_table", row_height=70,
                 column_config={"image": st.column_config.ImageColumn("image", width="small"),
                                "fraction_synthetic": st.column_config.ProgressColumn(
                                    "said synthetic", min_value=0.0, max_value=1.0, format="percent")})
    c = st.columns(2)
    c[0].download_button("Per-image agreement (CSV)", res.agreement.to_csv(index=False), f"{study}-agreement.csv",
                         "text/csv", key="download_agreement")
    c[1].download_button("All answers with the key (CSV)", res.answers.to_csv(index=False), f"{study}-answers.csv",
                         "text/csv", key="download_answers")


if part == SETUP:
    setup_part()
elif part == RATE:
    rate_part()
else:
    results_part()
