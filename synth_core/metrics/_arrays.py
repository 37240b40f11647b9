"""Input normalisation shared by the metric functions (private).

Shape convention of every metric: ``(H,W)`` is one image; ``(N,H,W)`` is a batch of N single-channel
images (the project's batch convention, as in ``synth_core.structure``); ``(N,C,H,W)`` is a batch
of C-channel images. A single multi-channel image is passed as ``(1,C,H,W)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from synth_core.errors import ConfigError, InputError

REDUCTIONS = ("none", "mean")


def _shape(a: Any) -> tuple[int, ...]:
    return tuple(int(s) for s in a.shape)


def _check_real(a: np.ndarray | torch.Tensor, name: str) -> None:
    if isinstance(a, torch.Tensor):
        ok = not (a.is_complex() or a.dtype in (torch.quint8, torch.qint8, torch.qint32))
    else:
        ok = a.dtype == np.bool_ or np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)
    if not ok:
        raise InputError(None, f"{name} must hold real numbers, got dtype {a.dtype}")


def _as_array(a: Any, name: str) -> np.ndarray | torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach()
    if isinstance(a, np.ndarray):
        return a
    try:
        return np.asarray(a)
    except Exception as exc:  # e.g. ragged nested lists
        raise InputError(None, f"{name} is not an array: {exc}") from exc


def _check_pair(x: Any, y: Any, names: tuple[str, str]) -> tuple[Any, Any]:
    x, y = _as_array(x, names[0]), _as_array(y, names[1])
    for a, n in ((x, names[0]), (y, names[1])):
        _check_real(a, n)
    if _shape(x) != _shape(y):
        raise InputError(
            None, f"{names[0]} and {names[1]} must have the same shape, got {_shape(x)} and {_shape(y)}"
        )
    if x.ndim not in (2, 3, 4):
        raise InputError(None, f"{names[0]} must be (H,W), (N,H,W) or (N,C,H,W), got shape {_shape(x)}")
    if any(s == 0 for s in _shape(x)):
        raise InputError(None, f"{names[0]} and {names[1]} are empty (shape {_shape(x)})")
    return x, y


def _to_tensor(a: np.ndarray | torch.Tensor, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.to(device=device, dtype=dtype)
    return torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=dtype)


def image_pair(
    x: Any, y: Any, *, dtype: torch.dtype = torch.float64, names: tuple[str, str] = ("x", "y")
) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """Validate two images/batches and return them as ``(N,C,H,W)`` tensors plus ``single``.

    numpy and torch inputs (or one of each) are accepted; torch inputs keep their device (numpy
    inputs join it). Raises ``InputError`` on a shape mismatch (naming both shapes), a wrong number
    of dimensions, an empty array, a non-real dtype or a NaN/infinite value.
    """
    x, y = _check_pair(x, y, names)
    device = next((a.device for a in (x, y) if isinstance(a, torch.Tensor)), torch.device("cpu"))
    tx, ty = _to_tensor(x, dtype, device), _to_tensor(y, dtype, device)
    for t, n in ((tx, names[0]), (ty, names[1])):
        # a NaN or inf makes the sum non-finite; only then (or on overflow) check element-wise
        if not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
            raise InputError(None, f"{n} contains NaN or infinite values")
    single = tx.ndim == 2
    if tx.ndim == 2:
        tx, ty = tx[None, None], ty[None, None]
    elif tx.ndim == 3:
        tx, ty = tx[:, None], ty[:, None]
    return tx, ty, single


def label_pair(
    pred: Any, target: Any, *, names: tuple[str, str] = ("pred", "target")
) -> tuple[np.ndarray, np.ndarray, bool]:
    """Validate two label maps and return them as ``(N,H,W)`` int64 numpy arrays plus ``single``.

    Accepts ``(H,W)``, ``(N,H,W)`` and ``(N,1,H,W)`` (the channel axis of size 1 is dropped);
    values must be integers (bool, integer dtypes, or floats holding whole numbers).
    """
    pred, target = _check_pair(pred, target, names)
    out = []
    for a, n in ((pred, names[0]), (target, names[1])):
        a = a.cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        if a.ndim == 4:
            if a.shape[1] != 1:
                raise InputError(
                    None,
                    f"{n} must be a label map (H,W), (N,H,W) or (N,1,H,W), got shape {a.shape}; "
                    "convert one-hot channels to one integer map (argmax) and pass labels=[...]",
                )
            a = a[:, 0]
        if np.issubdtype(a.dtype, np.floating):
            if not np.all(np.isfinite(a)):
                raise InputError(None, f"{n} contains NaN or infinite values")
            if not np.array_equal(a, np.round(a)):
                raise InputError(
                    None, f"{n} must hold binary or integer labels, got fractional values "
                    "(threshold probabilities first, e.g. pred > 0.5)"
                )
        out.append(a.astype(np.int64, copy=False))
    p, t = out
    single = p.ndim == 2
    if single:
        p, t = p[None], t[None]
    return p, t, single


def check_reduction(reduction: str) -> None:
    if reduction not in REDUCTIONS:
        raise ConfigError(f"reduction must be one of {', '.join(map(repr, REDUCTIONS))}, not {reduction!r}")


def check_positive(value: float, name: str) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a positive number, not {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ConfigError(f"{name} must be a positive finite number, not {value!r}")
    return v


def check_labels(labels: Sequence[int] | None) -> np.ndarray | None:
    if labels is None:
        return None
    arr = np.asarray(labels)
    if arr.ndim != 1 or arr.size == 0 or not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_):
        raise ConfigError(f"labels must be a non-empty sequence of integers, not {labels!r}")
    return arr.astype(np.int64)


def finish(values: np.ndarray, single: bool, reduction: str, *, nan_mean: bool = False) -> float | np.ndarray:
    """Shape the per-image result ``values`` ((N,) or (N,K)) for the caller.

    Single image: a float (or ``(K,)`` per class). Batch: ``(N,)`` / ``(N,K)`` with
    ``reduction="none"``, the mean over images with ``reduction="mean"`` (NaN entries skipped when
    ``nan_mean``; a column of only NaN stays NaN).
    """
    values = np.asarray(values, dtype=np.float64)
    if single:
        out = values[0]
    elif reduction == "mean":
        if nan_mean:
            finite_count = np.sum(~np.isnan(values), axis=0)
            total = np.nansum(values, axis=0)
            out = np.where(finite_count > 0, total / np.maximum(finite_count, 1), np.nan)
        else:
            out = values.mean(axis=0)
    else:
        return values
    return float(out) if np.ndim(out) == 0 else np.asarray(out)
