"""Open every dashboard page in headless Chromium: no exception, real content, screenshots."""

from __future__ import annotations

import pytest

from tests.browser.conftest import Server, screenshot
from tests.synthesis.conftest import train_synthesis_runs
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset
from training.cli import main as train

pytestmark = pytest.mark.browser

PAGES = {  # url path -> text that proves the page rendered its content
    "": "MedSynth Studio",
    "datasets": "Lesion classes",
    "training": "Sample grids over time",
    "lesions": "Preview on real organ masks",
    "inpainting": "Whitened input and filled result",
    "latent": "The whole sample of one latent",
    "quality": "Per-sample figures",
    "review": "Gallery",
    "export": "Preview of what passes",
    "reader_study": "Reader study",
}


def _no_exception(page) -> None:
    assert page.locator("[data-testid='stException']").count() == 0
    assert "Traceback" not in page.content()


@pytest.fixture
def populated_ws(tmp_path):
    ws = tmp_path / "ws"
    make_tiny_dataset(ws, cases=6)
    train_synthesis_runs(ws)
    make_fake_set(ws, n=12)
    import os

    os.environ["MEDSYNTH_WORKSPACE"] = str(ws)
    assert train(["--workspace", str(ws), "segmenter", "--dataset", "tiny", "--steps", "2", "--run-name", "seg",
                  "--set", "batch_size=2", "--set", "base_channels=4", "--set", "depth=2", "--no-progress"]) == 0
    assert train(["--workspace", str(ws), "pix2pix", "--dataset", "tiny", "--steps", "2", "--run-name", "p2p",
                  "--set", "base_channels=4", "--set", "d_channels=4", "--set", "threads=1", "--no-progress"]) == 0
    return ws


def test_every_page_renders_in_the_browser(populated_ws, browser_page):
    """... and the browser asks nothing of any other machine (no font, icon or script from the
    internet: medical data stays on the machine, and the dashboard works offline)."""
    from urllib.parse import urlparse

    server = Server(populated_ws)
    requested: list[str] = []
    browser_page.on("request", lambda r: requested.append(r.url))
    try:
        page = browser_page
        for path, marker in PAGES.items():
            page.goto(f"{server.url}/{path}")
            if path == "inpainting":  # the tiny dataset has no healthy slices: paint into any slice
                page.get_by_text("any", exact=True).first.click()
            page.get_by_text(marker).first.wait_for(timeout=60000)
            page.wait_for_load_state("networkidle")
            plots = page.locator(".js-plotly-plot:visible")
            for i in range(plots.count()):
                plots.nth(i).locator(".main-svg").first.wait_for(timeout=30000)
            page.wait_for_timeout(500)
            _no_exception(page)
            screenshot(page, path or "home")
        outside = sorted({u for u in requested
                          if urlparse(u).scheme not in ("data", "blob") and urlparse(u).hostname != "127.0.0.1"})
        assert requested and not outside, f"requests that leave the machine: {outside}"
    finally:
        server.stop()


def test_dataset_slider_changes_the_image(populated_ws, browser_page):
    server = Server(populated_ws)
    try:
        page = browser_page
        page.goto(f"{server.url}/datasets")
        page.get_by_text("Lesion classes").first.wait_for(timeout=60000)
        first = page.locator("[data-testid='stImage'] img").first.get_attribute("src")
        slider = page.get_by_role("slider").first
        slider.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "src => document.querySelector(\"[data-testid='stImage'] img\").getAttribute('src') !== src", arg=first,
            timeout=30000)
        _no_exception(page)
    finally:
        server.stop()


def _first_image_src(page) -> str:
    return page.locator("[data-testid='stImage'] img").first.get_attribute("src")


def test_latent_control_changes_the_maps(populated_ws, browser_page):
    server = Server(populated_ws)
    try:
        page = browser_page
        page.goto(server.url)
        page.get_by_text("MedSynth Studio").first.wait_for(timeout=60000)
        page.goto(f"{server.url}/latent")
        page.get_by_text("The whole sample of one latent").first.wait_for(timeout=60000)
        page.wait_for_load_state("networkidle")
        first = _first_image_src(page)
        seed = page.get_by_label("Seed").first
        seed.fill("11")
        seed.press("Enter")
        page.wait_for_function(
            "src => document.querySelector(\"[data-testid='stImage'] img\").getAttribute('src') !== src",
            arg=first, timeout=30000)
        _no_exception(page)
        screenshot(page, "latent-after-seed")
        # only the open tab runs: another tab draws its own grid, and the seed survives the round trip
        page.get_by_role("tab", name="Traversal").click()
        page.get_by_text("Span (standard deviations)").first.wait_for(timeout=30000)
        page.get_by_role("tab", name="Random maps").click()
        seed = page.get_by_role("spinbutton", name="Seed", exact=True)
        seed.wait_for(timeout=30000)
        page.wait_for_function("() => document.querySelector(\"input[aria-label='Seed']\").value === '11'",
                               timeout=30000)
        _no_exception(page)
    finally:
        server.stop()


def test_small_export_in_the_browser(populated_ws, browser_page):
    server = Server(populated_ws)
    try:
        page = browser_page
        page.goto(server.url)
        page.get_by_text("MedSynth Studio").first.wait_for(timeout=60000)
        page.goto(f"{server.url}/export")
        page.get_by_text("Preview of what passes").first.wait_for(timeout=60000)
        name = page.get_by_label("Export name")
        name.fill("browser-export")
        name.press("Enter")
        page.wait_for_load_state("networkidle")
        page.get_by_role("button", name="Export", exact=True).click()
        page.get_by_text("Exported to").first.wait_for(timeout=60000)
        _no_exception(page)
        screenshot(page, "export-done")
        assert (populated_ws / "exports" / "browser-export" / "dataset.json").is_file()
    finally:
        server.stop()


def test_deep_link_on_a_fresh_server_gets_the_app_navigation(populated_ws, browser_page):
    """A page URL opened first still runs app.py (titles, icons, layout), not Streamlit's
    automatic pages/ listing."""
    server = Server(populated_ws)
    try:
        page = browser_page
        page.goto(f"{server.url}/export")
        page.get_by_text("Preview of what passes").first.wait_for(timeout=60000)
        nav = page.locator("[data-testid='stSidebarNav']").inner_text()
        assert "Lesion augmentation" in nav and "Reader study" in nav and "reader study" not in nav, nav
        _no_exception(page)
    finally:
        server.stop()
