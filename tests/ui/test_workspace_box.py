"""The sidebar's workspace box: a typed path that is not a folder you can write to is refused, and
the workspace folders are created only after the user confirms."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from synth_core.workspace import KINDS, workspace_problem
from tests.conftest import ROOT

PAGE = str(ROOT / "pages" / "home.py")  # the page file: app.py reruns once per AppTest run, dropping clicks


def _type(at: AppTest, path) -> AppTest:
    at.sidebar.text_input(key="workspace_input").set_value(str(path)).run()
    assert not at.exception, at.exception
    return at


def test_new_folder_is_created_only_after_confirmation(workspace, tmp_path):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    target = tmp_path / "elsewhere" / "ws"
    _type(at, target)
    assert not target.exists()  # nothing created just by typing
    assert any("is not a workspace yet" in w.value and "datasets" in w.value for w in at.sidebar.warning)
    assert at.session_state["workspace_root"] == str(workspace)
    at.sidebar.button(key="workspace_create").click().run()
    assert not at.exception
    assert sorted(p.name for p in target.iterdir() if not p.name.startswith(".")) == sorted(KINDS)
    assert at.session_state["workspace_root"] == str(target)


def test_a_file_or_an_unwritable_place_is_refused(workspace, tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    _type(at, a_file)
    assert any("is a file, not a folder" in e.value for e in at.sidebar.error)
    assert a_file.read_text() == "x" and at.session_state["workspace_root"] == str(workspace)
    unwritable = "/proc/medsynth-workspace"  # not writable for anyone, root included
    assert workspace_problem(unwritable) is not None
    _type(at, unwritable)
    assert any("cannot be created" in e.value for e in at.sidebar.error)
    assert not at.sidebar.button  # no button offered for a refused path
    assert at.session_state["workspace_root"] == str(workspace)


def test_an_existing_workspace_opens_without_asking(workspace, tmp_path):
    other = tmp_path / "other"
    for k in KINDS:
        (other / k).mkdir(parents=True)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    _type(at, other)
    assert at.session_state["workspace_root"] == str(other)
    assert not at.sidebar.warning and not at.sidebar.error
