"""The MNI152 templates load from the files inside nilearn, with no network."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from synth_core.demo import templates
from synth_core.demo.templates import TEMPLATE_FILES, load_templates, nilearn_data_dir


def _no_network(*args, **kwargs):
    raise OSError("network access attempted while loading the templates")


def test_templates_load_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "socket", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(socket, "getaddrinfo", _no_network)
    load_templates.cache_clear()
    try:
        t = load_templates()
    finally:
        load_templates.cache_clear()
    assert t.t1.shape == t.gm.shape == t.wm.shape == t.brain.shape == (189, 233, 197)  # (Z, H, W)
    assert 1.5e6 < t.brain.sum() < 2.2e6  # about 1.9 litres at 1 mm
    for a in (t.t1, t.gm, t.wm, t.csf):
        assert a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
        assert not a[t.brain == 0].any()
    # the template T1 already orders the tissues: WM > GM > CSF
    means = {name: t.t1[p > 0.9].mean() for name, p in (("wm", t.wm), ("gm", t.gm), ("csf", t.csf))}
    assert means["wm"] > means["gm"] > means["csf"]
    assert not t.t1.flags.writeable  # cached and shared: read-only


def test_data_dir_holds_the_packaged_files() -> None:
    folder = nilearn_data_dir()
    assert "nilearn" in str(folder)
    for name in TEMPLATE_FILES.values():
        assert (folder / name).is_file()


def test_display_orientation_known_answer() -> None:
    """RAS (X, Y, Z) -> (Z, H, W): anterior (max Y) on row 0, patient right (max X) on column 0."""
    ras = np.zeros((4, 5, 3), dtype=np.float32)
    ras[3, 0, 2] = 1.0  # right-most, posterior-most, superior-most voxel
    disp = templates._to_display(ras)
    assert disp.shape == (3, 5, 4)
    assert disp[2, 4, 0] == 1.0 and disp.sum() == 1.0
