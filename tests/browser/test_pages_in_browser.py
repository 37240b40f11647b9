"""Open the dashboard in headless Chromium and check pages render without exceptions."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Server, screenshot
from tests.ui.test_home_page import _tiny_dataset

pytestmark = pytest.mark.browser


def _no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0
    assert "Traceback" not in page.content()


def test_home_page_lists_dataset_in_browser(tmp_path, browser_page):
    _tiny_dataset(tmp_path / "ws", name="tiny")
    server = Server(tmp_path / "ws")
    try:
        page = browser_page
        page.goto(server.url)
        page.get_by_text("MedSynth Studio").first.wait_for(timeout=30000)
        page.get_by_text("tiny").first.wait_for(state="attached", timeout=30000)
        _no_exception(page)
        screenshot(page, "home")
    finally:
        server.stop()
