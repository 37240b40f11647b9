"""Stage ``structure``: the structure-map VAE+GAN and the mask generator (METHOD.md §3–4, §13).

Networks (names fixed; later stages and synthesis load them by name):
``G_m`` U-Net structure map -> organ mask (sigmoid, 1 = inside); ``E_s`` encoder -> (mean,
log-variance); ``G_s`` decoder latent -> structure map (sigmoid); ``D_z`` latent discriminator;
``D_s`` VGG11-like structure-map discriminator (one real/fake head, no class head).

Two phases, one run:

1. ``mask`` (first ``mask_steps`` steps): ``G_m`` alone, eq. (6) ``MSE(m, G_m(s))`` on real maps.
2. ``vaegan`` (next ``steps`` steps): eqs. (7)–(11) with ``G_m`` frozen, least-squares GAN form
   and the thesis code's weights (§13). Per step, on a batch of real maps ``s`` and masks ``m``:
   ``f = mean + exp(logvar / 2) * eps`` from ``E_s(s)``; one ``G_s`` call decodes ``[f; z]`` into
   the reconstruction ``s_r`` and the generated map ``s_g`` (``z ~ N(0, I)``); ``m_g = G_m(s_g)``.
   First the discriminators step on detached fakes (eqs. 8, 10; real and fake in one call
   each), then ``E_s`` + ``G_s`` step on

   ``25·MSE(s, s_r) + 10·L1(s, s_r) + 1·MSE(0, (1-m)⊙s_r) + 1·MSE(0, (1-m_g)⊙s_g)
   + 0.001·(D_z(f)-1)² + 0.001·mean(f_mean)² + 0.001·(mean(σ)-1)² + 0.1·(D_s(s_g)-1)²``.

   The outside-organ terms use ``1 - m`` because the project's masks are 1 inside (the thesis
   code's masks are 1 outside, so its ``m⊙s_r`` is the same term). As in the thesis code there is
   no KL term by default: ``D_z`` matches the encoded distribution to N(0, I), helped by the weak
   mean and standard-deviation penalties. With those weights (0.001) a run of a few hundred steps
   learns an auto-encoder whose codes are far from N(0, I) (σ collapses towards 0), so maps decoded
   from the prior are noise; ``w_kl`` adds the usual VAE KL term (logged as ``kl`` either way),
   which the ``cpu-demo`` preset switches on.

Departures from the thesis code, on purpose: structure maps are one sigmoid channel, not a
2-channel one-hot; ``G_m`` trains in its own phase and is frozen afterwards (the thesis code
optimises it together with ``E_s``/``G_s``, so the outside-organ term on generated maps also
pulled ``G_m`` towards empty masks); ``D_z`` is an MLP on the latent vector (the thesis reshapes a
4096-vector to 64×64 for a CNN). Optional (``ds_hard``, off by default and in the presets): ``D_s``
judges the generated map binarised at ``threshold`` (:func:`straight_through_binary`) instead of
the sigmoid map, since real maps are binary and a soft map's grey values alone give it away.

The metrics log holds the *unweighted* loss terms (so their sizes can be read directly) and
``g_total``, the weighted sum that ``E_s`` + ``G_s`` minimise; ``d_z`` and ``d_s`` are the
unweighted sums of the real and fake terms of eqs. (8) and (10).

Validation (``vaegan`` phase): reconstruction MSE and Dice of binarised reconstructions (from the
mean latent) of validation maps, IoU of ``G_m`` masks against the real masks, and the fraction of
generated contour pixels outside their own ``G_m`` mask. ``score`` is the reconstruction Dice:
most pixels of a structure map are empty, so MSE rewards blank reconstructions, while Dice only
counts the contours. During the ``mask`` phase no ``score`` is reported (``G_s`` is untrained), so
the 'best' checkpoint always comes from the VAE+GAN phase.
"""

from __future__ import annotations

