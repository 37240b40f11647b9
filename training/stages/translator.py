"""Stage ``translator``: the conditional modality translator ``G_t`` of METHOD.md §7 (thesis 4.4).

``G_t(x, one_hot(j))`` is a U-Net that turns a slice of any modality into modality ``j``; ``D_t``
is a VGG11-like discriminator with a real/fake map and a modality-class head (ACGAN). The
multimodal stage later loads ``G_t`` frozen for its registration loss (eq. 16), and the synthesis
catalog reports :func:`registration_error` per sample.

One step, with every registered modality of a slice in the batch (``image (B, M, H, W)``):

* each sample gets one ordered pair ``(i, j)``, ``i != j`` (a seeded permutation of all
  ``M(M-1)`` pairs laid across the batch, so a batch of ``>= M(M-1)`` slices covers every pair);
* generator (weights from the thesis code, METHOD.md §13):
  ``cycle`` eq. 19 ``||x_i - G_t(G_t(x_i, j), i)||^2`` (20), ``cross`` paired supervision
  ``||x_j - G_t(x_i, j)||^2`` (5; modalities are registered channels of one slice, so the
  translation has a ground truth), ``g_adv`` eq. 21 ``||d(x_t) - 1||^2`` (3) and ``g_cls``
  ``||c(x_t) - one_hot(j)||^2`` (5), all on the *translated* image ``x_t = G_t(x_i, j)``. The
  thesis code evaluates the adversarial terms on the real image's outputs, which gives ``G_t`` no
  adversarial gradient at all; here they are computed on ``D_t(x_t)``;
* discriminator eq. 20: ``d_real`` ``||d(x_j) - 1||^2`` (5), ``d_fake`` ``||d(x_t)||^2`` (3) and
  ``d_cls`` ``||c(.) - one_hot(j)||^2`` on both the real ``x_j`` and the translated ``x_t`` (5).
  Eq. 20 as printed gives the translated image the class of its *source* ``i``; a translation into
  ``j`` must be judged as modality ``j`` (and eq. 21 must agree with it), so both use ``j``. The
  real half of ``D_t``'s batch is the target slice ``x_j`` of each sample, so real and fake
  images carry the same class mix. Real and fake go through ``D_t`` in one call.

DDP (torchrun): ``G_t`` runs twice before one backward pass (translation, then the cycle back).
Autograd sums both paths into each parameter's single gradient accumulator, so DDP's hook fires
once per parameter and the chained call works unchanged (tested with two processes). ``D_t`` is
used inside the generator loss under ``no_sync()`` and its gradients are cleared before its own
step.

Validation: MSE and PSNR of ``G_t(x_i, j)`` against the registered ``x_j`` for every ordered pair
on validation slices; ``score = -mean MSE``.
"""

from __future__ import annotations

import contextlib
import math
import numpy as np
import torch
import torch.nn.functional as F

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError
from synth_core.render import grid
from synth_core.translator_model import registration_error, translate  # noqa: F401  (re-exported: the stage API)
from synth_core.runs.checkpoint import unwrap
from training.data import load_rows
from training.distributed import wrap
from training.losses import class_mse, lsgan_fake, lsgan_real
from synth_core.runs.networks.translator import build_networks
from synth_core.runs.stage_configs import TranslatorConfig
from training.stages.base import Stage
from training.stages.common import adam, fixed_rows, tile, validation_rows


# ---- pure helpers (also used by the multimodal stage and the synthesis catalog) ---------------------


