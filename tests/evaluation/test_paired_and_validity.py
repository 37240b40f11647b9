"""Paired reconstruction metrics (whole image and lesion crop), the generator input of the
reconstruction, the pix2pix fill, and the lesion-validity scores of a segmenter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from synth_core.evaluation.lesion_validity import segmenter_scores
from synth_core.evaluation.paired import fill_real_lesions, paired_scores, reconstruct_multimodal
from synth_core.nets import UNet


def _slices(n=4, size=32, seed=0):
    rng = np.random.default_rng(seed)
    imgs = rng.random((n, size, size)).astype(np.float32) * 0.5
    labels = np.zeros((n, size, size), np.uint8)
    labels[0, 10:16, 12:18] = 1
    labels[1, 20:22, 3:5] = 2
    return imgs, labels


def test_paired_scores_whole_image_and_lesion_crop():
    real, labels = _slices()
    s = paired_scores(real, real, labels)
    assert s[("psnr", "image")] == (np.inf, 4)
    assert s[("ssim", "image")][0] == pytest.approx(1.0) and s[("ms_ssim", "lesion")][0] == pytest.approx(1.0)
    assert s[("mse", "image")] == (0.0, 4) and s[("mse", "lesion")] == (0.0, 2)
    worse = real.copy()
    worse[0, 10:16, 12:18] += 0.3  # change only inside the lesion of slice 0
    s = paired_scores(worse, real, labels)
    assert s[("mse", "lesion")][0] == pytest.approx(0.3**2 * 36 / (11 * 11) / 2, rel=1e-4)  # 11 px box, 2 lesion slices
    assert s[("mse", "image")][0] == pytest.approx(0.3**2 * 36 / 32**2 / 4, rel=1e-4)
    assert s[("psnr", "lesion")][0] == np.inf  # the untouched lesion slice reproduces exactly
    s = paired_scores(real, real, np.zeros_like(labels))
    assert np.isnan(s[("ssim", "lesion")][0]) and s[("ssim", "lesion")][1] == 0


def test_reconstruction_builds_the_pretraining_input_and_is_seeded():
    torch.manual_seed(0)
    G = UNet(in_channels=3, out_channels=1, base_channels=4, depth=2, condition_dim=2, condition_at="decoder")
    _, labels = _slices()
    structure = (np.random.default_rng(1).random((4, 32, 32)) > 0.8).astype(np.uint8)
    masks = np.ones((4, 32, 32), np.uint8)
    kw = dict(n_modalities=2, n_classes=3, seed=5, batch_size=3)
    a = reconstruct_multimodal(G, structure, masks, labels, **kw)
    assert a.shape == (4, 2, 32, 32) and a.dtype == np.float32 and 0 <= a.min() and a.max() <= 1
    assert np.array_equal(a, reconstruct_multimodal(G, structure, masks, labels, **kw))
    assert G.training  # mode restored
    b = reconstruct_multimodal(G, structure, masks, labels, **{**kw, "seed": 6})
    assert not np.array_equal(a, b)  # the fused noise changed
    c = reconstruct_multimodal(G, structure, masks, labels, **{**kw, "noise_fusion": False})
    assert np.array_equal(c, reconstruct_multimodal(G, structure, masks, labels, **{**kw, "noise_fusion": False, "seed": 9}))


def test_fill_real_lesions_returns_raw_generator_output():
    torch.manual_seed(0)
    G = UNet(in_channels=1, out_channels=1, base_channels=4, depth=2)
    imgs, labels = _slices()
    out = fill_real_lesions(G, imgs, labels)
    assert out.shape == imgs.shape
    assert not np.allclose(out[labels == 0], imgs[labels == 0])  # not composited


class _Threshold(nn.Module):
    """A 'segmenter' that calls every pixel brighter than 0.5 a lesion of class 1 (or nothing)."""

    def __init__(self, blind: bool = False):
        super().__init__()
        self.blind = blind

    def forward(self, x):
        lesion = torch.full_like(x, -20.0) if self.blind else 40.0 * (x - 0.5)
        return torch.cat([torch.zeros_like(x), lesion, torch.full_like(x, -30.0)], dim=1)


def test_segmenter_scores_dice_and_probability_mse_on_lesion_slices():
    imgs, labels = _slices()
    imgs = np.where(labels > 0, 0.9, 0.1).astype(np.float32)
    good = segmenter_scores(_Threshold(), imgs, labels)
    assert good["n"] == 2 and good["dice"] == pytest.approx(1.0) and good["mse"] < 1e-6
    blind = segmenter_scores(_Threshold(blind=True), imgs, labels)
    assert blind["dice"] == 0.0
    lesion_fraction = np.mean([(labels[i] > 0).mean() for i in (0, 1)])
    assert blind["mse"] == pytest.approx(lesion_fraction, rel=1e-6)
    none = segmenter_scores(_Threshold(), imgs, np.zeros_like(labels))
    assert none["n"] == 0 and np.isnan(none["dice"])


def test_paper_convention_is_the_usual_psnr_plus_48_13_db_and_ssim_near_one():
    from synth_core.evaluation.paired import paper_scores

    rng = np.random.default_rng(0)
    real = rng.uniform(0.2, 0.8, (3, 24, 24)).astype(np.float32)
    gen = np.clip(real + rng.normal(0, 0.05, real.shape), 0, 1).astype(np.float32)
    lab = np.zeros(real.shape, np.uint8)
    usual = paired_scores(gen, real, lab)
    paper = paper_scores(gen, real)
    assert paper["psnr_paper"][1] == 3
    # 10 log10(255^2 / mse) = 10 log10(1 / mse) + 20 log10(255)
    assert paper["psnr_paper"][0] == pytest.approx(usual[("psnr", "image")][0] + 20 * np.log10(255), abs=1e-4)
    assert 20 * np.log10(255) == pytest.approx(48.13, abs=0.005)
    assert usual[("ssim", "image")][0] < 0.99 < 0.999 < paper["ssim_paper"][0] < 1.0
    assert paper_scores(real, real)["ssim_paper"][0] == pytest.approx(1.0)
    with pytest.raises(ValueError, match=r"got \(3, 24, 24\) and \(24, 24\)"):
        paper_scores(gen, real[0])
