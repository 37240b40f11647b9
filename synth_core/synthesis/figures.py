"""Per-sample figures of a synthetic set: the catalog's quality columns.

- ``dice_<m>``: lesion fidelity — whole-lesion Dice between the requested label (``> 0``) and the
  frozen segmenter's prediction on modality ``m`` (argmax ``> 0``); NaN when the sample has no
  lesion. ``false_lesion_<m>``: predicted lesion pixels outside the requested label.
- ``reg_err_<m>``: registration consistency — mean squared error between modality ``m`` and the
  translator's rendering of ``m`` from each other modality, averaged over those sources
  (0 = the modalities agree perfectly; intensities in [0, 1]).
- ``nn_dist`` / ``nn_index``: memorisation — distance to the nearest real training slice and its
  dataset row. Feature space: all modalities area-averaged to 32 x 32 px and flattened; the
  distance is the root-mean-square intensity difference there (0 = identical at that scale,
  in [0, 1] intensity units). Stated in ``MEMORISATION_SPACE``.
- Structure validity and content: ``contour_pixels``, ``contour_outside`` (structure-map pixels
  outside the organ mask — a valid map has none), ``organ_area``, ``has_lesion``, ``lesion_area``,
  ``lesion_cy``/``lesion_cx`` (centroid, fraction of height/width), ``mean_<m>``/``std_<m>``
  (intensity inside the organ).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from synth_core.translator_model import translate

FEATURE_SIZE = 32
MEMORISATION_SPACE = (f"all modalities area-averaged to {FEATURE_SIZE}x{FEATURE_SIZE} px; distance = RMS intensity "
                      "difference (0 = identical)")
COLUMN_HELP = {
    "dice_": "whole-lesion Dice between the requested label and the frozen segmenter's prediction (higher = the "
             "lesion is where it was asked for)",
    "false_lesion_": "pixels the segmenter calls lesion outside the requested label",
    "reg_err_": "MSE between this modality and the translator's rendering of it from the others (lower = better "
                "registered)",
    "structure_ds_score": "the structure discriminator's score of the generated structure map (1 = real-looking, "
                          "0 = fake-looking; NaN when maps were not screened)",
    "structure_tries": "latents tried before this structure map was accepted by the discriminator",
    "nn_dist": f"distance to the nearest real training slice ({MEMORISATION_SPACE}); small = possible copy",
    "nn_index": "dataset row of that nearest real training slice",
    "contour_outside": "structure-map pixels outside the organ mask (0 for a valid map)",
    "contour_pixels": "structure-map pixels",
    "organ_area": "organ-mask pixels",
    "lesion_area": "lesion pixels",
    "lesion_cy": "lesion centroid row / height",
    "lesion_cx": "lesion centroid column / width",
    "mean_": "mean intensity inside the organ",
    "std_": "intensity standard deviation inside the organ",
}


def memorisation_features(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``(N, M, H, W)`` in [0, 1] -> ``(N, M * 32 * 32)`` float32 features of :data:`MEMORISATION_SPACE`."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images).float()
    return F.adaptive_avg_pool2d(x, FEATURE_SIZE).flatten(1)


@dataclass
class RealReference:
    """Memorisation features of the real training slices and their dataset rows."""

    features: torch.Tensor  # (N_real, D) float32
    rows: np.ndarray  # (N_real,) dataset row of each feature

    @classmethod
    def from_dataset(cls, ds: Any, split: str = "train", chunk: int = 256,
                     channels: list[int] | None = None) -> "RealReference":
        """``channels``: the dataset's modalities a set holds (default all; a pix2pix set holds those its runs filled)."""
        rows = np.asarray(ds.split_indices(split))
        chans = list(range(len(ds.modalities))) if channels is None else list(channels)
        feats = [memorisation_features(np.asarray(ds.images[np.sort(rows[i : i + chunk])])[:, chans])
                 for i in range(0, len(rows), chunk)]
        rows = np.concatenate([np.sort(rows[i : i + chunk]) for i in range(0, len(rows), chunk)]) if len(rows) else rows
        d = FEATURE_SIZE * FEATURE_SIZE * len(chans)
        return cls(torch.cat(feats) if feats else torch.zeros(0, d), rows)

    def nearest(self, images: np.ndarray, chunk: int = 4096) -> tuple[np.ndarray, np.ndarray]:
        """``(nn_dist (B,), nn_index (B,))`` of synthetic ``images (B, M, H, W)``."""
        q = memorisation_features(images)
        b = len(q)
        if len(self.features) == 0:
            return np.full(b, np.nan), np.full(b, -1, np.int64)
        best = torch.full((b,), float("inf"))
        arg = torch.zeros(b, dtype=torch.long)
        for s in range(0, len(self.features), chunk):
            d = torch.cdist(q, self.features[s : s + chunk])
            v, i = d.min(dim=1)
            better = v < best
            best = torch.where(better, v, best)
            arg = torch.where(better, i + s, arg)
        rms = (best / np.sqrt(q.shape[1])).numpy().astype(np.float64)
        return rms, self.rows[arg.numpy()].astype(np.int64)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    s = a.sum() + b.sum()
    return float(2.0 * (a & b).sum() / s) if s else float("nan")


