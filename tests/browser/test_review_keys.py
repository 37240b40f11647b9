"""The Review page's keyboard flow in Chromium: K keeps, X rejects (with the chosen reason), N and P
move, each decision lands in the set's review log at once; typing in a text field is not a shortcut."""

from __future__ import annotations

import time

import pytest

from synth_core.review import ReviewLog
from synth_core.review.view import ViewSpec, default_sort, select_view
from synth_core.synthesis.setstore import SyntheticSet
from tests.browser.conftest import Server, screenshot
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset

pytestmark = pytest.mark.browser


def _wait_for(cond, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def _heading(page, sample: str) -> None:
    page.locator("h3", has_text=sample).first.wait_for(timeout=30000)


def _ready(page) -> None:
    """Wait until a key press can reach the buttons: the script run is over and the Keep button is on
    the page. Streamlit binds a button's shortcut (a hotkeys-js listener on the document) when the
    button component mounts, and Button is a lazily loaded chunk of the frontend: on a busy machine
    the open sample's heading is shown seconds before the buttons below it exist, and a key pressed
    in between finds no listener and is dropped (Streamlit does not queue it). A user sees no Keep
    button then either; this waits for what they would wait for."""
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(timeout=60000)
    keep = page.locator(".st-key-review_keep button")
    keep.wait_for(state="visible", timeout=30000)
    assert keep.is_enabled()


def _press(page, key: str) -> None:
    """Press a key with the focus on the page itself (not in a field), as a user would after a click."""
    _ready(page)
    page.keyboard.press(key)


def test_keyboard_review_flow(tmp_path, browser_page):
    ws = tmp_path / "ws"
    make_tiny_dataset(ws, cases=6)
    path = make_fake_set(ws, n=12)
    cat = SyntheticSet(path).catalog
    order = select_view(cat, ViewSpec(default_sort(cat), True)).sample_id.tolist()
    log = ReviewLog(path)
    server = Server(ws)
    try:
        page = browser_page
        page.goto(f"{server.url}/review")
        page.get_by_text("Gallery").first.wait_for(timeout=60000)
        page.wait_for_load_state("networkidle")
        _heading(page, f"{order[0]} — not reviewed")
        assert page.locator("[data-testid='stException']").count() == 0

        page.locator("h1").first.click()  # focus on the page, not on a field
        _press(page, "k")
        _wait_for(lambda: log.state().get(order[0]) is not None)
        assert log.state()[order[0]].status == "kept"
        _heading(page, f"{order[1]} — not reviewed")  # keep moved on to the next sample

        _press(page, "x")
        _wait_for(lambda: log.state().get(order[1]) is not None)
        assert (log.state()[order[1]].status, log.state()[order[1]].reason) == ("rejected", "artefact")
        _heading(page, f"{order[2]} — not reviewed")

        _press(page, "n")
        _heading(page, f"{order[3]} — not reviewed")
        _press(page, "p")
        _heading(page, f"{order[2]} — not reviewed")
        _press(page, "p")
        _heading(page, f"{order[1]} — rejected (artefact)")

        # typing a note with k and x in it records nothing by itself
        note = page.get_by_label("Note (optional, saved with the next keep or reject)")
        note.click()
        note.type("kx kink")
        page.wait_for_timeout(1500)
        assert len(log.read()) == 2
        note.press("Enter")  # commit the text field, then leave it
        page.wait_for_load_state("networkidle")
        page.locator("h1").first.click()
        _press(page, "k")  # changed my mind: keep it after all, with the note
        _wait_for(lambda: log.state()[order[1]].status == "kept")
        assert log.state()[order[1]].note == "kx kink" and len(log.read()) == 3
        page.wait_for_load_state("networkidle")
        assert page.locator("[data-testid='stException']").count() == 0
        screenshot(page, "review-keyboard")
    finally:
        server.stop()
