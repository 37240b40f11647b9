"""Latent space: what the structure model has learned, and whole samples from chosen latents.

Random structure maps with their seeds; an ordered traversal along two latent directions (thesis
Fig. 15); interpolation between the encodings of two real maps; a 2-D projection of real encodings
and generated latents; a chosen latent taken through the whole pipeline (mask, fused input, lesion,
every modality); chosen latents saved as a synthetic set.
"""

import numpy as np
import plotly.express as px
import streamlit as st

from synth_core.datalink import find_dataset
from synth_core.errors import SynthCoreError
from synth_core.lesions import LesionBank
from synth_core.lesions.augment import AugmentRanges
from synth_core.render import grid, overlay, to_uint8, upscale
from synth_core.runs.folder import RunDir
from synth_core.synthesis.explorer import LatentExplorer, multimodal_runs, structure_runs
from synth_core.synthesis.lesions import LesionSource
from synth_core.workspace import validate_name
from ui import latent_state
from ui.state import workspace_selector
from ui.widgets import make_window, open_dataset, show_warnings, window_control

ws = workspace_selector()
st.title("Latent space")
st.caption("The structure model maps Gaussian latents z to structure maps (METHOD.md §4). Explore what it has "
           "learned, take any latent through the whole pipeline, and keep the samples you like as a synthetic set.")

try:
    s_runs = structure_runs(ws)
except SynthCoreError as err:
    st.error(str(err))
    st.stop()
if not s_runs:
    st.info("No finished structure run yet. Train one with `python -m training structure --dataset demo` "
            "(or `make demo`, which installs the demo runs).")
    st.stop()

c1, c2 = st.columns(2)
s_run = c1.selectbox("Structure model (run)", s_runs, key="latent_structure_run")
m_runs = multimodal_runs(ws, s_run)
m_run = c2.selectbox("Image generator (multimodal run)", m_runs + ["(none: structure maps only)"],
                     key="latent_mm_run")
m_run = "" if m_run.startswith("(none") else m_run


def _mtime(run: str) -> float:
    p = RunDir(ws.runs / run).checkpoint_path("last")
    return p.stat().st_mtime if p.exists() else 0.0


@st.cache_resource(show_spinner="Loading the models…", max_entries=4)
def get_explorer(root: str, structure_run: str, multimodal_run: str, stamp: tuple[float, float]) -> LatentExplorer:
    from synth_core.workspace import Workspace

    return LatentExplorer.open(Workspace.open(root), structure_run, multimodal_run)


try:
    ex = get_explorer(str(ws.root), s_run, m_run, (_mtime(s_run), _mtime(m_run) if m_run else 0.0))
except SynthCoreError as err:
    st.error(str(err))
    st.stop()

dataset, dataset_problem = None, "The dataset this multimodal run was trained on is not in the workspace."
if ex.models is not None:
    try:  # by its stable fingerprint; rebuilt on another machine (last bits differ): one warning
        with show_warnings():
            dataset, _ = find_dataset(ws, fingerprint=ex.models.runs["multimodal"]["fingerprint"],
                                      content=ex.models.dataset_content, what=f"run {m_run!r}",
                                      name=ex.models.dataset, opener=lambda name: open_dataset(ws, name))
    except SynthCoreError as err:
        dataset_problem = str(err)


def _tiles(maps, masks=None) -> np.ndarray:
    return [overlay(np.zeros(m.shape, np.float32), structure=m, mask=None if masks is None else masks[i])
            for i, m in enumerate(maps)]


EX_KEY = (str(ws.root), s_run, m_run, _mtime(s_run), _mtime(m_run) if m_run else 0.0)


@st.cache_data(show_spinner=False, max_entries=32)
def cached_interpolation(_ex: LatentExplorer, ex_key: tuple, a: int, b: int, steps: int, mode: str) -> np.ndarray:
    return _ex.interpolation(np.asarray(dataset.structure[a]), np.asarray(dataset.structure[b]), steps, mode)


def _pick(source: str, z: np.ndarray) -> None:
    """Remember the latent chosen in a tab; when the whole-sample view below shows this tab's latent
    and it changed, rerun the page so that view follows."""
    if latent_state.pick(st.session_state, source, z):
        st.rerun()


def _show_grid(z: np.ndarray, columns: int, caption: str, zoom: int) -> None:
    """The maps of latents ``z`` as a grid. New latents show their structure maps first (``G_s``, the
    cheap network) and the organ masks a moment later; maps seen before (the explorer keeps them)
    show at once, which also makes a full-page rerun redraw every tab without network calls."""
    slot = st.empty()
    if not ex.has_maps(z):
        maps = ex.structure_maps(z)
        slot.image(upscale(grid(_tiles(maps), columns=columns, pad=2), zoom),
                   caption=f"{caption.split(';')[0]}; organ masks: computing…")
    maps, masks = ex.maps(z)
    slot.image(upscale(grid(_tiles(maps, masks), columns=columns, pad=2), zoom), caption=caption)


