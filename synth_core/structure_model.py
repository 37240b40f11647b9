"""Inference with a trained structure-map VAE+GAN (METHOD.md §4; thesis Fig. 15).

Given the networks of a ``structure`` run (rebuilt with ``synth_core.runs.loading.load_run``):
``G_s`` (decoder: latent -> structure map), ``G_m`` (structure map -> organ mask), ``E_s``
(encoder: structure map -> mean, log-variance) and ``D_s`` (structure-map discriminator).

Conventions:
- Latent helpers (:func:`sample_latents`, :func:`latent_grid`, :func:`interpolate`) build
  **torch** latents ``(N, latent_dim)`` on the CPU, ready to feed the networks.
- Network helpers take torch (or numpy) inputs and return **numpy** arrays on the CPU; they run
  without gradients, in eval mode (the networks' train/eval flag is restored afterwards), in
  batches of ``batch_size`` on the decoder's device.
- Structure maps and masks are ``(N, H, W)`` uint8 in {0, 1}; masks are 1 inside the organ.

No Streamlit here; pages reach these functions through the synthesis layer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from synth_core.structure import drop_small_regions

__all__ = [
    "decode_structures",
    "encode_structures",
    "generate_structures",
    "interpolate",
    "latent_grid",
    "masks_from_structures",
    "sample_latents",
    "structure_realness",
]


# ---- small internals -----------------------------------------------------------------------
def _device(net: nn.Module) -> torch.device:
    p = next(net.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@contextmanager
def _evaluating(*nets: nn.Module) -> Iterator[None]:
    """Eval mode and no gradients for the block; each network's train flag is restored after."""
    flags = [n.training for n in nets]
    try:
        for n in nets:
            n.eval()
        with torch.no_grad():
            yield
    finally:
        for n, flag in zip(nets, flags):
            n.train(flag)


def _as_latents(z: torch.Tensor | np.ndarray, latent_dim: int | None = None) -> torch.Tensor:
    t = z.detach().float().cpu() if isinstance(z, torch.Tensor) else torch.from_numpy(np.array(z, dtype=np.float32))
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2:
        raise ValueError(f"expected latents (N, latent_dim), got shape {tuple(t.shape)}")
    if latent_dim is not None and t.shape[1] != latent_dim:
        raise ValueError(f"expected latents with {latent_dim} dimensions, got {t.shape[1]}")
    return t


def _as_maps(s: torch.Tensor | np.ndarray) -> torch.Tensor:
    """``(N, H, W)`` or ``(N, 1, H, W)`` (or one ``(H, W)`` map) -> float ``(N, 1, H, W)``."""
    t = s.detach().float().cpu() if isinstance(s, torch.Tensor) else torch.from_numpy(np.array(s, dtype=np.float32))
    if t.ndim == 2:
        t = t[None]
    if t.ndim == 3:
        t = t[:, None]
    if t.ndim != 4 or t.shape[1] != 1:
        raise ValueError(f"expected structure maps (N, H, W) or (N, 1, H, W), got shape {tuple(t.shape)}")
    return t


def _check_threshold(threshold: float) -> None:
    if not (0.0 < threshold < 1.0):
        raise ValueError(f"threshold must be in (0, 1), not {threshold!r}")


def _chunks(n: int, batch_size: int) -> range:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, not {batch_size!r}")
    return range(0, n, batch_size)


# ---- latents -------------------------------------------------------------------------------
def sample_latents(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    """``n`` latents from N(0, I), ``(n, latent_dim)`` float32; the same seed gives the same ones."""
    if n < 0 or latent_dim < 1:
        raise ValueError(f"need n >= 0 and latent_dim >= 1, not n={n!r}, latent_dim={latent_dim!r}")
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, latent_dim, generator=g)


