"""Dashboard pages in a real browser (headless Debian Chromium via Playwright, as ``tests/browser``).

Workspace: a temporary one with the shipped 128 px demo runs (``install_demo_runs``), a 128 px
dataset and a small synthetic set so every page has content. Without ``--quick`` the demo
dataset itself is built (``python -m synth_core demo-data``, about 2 minutes); with ``--quick``
it is only linked in when the project workspace (``$MEDSYNTH_WORKSPACE`` or ``./workspace``)
already holds a dataset with the demo runs' fingerprint; otherwise a tiny 128 px dataset stands
in (the demo runs are then not matched to a dataset).

Rows:

* first render of each page: the browser goes to ``/`` first (warm-up: server start, first script
  run), then to each page; time from ``page.goto`` until the page's marker text
  (``tests/browser/test_pages_in_browser.py::PAGES``) is visible *and* the network is idle — the
  end is the later of the marker and the last finished request (Playwright declares
  ``networkidle`` 500 ms after that request; those 500 ms are not counted). Best of 1 pass
  (``--quick``) or 3 interleaved passes.
* Latent space, "Seed" number input -> the random-map grid (8 maps of 128 px) on screen: time
  from filling the input (and Enter) until the grid ``<img>`` has a new ``src`` and has loaded
  (multimodal run "(none…)"). The page shows a new seed's structure maps first (``G_s``) and
  replaces them with maps + organ masks (``G_m``) when those are ready, so two rows: the first new
  images on screen, and the complete grid (its caption no longer says "computing" and names the
  new seed). References: the same ``LatentExplorer`` calls (``random_latents``,
  ``structure_maps`` resp. ``maps``) and the page's tile/grid composition in this process, on a
  fresh explorer (no cached maps), interleaved with the page, best of N; ratio = page / direct
  (the page's overhead factor: Streamlit rerun, image encoding, websocket, browser decode).
  Target: under 0.5 s for the first new images.
* With the demo dataset: Latent space with the demo multimodal run (the Traversal tab opened once,
  so that its latent exists), "Latent from" radio
  (traversal -> random, after a new Seed was chosen untimed) -> the whole sample of that new
  latent (structure, mask, fused input, lesion, every modality) on screen, i.e. the last modality
  ``<img>`` changed and loaded. The whole-sample section is a fragment, so the radio reruns only
  that section: ``render`` of the latent (``G_s``, ``G_m``, lesion placement, ``G`` per modality)
  and the images; the reference is ``render`` made directly. Target: under 0.5 s as for the Seed
  control.

The server and the references run with torch's default thread count, as the dashboard does (the
test suite's one-thread setting in ``tests/conftest.py`` is undone after importing its helpers);
the Seed row's note also gives the direct computation on one thread, which shows when the
machine is oversubscribed. Skips with a note row when Chromium (``/usr/bin/chromium``) or
Playwright is missing.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from benchmarks.common import Row

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
TARGET_S = 0.5
GRID_IMG = "[data-testid='stImage'] img"
_T0 = time.perf_counter()


def _log(msg: str) -> None:
    print(f"[pages {time.perf_counter() - _T0:6.1f} s] {msg}", file=sys.stderr, flush=True)


def _from_tests():
    """(PAGES, Server, make_tiny_dataset, make_fake_set) from the test suite, without keeping the
    side effects of ``tests/conftest.py`` (it sets ``OMP_NUM_THREADS=1`` for every subprocess and
    one torch thread in this process — the dashboard server and the direct references, and any
    benchmark run after this one, would then run on one thread instead of as they normally do)."""
    import torch

    saved_env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    saved_threads = torch.get_num_threads()
    try:
        from tests.browser.conftest import Server
        from tests.browser.test_pages_in_browser import PAGES
        from tests.synthesis.fixtures import make_fake_set
        from tests.training.conftest import make_tiny_dataset
    finally:
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        torch.set_num_threads(saved_threads)
    return dict(PAGES), Server, make_tiny_dataset, make_fake_set


def _pages() -> dict[str, str]:
    return _from_tests()[0]


# ---- workspace ------------------------------------------------------------------------------------
def _demo_fingerprint(ws) -> str:
    import json

    return json.loads((ws.runs / "demo-multimodal" / "config.json").read_text())["fingerprint"]


def _find_demo_dataset(fingerprint: str) -> Path | None:
    """A dataset with the demo runs' fingerprint in the project workspace, if there is one."""
    from synth_core.dataset import Dataset

    root = Path(os.environ.get("MEDSYNTH_WORKSPACE") or ROOT / "workspace") / "datasets"
    if not root.is_dir():
        return None
    for p in sorted(root.iterdir()):
        try:
            if (p / "dataset.json").is_file() and Dataset(p).fingerprint == fingerprint:
                return p
        except Exception:  # noqa: BLE001 - an unreadable dataset is simply not used
            continue
    return None