zoom = max(1, 128 // ex.size)
latent_state.keep_controls(st.session_state, latent_dim=ex.latent_dim,
                           n_rows=len(dataset) if dataset is not None else 1)

# only the open tab runs (the first render and every full rerun skip the others); switching tabs reruns the page
tab_rand, tab_trav, tab_interp, tab_proj = st.tabs(["Random maps", "Traversal", "Interpolation", "Projection"],
                                                   key="latent_tab", on_change="rerun")


@st.fragment
def random_section() -> None:
    c = st.columns(3)
    seed = int(c[0].number_input("Seed", 0, 2**31 - 1, key="latent_seed"))
    n = int(c[1].select_slider("How many", [4, 8, 12, 16], key="latent_n"))
    own_bar, own_tries = ex.screening
    if own_bar <= 0 and ex.D_s is not None:
        st.checkbox(f"Keep only maps the structure discriminator finds realistic (D_s ≥ {latent_state.SCREEN_REALNESS:g}, "
                    f"up to {latent_state.SCREEN_TRIES} tries per map)", key="latent_screen",
                    help="The thesis keeps a generated map only when D_s scores it high enough (METHOD.md §13); "
                         "without it some random latents give broken maps, e.g. half an organ.")
    bar, tries = latent_state.screening(st.session_state, ex)
    with st.spinner(f"Screening maps by the structure discriminator (up to {tries} tries each)…" if bar > 0 else
                    "Sampling…"):
        z = latent_state.random_latents(st.session_state, ex)
    if own_bar > 0:
        how = (f"the latents `synthesize --seed {seed}` uses: maps screened by the structure discriminator, "
               f"D_s ≥ {own_bar:g}, up to {own_tries} tries")
    elif bar > 0:
        how = (f"screened by D_s ≥ {bar:g}, up to {tries} tries" +
               (f"; `synthesize --seed {seed}` with this image generator does not screen" if m_run else ""))
    else:
        how = f"the latents `synthesize --seed {seed}` uses" if m_run else "unscreened"
    _show_grid(z, min(n, 8), f"samples 0–{n - 1} of seed {seed} ({how}); "
                             "white: structure map, cyan: organ mask", zoom)
    # "How many" may have just shrunk (a fragment rerun)
    latent_state.keep(st.session_state, "latent_pick_random", 0, 0, n - 1)
    pick = int(c[2].number_input("Render sample #", 0, n - 1, key="latent_pick_random"))
    _pick("random", z[pick])


@st.fragment
def traversal_section() -> None:
    d = ex.latent_dim
    c = st.columns(4)
    u = int(c[0].number_input("Direction (rows)", 0, d - 1, key="trav_dim_u"))
    v = int(c[1].number_input("Direction (columns)", 0, d - 1, key="trav_dim_v"))
    span = float(c[2].slider("Span (standard deviations)", 0.5, 4.0, step=0.25, key="trav_span"))
    steps = int(c[3].select_slider("Steps", [3, 5, 7], key="trav_steps"))
    try:
        z = ex.traversal((u, v), steps=steps, span=span)
    except SynthCoreError as err:
        st.error(str(err))
        return
    _show_grid(z, steps, f"z = a·e{u} + b·e{v}, a and b from −{span} to {span} (rows: e{u}, columns: e{v})", zoom)
    latent_state.keep(st.session_state, "trav_pick", 0, 0, steps * steps - 1)
    cell = int(st.number_input("Render cell # (row-major)", 0, steps * steps - 1, key="trav_pick"))
    _pick("traversal", z[cell])


@st.fragment
def interpolation_section() -> None:
    if dataset is None:
        st.info("Interpolation between real maps needs the dataset the model was trained on "
                "(choose a multimodal run, or ingest that dataset).")
        return
    c = st.columns(4)
    a = int(c[0].number_input("Real slice A (row)", 0, len(dataset) - 1, key="interp_a"))
    b = int(c[1].number_input("Real slice B (row)", 0, len(dataset) - 1, key="interp_b"))
    steps = int(c[2].select_slider("Steps", [3, 5, 7, 9], key="interp_steps"))
    mode = c[3].radio("Path", ["slerp", "linear"], horizontal=True, key="interp_mode")
    z = cached_interpolation(ex, EX_KEY, a, b, steps, mode)
    real = [overlay(np.zeros((ex.size, ex.size), np.float32), structure=np.asarray(dataset.structure[i]))
            for i in (a, b)]
    maps, masks = ex.maps(z)
    st.image(upscale(grid([real[0], *_tiles(maps, masks), real[1]], columns=steps + 2, pad=2), zoom),
             caption="left: real map A; right: real map B; between: G_s along the path between their encodings")
    latent_state.keep(st.session_state, "interp_pick", steps // 2, 0, steps - 1)
    t = int(st.number_input("Render step #", 0, steps - 1, key="interp_pick"))
    _pick("interpolation", z[t])


@st.fragment
def projection_section() -> None:
    if dataset is None:
        st.info("The projection needs the dataset the model was trained on.")
        return
    c = st.columns(3)
    n_real = int(c[0].select_slider("Real maps", [32, 64, 128, 256], key="proj_real"))
    n_gen = int(c[1].select_slider("Generated latents", [32, 64, 128, 256], key="proj_gen"))
    method = c[2].radio("Method", ["pca", "umap"], horizontal=True, key="proj_method")
    rows = np.linspace(0, len(dataset) - 1, min(n_real, len(dataset))).astype(int)
    try:
        df = ex.projection(np.asarray(dataset.structure[np.unique(rows)]), ex.random_latents(0, n_gen),
                           method=method)
    except SynthCoreError as err:
        st.error(str(err))
        return
    fig = px.scatter(df, x="x", y="y", color="kind", hover_data=["i"], height=420,
                     title=f"{method.upper()} of real encodings E_s(s) and generated latents z ~ N(0, I)")
    st.plotly_chart(fig, key="proj_plot")
    st.caption("Generated latents should cover the same region as the real encodings; a cloud of real points "
               "far from every generated one is anatomy the sampler rarely produces.")


for tab, section in ((tab_rand, random_section), (tab_trav, traversal_section),
                     (tab_interp, interpolation_section), (tab_proj, projection_section)):
    if tab.open is not False:  # None: Streamlit without tab state (then every tab runs)
        with tab:
            section()

st.subheader("The whole sample of one latent")
if ex.models is None:
    st.info("Choose a multimodal run above to turn structure maps into images (train one with "
            "`python -m training multimodal --dataset demo`).")
    st.stop()
if dataset is None:
    st.error(f"{dataset_problem.rstrip('.')}. The whole sample needs its lesion bank.")
    st.stop()


@st.cache_resource(show_spinner="Building the lesion bank…", max_entries=4)
def get_bank(path: str, fingerprint: str) -> LesionBank:
    from synth_core.dataset import Dataset

    return LesionBank.from_dataset(Dataset(path), splits=("train",))


@st.fragment
def whole_sample_section() -> None:
    """The chosen latent through the whole pipeline, and saving latents as a set. A fragment: its own
    controls (latent source, lesion, seed, window) rerun only this section; a new latent picked in a
    tab reruns the page (``_pick``)."""
    c = st.columns(4)
    source = c[0].radio("Latent from", ["random", "traversal", "interpolation"], horizontal=True, key="render_source")
    mode = c[1].radio("Lesion", ["augmented", "bank", "none"] if dataset.has_lesions else ["none"], horizontal=True,
                      key="render_lesions")
    lesion_seed = int(c[2].number_input("Lesion / noise seed", 0, 2**31 - 1, 0, key="render_seed"))
    with c[3]:
        wmode = window_control(dataset.spec.kind, key="latent_window")
    z = latent_state.picked(st.session_state, source)
    if z is None:
        st.info(f"Open the {source} tab above to choose a latent.")
        return
    try:
        bank = get_bank(str(dataset.path), dataset.fingerprint) if mode != "none" else LesionBank([])
        ranges = AugmentRanges.from_dict(ex.models.lesion_ranges) if ex.models.lesion_ranges else AugmentRanges()
        lesions = LesionSource(mode, bank, ranges, tries=ex.models.settings.lesion_tries,
                               mask_filter=ex.models.settings.mask_filter)
        r = ex.render(z, lesions, seed=lesion_seed)
    except SynthCoreError as err:
        st.error(str(err))
        return
    big = max(1, 192 // ex.size)
    parts = [("structure map", overlay(np.zeros_like(r.fused), structure=r.structure)),
             ("organ mask G_m", to_uint8(r.mask.astype(np.float32))),
             ("fused input s' (eq. 12)", to_uint8(r.fused)),
             ("lesion label" + ("" if r.lesion_placed else " (none placed)"), overlay(r.mask * 0.3, r.label))]
    parts += [(m, to_uint8(r.images[k], make_window(wmode, r.images[k], key="latent_window")))
              for k, m in enumerate(r.modalities)]
    cols = st.columns(4)
    for i, (cap, img) in enumerate(parts):
        cols[i % 4].image(upscale(img, big), caption=cap)

    st.subheader("Keep samples as a synthetic set")
    c = st.columns([2, 1, 1])
    set_name = c[0].text_input("Set name", "picked", key="latent_set_name",
                               help="A new set, or an existing one made from this run to add to.")
    if c[1].button("Add this sample", key="latent_add_one") or c[2].button("Add every latent of the tab",
                                                                            key="latent_add_all"):
        all_of_tab = st.session_state.get("latent_add_all", False)
        try:
            validate_name(set_name, "set name")
            if all_of_tab:
                zs = latent_state.tab_latents(st.session_state, source, ex, dataset.structure)
            else:
                zs = np.asarray(z)[None]
            with st.spinner("Generating and scoring…"):
                path = ex.save_set(ws, set_name, zs, lesions, dataset=dataset, seed=lesion_seed)
            from synth_core.synthesis.setstore import SyntheticSet

            st.success(f"Saved {len(zs)} sample(s) to set '{set_name}' (now {len(SyntheticSet(path))} samples). "
                       "Filter and export it on the Export page.")
        except SynthCoreError as err:
            st.error(str(err))


whole_sample_section()
