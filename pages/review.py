"""Review: look through a synthetic set as a paged gallery (sorted by any catalog column, e.g. worst
realism first), open one sample large beside its nearest real training slice, and keep or reject it
(with a reason) or tag it; keyboard shortcuts and bulk actions for speed. Decisions go to the set's
review log (``synth_core.review``) and become the catalog column ``review``: rejected samples are
never exported."""

import numpy as np
import streamlit as st

from synth_core.errors import SynthCoreError
from synth_core.render import outline, overlay, to_uint8, upscale
from synth_core.review import REASONS
from synth_core.review.analysis import review_counts
from synth_core.review.setreview import SetReview
from synth_core.review.view import SHOW, ViewSpec, default_sort, page_of, select_view, sort_columns, step
from ui.state import open_synthetic_set, synthetic_sets, workspace_selector
from ui.widgets import make_window, open_dataset, window_control

PER_ROW = 6
LESION = (255, 220, 0)  # lesion outline colour on tiles
ss = st.session_state

ws = workspace_selector()
st.title("Review")
st.caption("Look at the samples yourself and keep or reject them. Every decision is appended to the set's review "
           "log at once (`SET/review.jsonl`; the set itself is never rewritten) and becomes the catalog column "
           "`review`: rejected samples are never exported, and `review == 'kept'` selects only what you kept. "
           "The same from a terminal: `python -m synth_core review SET --reject ID --reason artefact`.")

sets = synthetic_sets(ws)
set_name = st.selectbox("Synthetic set", sets, key="review_set")
try:
    sset = open_synthetic_set(ws, set_name)
    rv = SetReview(sset)
    cat = sset.catalog
except SynthCoreError as err:
    st.error(str(err))
    st.stop()
ds, ds_problem = None, ""
try:
    ds = open_dataset(ws, sset.dataset)
    if ds.fingerprint != sset.fingerprint:
        ds, ds_problem = None, f"dataset {sset.dataset!r} in this workspace is not the one the set was made from"
except SynthCoreError as err:
    ds_problem = str(err)

counts = review_counts(cat)
c = st.columns(4)
c[0].metric("Reviewed", f"{counts.reviewed} / {counts.total}")
c[1].metric("Kept", counts.kept)
c[2].metric("Rejected", counts.rejected)
c[3].metric("Not reviewed", counts.unreviewed)

# ---- the view ---------------------------------------------------------------------------------------
columns = sort_columns(cat)
c = st.columns([2, 1, 1, 3])
sort_by = c[0].selectbox("Sort by", columns, index=columns.index(default_sort(cat)), key="review_sort",
                         help="Lowest first finds the worst: least realistic (realness), lowest lesion Dice, "
                              "closest to a real training slice (nn_dist).")
ascending = c[1].radio("Order", ["lowest first", "highest first"], key="review_order_dir") == "lowest first"
show = c[2].selectbox("Show", list(SHOW), key="review_show")
query = c[3].text_input("Filter (catalog query, optional)", "", key="review_filter",
                        placeholder="e.g. has_lesion == True and nn_dist < 0.2")
c = st.columns([1, 1, 3])
modality = c[0].selectbox("Modality", list(sset.modalities), key="review_modality")
per_page = c[1].select_slider("Tiles per page", [12, 24, 48, 96], 24, key="review_per_page")
with c[2]:
    wmode = window_control(ds.spec.kind if ds is not None else "mri", key="review_window")
try:
    view = select_view(cat, ViewSpec(sort_by, ascending, show, query.strip()))
except SynthCoreError as err:
    st.error(str(err))
    st.stop()