def build_workspace(root: Path, build_demo: bool):
    """(workspace, demo dataset name or None, note)."""
    from synth_core.dataset import Dataset
    from synth_core.workspace import Workspace
    _, _, make_tiny_dataset, make_fake_set = _from_tests()
    from training.cli import DEMO_RUNS
    from training.demo import install_demo_runs

    ws = Workspace.open(root)
    install_demo_runs(ws, DEMO_RUNS)
    fp = _demo_fingerprint(ws)
    demo, note = None, ""
    found = _find_demo_dataset(fp)
    if found is not None:
        (ws.datasets / "demo").symlink_to(found, target_is_directory=True)
        demo, note = "demo", f"demo dataset linked from {found}"
    elif build_demo:
        from synth_core.demo.build import DemoParams, build_demo as build

        t0 = time.perf_counter()
        build(ws.path("datasets", "demo"), params=DemoParams(), progress=False)
        if Dataset(ws.path("datasets", "demo")).fingerprint == fp:
            demo = "demo"
            note = f"demo dataset built in {time.perf_counter() - t0:.0f} s"
        else:
            note = "the demo dataset built here does not match the demo runs' fingerprint"
    if demo is None:
        make_tiny_dataset(root, name="tiny", size=128, cases=6, slices=4)
        note = note or "no demo dataset (--quick): a tiny 128 px dataset stands in"
    make_fake_set(root, dataset=demo or "tiny", n=12)
    return ws, demo, note


# ---- browser helpers ------------------------------------------------------------------------------
class _Requests:
    """Time of the last finished (or failed) request, from the Python side."""

    def __init__(self, page):
        self.last = 0.0
        page.on("requestfinished", self._done)
        page.on("requestfailed", self._done)

    def _done(self, _req) -> None:
        self.last = time.perf_counter()


def _settle(page, marker: str, reqs: _Requests, t0: float, timeout_ms: int = 180_000) -> float:
    page.get_by_text(marker).first.wait_for(timeout=timeout_ms)
    t_marker = time.perf_counter()
    page.wait_for_load_state("networkidle", timeout=timeout_ms)
    return max(t_marker, reqs.last) - t0


def first_render(page, url: str, marker: str, reqs: _Requests) -> float:
    reqs.last = 0.0
    t0 = time.perf_counter()
    page.goto(url, wait_until="commit")
    dt = _settle(page, marker, reqs, t0)
    if page.locator("[data-testid='stException']").count():
        raise RuntimeError(f"{url}: the page shows an exception")
    return dt


def _img_changed(page, selector_js: str, old: str | None, timeout_ms: int = 120_000) -> None:
    page.wait_for_function(
        f"""old => {{ const im = {selector_js};
                     return !!im && im.getAttribute('src') !== old && im.complete && im.naturalWidth > 0; }}""",
        arg=old, timeout=timeout_ms, polling="raf")


FIRST_IMG = f'document.querySelector("{GRID_IMG}")'
LAST_IMG = f'Array.from(document.querySelectorAll("{GRID_IMG}")).pop()'


def _choose(page, label: str, option: str) -> None:
    box = page.locator("[data-testid='stSelectbox']").filter(has_text=label)
    box.locator("input").first.click()
    page.get_by_role("option", name=option).first.click()


