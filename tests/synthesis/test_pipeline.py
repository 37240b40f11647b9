"""The synthesis pipeline with hand-made networks whose outputs are known: per-sample seeding,
lesion containment, label replay, catalog figures, atomic set writing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from synth_core.errors import ConfigError, ExistsError
from synth_core.lesions.augment import AugmentRanges
from synth_core.lesions.bank import LesionBank
from synth_core.synthesis.figures import RealReference, memorisation_features, sample_figures
from synth_core.synthesis.lesions import LesionSource, label_from_record
from synth_core.synthesis.models import GenerationSettings, SynthesisModels
from synth_core.synthesis.pipeline import batch_indices, generate_batch, latents, stream_seed, synthesize
from synth_core.synthesis.setstore import SyntheticSet

SIZE = 32


class DiscMaps(nn.Module):
    """G_s: a ring whose radius follows z[0]; G_m: the filled disc inside any ring."""

    latent_dim = 4
    image_size = SIZE

    def forward(self, z):
        yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
        d = torch.hypot(yy - SIZE / 2 + 0.5, xx - SIZE / 2 + 0.5)
        r = 10 + 2 * torch.tanh(z[:, :1])[:, :, None]  # (B, 1, 1)
        return ((d[None] - r).abs() < 1.0).float()[:, None]


class FilledDisc(nn.Module):
    def forward(self, s):
        yy, xx = torch.meshgrid(torch.arange(SIZE), torch.arange(SIZE), indexing="ij")
        d = torch.hypot(yy - SIZE / 2 + 0.5, xx - SIZE / 2 + 0.5)
        return (d < 11).float().expand(s.shape[0], 1, SIZE, SIZE).clone()


class Copy(nn.Module):
    """G: modality i = fused map * (i + 1) / 3 + lesion channels / 3 (so the label shows)."""

    condition_dim = 2

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(1))

    def forward(self, x, cond):
        k = cond.argmax(dim=1).float()[:, None, None, None]
        return (x[:, :1] * (k + 1) / 3 + x[:, 1:].sum(1, keepdim=True) / 3).clamp(0, 1) * self.w


def _bank() -> LesionBank:
    lab = np.zeros((1, SIZE, SIZE), np.uint8)
    lab[0, 14:18, 14:19] = 1
    lab[0, 5:7, 5:7] = 2
    return LesionBank.from_arrays(lab, case_ids=["c0"], label_names={0: "bg", 1: "core", 2: "edema"})


def _models(G: nn.Module | None = None, **settings) -> SynthesisModels:
    return SynthesisModels(G_s=DiscMaps(), G_m=FilledDisc(), G=Copy() if G is None else G, modalities=("t1", "t2"),
                           label_names={0: "bg", 1: "core", 2: "edema"}, size=SIZE,
                           settings=GenerationSettings(**settings))


def test_stream_seeds_differ_and_repeat():
    seeds = {stream_seed(s, i, k) for s in range(3) for i in range(20) for k in range(3)}
    assert len(seeds) == 180
    assert stream_seed(5, 7, 1) == stream_seed(5, 7, 1) and 0 <= stream_seed(5, 7, 1) < 2**63
    with pytest.raises(ConfigError):
        stream_seed(-1, 0, 0)


def test_latent_of_a_sample_does_not_depend_on_the_others():
    full = latents(3, range(10), 8)
    assert torch.equal(latents(3, [7], 8)[0], full[7])
    assert torch.equal(latents(3, [7, 2], 8), full[[7, 2]])
    assert not torch.equal(latents(4, [7], 8), latents(3, [7], 8))


def test_batches_split_across_ranks_cover_every_sample_once():
    parts = [batch_indices(23, 4, r, 3) for r in range(3)]
    got = np.sort(np.concatenate([b for p in parts for b in p]))
    assert np.array_equal(got, np.arange(23))
    assert [b[0] for b in parts[1]] == [4, 16]
    with pytest.raises(ConfigError):
        batch_indices(0, 4)


def test_generated_lesions_lie_inside_the_generated_mask_and_replay():
    bank = _bank()
    lesions = LesionSource("augmented", bank, AugmentRanges(scale=(0.8, 1.2)))
    b = generate_batch(_models(), lesions, seed=1, indices=range(6))
    assert b.images.shape == (6, 2, SIZE, SIZE) and b.images.dtype == np.float32
    assert b.images.min() >= 0 and b.images.max() <= 1
    assert (b.lesion_index >= 0).all(), "a 22 px disc always has room for these lesions"
    assert not (b.labels.astype(bool) & ~b.masks.astype(bool)).any()  # containment filter
    for r in range(6):
        again = label_from_record(bank, int(b.lesion_index[r]), b.lesion_params[r], (SIZE, SIZE))
        assert np.array_equal(again, b.labels[r])
        assert set(json.loads(b.lesion_params[r])) >= {"scale", "rotation_deg", "flip_lr", "flip_ud"}
    # modality 2 = 2 x modality 1 on the fused map, plus the lesion in both
    assert np.allclose(b.images[:, 1][b.labels == 0], np.clip(2 * b.images[:, 0][b.labels == 0], 0, 1), atol=1e-6)
    # the same indices in another batch composition give the same sample
    again = generate_batch(_models(), lesions, seed=1, indices=[4, 5])
    assert np.array_equal(again.labels, b.labels[4:6]) and np.array_equal(again.images, b.images[4:6])


def test_lesion_modes_bank_and_none_and_ablation_b():
    bank = _bank()
    none = generate_batch(_models(), LesionSource("none", bank), 0, range(3))
    assert not none.labels.any() and (none.lesion_index == -1).all() and none.lesion_params == [""] * 3
    real = generate_batch(_models(), LesionSource("bank", bank), 0, range(8))
    for r in np.flatnonzero(real.lesion_index >= 0):  # unchanged shapes at their own place
        assert json.loads(real.lesion_params[r])["scale"] == 1.0
        entry = bank.entries[int(real.lesion_index[r])]
        assert real.labels[r].astype(bool).sum() == (entry.patch > 0).sum()
    with pytest.raises(ConfigError, match="bank is empty"):
        LesionSource("augmented", LesionBank([]))
    with pytest.raises(ConfigError, match="lesions must be one of"):
        LesionSource("some", bank)


def test_noise_switches_follow_the_settings():
    lesions = LesionSource("none", _bank())
    fused = generate_batch(_models(), lesions, 0, [0]).images[0, 0]
    plain = generate_batch(_models(noise_fusion=False), lesions, 0, [0]).images[0, 0]
    noise = generate_batch(_models(use_structure=False), lesions, 0, [0]).images[0, 0]
    inside = FilledDisc()(torch.zeros(1, 1, SIZE, SIZE))[0, 0].numpy() > 0
    ring = DiscMaps()(latents(0, [0], 4))[0, 0].numpy() > 0
    interior = inside & ~ring
    assert np.all((fused[interior] * 3 >= 0.5 - 1e-6) & (fused[interior] * 3 < 0.6 + 1e-6))  # eq. 12 noise
    assert np.all(plain[interior] == 0) and np.all(plain[ring] > 0)
    assert noise[~inside].std() > 0.05  # noise everywhere, not only in the organ


def test_zero_background_blanks_only_what_lies_outside_the_generated_mask():
    lesions = LesionSource("none", _bank())
    plain = generate_batch(_models(use_structure=False), lesions, 0, [0, 1])  # noise in the whole frame
    blank = generate_batch(_models(use_structure=False, zero_background=True), lesions, 0, [0, 1])
    outside = blank.masks == 0
    assert outside.any() and (plain.images.transpose(1, 0, 2, 3)[:, outside] > 0).any()  # the noise reaches out there
    assert np.all(blank.images.transpose(1, 0, 2, 3)[:, outside] == 0)
    np.testing.assert_array_equal(blank.images.transpose(1, 0, 2, 3)[:, ~outside],
                                  plain.images.transpose(1, 0, 2, 3)[:, ~outside])
    np.testing.assert_array_equal(blank.masks, plain.masks)


class DiscAndSpeck(FilledDisc):
    """G_m: the filled disc plus a 2 x 2 speck in a corner, as a stray contour bit leaves it."""

    def forward(self, s):
        out = super().forward(s)
        out[:, :, 1:3, 1:3] = 1
        return out


def test_mask_min_area_drops_specks_of_the_generated_mask_before_lesions_are_placed():
    lesions = LesionSource("augmented", _bank(), AugmentRanges(), tries=50)
    kw = dict(G_s=DiscMaps(), G=Copy(), modalities=("t1", "t2"), label_names={0: "bg", 1: "core", 2: "edema"},
              size=SIZE)
    raw = generate_batch(SynthesisModels(G_m=DiscAndSpeck(), settings=GenerationSettings(), **kw), lesions, 0, [0, 1, 2])
    assert np.all(raw.masks[:, 1:3, 1:3] == 1)  # 0 = thesis: G_m's mask as it is
    cfg = GenerationSettings(mask_min_area=0.005, zero_background=True)  # 0.005 of 32 x 32: regions below 6 px go
    clean = generate_batch(SynthesisModels(G_m=DiscAndSpeck(), settings=cfg, **kw), lesions, 0, [0, 1, 2])
    disc = generate_batch(SynthesisModels(G_m=FilledDisc(), settings=cfg, **kw), lesions, 0, [0, 1, 2])
    np.testing.assert_array_equal(clean.masks, disc.masks)  # the speck is gone, the disc untouched
    np.testing.assert_array_equal(clean.labels, disc.labels)  # lesions placed in the cleaned mask
    assert np.all(clean.labels[clean.masks == 0] == 0) and np.all(clean.images[:, :, 1:3, 1:3] == 0)
    with pytest.raises(ConfigError, match="mask_min_area"):
        GenerationSettings(mask_min_area=1.0)


def test_figures_known_answers():
    images = np.zeros((2, 2, SIZE, SIZE), np.float32)
    masks = np.zeros((2, SIZE, SIZE), np.uint8)
    masks[:, 8:24, 8:24] = 1
    structure = np.zeros_like(masks)
    structure[0, 8, 8:24] = 1
    structure[0, 2, 2:6] = 1  # 4 contour pixels outside the organ
    labels = np.zeros_like(masks)
    labels[0, 10:14, 10:14] = 1
    images[:, :, 8:24, 8:24] = 0.5

    class Seg(nn.Module):  # predicts lesion where the image is brighter than 0.7
        def __init__(self):
            super().__init__()
            self.p = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return torch.cat([0.7 - x, x - 0.7], dim=1)

    images[0, :, 10:14, 10:16] = 0.9  # 16 px requested, 24 px predicted, 16 shared
    figs = sample_figures(images, masks, labels, structure, ("a", "b"), segmenters={"a": Seg()})
    assert figs[0]["contour_outside"] == 4 and figs[0]["contour_pixels"] == 20 and figs[1]["contour_outside"] == 0
    assert figs[0]["dice_a"] == pytest.approx(2 * 16 / (16 + 24)) and figs[0]["false_lesion_a"] == 8
    assert np.isnan(figs[1]["dice_a"]) and "dice_b" not in figs[0]
    assert figs[0]["lesion_area"] == 16 and figs[0]["lesion_cy"] == pytest.approx(11.5 / SIZE)
    assert figs[1]["mean_a"] == pytest.approx(0.5) and figs[1]["std_a"] == pytest.approx(0.0)


def test_memorisation_finds_the_copied_slice():
    rng = np.random.default_rng(0)
    real = rng.random((5, 2, SIZE, SIZE)).astype(np.float32)
    ref = RealReference(memorisation_features(real), np.array([10, 11, 12, 13, 14]))
    dist, idx = ref.nearest(np.stack([real[3], real[1] * 0 + 0.5]))
    assert idx[0] == 13 and dist[0] == pytest.approx(0.0, abs=1e-6)
    pooled = memorisation_features(real[1:2] * 0 + 0.5)
    expected = (torch.cdist(pooled, ref.features).min() / np.sqrt(pooled.shape[1])).item()
    assert dist[1] == pytest.approx(expected, rel=1e-5)


def test_synthesize_writes_a_complete_set_atomically(tmp_path):
    lesions = LesionSource("augmented", _bank())
    dest = synthesize(_models(), lesions, tmp_path / "s", dataset="d", fingerprint="f" * 64, n=7, seed=2,
                      batch_size=3)
    s = SyntheticSet(dest)
    assert len(s) == 7 and s.modalities == ("t1", "t2") and s.catalog["sample_id"].tolist()[-1] == "syn-000006"
    assert s.catalog["batch_start"].tolist() == [0, 0, 0, 3, 3, 3, 6]
    assert (s.path / "bank" / "bank.json").is_file()
    first = generate_batch(_models(), lesions, 2, [5])
    assert np.array_equal(first.images[0], s.images[5])
    with pytest.raises(ExistsError):
        synthesize(_models(), lesions, dest, dataset="d", fingerprint="f", n=1)

    class Boom(Exception):
        pass

    def explode(k):
        raise Boom

    with pytest.raises(Boom):
        synthesize(_models(), lesions, tmp_path / "t", dataset="d", fingerprint="f", n=6, batch_size=2,
                   progress=explode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # no half-written set


def test_learned_output_noise_is_drawn_per_sample_so_batching_changes_nothing():
    from synth_core.nets import NoisyGenerator

    G = NoisyGenerator(Copy(), kernel=1)
    with torch.no_grad():
        G.noise.weight.fill_(0.05)
    models = _models(G)
    lesions = LesionSource("augmented", _bank())
    many = generate_batch(models, lesions, seed=4, indices=range(6))
    one = generate_batch(models, lesions, seed=4, indices=[3])
    assert np.array_equal(one.images[0], many.images[3])
    clean = generate_batch(_models(), lesions, seed=4, indices=range(6))
    added = many.images - clean.images  # the noise, where the clamp to [0, 1] left it alone
    inside = (many.masks > 0) & (clean.images[:, 0] > 0.1) & (clean.images[:, 0] < 0.9)
    assert 0.03 < added[:, 0][inside].std() < 0.07  # 0.05 x unit Gaussian noise
    assert not np.allclose(added[:, 0][inside], added[:, 1][inside])  # each modality its own field
    outside = (many.masks == 0) & (many.structure == 0)  # G sees the organ as its input's nonzero pixels
    assert outside.any() and np.count_nonzero(added[:, 0][outside]) == 0


def test_smooth_noise_setting_reaches_the_generator_input():
    """``noise_blur`` from the multimodal run's config: the fused map G sees (here copied to the
    image) is smooth inside the organ, and reproducible from the seed."""
    from synth_core.runs.stage_configs import MultimodalConfig
    from synth_core.synthesis.loading import settings_from_config

    settings = settings_from_config(MultimodalConfig(noise_blur=1.5))
    assert settings.noise_blur == 1.5
    lesions = LesionSource("none", _bank())
    white = generate_batch(_models(), lesions, seed=2, indices=range(4)).images[:, 0]
    smooth = generate_batch(_models(noise_blur=1.5), lesions, seed=2, indices=range(4)).images[:, 0]
    again = generate_batch(_models(noise_blur=1.5), lesions, seed=2, indices=range(4)).images[:, 0]
    assert np.array_equal(smooth, again)

    def corr(img):  # neighbours inside the disc, off the ring
        a, b = img[:, 12:20, 12:19].ravel(), img[:, 12:20, 13:20].ravel()
        return np.corrcoef(a, b)[0, 1]

    assert abs(corr(white)) < 0.3 and corr(smooth) > 0.6


class StyledCopy(Copy):
    """:class:`Copy` whose every modality is brightened by 0.05 x its code's middle value."""

    style_dim = 3

    def forward(self, x, cond, style):
        return (super().forward(x, cond) + 0.05 * style[:, 1, None, None, None]).clamp(0, 1)


def test_style_codes_are_drawn_per_sample_so_batching_changes_nothing():
    from synth_core.nets import StylePrior

    G = StyledCopy()
    G.style_prior = StylePrior(2, 3)
    models = _models(G)
    lesions = LesionSource("none", _bank())
    many = generate_batch(models, lesions, seed=4, indices=range(8))
    one = generate_batch(models, lesions, seed=4, indices=[5])
    assert np.array_equal(one.images[0], many.images[5])
    plain = generate_batch(_models(), lesions, seed=4, indices=range(8))
    assert np.array_equal(plain.masks, many.masks)  # the code comes after every other draw of a sample
    inside = (many.masks > 0) & (plain.images[:, 0] > 0.1) & (plain.images[:, 0] < 0.8)
    shift = [float(np.median((many.images[i, 0] - plain.images[i, 0])[inside[i]])) for i in range(8)]
    assert 0.02 < np.std(shift) < 0.09  # 0.05 x a unit Gaussian code per sample
    for i in range(8):  # one code per sample and modality: both modalities of sample i shift by their own
        d1 = np.median((many.images[i, 1] - plain.images[i, 1])[inside[i] & (plain.images[i, 1] < 0.8)])
        assert abs(d1 - shift[i]) > 1e-4
