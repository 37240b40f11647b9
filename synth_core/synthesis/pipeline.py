"""Make a synthetic set (METHOD.md §9): latent -> structure map -> mask -> noise fusion -> a
lesion label accepted inside that mask -> every modality from ``G`` -> per-sample figures.

Reproducibility. Sample ``i`` of a set with seed ``S`` draws its latent, its fusion noise and its
lesion from three streams seeded by ``(S, i, stream)`` alone, so it does not depend on which other
samples exist, on the batch size or on the rank that made it. Networks run in batches; batch
``k`` always holds samples ``[k*B, (k+1)*B)``, and :func:`generate_batch` of the same indices
repeats it bit for bit (what ``regenerate`` does). Under ``torchrun`` rank ``r`` makes batches
``k = r, r + W, ...`` and rank 0 merges the parts into one catalog (:mod:`.distributed`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synth_core.errors import ConfigError
from synth_core.multimodal_model import first_channel, generate_modalities, generator_input, has_output_noise
from synth_core.nets.style import style_prior_of
from synth_core.structure_model import generate_structures
from synth_core.synthesis.acceptance import accepted_latents
from synth_core.synthesis.figures import RealReference, sample_figures
from synth_core.synthesis.lesions import LesionSource
from synth_core.synthesis.models import SynthesisModels
from synth_core.synthesis.setstore import SetWriter

STREAM_LATENT, STREAM_NOISE, STREAM_LESION = 0, 1, 2


def stream_seed(seed: int, index: int, stream: int) -> int:
    """A 63-bit seed for one random stream of sample ``index`` of a set with ``seed``."""
    if seed < 0 or index < 0:
        raise ConfigError(f"seed and sample index must be >= 0, not {seed}, {index}")
    return int(np.random.SeedSequence([int(seed), int(index), int(stream)]).generate_state(2, np.uint64)[0] >> 1)


@dataclass
class Batch:
    """One batch of generated samples with what the catalog records about how each was made."""

    indices: np.ndarray  # (B,) sample indices
    images: np.ndarray  # (B, M, H, W) float32 in [0, 1]
    masks: np.ndarray  # (B, H, W) uint8
    labels: np.ndarray  # (B, H, W) uint8
    structure: np.ndarray  # (B, H, W) uint8
    lesion_index: np.ndarray  # (B,) int64, -1 = no lesion
    lesion_params: list[str]  # JSON AugmentParams per sample ("" = no lesion)
    noise_seeds: np.ndarray  # (B,) int64
    z: np.ndarray  # (B, latent_dim) float32 latents
    realness: np.ndarray | None = None  # (B,) float32 D_s score of the kept map (NaN = not scored)
    tries: np.ndarray | None = None  # (B,) int64 latents tried before one was kept (synth_core.synthesis.acceptance)


def latents(seed: int, indices: Sequence[int], latent_dim: int) -> torch.Tensor:
    """``z_i ~ N(0, I)`` for each sample index, ``(B, latent_dim)`` float32 (CPU)."""
    out = torch.empty(len(indices), latent_dim)
    for r, i in enumerate(indices):
        g = torch.Generator().manual_seed(stream_seed(seed, int(i), STREAM_LATENT))
        out[r] = torch.randn(latent_dim, generator=g)
    return out


@torch.no_grad()
def generate_batch(models: SynthesisModels, lesions: LesionSource, seed: int, indices: Sequence[int],
                   z: torch.Tensor | np.ndarray | None = None) -> Batch:
    """Generate samples ``indices`` of the set with ``seed`` (one network call per stage).

    ``z`` (``(B, latent_dim)``) overrides the seeded latents: samples picked on the Latent space
    page (a traversal, an interpolation) keep their exact latent, recorded in the catalog."""
    idx = np.asarray(indices, dtype=np.int64)
    cfg = models.settings
    dev = next(models.G.parameters()).device
    if z is None:  # seeded latents, each accepted by D_s when the run asks for it (METHOD.md §13)
        z, realness, tries = accepted_latents(models.G_s, models.D_s, seed, idx, models.latent_dim,
                                              threshold=cfg.structure_threshold,
                                              min_realness=cfg.structure_min_realness, tries=cfg.structure_tries)
    else:  # a latent the user picked is kept as it is
        z = torch.as_tensor(np.asarray(z, dtype=np.float32)).reshape(len(idx), models.latent_dim)
        realness, tries = np.full(len(idx), np.nan, np.float32), np.ones(len(idx), np.int64)
    maps, masks = generate_structures(models.G_s, models.G_m, z, cfg.structure_threshold, batch_size=max(1, len(idx)),
                                      min_area=cfg.mask_min_area)
    b, (h, w) = len(idx), maps.shape[1:]
    labels = np.zeros((b, h, w), np.uint8)
    lesion_index = np.full(b, -1, np.int64)
    params = [""] * b
    for r, i in enumerate(idx):
        rng = np.random.default_rng(stream_seed(seed, int(i), STREAM_LESION))
        labels[r], lesion_index[r], params[r] = lesions.choose(masks[r], rng)
    noise_seeds = np.array([stream_seed(seed, int(i), STREAM_NOISE) for i in idx], np.int64)
    s = torch.from_numpy(maps).float()[:, None]
    m = torch.from_numpy(masks).float()[:, None]
    firsts, noises, styles = [], [], []
    n_mod, noisy, prior = len(models.modalities), has_output_noise(models.G), style_prior_of(models.G)
    for r in range(b):  # every draw of a sample comes from its own generator: batching changes nothing
        g = torch.Generator().manual_seed(int(noise_seeds[r]))
        firsts.append(first_channel(s[r : r + 1], m[r : r + 1], use_structure=cfg.use_structure,
                                    noise_fusion=cfg.noise_fusion, low=cfg.noise_low, high=cfg.noise_high,
                                    blur=cfg.noise_blur, generator=g))
        if noisy:  # then the learned output noise of each modality (output_noise)
            noises.append(torch.randn((1, n_mod, h, w), generator=g))
        if prior is not None:  # then the sample's style code (style_quantiles): its contrast
            styles.append(prior.sample(1, generator=g))
    first = torch.cat(firsts).to(dev)
    inp = generator_input(first, torch.from_numpy(labels).long().to(dev), models.n_classes)
    noise = torch.cat(noises).to(dev) if noises else None
    style = torch.cat(styles).to(dev) if styles else None
    images = generate_modalities(models.G, inp, n_mod, noise=noise, style=style).float().clamp(0, 1).cpu().numpy()
    if cfg.zero_background:  # like the real scans: nothing outside the organ (METHOD.md: skull-stripped data)
        images = images * (masks > 0)[:, None]
    return Batch(idx, images.astype(np.float32), masks, labels, maps, lesion_index, params, noise_seeds,
                 z.numpy().astype(np.float32), realness, tries)


def batch_indices(n: int, batch_size: int, rank: int = 0, world: int = 1) -> list[np.ndarray]:
    """Batches ``[k*B, (k+1)*B)`` of ``n`` samples that rank ``rank`` of ``world`` makes."""
    if n < 1 or batch_size < 1:
        raise ConfigError(f"need n >= 1 and batch >= 1, not n={n}, batch={batch_size}")
    if not 0 <= rank < world:
        raise ConfigError(f"rank {rank} outside world size {world}")
    starts = range(0, n, batch_size)
    return [np.arange(s, min(s + batch_size, n)) for k, s in enumerate(starts) if k % world == rank]


def encode_latent(z: np.ndarray) -> str:
    """A float32 latent as JSON that decodes back to the identical float32 values."""
    return json.dumps([float(v) for v in np.asarray(z, np.float32)])


def decode_latent(text: str) -> np.ndarray:
    return np.asarray(json.loads(text), dtype=np.float32)


def catalog_rows(batch: Batch, seed: int, batch_size: int, mode: str, figures: list[dict[str, Any]],
                 latent_source: str = "seed") -> list[dict]:
    """``latent_source``: "seed" (z from the (seed, index) stream) or "explicit" (z in ``latent``)."""
    rows = []
    start = int(batch.indices[0])  # the samples of one batch were generated together
    for r, i in enumerate(batch.indices):
        rows.append({"seed": int(seed), "latent_index": int(i), "latent_source": latent_source,
                     "latent": encode_latent(batch.z[r]), "noise_seed": int(batch.noise_seeds[r]),
                     "batch_start": start, "batch_size": int(batch_size), "lesion_source": mode,
                     "lesion_index": int(batch.lesion_index[r]), "lesion_params": batch.lesion_params[r],
                     "structure_ds_score": float(batch.realness[r]) if batch.realness is not None else float("nan"),
                     "structure_tries": int(batch.tries[r]) if batch.tries is not None else 1,
                     **figures[r]})
    return rows


def make_batches(models: SynthesisModels, lesions: LesionSource, *, n: int, seed: int, batch_size: int,
                 real: RealReference | None, rank: int = 0, world: int = 1):
    """Yield ``(batch, catalog rows)`` for the batches of this rank, in order."""
    for idx in batch_indices(n, batch_size, rank, world):
        batch = generate_batch(models, lesions, seed, idx)
        figs = sample_figures(batch.images, batch.masks, batch.labels, batch.structure, models.modalities,
                              segmenters=models.segmenters, translator=models.translator, real=real)
        yield batch, catalog_rows(batch, seed, batch_size, lesions.mode, figs)


def set_meta(models: SynthesisModels, lesions: LesionSource, *, dataset: str, fingerprint: str, n: int, seed: int,
             batch_size: int, extra: dict[str, Any] | None = None,
             dataset_content: dict[str, Any] | None = None) -> dict[str, Any]:
    """``set.json``'s content. ``dataset_content``: :func:`synth_core.datalink.provenance` (how the
    dataset compared with the one the run was trained on); ``made_on``: the machine
    (:func:`synth_core.environment.describe`), which ``regenerate`` compares with its own."""
    from synth_core.environment import describe
    from synth_core.synthesis.figures import COLUMN_HELP, MEMORISATION_SPACE

    param = next(iter(models.G.parameters()), None)
    device = param.device if param is not None else "cpu"
    return {"dataset": dataset, "fingerprint": fingerprint, "dataset_content": dataset_content,
            "made_on": describe(device), "modalities": list(models.modalities),
            "label_names": {str(k): v for k, v in models.label_names.items()}, "size": models.size,
            "runs": models.runs,
            "options": {"n": n, "seed": seed, "batch": batch_size, "lesions": lesions.describe(),
                        "settings": models.settings.__dict__, **(extra or {})},
            "memorisation_space": MEMORISATION_SPACE, "columns": COLUMN_HELP}


def synthesize(models: SynthesisModels, lesions: LesionSource, dest: str | Path, *, dataset: str, fingerprint: str,
               n: int, seed: int = 0, batch_size: int = 16, real: RealReference | None = None,
               progress: Callable[[int], None] | None = None, extra_meta: dict[str, Any] | None = None,
               dataset_content: dict[str, Any] | None = None) -> Path:
    """Write a new set of ``n`` samples at ``dest`` (atomically); ``progress(k)`` after each batch of k.
    ``dataset_content``: the provenance of the dataset link (:func:`synth_core.datalink.provenance`)."""
    meta = set_meta(models, lesions, dataset=dataset, fingerprint=fingerprint, n=n, seed=seed,
                    batch_size=batch_size, extra=extra_meta, dataset_content=dataset_content)
    with SetWriter(dest, meta) as w:
        lesions.bank.save(w.tmp / "bank")
        for batch, rows in make_batches(models, lesions, n=n, seed=seed, batch_size=batch_size, real=real):
            w.add(batch.images, batch.masks, batch.labels, batch.structure, rows)
            if progress:
                progress(len(rows))
    return Path(dest)