# ---- direct references ----------------------------------------------------------------------------
def _grid_direct(ex, seed: int, n: int = 8, *, masks: bool = True) -> np.ndarray:
    """What the page's random tab computes for a seed it has not shown: latents -> maps (and masks)
    -> tiles -> grid (no image encoding). The explorer's map cache is emptied first."""
    from synth_core.render import grid, overlay, upscale

    ex.forget_maps()
    z = ex.random_latents(seed, n)
    if masks:
        maps, mask = ex.maps(z)
    else:
        maps, mask = ex.structure_maps(z), None
    tiles = [overlay(np.zeros(m.shape, np.float32), structure=m, mask=None if mask is None else mask[i])
             for i, m in enumerate(maps)]
    return upscale(grid(tiles, columns=min(n, 8), pad=2), max(1, 128 // ex.size))


def _grid_complete(page, seed: int, timeout_ms: int = 120_000) -> None:
    """Wait until the random tab's grid shows seed ``seed`` with its organ masks (final caption) and has loaded."""
    page.wait_for_function(
        f"""seed => {{ const c = document.querySelector("[data-testid='stImageCaption']");
                      const im = {FIRST_IMG};
                      return !!c && !!im && c.textContent.includes('of seed ' + seed + ' ')
                             && c.textContent.includes('organ mask') && !c.textContent.includes('computing')
                             && im.complete && im.naturalWidth > 0; }}""",
        arg=seed, timeout=timeout_ms, polling="raf")


def _render_direct(ex, lesions, z) -> float:
    """Seconds of what the whole-sample fragment computes: ``render`` of one latent."""
    t0 = time.perf_counter()
    ex.render(z, lesions, seed=0)
    return time.perf_counter() - t0


# ---- the benchmark --------------------------------------------------------------------------------
def run(quick: bool) -> list[Row]:
    if not Path(CHROMIUM).exists():
        return [Row("pages", "(skipped)", float("nan"), "", note="Debian chromium is not installed "
                    "(apt-get install -y chromium)")]
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return [Row("pages", "(skipped)", float("nan"), "", note="playwright is not installed")]
    _, Server, _, _ = _from_tests()

    passes = 1 if quick else 3
    trials = 8 if quick else 15
    # no new latent trial once the run has taken this long (a busy machine gets fewer trials: at least 3
    # of the Seed, 2 of the whole sample)
    load = f"; 1-min load before the run {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores" \
        if hasattr(os, "getloadavg") else ""
    deadline = time.perf_counter() + (110.0 if quick else 600.0)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-pages-") as tmp:
        ws, demo, ws_note = build_workspace(Path(tmp) / "ws", build_demo=not quick)
        _log(f"workspace ready ({ws_note})")
        server = Server(ws.root)
        # drain the server's output so a chatty server can never block on a full pipe
        threading.Thread(target=lambda: [None for _ in server.proc.stdout], daemon=True).start()
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=CHROMIUM,
                    args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync"])
                try:
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    reqs = _Requests(page)
                    rows += _first_renders(page, server.url, reqs, passes)
                    _log("first renders measured")
                    rows += _latent(page, server.url, reqs, ws, demo, trials, deadline)
                    _log("latent page measured")
                finally:
                    browser.close()
        finally:
            server.stop()
    rows[0].note += f"; workspace: demo runs + {ws_note}{load}"
    return rows


def _first_renders(page, url: str, reqs: _Requests, passes: int) -> list[Row]:
    pages = _pages()
    warm = first_render(page, f"{url}/", pages[""], reqs)  # server's first session, first script run
    best = {path: float("inf") for path in pages}
    for _ in range(passes):  # interleaved passes, best of each page
        for path, marker in pages.items():
            best[path] = min(best[path], first_render(page, f"{url}/{path}", marker, reqs))
    rows = []
    for path, marker in pages.items():
        rows.append(Row("pages", f"first render /{path}", best[path], "s",
                        note=f"goto -> '{marker}' visible + network idle; best of {passes}"
                             + (f"; very first load of / was {warm:.2f} s" if path == "" else "")))
    return rows


def _latent(page, url: str, reqs: _Requests, ws, demo: str | None, trials: int, deadline: float) -> list[Row]:
    import torch

    from synth_core.synthesis.explorer import LatentExplorer

    marker = _pages()["latent"]
    first_render(page, f"{url}/latent", marker, reqs)
    _choose(page, "Image generator", "(none: structure maps only)")
    page.get_by_text("Choose a multimodal run above").first.wait_for(timeout=120_000)
    page.wait_for_timeout(500)
    ex = LatentExplorer.open(ws, "demo-structure", "")
    seed_box = page.get_by_label("Seed", exact=True).first
    threads = torch.get_num_threads()
    page_t, full_t, direct_t, direct_full_t, one_t = [], [], [], [], []
    for k in range(trials):  # interleaved: one page change, the direct computations (+ on 1 thread)
        if k >= 3 and time.perf_counter() > deadline:
            break
        seed = 100 + 7 * k  # never shown before, not a neighbour of the last one
        old = page.locator(GRID_IMG).first.get_attribute("src")
        t0 = time.perf_counter()
        seed_box.fill(str(seed))
        seed_box.press("Enter")
        _img_changed(page, FIRST_IMG, old)
        page_t.append(time.perf_counter() - t0)
        _grid_complete(page, seed)
        full_t.append(time.perf_counter() - t0)
        page.wait_for_timeout(300)  # let the page's own rerun settle before the direct runs
        t0 = time.perf_counter()
        _grid_direct(ex, seed, masks=False)
        direct_t.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        _grid_direct(ex, seed)
        direct_full_t.append(time.perf_counter() - t0)
        if threads > 1:
            torch.set_num_threads(1)
            try:
                t0 = time.perf_counter()
                _grid_direct(ex, seed)
                one_t.append(time.perf_counter() - t0)
            finally:
                torch.set_num_threads(threads)
    best = lambda ts: min(ts[1:] or ts)  # noqa: E731  (first trial: warm-up)
    pt, dt, ft, dft = best(page_t), best(direct_t), best(full_t), best(direct_full_t)
    one = f"; maps + masks direct on 1 thread {best(one_t) * 1e3:.0f} ms (page server and reference: {threads})" \
        if one_t else ""
    rows = [Row("pages", f"latent: Seed -> first new maps on screen ({ex.size} px, 8 maps)", pt, "s", dt, pt / dt,
                target=f"< {TARGET_S} s", ok=pt < TARGET_S,
                note=f"structure maps (G_s), masks follow; best of {len(page_t) - 1} (median "
                     f"{np.median(page_t):.2f} s); reference = the same LatentExplorer calls + tile grid direct; "
                     "ratio = page / direct"),
            Row("pages", f"latent: Seed -> complete grid with organ masks ({ex.size} px, 8 maps)", ft, "s", dft,
                ft / dft, note=f"best of {len(full_t) - 1} (median {np.median(full_t):.2f} s); reference = maps + "
                               f"masks direct{one}")]
    if demo is None:
        rows.append(Row("pages", "latent: whole-sample render", float("nan"), "s",
                        note="not measured: needs the demo dataset (run without --quick, or build it with "
                             "`python -m synth_core demo-data` into the project workspace)"))
        return rows
    rows.append(_whole_sample(page, ws, demo, max(3, trials // 2), deadline + 20.0))
    return rows


def _whole_sample(page, ws, demo: str, trials: int, deadline: float) -> Row:
    from synth_core.dataset import Dataset
    from synth_core.lesions import LesionBank
    from synth_core.lesions.augment import AugmentRanges
    from synth_core.synthesis.explorer import LatentExplorer
    from synth_core.synthesis.lesions import LesionSource

    old = page.locator(GRID_IMG).last.get_attribute("src")
    _choose(page, "Image generator", "demo-multimodal")
    _img_changed(page, LAST_IMG, old, timeout_ms=180_000)
    page.wait_for_load_state("networkidle")
    ex = LatentExplorer.open(ws, "demo-structure", "demo-multimodal")
    ds = Dataset(ws.existing("datasets", demo))
    m = ex.models
    lesions = LesionSource("augmented", LesionBank.from_dataset(ds, splits=("train",)),
                           AugmentRanges.from_dict(m.lesion_ranges) if m.lesion_ranges else AugmentRanges(),
                           tries=m.settings.lesion_tries, mask_filter=m.settings.mask_filter)
    # the traversal tab's latent exists once that tab has been open (only the open tab runs)
    page.get_by_role("tab", name="Traversal").click()
    page.get_by_text("Span (standard deviations)").first.wait_for(timeout=120_000)
    page.get_by_role("tab", name="Random maps").click()
    page.get_by_label("Seed", exact=True).first.wait_for(timeout=120_000)
    page.wait_for_load_state("networkidle")
    radio = page.locator("[data-testid='stRadio']").filter(has_text="Latent from")
    seed_box = page.get_by_label("Seed", exact=True).first
    page_t, direct_t = [], []
    for k in range(trials):
        if k >= 2 and time.perf_counter() > deadline:
            break
        # untimed: show the traversal's sample, then pick a new seed in the random tab (a fragment
        # rerun: the whole sample does not change yet)
        old = page.locator(GRID_IMG).last.get_attribute("src")
        radio.get_by_text("traversal", exact=True).click()
        _img_changed(page, LAST_IMG, old)
        seed = 1000 + k
        old_grid = page.locator(GRID_IMG).first.get_attribute("src")
        seed_box.fill(str(seed))
        seed_box.press("Enter")
        _img_changed(page, FIRST_IMG, old_grid)
        page.wait_for_load_state("networkidle")
        # timed: back to "random" -> the whole sample of the new seed's latent, never shown before
        old = page.locator(GRID_IMG).last.get_attribute("src")
        t0 = time.perf_counter()
        radio.get_by_text("random", exact=True).click()
        _img_changed(page, LAST_IMG, old)
        page_t.append(time.perf_counter() - t0)
        direct_t.append(_render_direct(ex, lesions, ex.random_latents(seed, 8)[0]))
    pt, dt = min(page_t), min(direct_t)  # the whole sample was already rendered once: no warm-up trial
    return Row("pages", f"latent: 'Latent from' -> whole sample ({ex.size} px, {len(m.modalities)} modalities)",
               pt, "s", dt, pt / dt, target=f"< {TARGET_S} s", ok=pt < TARGET_S,
               note=f"the whole-sample fragment reruns; best of {len(page_t)} (median {np.median(page_t):.2f} s); "
                    "reference = render of the latent direct; ratio = page / direct")
