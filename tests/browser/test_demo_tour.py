"""The README's page tour, on the real embedded demo: build the demo dataset, install the shipped
demo runs, synthesize and evaluate a small set (what `make demo` prepares), then open every page in
Chromium, check it shows real content and no exception (the Review page: a gallery of the demo
set's samples), and take the screenshots.

Screenshots go to test-artifacts/screenshots/tour-*.png; with MEDSYNTH_README_IMAGES=1 they also
replace the README's images in docs/img/. Slow (the demo dataset takes about two minutes to build).
"""

from __future__ import annotations

import os
import shutil

import pytest

from synth_core.cli import main as synth
from tests.browser.conftest import ARTIFACTS, Server, screenshot
from tests.conftest import ROOT
from training.cli import main as train

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TOUR = {  # url path -> (text proving real content, README image name)
    "": ("MedSynth Studio", "home"),
    "datasets": ("Lesion classes", "datasets"),
    "training": ("Sample grids over time", "training"),
    "latent": ("The whole sample of one latent", "latent"),
    "lesions": ("Preview on real organ masks", "lesions"),
    "quality": ("Set-level metrics", "quality"),
    "review": ("Gallery", "review"),
    "export": ("Preview of what passes", "export"),
    "reader_study": ("Reader study", "reader_study"),
}


@pytest.fixture(scope="module")
def demo_ws(tmp_path_factory):
    ws = tmp_path_factory.mktemp("tour") / "ws"
    w = ["--workspace", str(ws)]
    assert synth([*w, "demo-data", "--no-progress"]) == 0
    assert train([*w, "install-demo-runs"]) == 0
    assert synth([*w, "synthesize", "--run", "demo-multimodal", "--n", "16", "--batch", "8", "--name", "demo-set"]) == 0
    assert synth([*w, "evaluate", "--set", "demo-set", "--real", "demo", "--no-frd", "--n-max", "32", "--n-pairs",
                  "16", "--no-progress"]) == 0
    return ws


def test_tour_of_every_page_on_the_demo(demo_ws, browser_page):
    server = Server(demo_ws)
    readme = os.environ.get("MEDSYNTH_README_IMAGES") == "1"
    try:
        page = browser_page
        for path, (marker, name) in TOUR.items():
            page.goto(f"{server.url}/{path}")
            page.get_by_text(marker).first.wait_for(timeout=90000)
            page.wait_for_load_state("networkidle")
            plots = page.locator(".js-plotly-plot:visible")
            for i in range(plots.count()):
                plots.nth(i).locator(".main-svg").first.wait_for(timeout=30000)
            visible = "Array.from(document.querySelectorAll(\"[data-testid='stImage'] img\")).filter(i => i.offsetParent)"
            page.evaluate(f"{visible}.forEach(i => i.scrollIntoView())")  # images load lazily: bring each into view
            page.wait_for_function(f"{visible}.every(i => i.complete && i.naturalWidth > 0)", timeout=30000)
            page.locator("h1").first.scroll_into_view_if_needed()
            page.wait_for_timeout(800)
            assert page.locator("[data-testid='stException']").count() == 0, path
            assert "Traceback" not in page.content()
            assert page.locator("[data-testid='stImage'] img").count() > 0 or path in ("", "training", "quality"), path
            if path == "review":  # a gallery of the demo set: one tile (image and Open button) per sample
                assert page.get_by_text("16 samples in this view").count() == 1
                assert page.locator("[class*='st-key-review_open_'] button").count() == 16
                assert page.locator("[data-testid='stImage'] img").count() >= 16
                page.locator(".st-key-review_keep button").wait_for(state="visible", timeout=30000)
            shot = screenshot(page, f"tour-{name}")
            if readme:
                shutil.copy(shot, ROOT / "docs" / "img" / f"{name}.png")
        assert (ARTIFACTS / "tour-latent.png").is_file()
    finally:
        server.stop()