def _direction(d: int | Sequence[float] | torch.Tensor | np.ndarray, latent_dim: int) -> torch.Tensor:
    if isinstance(d, (int, np.integer)):
        if not (0 <= int(d) < latent_dim):
            raise ValueError(f"latent direction index must be in [0, {latent_dim}), not {d}")
        v = torch.zeros(latent_dim)
        v[int(d)] = 1.0
        return v
    v = d.detach().float().cpu().flatten() if isinstance(d, torch.Tensor) else torch.tensor(np.array(d, dtype=np.float32)).flatten()
    if v.shape != (latent_dim,):
        raise ValueError(f"a latent direction vector needs {latent_dim} values, got {tuple(v.shape)}")
    norm = float(v.norm())
    if not np.isfinite(norm) or norm == 0:
        raise ValueError("a latent direction vector must be finite and non-zero")
    return v / norm


def latent_grid(
    latent_dim: int,
    rows: int,
    cols: int,
    *,
    directions: tuple[int | Sequence[float] | torch.Tensor, int | Sequence[float] | torch.Tensor] = (0, 1),
    span: float = 2.0,
    center: torch.Tensor | np.ndarray | None = None,
) -> torch.Tensor:
    """An ordered 2-D traversal of latent space (thesis Fig. 15): ``(rows * cols, latent_dim)``.

    Row ``i``, column ``j`` (row-major: index ``i * cols + j``) is
    ``center + a_i * u + b_j * v`` with ``a = linspace(-span, span, rows)``,
    ``b = linspace(-span, span, cols)``. ``directions`` are two latent axes (ints) or two vectors
    (scaled to unit length, so ``span`` is in standard deviations of the N(0, I) prior).
    ``center`` defaults to the origin (the prior's mode); pass an encoded map to explore around it.
    Moving along a row changes only the ``v`` component, along a column only the ``u`` component.
    """
    if rows < 1 or cols < 1:
        raise ValueError(f"rows and cols must be >= 1, not {rows!r}, {cols!r}")
    if not (np.isfinite(span) and span >= 0):
        raise ValueError(f"span must be a finite number >= 0, not {span!r}")
    if len(directions) != 2:
        raise ValueError(f"latent_grid needs exactly two directions, got {len(directions)}")
    u, v = (_direction(d, latent_dim) for d in directions)
    c = torch.zeros(latent_dim) if center is None else _as_latents(center, latent_dim)[0]
    a = torch.linspace(-span, span, rows) if rows > 1 else torch.zeros(1)
    b = torch.linspace(-span, span, cols) if cols > 1 else torch.zeros(1)
    z = c[None, None, :] + a[:, None, None] * u[None, None, :] + b[None, :, None] * v[None, None, :]
    return z.reshape(rows * cols, latent_dim)


def interpolate(z_a: torch.Tensor | np.ndarray, z_b: torch.Tensor | np.ndarray, n: int, *,
                mode: str = "linear") -> torch.Tensor:
    """``n`` latents from ``z_a`` to ``z_b`` inclusive, ``(n, latent_dim)``.

    ``mode="linear"`` walks the straight line; ``"slerp"`` walks the great circle (keeps the norm
    typical of N(0, I) samples, so midpoints do not shrink towards the origin).
    """
    a, b = _as_latents(z_a)[0], _as_latents(z_b)[0]
    if a.shape != b.shape:
        raise ValueError(f"z_a and z_b differ in size: {tuple(a.shape)} vs {tuple(b.shape)}")
    if n < 1:
        raise ValueError(f"n must be >= 1, not {n!r}")
    t = torch.linspace(0.0, 1.0, n)[:, None] if n > 1 else torch.zeros(1, 1)
    if mode == "linear":
        return (1 - t) * a + t * b
    if mode == "slerp":
        cos = torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-12)
        omega = torch.arccos(cos.clamp(-1.0, 1.0))
        if float(omega.sin()) < 1e-6:  # (anti)parallel: slerp is undefined, fall back to a line
            return (1 - t) * a + t * b
        return (torch.sin((1 - t) * omega) * a + torch.sin(t * omega) * b) / torch.sin(omega)
    raise ValueError(f'mode must be "linear" or "slerp", not "{mode}"')