def pair_schedule(n_modalities: int, batch: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Source and target modality per sample, ``(B,), (B,)`` with ``src != tgt``: seeded
    permutations of all ``M(M-1)`` ordered pairs laid end to end across the batch."""
    pairs = np.array([(i, j) for i in range(n_modalities) for j in range(n_modalities) if i != j], dtype=np.int64)
    reps = -(-batch // len(pairs))
    order = np.concatenate([rng.permutation(len(pairs)) for _ in range(reps)])[:batch]
    return pairs[order, 0], pairs[order, 1]


def psnr(mse: torch.Tensor) -> torch.Tensor:
    """PSNR in dB of images in [0, 1] from their MSE (capped at 100 dB for a perfect match)."""
    return 10.0 * torch.log10(1.0 / mse.clamp_min(1e-10))


# ---- the stage ----------------------------------------------------------------------------------
class TranslatorStage(Stage):
    name = "translator"
    config_cls = TranslatorConfig
    loss_names = ("cycle", "cross", "g_adv", "g_cls", "g_total", "d_real", "d_fake", "d_cls", "d_total")
    progress_names = ("cycle", "cross", "g_total", "d_total")

    @classmethod
    def check_dataset(cls, cfg: TranslatorConfig, ds: Dataset) -> None:
        mods = list(ds.modalities)
        if len(mods) < 2:
            raise ConfigError(f"dataset {ds.name!r} has only the modality {mods[0]!r}; the translator stage "
                              f"needs at least 2 registered modalities")
        if ds.spec.size % cfg.size_factor:
            raise ConfigError(f"image size {ds.spec.size} of dataset {ds.name!r} is not divisible by "
                              f"{cfg.size_factor} (2**depth = {2**cfg.depth}, 2**d_n_down = {2**cfg.d_n_down})")

    def __init__(self, cfg: TranslatorConfig, ds: Dataset, dist, ws):
        super().__init__(cfg, ds, dist, ws)
        self.mods = list(ds.modalities)
        self.n_mods = len(self.mods)
        nets = build_networks(cfg, {"modalities": self.mods, "image_size": ds.spec.size})
        self.G = wrap(nets["G_t"], dist)
        self.D = wrap(nets["D_t"], dist)
        self.opts = {"G_t": adam(self.G.parameters(), cfg), "D_t": adam(self.D.parameters(), cfg)}
        self.sample_rows = fixed_rows(ds, 2, prefer_lesions=False, seed=cfg.seed)
        self.val_rows = validation_rows(ds, cfg.val_slices, cfg.seed)

    def modules(self):
        return {"G_t": self.G, "D_t": self.D}

    def optimizers(self):
        return self.opts

    def _d_no_sync(self):
        return self.D.no_sync() if self.dist.distributed else contextlib.nullcontext()

    def generator_losses(self, images: torch.Tensor, src: torch.Tensor, tgt: torch.Tensor) -> dict[str, torch.Tensor]:
        """Unweighted generator terms and the tensors the discriminator step needs.

        ``images (B, M, H, W)``, ``src``/``tgt (B,)`` modality indices. Returns ``cycle, cross,
        g_adv, g_cls`` (scalars) and ``real (B,1,H,W)`` = ``x_j``, ``fake (B,1,H,W)`` = ``G_t(x_i, j)``.
        """
        ar = torch.arange(images.shape[0], device=images.device)
        x_src = images[ar, src].unsqueeze(1)
        x_tgt = images[ar, tgt].unsqueeze(1)
        fake = translate(self.G, x_src, tgt)
        back = translate(self.G, fake, src)
        with self._d_no_sync():
            realness, logits = self.D(fake)
        return {
            "cycle": F.mse_loss(back.float(), x_src.float()),
            "cross": F.mse_loss(fake.float(), x_tgt.float()),
            "g_adv": lsgan_real(realness.float()),
            "g_cls": class_mse(logits.float(), tgt, self.n_mods),
            "real": x_tgt,
            "fake": fake,
        }

    def train_step(self, step, batch, rng):
        cfg = self.cfg
        images = batch["image"]
        s, t = pair_schedule(self.n_mods, images.shape[0], rng)
        src = torch.from_numpy(s).to(images.device)
        tgt = torch.from_numpy(t).to(images.device)

        # generator G_t (D_t's gradients from this pass are local and cleared below)
        opt_g, opt_d = self.opts["G_t"], self.opts["D_t"]
        opt_g.zero_grad(set_to_none=True)
        g = self.generator_losses(images, src, tgt)
        g_total = (cfg.cycle_weight * g["cycle"] + cfg.cross_weight * g["cross"]
                   + cfg.g_adv_weight * g["g_adv"] + cfg.g_cls_weight * g["g_cls"])
        g_total.backward()
        opt_g.step()

        # discriminator D_t: real x_j and translated G_t(x_i, j) in one call, both of class j
        opt_d.zero_grad(set_to_none=True)
        b = images.shape[0]
        realness, logits = self.D(torch.cat([g["real"], g["fake"].detach()], dim=0))
        realness, logits = realness.float(), logits.float()
        d_real = lsgan_real(realness[:b])
        d_fake = lsgan_fake(realness[b:])
        d_cls = class_mse(logits, torch.cat([tgt, tgt]), self.n_mods)
        d_total = cfg.d_real_weight * d_real + cfg.d_fake_weight * d_fake + cfg.d_cls_weight * d_cls
        d_total.backward()
        opt_d.step()

        return {
            "cycle": g["cycle"].item(), "cross": g["cross"].item(), "g_adv": g["g_adv"].item(),
            "g_cls": g["g_cls"].item(), "g_total": g_total.item(), "d_real": d_real.item(),
            "d_fake": d_fake.item(), "d_cls": d_cls.item(), "d_total": d_total.item(),
        }

    @torch.no_grad()
    def translate_all(self, images: torch.Tensor) -> torch.Tensor:
        """Every translation of every slice: ``(B, M, H, W) -> (B, M_src, M_tgt, H, W)``; the
        diagonal ``[:, i, i]`` holds the real image of modality ``i``."""
        g = unwrap(self.G)
        b, m = images.shape[:2]
        out = images.new_zeros(b, m, m, *images.shape[-2:])
        for i in range(m):
            out[:, i, i] = images[:, i]
            targets = [j for j in range(m) if j != i]
            src = images[:, i : i + 1].repeat(len(targets), 1, 1, 1)
            tgt = torch.tensor(targets, device=images.device).repeat_interleave(b)
            y = translate(g, src, tgt).float().view(len(targets), b, *images.shape[-2:])
            for k, j in enumerate(targets):
                out[:, i, j] = y[k]
        return out

    @torch.no_grad()
    def validate(self):
        m = self.n_mods
        sq = torch.zeros(m, m, dtype=torch.float64)
        ps = torch.zeros(m, m, dtype=torch.float64)
        n = 0
        for start in range(0, len(self.val_rows), 16):
            images = load_rows(self.ds, self.val_rows[start : start + 16], self.device)["image"]
            out = self.translate_all(images).float()
            per_image = ((out - images[:, None].float()) ** 2).mean(dim=(-2, -1))  # (B, src, tgt)
            sq += per_image.sum(0).double().cpu()
            ps += psnr(per_image).sum(0).double().cpu()
            n += images.shape[0]
        res: dict[str, float] = {}
        mses, psnrs = [], []
        for i, a in enumerate(self.mods):
            for j, b in enumerate(self.mods):
                if i == j:
                    continue
                mse, p = float(sq[i, j] / max(n, 1)), float(ps[i, j] / max(n, 1))
                res[f"val_mse_{a}_to_{b}"] = mse
                res[f"val_psnr_{a}_to_{b}"] = p
                mses.append(mse)
                psnrs.append(p)
        res["val_mse"] = float(np.mean(mses))
        res["val_psnr"] = float(np.mean(psnrs))
        res["score"] = -res["val_mse"] if math.isfinite(res["val_mse"]) else -math.inf
        return res

    @torch.no_grad()
    def sample_grid(self):
        """For each of 2 fixed validation slices an ``M x M`` block: row = source modality,
        column = target modality, diagonal = the real image; blocks stacked vertically."""
        images = load_rows(self.ds, self.sample_rows, self.device)["image"]
        out = self.translate_all(images)
        tiles = [tile(out[k, i, j]) for k in range(out.shape[0]) for i in range(self.n_mods) for j in range(self.n_mods)]
        return grid(tiles, columns=self.n_mods)


STAGE = TranslatorStage