order = view["sample_id"].astype(str).tolist()
ss["review_order"] = order
n_pages = max(1, -(-len(order) // per_page))
ss["review_page"] = min(max(int(ss.get("review_page", 0)), 0), n_pages - 1)
if ss.get("review_current") not in order:  # first visit, or the sample left the view
    first = ss["review_page"] * per_page
    ss["review_current"] = order[first] if first < len(order) else (order[0] if order else None)


# ---- actions (callbacks run before the next rerun, so the gallery below already shows their effect) ----
def _after(message: str, advance: bool) -> None:
    ss["review_msg"] = message
    if advance:
        nxt = step(ss["review_order"], ss["review_current"], 1)
        ss["review_current"] = nxt
        ss["review_page"] = page_of(ss["review_order"], nxt, ss["review_per_page"])


def _decide(decision: str) -> None:
    cur = ss.get("review_current")
    if cur is None:
        return
    try:
        if decision == "keep":
            rv.keep([cur], note=ss.get("review_note", ""))
            _after(f"{cur}: kept", True)
        elif decision == "reject":
            rv.reject([cur], reason=ss["review_reason"], note=ss.get("review_note", ""))
            _after(f"{cur}: rejected ({ss['review_reason']})", True)
        else:
            rv.clear([cur])
            _after(f"{cur}: back to not reviewed", False)
        ss["review_note"] = ""
    except SynthCoreError as err:
        ss["review_error"] = str(err)


def _move(by: int) -> None:
    nxt = step(ss["review_order"], ss.get("review_current"), by)
    ss["review_current"] = nxt
    ss["review_page"] = page_of(ss["review_order"], nxt, ss["review_per_page"])


def _turn(by: int) -> None:
    page = min(max(ss["review_page"] + by, 0), max(0, (len(ss["review_order"]) - 1) // ss["review_per_page"]))
    ss["review_page"] = page
    if ss["review_order"]:
        ss["review_current"] = ss["review_order"][page * ss["review_per_page"]]


def _open(sample: str) -> None:
    ss["review_current"] = sample


def _tag(remove: str | None = None) -> None:
    cur = ss.get("review_current")
    try:
        if remove is not None:
            rv.untag([cur], [remove])
            ss["review_msg"] = f"{cur}: tag {remove!r} removed"
        else:
            tags = [t.strip() for t in ss.get("review_tag_input", "").split(",") if t.strip()]
            if tags:
                rv.tag([cur], tags)
                ss["review_msg"] = f"{cur}: tagged {', '.join(tags)}"
            ss["review_tag_input"] = ""
    except SynthCoreError as err:
        ss["review_error"] = str(err)


def _bulk(decision: str) -> None:
    ids = list(ss["review_order"])
    if not ss.get("review_bulk_confirm"):
        ss["review_error"] = f"tick 'I mean all {len(ids)} samples' first"
        return
    try:
        if decision == "keep":
            rv.keep(ids)
        elif decision == "reject":
            rv.reject(ids, reason=ss["review_reason"])
        elif decision == "clear":
            rv.clear(ids)
        else:
            tags = [t.strip() for t in ss.get("review_bulk_tag", "").split(",") if t.strip()]
            if not tags:
                ss["review_error"] = "type a tag to add to every sample in the view"
                return
            rv.tag(ids, tags)
        ss["review_msg"] = f"{decision}: {len(ids)} samples of the view"
        ss["review_bulk_confirm"] = False
    except SynthCoreError as err:
        ss["review_error"] = str(err)


if ss.get("review_error"):
    st.error(ss.pop("review_error"))
if ss.get("review_msg"):
    st.toast(ss.pop("review_msg"))


# ---- gallery ------------------------------------------------------------------------------------------
def _mark(row) -> str:
    if row["review"] == "kept":
        return "✓ kept"
    if row["review"] == "rejected":
        return f"✗ {row['review_reason']}"
    return "not reviewed"


def _fmt(v) -> str:
    return f"{v:.3g}" if isinstance(v, (float, np.floating)) else str(v)


st.subheader("Gallery")
if not order:
    st.info("No sample in this view: change the filter or 'Show'.")
    st.stop()
page = ss["review_page"]
c = st.columns([1, 2, 1])
c[0].button("◀ Previous page", key="review_prev_page", on_click=_turn, args=(-1,), disabled=page == 0)
c[1].markdown(f"Page **{page + 1}** of {n_pages} · {len(order)} samples in this view, sorted by `{sort_by}` "
              f"({'lowest' if ascending else 'highest'} first)")
c[2].button("Next page ▶", key="review_next_page", on_click=_turn, args=(1,), disabled=page >= n_pages - 1)
mi = sset.modalities.index(modality)
rows = view.iloc[page * per_page:(page + 1) * per_page]
zoom = max(1, 96 // sset.size)
for start in range(0, len(rows), PER_ROW):
    cols = st.columns(PER_ROW)
    for col, (_, row) in zip(cols, rows.iloc[start:start + PER_ROW].iterrows()):
        i, sid = int(row["index"]), str(row["sample_id"])
        img = np.asarray(sset.images[i, mi])
        tile = outline(overlay(img, window=make_window(wmode, img, key="review_window")), sset.labels[i], LESION)
        box = col.container(border=sid == ss["review_current"])
        box.image(upscale(tile, zoom), width="stretch")
        box.caption(f"{'▶ ' if sid == ss['review_current'] else ''}{sid} · {sort_by} {_fmt(row[sort_by])} · {_mark(row)}")
        box.button("Open", key=f"review_open_{sid}", on_click=_open, args=(sid,), width="stretch")

# ---- the open sample ----------------------------------------------------------------------------------
cur = ss["review_current"]
row = cat.loc[cat["sample_id"] == cur].iloc[0]
i = int(row["index"])
st.subheader(f"{cur} — {row['review'] or 'not reviewed'}"
             + (f" ({row['review_reason']})" if row["review"] == "rejected" else ""))
st.caption(f"Sample {order.index(cur) + 1} of {len(order)} in this view. Keys: **K** keep · **X** reject (with the "
           "reason below) · **N** next · **P** previous (R and C are Streamlit's own). Keep and reject move on to "
           "the next sample.")
c = st.columns(5)
c[0].button("Keep", key="review_keep", shortcut="K", type="primary", on_click=_decide, args=("keep",), width="stretch")
c[1].button("Reject", key="review_reject", shortcut="X", on_click=_decide, args=("reject",), width="stretch")
c[2].button("Previous", key="review_prev", shortcut="P", on_click=_move, args=(-1,), width="stretch")
c[3].button("Next", key="review_next", shortcut="N", on_click=_move, args=(1,), width="stretch")
c[4].button("Clear decision", key="review_clear", on_click=_decide, args=("clear",), width="stretch",
            disabled=not row["review"])
c = st.columns([1, 2])
c[0].selectbox("Reason to reject", list(REASONS), key="review_reason",
               format_func=lambda r: f"{r} — {REASONS[r]}")
c[1].text_input("Note (optional, saved with the next keep or reject)", key="review_note")
c = st.columns([2, 3])
c[0].text_input("Add tags (comma-separated)", key="review_tag_input", placeholder="e.g. bright rim, check again")
c[0].button("Add tags", key="review_tag_add", on_click=_tag)
tags = [t for t in str(row["review_tags"]).split(",") if t]
with c[1]:
    st.caption("Tags: " + (", ".join(f"`{t}`" for t in tags) if tags else "none"))
    for k, t in enumerate(tags):
        st.button(f"Remove {t}", key=f"review_untag_{k}", on_click=_tag, kwargs={"remove": t})

sample = sset.sample(i)
big = max(1, 256 // sset.size)
panels = [(upscale(overlay(sample.image[k], sample.label, window=make_window(wmode, sample.image[k], key="review_window")),
                   big), m) for k, m in enumerate(sset.modalities)]
panels += [(upscale(to_uint8(sample.structure.astype(np.float32)), big), "structure map"),
           (upscale(to_uint8(sample.mask.astype(np.float32)), big), "organ mask"),
           (upscale(overlay(np.zeros(sample.label.shape, np.float32), sample.label), big), "lesion label")]
st.markdown("**Synthetic sample** (lesion label in colour)")
cols = st.columns(len(panels))
for col, (img, cap) in zip(cols, panels):
    col.image(img, caption=cap, width="stretch")

nn = row.get("nn_index")
if ds is not None and nn is not None and np.isfinite(float(nn)) and 0 <= int(nn) < len(ds):
    real = ds.sample(int(nn))
    st.markdown(f"**Nearest real training slice** — nn_dist {_fmt(row.get('nn_dist'))} (small = possible copy); "
                f"dataset row {int(nn)}, slice {real.meta.slice_index}, split {real.meta.split}")
    rpanels = [(upscale(overlay(real.image[k], real.label, window=make_window(wmode, real.image[k], key="review_window")),
                        big), m) for k, m in enumerate(ds.modalities)]
    rpanels += [(upscale(to_uint8(real.structure.astype(np.float32)), big), "structure map"),
                (upscale(to_uint8(real.mask.astype(np.float32)), big), "organ mask"),
                (upscale(overlay(np.zeros(real.label.shape, np.float32), real.label), big), "lesion label")]
    cols = st.columns(len(panels))
    for col, (img, cap) in zip(cols, rpanels):
        col.image(img, caption=cap, width="stretch")
else:
    st.caption("Nearest real training slice: not available (" + (ds_problem or "the catalog has no nn_index") + ").")

with st.expander("Provenance and figures of this sample"):
    c = st.columns(2)
    c[0].json(sset.provenance(i))
    figs = {k: _fmt(v) for k, v in row.items() if k not in sset.provenance(i)}
    c[1].dataframe({"column": list(figs), "value": list(figs.values())}, hide_index=True, key="review_figures")

# ---- bulk ---------------------------------------------------------------------------------------------
with st.expander(f"Bulk actions on all {len(order)} samples of this view"):
    st.caption("The view is the filter, 'Show' and sort above (every page, not only this one). A rejection uses the "
               "reason chosen above.")
    st.checkbox(f"I mean all {len(order)} samples", key="review_bulk_confirm")
    c = st.columns(5)
    c[0].button(f"Keep all {len(order)}", key="review_bulk_keep", on_click=_bulk, args=("keep",))
    c[1].button(f"Reject all {len(order)}", key="review_bulk_reject", on_click=_bulk, args=("reject",))
    c[2].button(f"Clear all {len(order)}", key="review_bulk_clear", on_click=_bulk, args=("clear",))
    c[3].text_input("Tag", key="review_bulk_tag", label_visibility="collapsed", placeholder="tag for all")
    c[4].button("Tag all", key="review_bulk_tag_go", on_click=_bulk, args=("tag",))

with st.expander("Decisions so far (the review log's latest line per sample)"):
    table = rv.decisions()
    st.dataframe(table, hide_index=True, width="stretch", key="review_table")
    st.download_button("Download the decisions (CSV)", table.to_csv(index=False).encode(), f"{set_name}-review.csv",
                       "text/csv", key="review_csv")
