"""Stage ``pix2pix``: lesion "whitening" (METHOD.md §10; Meng et al. 2020, the liver paper).

Training pairs: a slice that has a lesion; the input is that slice with its lesion pixels set to
white (:func:`synth_core.whitening.whiten`), the target is the original slice. With ``label_input``
(not in the paper) the input also carries one channel per lesion class
(:func:`synth_core.whitening.fill_input`), and ``D`` sees them as part of the condition. ``G`` is a U-Net
(1 → 1 channel, sigmoid output in [0, 1], dropout 0.5 in the three deepest decoder blocks) whose
encoder by default goes all the way down to 1×1 as in the paper; ``D`` is a PatchGAN on the
concatenated (input, image) pair. Losses (paper eqs. 1–4, pix2pix):

- ``d_total = 0.5 · (d_real + d_fake)`` with ``d_real = gan(D(x, y), real)`` and
  ``d_fake = gan(D(x, G(x)), fake)``; real and fake pairs go through ``D`` in ONE call
  (concatenated on the batch axis; DDP rule), so a ``norm = "batch"`` D sees mixed statistics —
  the default instance norm does not care;
- ``g_total = lambda_adv · g_adv + lambda_L1 · g_l1`` with ``g_adv = gan(D(x, G(x)), real)``
  (computed inside ``D.no_sync()`` under torchrun; ``D``'s stray gradients are cleared before its
  own step) and ``g_l1 = mean |y − G(x)|`` (logged unweighted); with ``lambda_l1_lesion`` > 0
  (not in the paper) ``+ lambda_l1_lesion · g_l1_lesion``, the mean of ``|y − G(x)|`` over the
  lesion pixels of the batch (logged unweighted);
- ``gan`` is BCE-with-logits (``gan_mode = "vanilla"``, as pix2pix and the paper's log-loss) or
  least squares (``"lsgan"``).

Which slices train: only train-split slices with a lesion. The shared loop hands every stage a
batch drawn from the whole train split; this stage ignores it and loads its own rows with
:class:`training.data.SliceBatches` restricted to the lesion slices (``indices=``), which is a pure
function of ``(seed, step, rank)`` just like the loop's batches — seeded epochs over the lesion
slices, different rows per rank, exact resume. (The step's ``rng`` is therefore not needed.)

Choices where the paper is silent or does not fit:

- ``norm`` defaults to instance norm: the paper's batch norm at batch size 1 *is* instance norm
  during training (pix2pix says so), and a true batch norm cannot normalise the 1×1 bottleneck of
  a single image (``check_dataset`` refuses that combination).
- The paper's 1×1 bottleneck has 1024 channels (its Fig. 3); pix2pix caps at 512 (``ngf·8``).
  ``max_channels`` chooses; 512 keeps the generator at a sensible size.
- At a 1×1 bottleneck the deepest encoder block's instance norms are identities (one pixel has no
  statistics) and their parameters never get a gradient; they are frozen
  (:func:`freeze_idle_bottleneck_norms`) so that DistributedDataParallel does not wait for them.
- The paper's "moving-average decay 0.99" (its Table 1) is the smoothing of the displayed loss
  curves in the pix2pix-tensorflow code it builds on, not a weight average; the metrics log keeps
  raw values.
- Training on healthy slices with pasted lesion shapes is NOT offered: the target would be the
  healthy slice, which teaches the generator to paint healthy tissue into the white region — the
  opposite of what synthesis needs. Pasting belongs to synthesis (``synth_core.whitening.fill_lesions`` on
  healthy slices with augmented labels from :mod:`synth_core.lesions`).

Validation (val-split lesion slices; train-split ones when the val split has none): PSNR and SSIM
of ``G(whitened)`` (raw, not composited) against the original over the whole image and within the lesion's
bounding box (``lesion_box``, at least 11 px, SSIM's window), with :mod:`synth_core.metrics`
(SSIM: 11-tap Gaussian window); ``val_l1_lesion`` is the mean absolute error over the lesion
pixels alone, the part the generator has to invent. ``score`` = whole-image PSNR (the paper's
headline metric). ``G`` runs in eval mode (no dropout; pix2pix keeps dropout at test time as its
only noise — here the same input always gives the same fill).
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError
from synth_core.metrics import psnr, ssim
from synth_core.nets import UNet
from synth_core.render import grid, overlay, to_uint8
from synth_core.whitening import fill_input, input_channels, lesion_box
from training.data import SliceBatches, load_rows
from training.distributed import wrap
from training.losses import lsgan_fake, lsgan_real
from synth_core.runs.networks.pix2pix import build_networks, patch_output_size, unet_depth
from synth_core.runs.stage_configs import Pix2PixConfig
from training.stages.base import Stage
from training.stages.common import adam


def freeze_idle_bottleneck_norms(G: UNet, size: int) -> int:
    """Freeze the instance-norm parameters of ``G``'s deepest encoder block when it runs at 1×1.

    ``synth_core.nets``' instance norm passes a 1×1 map through unchanged (one pixel has no
    statistics), so those affine parameters never receive a gradient, and DistributedDataParallel
    would wait for them forever ("parameters that were not used in producing loss"). pix2pix has
    no normalisation in its innermost layer either. Returns the number of tensors frozen.
    """
    if size // 2**G.depth != 1:
        return 0
    frozen = 0
    for m in G.down[-1].modules():
        if isinstance(m, torch.nn.InstanceNorm2d):
            for p in m.parameters():
                p.requires_grad_(False)
                frozen += 1
    return frozen


def resolve_modality(cfg: Pix2PixConfig, ds: Dataset) -> int:
    """Channel index of ``cfg.modality`` in ``ds`` (empty = 0), or ConfigError listing the choices."""
    if not cfg.modality:
        return 0
    if cfg.modality not in ds.modalities:
        raise ConfigError(f"dataset {ds.name!r} has no modality {cfg.modality!r}; "
                          f"choose one of {', '.join(ds.modalities)}")
    return ds.modalities.index(cfg.modality)


def lesion_rows(ds: Dataset, split: str) -> np.ndarray:
    """Dataset rows of ``split`` whose slice has at least one lesion pixel."""
    rows = ds.split_indices(split)
    return rows[ds.index["lesion_pixels"].to_numpy()[rows] > 0]


def gan_loss(pred: torch.Tensor, real: bool, mode: str) -> torch.Tensor:
    """Adversarial loss of patch predictions against the target 'real' (1) or 'fake' (0)."""
    pred = pred.float()
    if mode == "lsgan":
        return lsgan_real(pred) if real else lsgan_fake(pred)
    target = torch.ones_like(pred) if real else torch.zeros_like(pred)
    return F.binary_cross_entropy_with_logits(pred, target)


def crop_scores(gen: np.ndarray, orig: np.ndarray) -> tuple[float, float]:
    """PSNR (dB, capped at 100 so logs stay finite) and SSIM of two ``(h,w)`` crops in [0, 1]; the
    SSIM window shrinks to the crop when the crop is smaller than the usual 11 px."""
    win = min(11, *gen.shape)
    win -= 1 - win % 2  # odd
    return min(float(psnr(gen, orig)), 100.0), float(ssim(gen, orig, win_size=max(win, 3)))


class Pix2PixStage(Stage):
    name = "pix2pix"
    config_cls = Pix2PixConfig
    loss_names = ("g_adv", "g_l1", "g_total", "d_real", "d_fake", "d_total")
    progress_names = ("g_l1", "g_adv", "d_total")
    ema_names = ("G",)

    @classmethod
    def check_dataset(cls, cfg: Pix2PixConfig, ds: Dataset) -> None:
        if not ds.has_lesions:
            raise ConfigError(f"dataset {ds.name!r} has no lesion labels; the pix2pix stage needs them")
        resolve_modality(cfg, ds)
        if len(lesion_rows(ds, "train")) == 0:
            raise ConfigError(f"dataset {ds.name!r} has no slice with a lesion in its train split; "
                              "the pix2pix stage trains on those")
        size = ds.spec.size
        depth = unet_depth(cfg, size)
        if depth < 1 or size % 2**depth:
            raise ConfigError(f"image size {size} is not divisible by 2**depth = {2**max(depth, 1)}; "
                              "choose another depth (0 = automatic)")
        if cfg.norm == "batch" and cfg.batch_size == 1 and size // 2**depth == 1:
            raise ConfigError("norm 'batch' cannot normalise the 1×1 bottleneck of a single image; use "
                              "norm=instance (the same thing at batch size 1), a larger batch_size or a smaller depth")
        if patch_output_size(size, cfg.n_layers) < 1:
            raise ConfigError(f"a PatchGAN with n_layers={cfg.n_layers} needs images of at least "
                              f"{3 * 2**cfg.n_layers} px; the dataset has {size} px")

    def __init__(self, cfg: Pix2PixConfig, ds: Dataset, dist, ws):
        super().__init__(cfg, ds, dist, ws)
        if cfg.lambda_l1_lesion > 0:
            self.loss_names = ("g_adv", "g_l1", "g_l1_lesion", "g_total", "d_real", "d_fake", "d_total")
        self.channel = resolve_modality(cfg, ds)
        self.modality = ds.modalities[self.channel]
        nets = build_networks(cfg, self.checkpoint_meta())
        self.n_in = input_channels(nets["G"])  # what build_networks made G take
        freeze_idle_bottleneck_norms(nets["G"], ds.spec.size)  # before DDP sees them
        self.G, self.D = wrap(nets["G"], dist), wrap(nets["D"], dist)
        self.opt_G, self.opt_D = adam(self.G.parameters(), cfg), adam(self.D.parameters(), cfg)
        self.train_rows = lesion_rows(ds, "train")
        self.lesion_batches = SliceBatches(ds, batch_size=cfg.batch_size, seed=cfg.seed, rank=dist.rank,
                                           world=dist.world, indices=self.train_rows)
        val = lesion_rows(ds, "val")
        if len(val) == 0:
            val = self.train_rows
        pick = np.random.default_rng(cfg.seed)
        size = ds.index["lesion_pixels"].to_numpy()[val]
        big = val[size >= np.median(size)]  # show lesions large enough to see what G paints
        big = big if len(big) >= 3 else val
        self.sample_rows = np.sort(pick.choice(big, size=min(3, len(big)), replace=False))
        if cfg.val_slices and len(val) > cfg.val_slices:
            val = np.sort(pick.choice(val, cfg.val_slices, replace=False))
        self.val_rows = val

    def modules(self):
        return {"G": self.G, "D": self.D}

    def optimizers(self):
        return {"G": self.opt_G, "D": self.opt_D}

    def checkpoint_meta(self) -> dict[str, Any]:
        depth = unet_depth(self.cfg, self.ds.spec.size)
        return {**super().checkpoint_meta(), "modality": self.modality, "unet_depth": depth}

    def _pairs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """(``G``'s input, original) of this stage's modality: the whitened slice (plus one channel
        per lesion class with ``label_input``), ``(B,n_in,H,W)``, and ``(B,1,H,W)``."""
        target = batch["image"][:, self.channel : self.channel + 1]
        return fill_input(target, batch["label"], self.n_in), target

    def _d_no_sync(self):
        return self.D.no_sync() if self.dist.distributed else contextlib.nullcontext()

    def train_step(self, step, batch, rng):
        # the loop's batch comes from the whole train split; train on lesion slices only (see module doc)
        self.lesion_batches.batch_size = self.batch_size(step)
        batch = load_rows(self.ds, self.lesion_batches.rows(step), self.device)
        cfg = self.cfg
        x, y = self._pairs(batch)
        fake = self.G(x)

        # D: real pair and fake pair in one call (DDP: one forward per backward)
        self.opt_D.zero_grad(set_to_none=True)
        pred = self.D(torch.cat([torch.cat([x, y], 1), torch.cat([x, fake.detach()], 1)], 0))
        pred_real, pred_fake = pred[: x.shape[0]], pred[x.shape[0] :]
        d_real, d_fake = gan_loss(pred_real, True, cfg.gan_mode), gan_loss(pred_fake, False, cfg.gan_mode)
        d_total = 0.5 * (d_real + d_fake)
        d_total.backward()
        self.opt_D.step()

        # G: fool D (its gradients on D's weights are discarded at D's next zero_grad) + L1
        self.opt_G.zero_grad(set_to_none=True)
        with self._d_no_sync():
            g_adv = gan_loss(self.D(torch.cat([x, fake], 1)), True, cfg.gan_mode)
        g_l1 = (fake.float() - y.float()).abs().mean()
        g_total = cfg.lambda_adv * g_adv + cfg.lambda_l1 * g_l1
        out: dict[str, float] = {}
        if cfg.lambda_l1_lesion > 0:
            inside = (batch["label"] > 0).unsqueeze(1)  # (B, 1, H, W); every training slice has a lesion
            g_l1_lesion = (fake.float() - y.float()).abs()[inside].mean()
            g_total = g_total + cfg.lambda_l1_lesion * g_l1_lesion
            out["g_l1_lesion"] = g_l1_lesion.item()
        g_total.backward()
        self.opt_G.step()
        return {"g_adv": g_adv.item(), "g_l1": g_l1.item(), **out, "g_total": g_total.item(),
                "d_real": d_real.item(), "d_fake": d_fake.item(), "d_total": d_total.item()}

    @torch.no_grad()
    def generate(self, rows: np.ndarray) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor]:
        """The rows' batch, their whitened inputs and the ``G`` outputs clipped to [0, 1] (``(B,1,H,W)``)."""
        b = load_rows(self.ds, rows, self.device)
        x, _ = self._pairs(b)
        return b, x, self.inference_net("G")(x).float().clamp(0.0, 1.0)

    @torch.no_grad()
    def validate(self):
        scores: dict[str, list[float]] = {k: [] for k in ("val_psnr", "val_ssim", "val_psnr_lesion",
                                                          "val_ssim_lesion", "val_l1_lesion")}
        for start in range(0, len(self.val_rows), 16):
            b, _, gen = self.generate(self.val_rows[start : start + 16])
            gen = gen[:, 0].cpu().numpy()
            orig = b["image"][:, self.channel].float().cpu().numpy()
            labels = b["label"].cpu().numpy()
            for g, o, lab in zip(gen, orig, labels):
                box = lesion_box(lab)  # every validation row has a lesion
                for suffix, (gc, oc) in (("", (g, o)), ("_lesion", (g[box], o[box]))):
                    p, s = crop_scores(gc, oc)
                    scores[f"val_psnr{suffix}"].append(p)
                    scores[f"val_ssim{suffix}"].append(s)
                scores["val_l1_lesion"].append(float(np.abs(g - o)[lab > 0].mean()))
        out = {k: float(np.mean(v)) for k, v in scores.items()}
        out["score"] = out["val_psnr"]
        return out

    @torch.no_grad()
    def sample_grid(self):
        """One row per fixed lesion slice: whitened input | generated | original with the lesion outlined."""
        b, x, gen = self.generate(self.sample_rows)
        tiles = []
        for i in range(len(self.sample_rows)):
            lesion = b["label"][i].cpu().numpy() > 0
            tiles.append(to_uint8(x[i, 0].float().cpu().numpy()))
            tiles.append(to_uint8(gen[i, 0].cpu().numpy()))
            tiles.append(overlay(b["image"][i, self.channel].float().cpu().numpy(), mask=lesion))
        return grid(tiles, columns=3)


STAGE = Pix2PixStage
