"""The Latent space page's library side, on the tiny trained runs."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError
from synth_core.lesions.bank import LesionBank
from synth_core.synthesis.explorer import LatentExplorer
from synth_core.synthesis.lesions import LesionSource
from synth_core.synthesis.regenerate import regenerate
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace


@pytest.fixture(scope="module")
def ex(synth_ws):
    return LatentExplorer.open(Workspace.open(synth_ws), "st", "mm")


def test_the_page_drops_mask_regions_as_the_multimodal_run_says(synth_ws, monkeypatch):
    from dataclasses import replace

    import synth_core.synthesis.loading as loading

    real_load = loading.load_models
    monkeypatch.setattr(loading, "load_models", lambda *a, **k: (lambda m: replace(
        m, settings=replace(m.settings, mask_min_area=0.02)))(real_load(*a, **k)))
    assert LatentExplorer.open(Workspace.open(synth_ws), "st", "mm").min_area == 0.02


def test_random_maps_use_the_synthesis_latents(ex, synth_ws):
    z = ex.random_latents(3, 4)
    maps, masks = ex.maps(z)
    assert maps.shape == masks.shape == (4, 32, 32) and set(np.unique(maps)) <= {0, 1}
    assert np.array_equal(ex.random_latents(3, 6)[:4], z)


def test_random_maps_are_screened_by_d_s_as_synthesize_screens_them(ex):
    from dataclasses import replace

    from synth_core.structure_model import structure_realness
    from synth_core.synthesis.acceptance import accepted_latents

    assert ex.D_s is not None and ex.screening == (0.0, 1)  # the tiny image generator does not screen
    assert np.array_equal(ex.random_latents(3, 4, min_realness=0.0), ex.random_latents(3, 4))
    # an unreachable bar: every sample keeps the best of its tries, never worse than try 0
    best = ex.random_latents(3, 4, min_realness=1.4, tries=6)
    plain = ex.random_latents(3, 4)

    def score(z):
        return structure_realness(ex.D_s, ex.structure_maps(z).astype(np.float32))

    assert np.all(score(best) >= score(plain) - 1e-6) and not np.array_equal(best, plain)
    # with an image generator that screens, the page shows exactly the latents synthesize keeps
    models = replace(ex.models, settings=replace(ex.models.settings, structure_min_realness=0.7, structure_tries=5))
    screened = LatentExplorer(ex.E_s, ex.G_s, ex.G_m, models=models, D_s=ex.D_s, threshold=ex.threshold)
    assert screened.screening == (0.7, 5)
    want = accepted_latents(ex.G_s, ex.D_s, 3, [0, 1, 2, 3], ex.latent_dim, threshold=ex.threshold,
                            min_realness=0.7, tries=5)[0].numpy()
    assert np.array_equal(screened.random_latents(3, 4), want)
    no_d = LatentExplorer(ex.E_s, ex.G_s, ex.G_m, structure_run="st")
    with pytest.raises(ConfigError, match="has no discriminator D_s"):
        no_d.random_latents(0, 2, min_realness=0.5)


def test_maps_are_computed_once_in_two_steps_and_match_synthesis(synth_ws):
    from synth_core.structure_model import generate_structures

    ex = LatentExplorer.open(Workspace.open(synth_ws), "st")  # its own cache
    calls = {"G_s": 0, "G_m": 0}
    for name in calls:
        getattr(ex, name).register_forward_hook(lambda *_, n=name: calls.__setitem__(n, calls[n] + 1))
    z = ex.random_latents(11, 5)
    assert not ex.has_maps(z)
    first = ex.structure_maps(z)  # G_s only: what a page shows before the masks
    assert calls == {"G_s": 1, "G_m": 0} and not ex.has_maps(z)
    maps, masks = ex.maps(z)
    assert calls == {"G_s": 1, "G_m": 1} and ex.has_maps(z)
    from synth_core.structure import MASK_MIN_AREA

    assert ex.min_area == MASK_MIN_AREA  # no multimodal run: the config's default, as synthesis would use
    want_maps, want_masks = generate_structures(ex.G_s, ex.G_m, z, ex.threshold, min_area=ex.min_area)
    assert np.array_equal(first, want_maps) and np.array_equal(maps, want_maps) and np.array_equal(masks, want_masks)
    calls.update(G_s=0, G_m=0)
    again = ex.maps(z.copy())  # same values, another array: no network call
    assert calls == {"G_s": 0, "G_m": 0} and again[0] is maps
    with pytest.raises(ValueError):
        maps[0, 0, 0] = 1  # cached arrays are read-only
    assert not ex.has_maps(ex.random_latents(12, 5))


def test_map_cache_forgets_the_least_recently_used(synth_ws):
    ex = LatentExplorer.open(Workspace.open(synth_ws), "st")
    ex._structures = type(ex._structures)(2)
    ex._masks = type(ex._masks)(2)
    a, b, c = (ex.random_latents(s, 2) for s in (1, 2, 3))
    ex.maps(a), ex.maps(b)
    ex.maps(a)  # a is now the most recent
    ex.maps(c)  # evicts b
    assert ex.has_maps(a) and ex.has_maps(c) and not ex.has_maps(b)
    with pytest.raises(ConfigError, match="at least 1"):
        type(ex._structures)(0)


def test_traversal_is_ordered_along_two_axes(ex):
    z = ex.traversal((0, 3), steps=3, span=1.5)
    assert z.shape == (9, 8)
    grid = z.reshape(3, 3, 8)
    assert np.allclose(grid[:, 0, 0], [-1.5, 0, 1.5]) and np.allclose(grid[0, :, 3], [-1.5, 0, 1.5])
    assert np.allclose(np.delete(grid, [0, 3], axis=2), 0)
    with pytest.raises(ConfigError, match="two different"):
        ex.traversal((2, 2))
    with pytest.raises(ConfigError, match="outside"):
        ex.traversal((0, 8))


def test_interpolation_starts_and_ends_at_the_encodings(ex, synth_ws):
    ds = Dataset(synth_ws / "datasets" / "tiny")
    a, b = np.asarray(ds.structure[0]), np.asarray(ds.structure[5])
    z = ex.interpolation(a, b, steps=5, mode="linear")
    enc = ex.encode(np.stack([a, b]))
    assert z.shape == (5, 8) and np.allclose(z[0], enc[0], atol=1e-5) and np.allclose(z[-1], enc[1], atol=1e-5)


def test_projection_has_both_kinds(ex, synth_ws):
    ds = Dataset(synth_ws / "datasets" / "tiny")
    df = ex.projection(np.asarray(ds.structure[:6]), ex.random_latents(0, 5))
    assert list(df["kind"]).count("real") == 6 and list(df["kind"]).count("generated") == 5
    assert np.isfinite(df[["x", "y"]].to_numpy()).all()
    with pytest.raises(ConfigError, match="pca or umap"):
        ex.projection(np.asarray(ds.structure[:6]), ex.random_latents(0, 5), method="tsne")
    umap_xy = ex.projection(np.asarray(ds.structure[:6]), ex.random_latents(0, 5), method="umap")
    assert len(umap_xy) == 11 and np.isfinite(umap_xy[["x", "y"]].to_numpy()).all()


def test_render_and_save_then_append_and_regenerate(ex, synth_ws):
    ws = Workspace.open(synth_ws)
    ds = Dataset(ws.existing("datasets", "tiny"))
    lesions = LesionSource("augmented", LesionBank.from_dataset(ds), mask_filter=False)
    z = ex.traversal((0, 1), steps=2)
    r = ex.render(z[1], lesions, seed=4, index=0)
    assert r.images.shape == (2, 32, 32) and r.fused.shape == (32, 32) and r.modalities == ("t1", "t2")
    assert r.lesion_placed == bool(r.label.any())
    path = ex.save_set(ws, "picked", z[:3], lesions, dataset=ds, seed=4)
    s = SyntheticSet(path)
    assert len(s) == 3 and (s.catalog["latent_source"] == "explicit").all()
    assert np.array_equal(s.images[0], ex.render(z[0], lesions, seed=4, index=0).images)
    ex.save_set(ws, "picked", z[3:], lesions, dataset=ds, seed=4)  # append to the same set
    s = SyntheticSet(path)
    assert len(s) == 4 and s.catalog["sample_id"].tolist()[-1] == "syn-000003"
    for i in (1, 3):
        assert regenerate(ws, "picked", i).identical
    with pytest.raises(ConfigError, match="at least one"):
        ex.save_set(ws, "other", z[:0], lesions, dataset=ds)