# ---- networks ------------------------------------------------------------------------------
def decode_structures(G_s: nn.Module, z: torch.Tensor | np.ndarray, *, batch_size: int = 64) -> np.ndarray:
    """``G_s(z)``: structure-map probabilities, ``(N, H, W)`` float32 in [0, 1]."""
    z = _as_latents(z, getattr(G_s, "latent_dim", None))
    dev = _device(G_s)
    out = []
    with _evaluating(G_s):
        for i in _chunks(len(z), batch_size):
            out.append(G_s(z[i : i + batch_size].to(dev)).float()[:, 0].cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, G_s.image_size, G_s.image_size), np.float32)


def masks_from_structures(G_m: nn.Module, s: torch.Tensor | np.ndarray, threshold: float = 0.5, *,
                          batch_size: int = 64, min_area: float = 0.0) -> np.ndarray:
    """Organ masks ``G_m(s) > threshold`` (eq. 6), ``(N, H, W)`` uint8, 1 = inside; with ``min_area`` > 0
    the regions smaller than that fraction of the frame are dropped (:func:`synth_core.structure.drop_small_regions`)."""
    _check_threshold(threshold)
    s = _as_maps(s)
    dev = _device(G_m)
    out = []
    with _evaluating(G_m):
        for i in _chunks(len(s), batch_size):
            out.append((G_m(s[i : i + batch_size].to(dev)).float()[:, 0] > threshold).to(torch.uint8).cpu().numpy())
    masks = np.concatenate(out) if out else np.zeros((0, *s.shape[-2:]), np.uint8)
    return drop_small_regions(masks, min_area)


def generate_structures(G_s: nn.Module, G_m: nn.Module, z: torch.Tensor | np.ndarray, threshold: float = 0.5,
                        *, batch_size: int = 64, min_area: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """New structure maps and their organ masks from latents ``z (N, latent_dim)``.

    Maps are ``G_s(z) > threshold``; masks are ``G_m(map) > threshold`` computed from the
    *binarised* map (the input ``G_m`` was trained on in eq. 6), without regions smaller than
    ``min_area`` of the frame (0 = every region, thesis). Returns ``(maps, masks)``, each
    ``(N, H, W)`` uint8 in {0, 1}. Deterministic for a fixed ``z``.
    """
    _check_threshold(threshold)
    maps = (decode_structures(G_s, z, batch_size=batch_size) > threshold).astype(np.uint8)
    masks = masks_from_structures(G_m, maps, threshold, batch_size=batch_size, min_area=min_area)
    return maps, masks


def encode_structures(E_s: nn.Module, s: torch.Tensor | np.ndarray, *, batch_size: int = 64) -> np.ndarray:
    """Mean latents ``f_mean`` of structure maps ``(N, H, W)`` or ``(N, 1, H, W)`` -> ``(N, latent_dim)``."""
    s = _as_maps(s)
    dev = _device(E_s)
    out = []
    with _evaluating(E_s):
        for i in _chunks(len(s), batch_size):
            mean, _ = E_s(s[i : i + batch_size].to(dev))
            out.append(mean.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, getattr(E_s, "latent_dim", 0)), np.float32)


def structure_realness(D_s: nn.Module, s: torch.Tensor | np.ndarray, *, batch_size: int = 64) -> np.ndarray:
    """Mean ``D_s`` output per map, ``(N,)`` float32 (least-squares targets: 1 real, 0 fake).

    The thesis code keeps a generated map only when this is at least 0.55 (up to 50 tries).
    """
    s = _as_maps(s)
    dev = _device(D_s)
    out = []
    with _evaluating(D_s):
        for i in _chunks(len(s), batch_size):
            real, _ = D_s(s[i : i + batch_size].to(dev))
            out.append(real.float().mean(dim=(1, 2, 3)).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, np.float32)