@torch.no_grad()
def registration_errors(translator: nn.Module, images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``reg_err`` of every sample and modality: ``images (B, M, H, W)`` (M >= 2, the translator's
    modality order) -> ``(B, M)`` on the CPU, the MSE between modality ``t`` and the translator's
    rendering of ``t`` from each other modality, averaged over those sources."""
    x = torch.as_tensor(np.asarray(images) if not isinstance(images, torch.Tensor) else images).float()
    b, m, h, w = x.shape
    xd = x.to(next(translator.parameters()).device)
    err = torch.zeros(b, m)
    for t in range(m):
        src = torch.cat([xd[:, j : j + 1] for j in range(m) if j != t])
        out = translate(translator, src, t).float().view(m - 1, b, h, w)
        err[:, t] = ((out - xd[:, t][None]) ** 2).mean(dim=(2, 3)).mean(dim=0).cpu()
    return err


@torch.no_grad()
def sample_figures(images: np.ndarray, masks: np.ndarray, labels: np.ndarray, structure: np.ndarray,
                   modalities: tuple[str, ...], *, segmenters: dict[str, nn.Module] | None = None,
                   translator: nn.Module | None = None, real: RealReference | None = None) -> list[dict[str, Any]]:
    """One dict of figures per sample of a batch (``images (B, M, H, W)``, others ``(B, H, W)``)."""
    b, m, h, w = images.shape
    rows: list[dict[str, Any]] = [{} for _ in range(b)]
    lesion = labels > 0
    organ = masks > 0
    for i in range(b):
        r = rows[i]
        r["organ_area"] = int(organ[i].sum())
        r["contour_pixels"] = int(structure[i].sum())
        r["contour_outside"] = int((structure[i].astype(bool) & ~organ[i]).sum())
        r["has_lesion"] = bool(lesion[i].any())
        r["lesion_area"] = int(lesion[i].sum())
        if r["has_lesion"]:
            ys, xs = np.nonzero(lesion[i])
            r["lesion_cy"], r["lesion_cx"] = float(ys.mean() / h), float(xs.mean() / w)
        else:
            r["lesion_cy"] = r["lesion_cx"] = float("nan")
        for k, name in enumerate(modalities):
            vals = images[i, k][organ[i]] if organ[i].any() else images[i, k].ravel()
            r[f"mean_{name}"] = float(vals.mean())
            r[f"std_{name}"] = float(vals.std())
    x = torch.from_numpy(np.ascontiguousarray(images)).float()
    for k, name in enumerate(modalities):
        seg = (segmenters or {}).get(name)
        if seg is None:
            continue
        dev = next(seg.parameters()).device
        pred = (seg(x[:, k : k + 1].to(dev)).argmax(dim=1) > 0).cpu().numpy()
        for i in range(b):
            rows[i][f"dice_{name}"] = _dice(pred[i], lesion[i]) if lesion[i].any() else float("nan")
            rows[i][f"false_lesion_{name}"] = int((pred[i] & ~lesion[i]).sum())
    if translator is not None and m >= 2:
        err = registration_errors(translator, x)
        for i in range(b):
            for t, name in enumerate(modalities):
                rows[i][f"reg_err_{name}"] = float(err[i, t])
    if real is not None:
        dist, idx = real.nearest(images)
        for i in range(b):
            rows[i]["nn_dist"], rows[i]["nn_index"] = float(dist[i]), int(idx[i])
    return rows
