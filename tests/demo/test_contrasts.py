"""Known-answer checks of the intensity models and the acquisition effects."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synth_core.demo.contrasts import (
    INTENSITY,
    MODALITIES,
    TISSUES,
    ContrastParams,
    acquire,
    bias_field,
    clean_contrasts,
    jitter_intensities,
    normalise_percentile,
    rician_noise,
    tissue_image,
)


def _pure(tissue: str, n: int = 4) -> dict[str, np.ndarray]:
    return {t: np.full(n, 1.0 if t == tissue else 0.0, dtype=np.float32) for t in TISSUES}


def _assert_orderings(tab: dict[str, dict[str, float]]) -> None:
    t1, t1ce, t2, flair = (tab[m] for m in MODALITIES)
    assert t1["wm"] > t1["gm"] > t1["csf"]
    assert t1ce["wm"] > t1ce["gm"] > t1ce["csf"]
    assert t2["csf"] > t2["gm"] > t2["wm"]
    assert flair["gm"] > flair["wm"] > flair["csf"]
    assert flair["oedema"] == max(flair.values())
    assert t1ce["enhancing"] == max(t1ce.values()) and t1ce["enhancing"] > t1["enhancing"]
    assert t1["necrosis"] < t1["wm"] and t2["necrosis"] > t2["wm"]  # core dark on T1, bright on T2
    assert t1["oedema"] < t1["wm"] and t2["oedema"] > t2["wm"]  # oedema slightly dark on T1


def test_table_orderings() -> None:
    _assert_orderings(INTENSITY)


@pytest.mark.parametrize("modality", ["t2", "flair"])
@pytest.mark.parametrize("tissue", TISSUES)
def test_tissue_model_pure_voxels(modality: str, tissue: str) -> None:
    img = tissue_image(_pure(tissue), INTENSITY[modality])
    np.testing.assert_allclose(img, INTENSITY[modality][tissue], rtol=1e-6)


def test_partial_volume_mixes_linearly() -> None:
    f = {"gm": np.array([0.25], np.float32), "wm": np.array([0.75], np.float32)}
    expected = 0.25 * INTENSITY["t2"]["gm"] + 0.75 * INTENSITY["t2"]["wm"]
    assert tissue_image(f, INTENSITY["t2"])[0] == pytest.approx(expected)


def test_clean_contrasts_known_answer() -> None:
    """Voxels: WM, GM, CSF, necrosis, enhancing, oedema; template T1 0.9 / 0.6 / 0.25 in normal tissue."""
    names = ["wm", "gm", "csf", "necrosis", "enhancing", "oedema"]
    tissues = {t: np.array([1.0 if n == t else 0.0 for n in names], np.float32) for t in TISSUES}
    t1 = np.array([0.9, 0.6, 0.25, 0.5, 0.5, 0.5], np.float32)
    out = clean_contrasts(t1, tissues, INTENSITY, params=ContrastParams(t1ce_template_weight=1.0))
    assert out.shape == (4, 6)
    wm_level = 0.9  # mean template T1 in pure white matter
    np.testing.assert_allclose(out[0, :3], t1[:3])  # T1 = the template where there is no tumour
    np.testing.assert_allclose(out[0, 3:], [wm_level * INTENSITY["t1"][t] for t in names[3:]], rtol=1e-6)
    np.testing.assert_allclose(out[1, 4], wm_level * INTENSITY["t1ce"]["enhancing"], rtol=1e-6)
    np.testing.assert_allclose(out[2], [INTENSITY["t2"][t] for t in names], rtol=1e-6)
    np.testing.assert_allclose(out[3], [INTENSITY["flair"][t] for t in names], rtol=1e-6)
    assert out[1, 4] == out[1].max()  # enhancing rim brightest on T1c


def test_jitter_keeps_orderings() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        _assert_orderings(jitter_intensities(rng, 0.1099))
    with pytest.raises(ValueError, match="jitter"):
        ContrastParams(intensity_jitter=0.2)


def test_rician_noise_statistics() -> None:
    rng = np.random.default_rng(0)
    sigma = 0.1
    zero = rician_noise(np.zeros(200_000, np.float32), sigma, rng)
    assert zero.min() >= 0
    assert zero.mean() == pytest.approx(sigma * math.sqrt(math.pi / 2), rel=0.02)  # Rayleigh mean
    high = rician_noise(np.full(200_000, 10.0, np.float32), sigma, rng)
    assert high.mean() == pytest.approx(10.0, abs=0.005) and high.std() == pytest.approx(sigma, rel=0.03)
    mask = np.zeros(10, bool)
    mask[:5] = True
    part = rician_noise(np.ones(10, np.float32), sigma, rng, mask=mask)
    assert np.all(part[5:] == 1.0) and np.any(part[:5] != 1.0)


def test_bias_field_is_smooth_with_the_chosen_strength() -> None:
    field = bias_field(np.random.default_rng(3), (20, 24, 22), 0.1)
    log = np.log(field)
    assert log.mean() == pytest.approx(0.0, abs=1e-5)
    assert log.std() == pytest.approx(0.1, rel=1e-3)
    assert np.abs(np.diff(log, axis=2)).max() < 0.1  # smooth: small steps between neighbours


def test_normalise_percentile() -> None:
    rng = np.random.default_rng(0)
    vol = rng.uniform(1.0, 2.0, size=(10, 10, 10)).astype(np.float32)
    mask = np.zeros(vol.shape, bool)
    mask[2:8, 2:8, 2:8] = True
    out = normalise_percentile(vol, mask)
    assert out.dtype == np.float32 and out.min() == 0.0 and out.max() == 1.0
    assert not out[~mask].any()  # background stays 0 (skull-stripped)
    assert out[mask].min() > 0.4  # low end at the zero background: tissue keeps its contrast to it
    assert np.mean(out[mask] == 1.0) == pytest.approx(0.005, abs=0.005)


def test_acquire_output_range() -> None:
    rng = np.random.default_rng(0)
    clean = rng.uniform(0.2, 1.0, size=(4, 8, 12, 12)).astype(np.float32)
    mask = np.zeros((8, 12, 12), bool)
    mask[1:7, 2:10, 2:10] = True
    out = acquire(clean, mask, rng)
    assert out.shape == clean.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1 and not out[:, ~mask].any()
