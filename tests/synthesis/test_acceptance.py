"""Acceptance of generated structure maps by D_s (METHOD.md §13), with networks whose scores are known."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from synth_core.errors import ConfigError
from synth_core.lesions.augment import AugmentRanges
from synth_core.synthesis.acceptance import accepted_latents, try_latents, try_seed
from synth_core.synthesis.lesions import LesionSource
from synth_core.synthesis.pipeline import catalog_rows, generate_batch, latents
from tests.synthesis.test_pipeline import SIZE, DiscMaps, _bank, _models


class RadiusJudge(nn.Module):
    """D_s: scores a ring map by its radius — large rings (z[0] > 0) look 'real' (score > 0.5)."""

    def forward(self, s):
        yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
        d = torch.hypot(yy - SIZE / 2 + 0.5, xx - SIZE / 2 + 0.5)
        mean_d = (s[:, 0] * d).sum(dim=(1, 2)) / s[:, 0].sum(dim=(1, 2)).clamp(min=1)
        score = (mean_d - 8.0) / 4.0  # radius 8 -> 0, radius 12 -> 1
        return score[:, None, None, None].expand(-1, 1, 2, 2), None


def test_without_a_judge_or_threshold_every_sample_keeps_its_seeded_latent():
    idx = np.arange(7)
    for d_s, thr in ((None, 0.55), (RadiusJudge(), 0.0)):
        z, real, tries = accepted_latents(DiscMaps(), d_s, 3, idx, 4, threshold=0.5, min_realness=thr, tries=50)
        assert torch.equal(z, latents(3, idx, 4))  # try 0 is the set's own latent stream
        assert np.isnan(real).all() and (tries == 1).all()


def test_kept_maps_pass_the_judge_or_are_the_best_of_all_tries():
    idx = np.arange(24)
    z, real, tries = accepted_latents(DiscMaps(), RadiusJudge(), 0, idx, 4, threshold=0.5, min_realness=0.55, tries=50)
    judged = RadiusJudge()((DiscMaps()(z) > 0.5).float())[0].mean(dim=(1, 2, 3)).numpy()
    assert np.allclose(judged, real, atol=1e-6)  # the recorded score is the kept map's score
    assert (real >= 0.55).all()  # half of all latents pass, so 50 tries always find one
    assert (tries >= 1).all() and (tries > 1).any() and tries.max() <= 50
    # a sample that passed at try 0 is unchanged
    first = latents(0, idx, 4)
    assert torch.equal(z[tries == 1], first[torch.from_numpy(tries == 1)])
    # an impossible threshold keeps, for each sample, the highest score among its tries
    z2, real2, tries2 = accepted_latents(DiscMaps(), RadiusJudge(), 0, idx[:3], 4, threshold=0.5, min_realness=1.4,
                                         tries=5)
    assert (tries2 == 5).all()
    for r, i in enumerate(idx[:3]):
        cands = torch.cat([try_latents(0, [i], 4, t) for t in range(5)])
        scores = RadiusJudge()((DiscMaps()(cands) > 0.5).float())[0].mean(dim=(1, 2, 3)).numpy()
        assert real2[r] == pytest.approx(scores.max(), abs=1e-6)


@pytest.mark.parametrize("chunk", [2, 7, 10, 60])
def test_scoring_several_tries_per_call_keeps_the_same_latents(chunk):
    idx = np.arange(24)
    for thr, tries in ((0.55, 50), (0.9, 5), (5.0, 12)):  # 5.0: nothing passes, every sample keeps its best try
        want = accepted_latents(DiscMaps(), RadiusJudge(), 4, idx, 4, threshold=0.5, min_realness=thr, tries=tries)
        got = accepted_latents(DiscMaps(), RadiusJudge(), 4, idx, 4, threshold=0.5, min_realness=thr, tries=tries,
                               chunk=chunk)
        assert torch.equal(got[0], want[0]) and np.array_equal(got[2], want[2])
        assert np.allclose(got[1], want[1], atol=1e-6)
    with pytest.raises(ConfigError, match="chunk must be >= 1"):
        accepted_latents(DiscMaps(), RadiusJudge(), 4, idx, 4, threshold=0.5, min_realness=0.5, tries=5, chunk=0)


def test_try_streams_are_distinct_per_sample_and_try_and_repeat():
    seeds = {try_seed(1, i, t) for i in range(10) for t in range(10)}
    assert len(seeds) == 100
    a = accepted_latents(DiscMaps(), RadiusJudge(), 5, np.arange(9), 4, threshold=0.5, min_realness=0.55, tries=20)
    b = accepted_latents(DiscMaps(), RadiusJudge(), 5, np.arange(9), 4, threshold=0.5, min_realness=0.55, tries=20)
    assert torch.equal(a[0], b[0]) and np.array_equal(a[2], b[2])
    with pytest.raises(ConfigError):
        accepted_latents(DiscMaps(), RadiusJudge(), 5, [0], 4, threshold=0.5, min_realness=0.5, tries=0)


def test_generate_batch_screens_maps_and_the_catalog_records_it():
    models = _models(structure_min_realness=0.55, structure_tries=50)
    models.D_s = RadiusJudge()
    lesions = LesionSource("augmented", _bank(), AugmentRanges(scale=(0.8, 1.2)))
    b = generate_batch(models, lesions, seed=2, indices=range(8))
    assert (b.realness >= 0.55).all()
    again = generate_batch(models, lesions, seed=2, indices=range(8))
    assert np.array_equal(b.images, again.images) and np.array_equal(b.structure, again.structure)
    rows = catalog_rows(b, 2, 8, "augmented", [{} for _ in range(8)])
    assert [r["structure_tries"] for r in rows] == b.tries.tolist()
    assert all(r["structure_ds_score"] >= 0.55 for r in rows)
    # an explicit latent (picked on the Latent space page) is kept as it is
    z = np.zeros((2, 4), np.float32)
    picked = generate_batch(models, lesions, seed=2, indices=[0, 1], z=z)
    assert np.array_equal(picked.z, z) and np.isnan(picked.realness).all()
