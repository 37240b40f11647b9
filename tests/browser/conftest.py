"""Real-browser fixtures: a Streamlit server on a free loopback port and Debian's Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "test-artifacts" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


#: set to 1 to skip the browser tests on a machine without Chromium (they fail there otherwise)
SKIP_ENV = "MEDSYNTH_SKIP_BROWSER"


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium. Missing, the browser tests fail (``make test`` runs everything) unless
    ``MEDSYNTH_SKIP_BROWSER=1`` says to skip them."""
    if not Path(CHROMIUM).exists():
        why = f"Debian chromium is not installed at {CHROMIUM} (apt-get install -y chromium)"
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"{why}; skipped because {SKIP_ENV}=1")
        pytest.fail(f"{why}; install it, or set {SKIP_ENV}=1 to skip the browser tests", pytrace=False)
    return CHROMIUM


class Server:
    def __init__(self, workspace: Path):
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, MEDSYNTH_WORKSPACE=str(workspace))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
             "--server.address", "127.0.0.1", "--server.port", str(self.port),
             "--server.headless", "true", "--server.fileWatcherType", "none",
             "--browser.gatherUsageStats", "false", "--", "--workspace", str(workspace)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError("streamlit server did not start within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture
def browser_page(chromium_path: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=chromium_path,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            yield page
        finally:
            browser.close()


def screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
