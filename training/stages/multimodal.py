"""Stage ``multimodal``: the conditional multi-modal generator ``G`` and its discriminator ``D``
(METHOD.md §5, §6, §8; thesis 4.3, 4.5, 4.6). The heart of the pipeline.

``G`` is a U-Net whose input is the fused structure map ``s'`` (eq. 12) plus the lesion label as
one-hot channels (:func:`synth_core.multimodal_model.generator_input`), conditioned on the one-hot
modality index (``condition_at``, below); one call of ``G`` generates every modality of a batch
(:func:`~synth_core.multimodal_model.generate_modalities`). ``D`` is a VGG11-like discriminator
with a real/fake map and a modality-class head (no class head for one modality).

Two phases, one run (``phase()``):

* ``pretrain`` (``pretrain_steps``, eq. 18): inputs from real slices — the slice's own structure
  map, organ mask and lesion label — and ``L_p = 5 ||x_g - x||^2 + 5 ||x_g*m - x*m||^2``
  (``pre_mse``, ``pre_masked``, ``pre_total``). ``D`` does not train; ``G`` uses ``pretrain_lr``.
* ``adversarial`` (``steps``, eqs. 13-17): structure maps are *generated*: ``z ~ N(0, I)`` ->
  frozen ``G_s`` -> binarised ``s_g`` -> frozen ``G_m`` -> mask ``m_g``; a lesion label from the
  bank of real lesions is placed into ``m_g`` (augmented, accepted only if it lies entirely inside
  the organ, §8; a sample whose placement fails after ``lesion_tries`` tries gets an empty label;
  placed by :meth:`synth_core.synthesis.lesions.LesionSource.choose`, the code synthesis uses);
  noise fusion; ``G`` generates all ``M`` modalities. Then

  - ``D`` (eq. 13): ``d_real`` ``||d(x_i) - 1||^2``, ``d_fake`` ``||d(x_g,i)||^2``, ``d_cls``
    ``||c(.) - one_hot(i)||^2`` on real and generated images; real and generated go through ``D``
    in one call; ``d_total = 5 d_real + 3 d_fake + 5 d_cls``.
  - ``G``: ``g_adv`` ``||d(x_g,i) - 1||^2`` and ``g_cls`` ``||c(x_g,i) - one_hot(i)||^2`` (eq. 14);
    ``les`` (eq. 15) the frozen segmenter of each modality on ``x_g,i`` against the requested
    label, per-class weighted squared error of its softmax probabilities vs one-hot
    (``les_class_weights``, thesis code ``[0.5, 5, 25, 25, 25]``); ``reg`` (eq. 16)
    ``||x_g,i - G_t(x_g,j, one_hot(i))||^2`` over every ordered pair ``j != i`` (one batched call
    of the frozen translator ``G_t``); ``reg_cross`` (thesis code, ``M >= 3``)
    ``||G_t(x_g,j, i) - G_t(x_g,k, i)||^2`` between translations into the same target
    (``reg_pairs`` > 0 translates a random subset of pairs per step instead, for CPU budgets);
    ``g_total = 3 g_adv + 5 g_cls + 5 les + 20 reg + 5 reg_cross`` (eq. 17).

  Each term is *summed* over modalities (pairs for ``reg``) as eqs. 13-16 write it and the thesis
  code does; each summand is a mean over batch and pixels. ``placed`` (not a loss) is the fraction
  of generated samples that received a lesion.

Texture (optional, off in the thesis and the ``paper`` preset): pre-training with eq. 18 teaches
``G`` the average of the acquisition noise (a smooth image); in the adversarial phase
``adv_rec_blur`` and ``reg_blur`` compare Gaussian-blurred images in the reconstruction anchor and
in eq. 16, so those pixel terms hold the anatomy without pulling fine texture back to that average,
and ``d_norm = "batch"`` gives ``D`` a real/fake map and class head that depend on the image (see
``d_norm``'s help). These alone left the images as smooth as before (1000 + 800 steps on the demo
data); what adds texture is the local discriminator below, which the ``cpu-demo`` preset turns on
together with both blurs (docs/TRAINING_RECIPES.md).

Local texture (``patch_weight`` > 0, off in the thesis): ``D``'s real/fake map sits on /16 features
and its class head pools globally, so neither sees acquisition noise or fine grey/white detail. A
second discriminator ``D_p`` (PatchGAN, ``patch_layers`` stride-2 layers, receptive field 16/34/70
px) judges each real and generated image with its modality one-hot as constant planes: ``d_patch``
``||d_p(x_i) - 1||^2 + ||d_p(x_g,i)||^2`` and, in G's loss, ``g_patch`` ``||d_p(x_g,i) - 1||^2``,
summed over modalities, weight ``patch_weight``. With ``fm_weight`` > 0 ``G`` also gets ``fm``: the
L1 distance between ``D_p``'s hidden activations on each real slice and on its reconstruction (the
anchor's pair), averaged over ``D_p``'s layers and summed over modalities (pix2pixHD's feature
matching): the fine detail the blurred anchor leaves free, compared where the real slice shows it.

Tissue intensities (``tissue_weight`` > 0, off in the thesis): ``tissue`` is, summed over modalities,
the 1-D Wasserstein distance between the generated images' intensities inside their generated organ
masks and the real batch's inside its masks (``quantile_distance``, 64 quantiles). The pixel terms
teach ``G`` the mean intensity, which squeezes grey matter, white matter and CSF towards it; a
classifier tells the samples from real scans by their intensity histogram alone.

Style code (``style_quantiles``, off in the thesis): every other input of ``G`` is anatomy or noise
per pixel, so pre-training teaches it the average contrast and every generated sample gets it.
With a style code, each real slice reaches ``G`` with its own (``real_style``: per modality the
intensity quantiles inside its organ mask and outside its lesion, standardised), in pre-training,
in the reconstruction anchor and in validation; a generated sample gets a code drawn from
``G.style_prior``, fitted at the start to the training split's codes (:mod:`synth_core.nets.style`).
With ``style_rec_weight`` > 0 the adversarial step also reads each generated sample's code back
from its images and adds ``style_rec``, the mean L1 distance to the code it was drawn with
(StarGAN v2's style reconstruction), so generated samples, not only real ones, keep the contrast
they were asked for.

Ablation switches (thesis Table 1; ``ablation`` = "A".."F" sets all five, one off, F = all on):
A ``use_structure=false`` — the structure channel is noise ``U(0, 1)`` instead of ``s'``;
B ``mask_filter=false`` — lesions are placed anywhere in the frame, ignoring the organ mask;
C ``noise_fusion=false`` — ``s' = s``; D ``registration=false`` — no ``reg``, no translator run;
E ``lesion_guidance=false`` — no ``les``, no segmenter runs. With a single modality the
registration loss is switched off automatically (nothing to translate between).

Helper runs (``structure_run``, ``segmenter_run``, ``translator_run``; "" = the newest finished
run of that stage on the same dataset) are loaded frozen and must have been trained on the same
dataset fingerprint; their run ids and checkpoint sha256s go into ``checkpoint_meta()['helpers']``
(provenance for synthesis) and into the resumable state, so a resumed run keeps its helpers.

Where ``G`` sees the modality (``condition_at``): the thesis joins the one-hot at the bottleneck
as constant planes; with instance norm that only shifts channels by constants the next norm
removes, and the skips let the U-Net ignore it. The default ``"decoder"`` modulates every decoder
block instead (FiLM after each norm, :class:`synth_core.nets.unet.FiLMConvBlock`). Measured on the
demo data (128 px, base 8, 150 pre-training steps of batch 2): validation MSE 0.017 and spread
across modalities 0.19 with ``"decoder"``, against 0.029 and 0.07 with ``"bottleneck"``.

DDP (torchrun): ``G`` is called once per step (all modalities batched) and ``D`` once for its own
step (real and generated batched); ``D``'s use inside ``G``'s loss runs under ``D.no_sync()`` and
those gradients are cleared before ``D``'s next step. Frozen helpers are not wrapped.

Validation: ``G`` generates from the validation split's real structure maps, masks and labels with
fixed noise: ``pre_mse`` vs the real images, ``les_dice`` (frozen segmenters' hard Dice against
the requested labels, mean over modalities) and ``reg_err`` (mean translator error over ordered
pairs) when those helpers are loaded; ``score = les_dice`` with segmenters, else ``-pre_mse``.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError, NotFoundError
from synth_core.lesions import AugmentRanges, LesionBank
from synth_core.multimodal_model import first_channel, generate_modalities, generator_input
from synth_core.nets.blur import gaussian_blur
from synth_core.nets.style import style_codes, style_prior_of
from synth_core.render import grid, overlay
from synth_core.structure_model import generate_structures
from synth_core.synthesis.lesions import LesionSource
from synth_core.runs.checkpoint import unwrap
from training.data import load_rows
from training.distributed import wrap
from training.losses import class_mse, lsgan_fake, lsgan_real, mean_dice, quantile_distance
from synth_core.runs.loading import LoadedRun, load_run, resolve_run
from synth_core.runs.networks.multimodal import build_discriminator, build_generator, build_patch_discriminator
from synth_core.runs.stage_configs import SWITCHES, MultimodalConfig
from training.stages.base import Stage
from training.stages.common import adam, fixed_rows, tile, validation_rows
from training.stages.translator import registration_error, translate

log = logging.getLogger(__name__)


def with_modality_planes(images: torch.Tensor, classes: torch.Tensor, n_modalities: int) -> torch.Tensor:
    """``images (N, 1, H, W)`` and their modality indices ``(N,)`` -> ``(N, 1 + M, H, W)``: the image
    followed by its modality one-hot as constant planes (the image alone for one modality)."""
    if n_modalities < 2:
        return images
    planes = F.one_hot(classes, n_modalities).to(images.dtype)[:, :, None, None]
    return torch.cat([images, planes.expand(-1, -1, *images.shape[-2:])], dim=1)


def modality_major(images: torch.Tensor) -> torch.Tensor:
    """``(B, M, H, W)`` -> ``(M*B, 1, H, W)``: all of modality 0's images first, then modality 1's
    (the order of the step's class indices ``arange(M).repeat_interleave(B)``)."""
    return images.transpose(0, 1).reshape(-1, 1, *images.shape[-2:])


def class_weights(weights: tuple[float, ...], n_classes: int) -> torch.Tensor:
    """Per-class weights ``(K,)``: the first ``K`` of ``weights``, the last one repeated if short."""
    w = list(weights[:n_classes]) + [weights[-1]] * max(0, n_classes - len(weights))
    return torch.tensor(w, dtype=torch.float32)


def lesion_guidance_loss(probs: torch.Tensor, label: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Eq. (15) for one modality: ``sum_k w_k * mean((p_k - onehot(l)_k)^2)`` with segmenter
    probabilities ``probs (B, K, H, W)``, ``label (B, H, W)`` long and ``weights (K,)``."""
    onehot = F.one_hot(label, probs.shape[1]).permute(0, 3, 1, 2).to(probs.dtype)
    per_class = ((probs - onehot) ** 2).mean(dim=(0, 2, 3))
    return (weights.to(per_class) * per_class).sum()


# ---- the stage ----------------------------------------------------------------------------------
class MultimodalStage(Stage):
    ema_names = ("G",)
    name = "multimodal"
    config_cls = MultimodalConfig

    @classmethod
    def check_dataset(cls, cfg: MultimodalConfig, ds: Dataset) -> None:
        size = ds.spec.size
        if size % cfg.size_factor:
            raise ConfigError(f"image size {size} is not divisible by {cfg.size_factor} (G depth {cfg.depth}, "
                              f"D stages {cfg.d_n_down})")
        if cfg.lesion_guidance:
            train = ds.split_indices("train")
            if len(ds.label_names) < 2 or not (ds.index["lesion_pixels"].to_numpy()[train] > 0).any():
                raise ConfigError(f"dataset {ds.name!r} has no lesion labels in its training split; lesion guidance "
                                  "(eq. 15) needs them (set lesion_guidance=false, ablation E, to train without)")

    def __init__(self, cfg: MultimodalConfig, ds: Dataset, dist, ws):
        super().__init__(cfg, ds, dist, ws)
        self.mods = list(ds.modalities)
        self.n_mod = len(self.mods)
        self.n_classes = max(ds.label_names) + 1
        self.use_reg = cfg.registration and self.n_mod > 1
        if cfg.registration and self.n_mod == 1:
            log.info("one modality: the registration loss (eq. 16) is off")
        self.use_les = cfg.lesion_guidance

        # frozen helpers (refused here, before any run folder exists, when missing or foreign)
        self.helpers: dict[str, LoadedRun] = {}
        self._sha256: dict[str, str] = {}
        self._load_helpers({"structure": cfg.structure_run, "segmenter": cfg.segmenter_run,
                            "translator": cfg.translator_run})

        # lesion bank of the training split; a dataset without lesions gives empty labels
        self.bank = LesionBank.from_dataset(ds, ("train",)) if self.n_classes > 1 else LesionBank([])
        self.ranges = AugmentRanges(scale=tuple(cfg.lesion_scale), containment=1.0)
        # the one placement policy synthesis uses too (synth_core.synthesis.lesions)
        self.lesions = LesionSource("augmented" if len(self.bank) else "none", self.bank, self.ranges,
                                    tries=cfg.lesion_tries, mask_filter=cfg.mask_filter)
        self.les_w = class_weights(cfg.les_class_weights, self.n_classes).to(self.device)

        self.G = wrap(build_generator(cfg, self.n_mod, self.n_classes), dist)
        self.style_prior = style_prior_of(self.G)
        if self.style_prior is not None:  # the law generated samples draw their code from (buffers of G)
            self.style_prior.fit(self._training_codes())
        self.D = wrap(build_discriminator(cfg, self.n_mod), dist)
        self.opts = {"G": adam(self.G.parameters(), cfg), "D": adam(self.D.parameters(), cfg)}
        self.D_p = wrap(build_patch_discriminator(cfg, self.n_mod), dist) if cfg.patch_weight > 0 else None
        if self.D_p is not None:
            self.opts["D_p"] = adam(self.D_p.parameters(), cfg)

        adv = ["g_adv"] + (["g_cls"] if self.n_mod > 1 else [])
        adv += (["les"] if self.use_les else []) + (["reg"] if self.use_reg else [])
        n_pairs = self.n_mod * (self.n_mod - 1)
        self.all_pairs = not cfg.reg_pairs or cfg.reg_pairs >= n_pairs
        adv += ["reg_cross"] if self.use_reg and self.n_mod > 2 and self.all_pairs else []
        adv += ["adv_rec"] if cfg.adv_rec_weight > 0 else []
        adv += ["g_patch"] if self.D_p is not None else []
        adv += ["tissue"] if cfg.tissue_weight > 0 else []
        adv += ["style_rec"] if cfg.style_rec_weight > 0 else []
        adv += ["fm"] if cfg.fm_weight > 0 else []
        adv += ["g_total", "d_real", "d_fake"] + (["d_cls"] if self.n_mod > 1 else []) + ["d_total"]
        adv += ["d_patch"] if self.D_p is not None else []
        adv += ["placed"]
        self.loss_names = ("pre_mse", "pre_masked", "pre_total", *adv)
        self.progress_names = ("pre_total", "g_total", "d_total")

        self.sample_rows = fixed_rows(ds, 2, seed=cfg.seed)
        self.val_rows = validation_rows(ds, cfg.val_slices, cfg.seed)

    # ---- helpers ------------------------------------------------------------------------------
    def _needed(self) -> dict[str, tuple[list[str], str]]:
        """stage -> (network names, what for) of the helper runs this configuration needs."""
        need = {"structure": (["G_s", "G_m"], "generated structure maps and organ masks")}
        if self.use_les:
            need["segmenter"] = ([f"seg_{m}" for m in self.mods],
                                 "lesion guidance (eq. 15; lesion_guidance=false skips it)")
        if self.use_reg:
            need["translator"] = (["G_t"], "the registration loss (eq. 16; registration=false skips it)")
        return need

    def _load_helpers(self, refs: dict[str, str]) -> None:
        for stage, (names, purpose) in self._needed().items():
            try:
                rid = resolve_run(self.ws, stage, refs.get(stage, ""), self.cfg.dataset)
            except NotFoundError as err:
                raise NotFoundError(f"the multimodal stage needs a {stage} run for {purpose}: {err}") from None
            self.helpers[stage] = self._load_helper(stage, rid, names)

    def _load_helper(self, stage: str, run_id: str, names: list[str]) -> LoadedRun:
        loaded = load_run(self.ws, run_id, names=names, device=self.device)
        from synth_core.datalink import check_link, run_content

        # by the dataset's stable fingerprint; a rebuild on another CPU (last bits differ) only warns
        check_link(self.ds, fingerprint=loaded.fingerprint, content=run_content(loaded.meta),
                   what=f"{stage} run {run_id!r}", dataset=str(getattr(loaded.config, "dataset", "") or ""))
        if stage == "translator" and int(getattr(loaded.nets["G_t"], "condition_dim", 0)) != self.n_mod:
            raise ConfigError(f"translator run {run_id!r} translates between "
                              f"{getattr(loaded.nets['G_t'], 'condition_dim', 0)} modalities, not {self.n_mod}")
        self._sha256[stage] = loaded.sha256()  # of the checkpoint as loaded (provenance)
        return loaded

    @property
    def segmenters(self) -> dict[str, nn.Module] | None:
        run = self.helpers.get("segmenter")
        return None if run is None else {m: run.nets[f"seg_{m}"] for m in self.mods}

    @property
    def translator(self) -> nn.Module | None:
        run = self.helpers.get("translator")
        return None if run is None else run.nets["G_t"]

    # ---- the loop's view ------------------------------------------------------------------------
    def total_steps(self) -> int:
        return int(self.cfg.pretrain_steps) + int(self.cfg.steps)

    def phase(self, step: int) -> str:
        return "pretrain" if step < self.cfg.pretrain_steps else "adversarial"

    def modules(self):
        return {"G": self.G, "D": self.D, **({"D_p": self.D_p} if self.D_p is not None else {})}

    def optimizers(self):
        return self.opts

    def checkpoint_meta(self) -> dict[str, Any]:
        meta = super().checkpoint_meta()
        meta.update({
            "n_classes": self.n_classes,
            "generator_input": {"channels": self.n_classes, "noise": [self.cfg.noise_low, self.cfg.noise_high],
                                "structure_threshold": self.cfg.structure_threshold},
            "switches": {**{k: bool(getattr(self.cfg, k)) for k in SWITCHES}, "registration": self.use_reg},
            "ablation": self.cfg.ablation,
            "lesion_bank": {"lesions": len(self.bank), "ranges": self.ranges.to_dict()},
            "helpers": {stage: {"run_id": run.run_id, "step": run.step, "sha256": self._sha256[stage],
                                "checkpoint": run.checkpoint.name, "fingerprint": run.fingerprint}
                        for stage, run in self.helpers.items()},
        })
        return meta

    def extra_state(self) -> dict[str, Any]:
        return {"helper_runs": {stage: run.run_id for stage, run in self.helpers.items()}}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """On resume, keep the helper runs the run started with (a newer one may exist by now)."""
        for stage, rid in state.get("helper_runs", {}).items():
            if stage in self.helpers and self.helpers[stage].run_id != rid:
                self.helpers[stage] = self._load_helper(stage, rid, self._needed()[stage][0])

    # ---- inputs ---------------------------------------------------------------------------------
    def _training_codes(self) -> np.ndarray:
        """Raw style codes ``(N, M, k)`` of the training split's slices with an organ (for the prior)."""
        rows = self.ds.split_indices("train")
        out = []
        for start in range(0, len(rows), 256):
            b = load_rows(self.ds, rows[start : start + 256])
            codes, valid = style_codes(b["image"], b["mask"], self.cfg.style_quantiles, b["label"])
            out.append(codes[valid].numpy())
        codes = np.concatenate(out)
        if len(codes) < 2:
            raise ConfigError(f"dataset {self.ds.name!r} has {len(codes)} training slices with an organ; a style "
                              "code (style_quantiles) needs at least 2 (set style_quantiles=[] to train without)")
        return codes

    def real_style(self, batch: dict[str, torch.Tensor]) -> torch.Tensor | None:
        """The standardised style codes ``(B, M, k)`` of a batch of real slices (0, the training mean,
        for a slice without an organ); None when ``G`` takes no style code."""
        if self.style_prior is None:
            return None
        codes, valid = style_codes(batch["image"], batch["mask"], self.cfg.style_quantiles, batch["label"])
        z = self.style_prior.standardize(codes.to(self.device))
        return z * valid.to(z.device)[:, None, None]

    def _feature_matching(self, rec: torch.Tensor, real: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
        """``fm``: the mean L1 distance between ``D_p``'s hidden activations on the real slices
        ``real (B, M, H, W)`` and on their reconstructions ``rec``, averaged over ``D_p``'s layers and
        summed over modalities (each image with its modality planes; ``cls`` modality-major as the
        step's). The real side carries no gradient; ``D_p`` runs inside :meth:`_d_no_sync`."""
        m_count = real.shape[1]
        with self._d_no_sync():
            with torch.no_grad():
                _, want = self.D_p(with_modality_planes(modality_major(real), cls, m_count), with_features=True)
            _, got = self.D_p(with_modality_planes(modality_major(rec), cls, m_count), with_features=True)
        return sum(F.l1_loss(g.float(), w.float()) for g, w in zip(got, want)) / len(got) * m_count

    def _style_reconstruction(self, fake: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor,
                              drawn: torch.Tensor) -> torch.Tensor:
        """``style_rec``: mean L1 distance between the standardised codes ``drawn (B, M, k)`` that
        generated ``fake (B, M, H, W)`` and the codes read back from ``fake`` inside ``masks``, outside
        the lesions of ``labels (B, H, W)`` (differentiable through the quantiles' sort); 0 when no
        generated organ has enough healthy pixels."""
        codes, valid = style_codes(fake.float(), masks, self.cfg.style_quantiles, labels)
        valid = valid.to(fake.device)
        if not bool(valid.any()):
            return fake.new_zeros((), dtype=torch.float32)
        return (self.style_prior.standardize(codes)[valid] - drawn.float()[valid]).abs().mean()

    def g_input(self, structure: torch.Tensor, mask: torch.Tensor, label: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
        """``G``'s input from ``structure``/``mask (B, 1, H, W)`` and ``label (B, H, W)`` under the
        ablation switches (A: noise only; C: no noise fusion)."""
        cfg = self.cfg
        first = first_channel(structure, mask, use_structure=cfg.use_structure, noise_fusion=cfg.noise_fusion,
                              low=cfg.noise_low, high=cfg.noise_high, blur=cfg.noise_blur, generator=generator)
        return generator_input(first, label, self.n_classes)

    def place_labels(self, masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One lesion label per mask ``(N, H, W)`` -> ``(N, H, W)`` uint8 (empty where placement
        failed, where the bank is empty, or for the ``1 - lesion_fraction`` share of maps)."""
        out = np.zeros(masks.shape, np.uint8)
        if len(self.bank) == 0:
            return out
        for i in range(len(masks)):
            if rng.random() >= self.cfg.lesion_fraction:
                continue
            out[i] = self.lesions.choose(masks[i], rng)[0]  # the same placement as synthesis
        return out

    def generated_structures(self, n: int, rng: np.random.Generator, generator: torch.Generator | None = None
                             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``n`` generated ``(s_g, m_g)`` ``(n, 1, H, W)`` float and placed labels ``(n, H, W)`` long.

        ``z ~ N(0, I)`` is drawn on the CPU from ``generator`` (a CPU generator) or torch's global
        one, which the loop seeds per step; lesion placement draws from ``rng``."""
        run = self.helpers["structure"]
        G_s, G_m = run.nets["G_s"], run.nets["G_m"]
        z = torch.randn(n, int(G_s.latent_dim), generator=generator)  # on the CPU; moved by generate_structures
        maps, masks = generate_structures(G_s, G_m, z, self.cfg.structure_threshold, min_area=self.cfg.mask_min_area)
        labels = self.place_labels(masks, rng)
        to = lambda a: torch.from_numpy(a).to(self.device)  # noqa: E731
        return to(maps).float()[:, None], to(masks).float()[:, None], to(labels).long()

    # ---- losses ---------------------------------------------------------------------------------
    def _lesion_loss(self, fake: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        total = fake.new_zeros((), dtype=torch.float32)
        for i, seg in enumerate(self.segmenters.values()):
            probs = seg(fake[:, i : i + 1]).float().softmax(dim=1)
            total = total + lesion_guidance_loss(probs, label, self.les_w)
        return total

    def _registration_losses(self, fake: torch.Tensor, rng: np.random.Generator
                             ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(eq. 16 summed over ordered pairs, agreement of translations into one target summed over
        source pairs or None) for ``fake (B, M, H, W)``; one batched translator call.

        ``reg_blur`` > 0 compares Gaussian-blurred images (the translator's output is smooth; the
        acquisition noise of real modalities is independent, so a pixel-exact eq. 16 penalises it).
        With ``reg_pairs`` below ``M(M-1)`` a random subset of pairs (the same for the whole batch)
        is translated and the sum scaled by ``M(M-1) / reg_pairs``; the agreement term needs every
        pair and is then left out."""
        b, m = fake.shape[:2]
        pairs = [(j, i) for i in range(m) for j in range(m) if j != i]  # (source, target), target-major
        scale = 1.0
        if not self.all_pairs:
            pick = np.sort(rng.choice(len(pairs), self.cfg.reg_pairs, replace=False))
            scale = len(pairs) / len(pick)
            pairs = [pairs[k] for k in pick]
        src = torch.cat([fake[:, j : j + 1] for j, _ in pairs])
        tgt = torch.tensor([i for _, i in pairs], device=fake.device).repeat_interleave(b)
        out = translate(self.translator, src, tgt).float().view(len(pairs), b, *fake.shape[-2:])
        ref = torch.stack([fake[:, i] for _, i in pairs]).float()
        diff = out - ref
        if self.cfg.reg_blur:  # blur is linear: blur(out) - blur(ref) = blur(out - ref)
            diff = gaussian_blur(diff.reshape(-1, 1, *diff.shape[-2:]), self.cfg.reg_blur).view_as(diff)
        reg = (diff**2).mean(dim=(1, 2, 3)).sum() * scale
        if not self.all_pairs or m < 3:
            return reg, None
        cross = fake.new_zeros((), dtype=torch.float32)
        per_target = out.view(m, m - 1, b, *fake.shape[-2:])
        for a in range(m - 1):
            for c in range(a + 1, m - 1):
                cross = cross + ((per_target[:, a] - per_target[:, c]) ** 2).mean(dim=(1, 2, 3)).sum()
        return reg, cross

    def _d_no_sync(self):
        """``D`` (and ``D_p``) inside G's loss: no gradient all-reduce under DDP (their gradients from
        G's step are cleared before their own next step)."""
        stack = contextlib.ExitStack()
        if self.dist.distributed:
            for net in (self.D, self.D_p):
                if net is not None:
                    stack.enter_context(net.no_sync())
        return stack

    # ---- steps ----------------------------------------------------------------------------------
    def train_step(self, step, batch, rng):
        pretrain = step < self.cfg.pretrain_steps
        lr = (self.cfg.pretrain_lr or self.cfg.lr) if pretrain else self.cfg.lr
        for group in self.opts["G"].param_groups:
            group["base_lr"] = lr
            group["lr"] = lr * self.lr_factor
        if pretrain:
            return self._pretrain_step(batch)
        return self._adversarial_step(batch, rng)

    def _pretrain_step(self, batch):
        cfg, opt = self.cfg, self.opts["G"]
        x, m = batch["image"], batch["mask"]
        opt.zero_grad(set_to_none=True)
        fake = generate_modalities(self.G, self.g_input(batch["structure"], m, batch["label"]), self.n_mod,
                                   style=self.real_style(batch)).float()
        pre_mse = F.mse_loss(fake, x) * self.n_mod
        pre_masked = F.mse_loss(fake * m, x * m) * self.n_mod
        total = cfg.pre_mse_weight * pre_mse + cfg.pre_masked_weight * pre_masked
        total.backward()
        opt.step()
        return {"pre_mse": pre_mse.item(), "pre_masked": pre_masked.item(), "pre_total": total.item()}

    def _adversarial_step(self, batch, rng):
        cfg = self.cfg
        x = batch["image"]
        b, m_count = x.shape[:2]
        with torch.no_grad():
            s_g, m_g, lab = self.generated_structures(b, rng)
        inp = self.g_input(s_g, m_g, lab)
        style = None if self.style_prior is None else self.style_prior.sample(b).to(self.device)  # drawn codes
        anchor = cfg.adv_rec_weight > 0
        if anchor:  # the real slices' own inputs ride in the same call of G (one forward per backward under DDP)
            inp = torch.cat([inp, self.g_input(batch["structure"], batch["mask"], batch["label"])])
            style = None if style is None else torch.cat([style, self.real_style(batch)])
        both = generate_modalities(self.G, inp, m_count, style=style)  # (B or 2B, M, H, W)
        fake, rec = both[:b], both[b:]
        real_flat, fake_flat = modality_major(x), modality_major(fake)
        cls = torch.arange(m_count, device=x.device).repeat_interleave(b)
        n = m_count * b
        out: dict[str, float] = {}

        # D (eq. 13): real and generated in one call
        opt_d = self.opts["D"]
        opt_d.zero_grad(set_to_none=True)
        # groups of b: one modality of the real (or generated) batch each, for D's minibatch std
        d_map, d_logits = self.D(torch.cat([real_flat, fake_flat.detach().to(real_flat.dtype)]), group=b)
        d_map = d_map.float()
        d_real = lsgan_real(d_map[:n]) * m_count
        d_fake = lsgan_fake(d_map[n:]) * m_count
        d_total = cfg.d_real_weight * d_real + cfg.d_fake_weight * d_fake
        if m_count > 1:
            logits = d_logits.float()
            d_cls = (class_mse(logits[:n], cls, m_count) + class_mse(logits[n:], cls, m_count)) * m_count
            d_total = d_total + cfg.d_cls_weight * d_cls
            out["d_cls"] = d_cls.item()
        d_total.backward()
        opt_d.step()
        if self.D_p is not None:  # local texture: real and generated patches, each with its modality
            opt_p = self.opts["D_p"]
            opt_p.zero_grad(set_to_none=True)
            p_in = with_modality_planes(torch.cat([real_flat, fake_flat.detach().to(real_flat.dtype)]),
                                        torch.cat([cls, cls]), m_count)
            p_map = self.D_p(p_in).float()
            d_patch = (lsgan_real(p_map[:n]) + lsgan_fake(p_map[n:])) * m_count
            d_patch.backward()
            opt_p.step()
            out["d_patch"] = d_patch.item()

        # G (eqs. 14-17)
        opt_g = self.opts["G"]
        opt_g.zero_grad(set_to_none=True)
        with self._d_no_sync():
            g_map, g_logits = self.D(fake_flat, group=b)
            p_map = self.D_p(with_modality_planes(fake_flat, cls, m_count)) if self.D_p is not None else None
        g_adv = lsgan_real(g_map.float()) * m_count
        g_total = cfg.g_adv_weight * g_adv
        out["g_adv"] = g_adv.item()
        if p_map is not None:
            g_patch = lsgan_real(p_map.float()) * m_count
            g_total = g_total + cfg.patch_weight * g_patch
            out["g_patch"] = g_patch.item()
        if m_count > 1:
            g_cls = class_mse(g_logits.float(), cls, m_count) * m_count
            g_total = g_total + cfg.g_cls_weight * g_cls
            out["g_cls"] = g_cls.item()
        if self.use_les:
            les = self._lesion_loss(fake, lab)
            g_total = g_total + cfg.les_weight * les
            out["les"] = les.item()
        if self.use_reg:
            reg, cross = self._registration_losses(fake, rng)
            g_total = g_total + cfg.reg_weight * reg
            out["reg"] = reg.item()
            if cross is not None:
                g_total = g_total + cfg.reg_cross_weight * cross
                out["reg_cross"] = cross.item()
        if cfg.tissue_weight > 0:  # the generated tissue's intensity spread against the real batch's
            inside_g, inside_r = m_g[:, 0] > 0, batch["mask"][:, 0] > 0
            tissue = fake.new_zeros(())
            if bool(inside_g.any()) and bool(inside_r.any()):  # an empty generated mask has no tissue to match
                tissue = sum(quantile_distance(fake[:, i][inside_g], x[:, i][inside_r]) for i in range(m_count))
            g_total = g_total + cfg.tissue_weight * tissue
            out["tissue"] = tissue.item()
        if cfg.style_rec_weight > 0:  # the drawn code read back from the generated images (StarGAN v2)
            style_rec = self._style_reconstruction(fake, m_g, lab, style[:b])
            g_total = g_total + cfg.style_rec_weight * style_rec
            out["style_rec"] = style_rec.item()
        if anchor:
            m_real = batch["mask"]
            rec, tgt, sigma = rec.float(), x.float(), cfg.adv_rec_blur
            adv_rec = (F.mse_loss(gaussian_blur(rec, sigma), gaussian_blur(tgt, sigma))
                       + F.mse_loss(gaussian_blur(rec * m_real, sigma), gaussian_blur(tgt * m_real, sigma))) * m_count
            g_total = g_total + cfg.adv_rec_weight * adv_rec
            out["adv_rec"] = adv_rec.item()
            if cfg.fm_weight > 0:  # D_p's features of each real slice against its reconstruction's (pix2pixHD)
                fm = self._feature_matching(rec, tgt, cls)
                g_total = g_total + cfg.fm_weight * fm
                out["fm"] = fm.item()
        g_total.backward()
        opt_g.step()
        out.update(g_total=g_total.item(), d_real=d_real.item(), d_fake=d_fake.item(), d_total=d_total.item(),
                   placed=float((lab.view(b, -1) > 0).any(dim=1).float().mean()))
        return out

    # ---- validation and pictures ----------------------------------------------------------------
    def _fixed_generator(self, offset: int) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(int(self.cfg.seed) * 1000 + offset)

    @torch.no_grad()
    def validate(self):
        G = self.inference_net("G")
        gen = self._fixed_generator(1)
        sq, count = 0.0, 0
        preds: dict[str, list[torch.Tensor]] = {m: [] for m in self.mods}
        labels: list[torch.Tensor] = []
        reg_sum = 0.0
        for start in range(0, len(self.val_rows), 16):
            b = load_rows(self.ds, self.val_rows[start : start + 16], self.device)
            fake = generate_modalities(G, self.g_input(b["structure"], b["mask"], b["label"], gen), self.n_mod,
                                       style=self.real_style(b), generator=gen).float()
            sq += float(((fake - b["image"]) ** 2).mean(dim=(1, 2, 3)).sum())
            count += fake.shape[0]
            labels.append(b["label"].cpu())
            if self.segmenters is not None:
                for i, (m, seg) in enumerate(self.segmenters.items()):
                    preds[m].append(seg(fake[:, i : i + 1]).argmax(1).cpu())
            if self.translator is not None:
                reg_sum += float(registration_error(self.translator, fake).sum())
        out = {"pre_mse": sq / max(count, 1)}
        if self.translator is not None:
            out["reg_err"] = reg_sum / max(count, 1)
        if self.segmenters is not None and self.n_classes > 1:
            lab = torch.cat(labels)
            dice = [mean_dice(torch.cat(preds[m]), lab, self.n_classes) for m in self.mods]
            out["les_dice"] = float(np.mean(dice))
            out["score"] = out["les_dice"]
        else:
            out["score"] = -out["pre_mse"]
        return out

    @torch.no_grad()
    def sample_grid(self):
        """Rows 1-3: generated structure maps (fixed latents) -> [s' | label on s_g with the mask
        outline | x_g per modality]; rows 4-5: real validation maps -> the same, then the real images."""
        G = self.inference_net("G")
        gen = self._fixed_generator(2)
        cols = 2 + 2 * self.n_mod
        latent_gen = torch.Generator().manual_seed(int(self.cfg.seed) * 1000 + 3)
        s_g, m_g, lab = self.generated_structures(3, np.random.default_rng(self.cfg.seed), latent_gen)
        inp = self.g_input(s_g, m_g, lab, gen)
        fake = generate_modalities(G, inp, self.n_mod, generator=gen).float()
        blank = np.zeros((*fake.shape[-2:], 3), np.uint8)
        tiles: list[np.ndarray] = []
        for k in range(fake.shape[0]):
            tiles += [tile(inp[k, 0]), self._label_tile(s_g[k, 0], m_g[k, 0], lab[k])]
            tiles += [tile(fake[k, i]) for i in range(self.n_mod)] + [blank] * self.n_mod
        b = load_rows(self.ds, self.sample_rows, self.device)
        inp = self.g_input(b["structure"], b["mask"], b["label"], gen)
        fake = generate_modalities(G, inp, self.n_mod, style=self.real_style(b), generator=gen).float()
        for k in range(fake.shape[0]):
            tiles += [tile(inp[k, 0]), self._label_tile(b["structure"][k, 0], b["mask"][k, 0], b["label"][k])]
            tiles += [tile(fake[k, i]) for i in range(self.n_mod)]
            tiles += [tile(b["image"][k, i]) for i in range(self.n_mod)]
        return grid(tiles, columns=cols)

    @staticmethod
    def _label_tile(structure: torch.Tensor, mask: torch.Tensor, label: torch.Tensor) -> np.ndarray:
        s = structure.detach().float().cpu().numpy()
        return overlay(0.6 * s, label.detach().cpu().numpy(), mask=mask.detach().cpu().numpy())


STAGE = MultimodalStage
