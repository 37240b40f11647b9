"""The dashboard's Streamlit settings that matter for privacy and speed."""

from __future__ import annotations

import tomllib

from tests.conftest import ROOT


def _config() -> dict:
    return tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())


def test_server_is_local_only_and_shows_no_tracebacks():
    cfg = _config()
    assert cfg["server"]["address"] == "127.0.0.1"  # medical data: nothing listens beyond this machine
    assert cfg["browser"]["gatherUsageStats"] is False  # no usage statistics leave the machine
    assert cfg["client"]["showErrorDetails"] == "none"  # errors reach users as st.error lines, not tracebacks


def test_no_full_garbage_collection_after_every_rerun():
    # a full gc.collect() after each run holds the GIL ~0.2 s with the models loaded and delays the
    # browser's image requests (benchmarks/bench_pages.py)
    assert _config()["runner"]["postScriptGC"] is False
