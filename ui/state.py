"""Which workspace the dashboard shows: ``-- --workspace DIR``, ``$MEDSYNTH_WORKSPACE`` or ./workspace,
changeable from the sidebar."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st

from synth_core.errors import SynthCoreError
from synth_core.workspace import Workspace, missing_folders, resolve_root, workspace_problem

if TYPE_CHECKING:
    from synth_core.synthesis.setstore import SyntheticSet


def _cli_workspace() -> str | None:
    ap = argparse.ArgumentParser(add_help=False)
    ap.add_argument("--workspace")
    args, _ = ap.parse_known_args(sys.argv[1:])
    return args.workspace


def current_workspace() -> Workspace:
    """The workspace chosen in this session (created if missing)."""
    if "workspace_root" not in st.session_state:
        st.session_state["workspace_root"] = str(Workspace.open(_cli_workspace(), create=False).root)
    return Workspace.open(st.session_state["workspace_root"])


def ensure_navigation() -> None:
    """Make a deep link (a page URL opened first on a fresh server) go through ``app.py``.

    Streamlit runs a page file found in ``pages/`` directly on a fresh server's first request
    (its older multipage mode), so ``app.py``'s ``st.navigation``, page titles and wide layout would
    be missing. Leaving that mode and rerunning executes ``app.py``, which opens the same page."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def workspace_selector() -> Workspace:
    """Sidebar control to switch workspaces; returns the current one (every page calls it first).

    A typed path is refused when it is not a folder the user can write to; when it lacks the
    workspace folders, they are created only after the user confirms (a button)."""
    ensure_navigation()
    ws = current_workspace()
    with st.sidebar:
        new = st.text_input("Workspace folder", value=str(ws.root), key="workspace_input",
                            help="Folder holding datasets/, runs/, synthetic/ and exports/.")
        if new and str(resolve_root(new)) != str(ws.root):
            problem = workspace_problem(new)
            missing = [] if problem else missing_folders(new)
            if problem:
                st.error(f"Cannot use {new} as the workspace: it {problem}. Still showing {ws.root}.")
            elif missing and not st.button(f"Create {len(missing)} folder(s) there", key="workspace_create"):
                st.warning(f"{resolve_root(new)} is not a workspace yet: opening it creates the folders "
                           f"{', '.join(missing)}. Still showing {ws.root}.")
            else:
                try:
                    ws = Workspace.open(new)
                    st.session_state["workspace_root"] = str(ws.root)
                except (OSError, SynthCoreError) as err:
                    st.error(f"Cannot open workspace {new}: {err}")
    return ws


def synthetic_sets(ws: Workspace, then: str = "") -> list[str]:
    """Names of the workspace's synthetic sets. With none, the page says how to make one (and
    ``then``: a sentence on what to do with it next) and stops there."""
    sets = ws.list("synthetic")
    if not sets:
        st.info("No synthetic set yet. Make one with `python -m synth_core synthesize --n 200 --name demo-set` "
                "or on the Latent space page." + (f" {then}" if then else ""))
        st.stop()
    return sets


@st.cache_resource(show_spinner=False, max_entries=16)
def _open_set(path: str, stamp: tuple[float, float]) -> SyntheticSet:
    from synth_core.synthesis.setstore import SyntheticSet

    return SyntheticSet(path)  # its catalog re-reads the review log whenever the log grows


def _set_stamp(path: Path) -> tuple[float, float]:
    """Cache key of an open set: set.json and the realness side table that evaluate writes beside it."""
    from synth_core.synthesis.realness import REALNESS_FILE

    side = path / REALNESS_FILE
    return (path / "set.json").stat().st_mtime, side.stat().st_mtime if side.exists() else 0.0


def open_synthetic_set(ws: Workspace, name: str) -> SyntheticSet:
    """The synthetic set ``name`` of the workspace, kept open between reruns and pages until its
    set.json or realness table changes; raises :class:`SynthCoreError` for a missing or broken set."""
    path = ws.existing("synthetic", name)
    return _open_set(str(path), _set_stamp(path))