import contextlib
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError
from synth_core.nets import reparameterize
from synth_core.render import grid, overlay
from synth_core.structure_model import sample_latents
from synth_core.runs.checkpoint import unwrap
from training.data import load_rows
from training.distributed import wrap
from training.losses import lsgan_fake, lsgan_real
from synth_core.runs.networks.structure import build_networks
from synth_core.runs.stage_configs import StructureConfig
from training.stages.base import Stage
from training.stages.common import fixed_rows, set_requires_grad

NET_NAMES = ("G_m", "E_s", "G_s", "D_z", "D_s")
MASK_LOSSES = ("mask",)
GEN_LOSSES = ("rec_mse", "rec_l1", "rec_dice", "rec_bce", "outside_rec", "outside_gen", "g_dz", "mean_reg", "std_reg", "g_ds", "kl")
VAEGAN_LOSSES = GEN_LOSSES + ("g_total", "d_z", "d_s")


# ---- loss terms (pure functions, unweighted) -----------------------------------------------
def mask_loss(pred: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Eq. (6): ``MSE(m, G_m(s))``."""
    return F.mse_loss(pred.float(), m.float())


def outside_loss(s: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """``MSE(0, (1 - m) ⊙ s)`` over all pixels: contours outside the organ (eqs. 7, 11; m = 1 inside).

    Zero when ``s`` lies inside ``m``; equals ``sum(s² where m = 0) / s.numel()``.
    """
    return (((1.0 - m.float()) * s.float()) ** 2).mean()


def soft_dice_loss(pred: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """``1 - 2·Σ(p·t) / (Σp + Σt)`` per map, averaged over the batch (``eps`` keeps empty maps at 0).

    Not in the thesis: MSE and L1 on a map whose contours cover ~10 % of the pixels are smallest for
    a blurred, low map that the 0.5 threshold turns into blobs; Dice counts the contours alone."""
    p, t = pred.float().flatten(1), target.float().flatten(1)
    inter = (p * t).sum(1)
    return (1.0 - (2.0 * inter + eps) / (p.sum(1) + t.sum(1) + eps)).mean()


BCE_FLOOR = 1e-12  # smallest probability the BCE takes the log of (log: -27.6)


def binary_cross_entropy(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean BCE of probabilities (written out: ``F.binary_cross_entropy`` refuses CUDA autocast);
    exactly 0 for a perfect binary prediction. ``p`` and ``1 - p`` are floored at :data:`BCE_FLOOR`
    *before* the log, so a sigmoid saturated at exactly 0 or 1 (float32: logits beyond about ±17)
    gets a finite gradient: clamping the log afterwards gave ``0 · inf = NaN``, which reached the
    weights even with the term weighted 0 and ended a structure run at step 731."""
    p, t = pred.float(), target.float()
    return -(t * p.clamp(min=BCE_FLOOR).log() + (1.0 - t) * (1.0 - p).clamp(min=BCE_FLOOR).log()).mean()


def mean_reg(mean: torch.Tensor) -> torch.Tensor:
    """``(mean over batch and dims of f_mean)²`` (thesis code: ``mse(reduce_mean(mean), 0)``)."""
    return mean.float().mean() ** 2


def std_reg(logvar: torch.Tensor) -> torch.Tensor:
    """``(mean(exp(logvar / 2)) - 1)²`` (thesis code: ``mse(reduce_mean(std), 1)``)."""
    return (torch.exp(0.5 * logvar.float()).mean() - 1.0) ** 2


def kl_divergence(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """``KL(N(mean, exp(logvar)) || N(0, I))`` averaged over batch and latent dimensions
    (``0.5 * (mean² + exp(logvar) - 1 - logvar)``; zero for the prior itself). Not in the thesis."""
    mean, logvar = mean.float(), logvar.float()
    return 0.5 * (mean**2 + logvar.exp() - 1.0 - logvar).mean()


class _StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s: torch.Tensor, threshold: float) -> torch.Tensor:  # noqa: ARG004
        return (s > threshold).to(s.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:  # noqa: ARG004
        return grad, None


def straight_through_binary(s: torch.Tensor, threshold: float) -> torch.Tensor:
    """``s > threshold`` as exact 0/1 in the forward pass, with the gradient of ``s`` itself
    (identity) in the backward pass (the straight-through estimator, Bengio et al. 2013):
    ``ds_hard`` shows ``D_s`` binary generated maps, like the real ones, and still trains ``G_s``
    through it."""
    return _StraightThrough.apply(s, float(threshold))


def discriminator_loss(pred: torch.Tensor, n_real: int) -> torch.Tensor:
    """Eqs. (8), (10) on one batched call: ``(D(real)-1)² + D(fake)²``; the first ``n_real`` rows are real."""
    pred = pred.float()
    return lsgan_real(pred[:n_real]) + lsgan_fake(pred[n_real:])


def generator_terms(*, s: torch.Tensor, m: torch.Tensor, s_r: torch.Tensor, s_g: torch.Tensor, m_g: torch.Tensor,
                    mean: torch.Tensor, logvar: torch.Tensor, dz_f: torch.Tensor, ds_g: torch.Tensor) -> dict[str, torch.Tensor]:
    """The unweighted terms of the ``E_s`` + ``G_s`` loss (eqs. 7, 9, 11 and the thesis code's extras)."""
    s, s_r = s.float(), s_r.float()
    return {
        "rec_mse": F.mse_loss(s_r, s),
        "rec_l1": F.l1_loss(s_r, s),
        "rec_dice": soft_dice_loss(s_r, s),
        "rec_bce": binary_cross_entropy(s_r, s),
        "outside_rec": outside_loss(s_r, m),
        "outside_gen": outside_loss(s_g, m_g),
        "g_dz": lsgan_real(dz_f.float()),
        "mean_reg": mean_reg(mean),
        "std_reg": std_reg(logvar),
        "g_ds": lsgan_real(ds_g.float()),
        "kl": kl_divergence(mean, logvar),
    }


def weighted_total(terms: dict[str, torch.Tensor], cfg: StructureConfig) -> torch.Tensor:
    """``sum_k w_k * term_k`` over :data:`GEN_LOSSES` with the config's ``w_<name>`` weights; terms
    weighted 0 are left out (they are still logged), so nothing of a switched-off term, not even a
    non-finite gradient, reaches the networks."""
    return sum(getattr(cfg, f"w_{k}") * terms[k] for k in GEN_LOSSES if getattr(cfg, f"w_{k}") != 0)


def _dice(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Dice of two boolean tensors pooled over all their pixels (1 when both are empty)."""
    denom = int(pred.sum()) + int(target.sum())
    return 1.0 if denom == 0 else 2.0 * int((pred & target).sum()) / denom


def _iou(pred: torch.Tensor, target: torch.Tensor) -> float:
    union = int((pred | target).sum())
    return 1.0 if union == 0 else int((pred & target).sum()) / union


# ---- the stage -----------------------------------------------------------------------------
class StructureStage(Stage):
    name = "structure"
    config_cls = StructureConfig
    loss_names = MASK_LOSSES + VAEGAN_LOSSES
    progress_names = ("mask", "rec_mse", "rec_dice", "g_ds", "d_z", "d_s")
    ema_names = ("E_s", "G_s")

    @classmethod
    def check_dataset(cls, cfg: StructureConfig, ds: Dataset) -> None:
        size = ds.spec.size
        for setting, n, used_by in (("n_down", cfg.n_down, "E_s and G_s"), ("d_n_down", cfg.d_n_down, "D_s"),
                                    ("mask_depth", cfg.mask_depth, "G_m")):
            if size % 2**n:
                raise ConfigError(f"image size {size} of dataset {ds.name!r} is not divisible by 2**{setting} = {2**n} "
                                  f"({used_by}); choose a smaller {setting} or re-ingest at a size divisible by {2**n}")
        n = min(len(ds), 256)
        if not (np.asarray(ds.structure[:n]) > 0).any():
            raise ConfigError(f"dataset {ds.name!r}: its first {n} structure maps are all empty; re-ingest it with "
                              f"other structure-map parameters")

    def __init__(self, cfg: StructureConfig, ds: Dataset, dist, ws):
        super().__init__(cfg, ds, dist, ws)
        bare = build_networks(cfg, self.checkpoint_meta())
        self.nets = {k: wrap(n, dist) for k, n in bare.items()}
        betas = (cfg.beta1, cfg.beta2)
        self.opts = {
            "G": torch.optim.Adam(list(self.nets["E_s"].parameters()) + list(self.nets["G_s"].parameters()),
                                  lr=cfg.lr, betas=betas),
            "D_z": torch.optim.Adam(self.nets["D_z"].parameters(), lr=cfg.lr, betas=betas),
            "D_s": torch.optim.Adam(self.nets["D_s"].parameters(), lr=cfg.lr, betas=betas),
            "G_m": torch.optim.Adam(self.nets["G_m"].parameters(), lr=cfg.mask_lr or cfg.lr, betas=betas),
        }
        self._mask_frozen = False
        self._steps_done = 0
        self.sample_rows = fixed_rows(ds, 4, prefer_lesions=False, seed=cfg.seed)
        self.sample_z = sample_latents(len(self.sample_rows), cfg.latent_dim, seed=cfg.seed)
        val = ds.split_indices("val")
        if len(val) == 0:
            val = ds.split_indices("train")
        if cfg.val_slices and len(val) > cfg.val_slices:
            val = np.sort(np.random.default_rng(cfg.seed).choice(val, cfg.val_slices, replace=False))
        self.val_rows = val

    # ---- the loop's view -----------------------------------------------------------------
    def total_steps(self) -> int:
        return int(self.cfg.mask_steps + self.cfg.steps)

    def phase(self, step: int) -> str:
        return "mask" if step < self.cfg.mask_steps else "vaegan"

    def modules(self):
        return self.nets

    def optimizers(self):
        return self.opts

    def _no_sync(self, name: str):
        """``no_sync`` of a DDP-wrapped discriminator used inside the generator's loss."""
        net = self.nets[name]
        return net.no_sync() if self.dist.distributed else contextlib.nullcontext()

    def _frozen_mask_net(self) -> nn.Module:
        """The bare ``G_m`` with frozen weights, for the VAE+GAN phase (gradients reach its input only).

        The bare module is used so the DDP wrapper never sees a forward it will not reduce.
        """
        net = unwrap(self.nets["G_m"])
        if not self._mask_frozen:
            set_requires_grad(net, False)
            self.opts["G_m"].zero_grad(set_to_none=True)
            self._mask_frozen = True
        net.eval()
        return net

    # ---- training ------------------------------------------------------------------------
    def train_step(self, step, batch, rng):
        self._steps_done = step + 1
        if self.phase(step) == "mask":
            return self._mask_step(batch)
        return self._vaegan_step(batch)

    def _mask_step(self, batch) -> dict[str, float]:
        opt = self.opts["G_m"]
        opt.zero_grad(set_to_none=True)
        loss = mask_loss(self.nets["G_m"](batch["structure"]), batch["mask"])
        (self.cfg.w_mask * loss).backward()
        opt.step()
        return {"mask": loss.item()}

    def _vaegan_step(self, batch) -> dict[str, float]:
        cfg, nets, opts = self.cfg, self.nets, self.opts
        s, m = batch["structure"], batch["mask"]
        b = s.shape[0]
        g_m = self._frozen_mask_net()

        mean, logvar = nets["E_s"](s)
        f = reparameterize(mean, logvar)
        z = torch.randn_like(mean)
        decoded = nets["G_s"](torch.cat([f, z]))  # one call: reconstruction and generation
        s_r, s_g = decoded[:b], decoded[b:]
        m_g = g_m(s_g)
        s_d = straight_through_binary(s_g, cfg.threshold) if cfg.ds_hard else s_g  # what D_s judges

        # discriminators on detached fakes (real and fake batched in one call each)
        opts["D_z"].zero_grad(set_to_none=True)
        opts["D_s"].zero_grad(set_to_none=True)
        d_z = discriminator_loss(nets["D_z"](torch.cat([z, f.detach()])), b)
        d_s = discriminator_loss(nets["D_s"](torch.cat([s, s_d.detach()]))[0], b)
        (cfg.w_d_z * d_z + cfg.w_d_s * d_s).backward()
        opts["D_z"].step()
        opts["D_s"].step()

        # encoder + decoder against the updated discriminators; their parameter gradients from this
        # backward stay local (no_sync) and are cleared before the discriminators' next step
        opts["G"].zero_grad(set_to_none=True)
        with self._no_sync("D_z"), self._no_sync("D_s"):
            dz_f = nets["D_z"](f)
            ds_g = nets["D_s"](s_d)[0]
            terms = generator_terms(s=s, m=m, s_r=s_r, s_g=s_g, m_g=m_g, mean=mean, logvar=logvar, dz_f=dz_f, ds_g=ds_g)
            g_total = weighted_total(terms, cfg)
            g_total.backward()
        opts["G"].step()

        out = {k: v.item() for k, v in terms.items()}
        out.update(g_total=g_total.item(), d_z=d_z.item(), d_s=d_s.item())
        return out

    # ---- inference views -----------------------------------------------------------------
    def _bare(self, name: str) -> nn.Module:
        return unwrap(self.nets[name])

    @torch.no_grad()
    def _reconstruct(self, s: torch.Tensor) -> torch.Tensor:
        mean, _ = self.inference_net("E_s")(s)
        return self.inference_net("G_s")(mean).float()

    @torch.no_grad()
    def validate(self):
        thr = self.cfg.threshold
        g_m = self._bare("G_m")
        pairs_s, pairs_m = [], []
        sq_err, n_px = 0.0, 0
        for start in range(0, len(self.val_rows), 16):
            bt = load_rows(self.ds, self.val_rows[start : start + 16], self.device)
            s, m = bt["structure"], bt["mask"] > 0.5
            pred_m = g_m(s).float() > thr
            pairs_m.append((pred_m.cpu(), m.cpu()))
            if self.phase(max(self._steps_done - 1, 0)) == "vaegan":
                rec = self._reconstruct(s)
                sq_err += float(((rec - s) ** 2).sum())
                n_px += s.numel()
                pairs_s.append(((rec > thr).cpu(), (s > 0.5).cpu()))
        out = {"val_mask_iou": _iou(torch.cat([p for p, _ in pairs_m]), torch.cat([t for _, t in pairs_m]))}
        if pairs_s:
            out["val_rec_mse"] = sq_err / n_px
            out["val_rec_dice"] = _dice(torch.cat([p for p, _ in pairs_s]), torch.cat([t for _, t in pairs_s]))
            z = sample_latents(16, self.cfg.latent_dim, seed=self.cfg.seed + 1).to(self.device)
            s_g = self.inference_net("G_s")(z).float() > thr
            m_g = g_m(s_g.float()).float() > thr
            n_contour = int(s_g.sum())
            out["val_gen_outside"] = int((s_g & ~m_g).sum()) / n_contour if n_contour else 0.0
            out["val_gen_density"] = float(s_g.float().mean())
            out["score"] = out["val_rec_dice"]
        return out

    @torch.no_grad()
    def sample_grid(self):
        """Rows: a real validation map (mask outline in cyan) | its reconstruction from the mean
        latent | a map decoded from a fixed latent | that map's G_m mask (grey) with its contours."""
        thr = self.cfg.threshold
        bt = load_rows(self.ds, self.sample_rows, self.device)
        s, m = bt["structure"], bt["mask"]
        rec = self._reconstruct(s)
        gen = self.inference_net("G_s")(self.sample_z.to(self.device)).float()
        gen_bin = (gen > thr).float()
        gen_mask = self._bare("G_m")(gen_bin).float() > thr
        tiles = []
        for i in range(len(self.sample_rows)):
            tiles.append(overlay(s[i, 0].cpu().numpy(), mask=m[i, 0].cpu().numpy()))
            tiles.append(overlay(rec[i, 0].cpu().numpy()))
            tiles.append(overlay(gen[i, 0].cpu().numpy()))
            tiles.append(overlay(0.5 * gen_mask[i, 0].float().cpu().numpy(), structure=gen_bin[i, 0].cpu().numpy()))
        return grid(tiles, columns=4)


STAGE = StructureStage
