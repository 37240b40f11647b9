"""Fréchet Radiomics Distance (FRD) with the installed ``frd-score`` package.

FRD (Osuala et al. 2024; Konz, Osuala et al. 2026) is FID's recipe applied to hand-crafted
radiomics features instead of a network's features: for every image PyRadiomics computes
intensity statistics and texture matrices (first order, GLCM, GLRLM, GLSZM, NGTDM) on the original
image and on LoG (sigma 2-5) and wavelet-filtered copies (``frd-score`` "v1", ~400 features for 2-D
slices), inside a region of interest; the features are z-scored; the columns that are NaN/infinite
in either set are dropped; and the squared Fréchet distance of the two Gaussian fits is taken.
Lower is better; identical sets give 0.

Normalisation: ``norm_ref="joint"`` (default here; the package's ``--norm_ref joint``, its v0
default) z-scores every feature with the mean and standard deviation of both sets together. The
package's v1 default ``"d1"`` (the real set's statistics alone, paper eq. 3) explodes when a
feature is nearly constant on the real side: on the demo data the real slices have an exactly-zero
background, so the wavelet medians are ~1e-15 with a standard deviation ~1e-14, the generator's
background is ~1e-3, and single features reached z ~ 1e10 and FRD ~ 1e18-1e21 — numbers that say
nothing. Joint statistics bound every feature's contribution. ``norm_ref="d1"`` is available for
the paper's form.

Why it is here: radiomics features describe intensity distribution and texture the way medical
image analysts measure them, need no trained network and no downloaded weights, and can be
restricted to the lesion through a mask.

What this module does around the package:

- writes each slice (float32 TIFF, values x 255) and each lesion mask (PNG, 0/1) into a
  ``TemporaryDirectory``, because the package reads files;
- draws at most ``n`` slices per side, seeded (radiomics extraction costs about 0.3 s per 128 px
  slice for the whole image and 0.2 s for a lesion region, on one core);
- region ``"image"``: the whole slice (the package's full mask minus one corner pixel);
  region ``"lesion"``: the lesion label (> 0, any class) as the mask, only slices whose lesion has
  at least ``min_lesion_pixels`` pixels (PyRadiomics resamples to 2 px spacing and refuses a mask
  left with one voxel); a slice the package still refuses is dropped and counted;
- reports the raw squared distance ``d^2``. ``frd-score``'s own v1 number is ``ln(d^2)`` (its
  default ``use_paper_log=False``); ``ln`` makes 0 into ``-inf``, so the table keeps ``d^2`` and
  :attr:`FRDResult.log_value` gives the package's form.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from synth_core.errors import ConfigError, InputError

log = logging.getLogger(__name__)

__all__ = ["FRDResult", "frd", "frd_available", "frd_version"]

#: feature set of ``frd-score`` used here (its default)
FRD_FEATURES = "v1"


@dataclass(frozen=True)
class FRDResult:
    """One FRD: the squared Fréchet distance ``value`` of the radiomics features, the slices that
    entered it per side, the feature count after the package's NaN/Inf column filter, and the
    slices the package refused (dropped)."""

    value: float
    n_real: int
    n_synthetic: int
    n_features: int
    dropped: int = 0

    @property
    def log_value(self) -> float:
        """``ln(d^2)`` — the number ``frd-score`` v1 itself reports (``-inf`` for ``d^2 <= 0``)."""
        return float(np.log(self.value)) if self.value > 0 else float("-inf")


class _SerialPool:
    """Stands in for ``multiprocessing.Pool`` when one worker is asked for: the package always
    opens a pool, and forking a process that holds torch / OpenMP / pyarrow threads can deadlock
    the child (seen under pytest). One worker = extraction in this process."""

    def __init__(self, processes: int | None = None):
        pass

    def __enter__(self) -> "_SerialPool":
        return self

    def __exit__(self, *exc: object) -> bool:
        return False

    def map(self, fn, items):
        return [fn(x) for x in items]


@contextlib.contextmanager
def _safe_pool(package, workers: int):
    """Run the package's extraction in-process (1 worker) or in a forkserver pool (several): never
    a plain fork of this multi-threaded process."""
    import multiprocessing
    import types

    old = package.mp
    package.mp = (types.SimpleNamespace(Pool=_SerialPool, cpu_count=old.cpu_count) if workers <= 1
                  else multiprocessing.get_context("forkserver"))
    try:
        yield
    finally:
        package.mp = old


def _package():
    try:
        import frd_score.frd as package
    except ImportError as err:  # pragma: no cover - the project requirements install it
        raise ConfigError(f"FRD needs the frd-score package ({err}); install it with `pip install frd-score`") from None
    return package


def frd_available() -> bool:
    try:
        _package()
        return True
    except ConfigError:  # pragma: no cover
        return False


def frd_version() -> str:
    """``"frd-score <version> v1"`` — the package and feature set behind the FRD values."""
    import frd_score

    return f"frd-score {frd_score.__version__} {FRD_FEATURES}"


def _grey(images: Any, what: str) -> np.ndarray:
    a = np.asarray(images, dtype=np.float32)
    if a.ndim == 4 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 3:
        raise InputError(None, f"{what}: expected grey slices (N, H, W), got shape {a.shape}")
    return a


def _select(keep: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    idx = np.flatnonzero(keep)
    if len(idx) > n:
        idx = np.sort(rng.choice(idx, n, replace=False))
    return idx


def _write(folder: Path, images: np.ndarray, masks: np.ndarray | None, idx: np.ndarray) -> tuple[list[str], list[str] | None]:
    import SimpleITK as sitk

    folder.mkdir()
    files, mask_files = [], ([] if masks is not None else None)
    for k, i in enumerate(idx):
        f = folder / f"{k:06d}.tiff"
        sitk.WriteImage(sitk.GetImageFromArray(np.ascontiguousarray(images[i] * 255.0, dtype=np.float32)), str(f))
        files.append(str(f))
        if masks is not None:
            mf = folder / f"{k:06d}_mask.png"
            sitk.WriteImage(sitk.GetImageFromArray(np.ascontiguousarray(masks[i] > 0, dtype=np.uint8)), str(mf))
            mask_files.append(str(mf))
    return files, mask_files


@contextlib.contextmanager
def _quiet():
    """Silence PyRadiomics and the package's root-logger chatter and numpy's warnings about the
    NaN/Inf feature columns (which the package drops) during extraction."""
    root = logging.getLogger()
    rad = logging.getLogger("radiomics")
    old = root.level, rad.level
    root.setLevel(logging.CRITICAL)
    rad.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        root.setLevel(old[0])
        rad.setLevel(old[1])


def _extractable(package, extractor, files: list[str], masks: list[str] | None) -> list[int]:
    """Indices of the files the package can extract features from (run in this process)."""
    ok = []
    for i, f in enumerate(files):
        try:
            res = package.process_image_mask_pair((f, None if masks is None else masks[i]), feature_extractor=extractor,
                                                  frd_version=FRD_FEATURES)
        except Exception:  # PyRadiomics raises ValueError / RuntimeError for unusable masks
            res = None
        if res is not None:
            ok.append(i)
    return ok


NORM_REFS = ("joint", "d1")


def frd(real: Any, synthetic: Any, *, real_masks: Any = None, synthetic_masks: Any = None, n: int = 64,
        seed: int = 0, workers: int = 1, min_lesion_pixels: int = 16, norm_ref: str = "joint") -> FRDResult:
    """FRD between grey slices ``real (N, H, W)`` and ``synthetic (M, H, W)`` in [0, 1].

    Without masks: whole-slice radiomics. With ``real_masks``/``synthetic_masks`` (both, label maps
    or binary, ``> 0`` = region): radiomics inside the region, using only slices whose region has
    ``>= min_lesion_pixels`` pixels. At most ``n`` slices per side are used, drawn with
    ``numpy.random.default_rng(seed)`` afresh for each side (so a set against itself uses the same
    slices twice and scores 0). ``norm_ref``: ``"joint"`` (default) or ``"d1"``, see the module
    docstring. ``workers``: processes the package uses for extraction.
    Raises :class:`InputError` when a side has fewer than 2 usable slices.
    """
    if n < 2:
        raise ConfigError(f"FRD needs n >= 2 slices per side, not {n}")
    if norm_ref not in NORM_REFS:
        raise ConfigError(f"norm_ref must be one of {', '.join(NORM_REFS)}, not {norm_ref!r}")
    if (real_masks is None) != (synthetic_masks is None):
        raise ConfigError("give masks for both sides or for neither")
    package = _package()
    with _quiet():
        package._ensure_radiomics()
    real, synthetic = _grey(real, "real slices"), _grey(synthetic, "synthetic slices")
    sides = []
    for name, imgs, masks in (("real", real, real_masks), ("synthetic", synthetic, synthetic_masks)):
        if masks is not None:
            masks = np.asarray(masks)
            if masks.shape != imgs.shape:
                raise InputError(None, f"{name} masks {masks.shape} do not match the slices {imgs.shape}")
            keep = (masks > 0).reshape(len(masks), -1).sum(axis=1) >= min_lesion_pixels
        else:
            keep = np.ones(len(imgs), bool)
        idx = _select(keep, n, np.random.default_rng(seed))  # the same draw per side: FRD(x, x) = 0 exactly
        if len(idx) < 2:
            where = f" with a region of >= {min_lesion_pixels} px" if masks is not None else ""
            raise InputError(None, f"FRD: the {name} side has {len(idx)} slice(s){where}; need at least 2")
        sides.append((name, imgs, masks, idx))

    norm_type, norm_range, features, image_types, norm_ref = package._resolve_defaults(
        FRD_FEATURES, None, None, None, None, norm_ref=norm_ref)
    with _quiet():
        extractor = package.get_feature_extractor(frd_version=FRD_FEATURES, features=features, image_dim=2,
                                                  image_types=image_types)
        with tempfile.TemporaryDirectory(prefix="medsynth-frd-") as tmp, _safe_pool(package, int(workers)):
            files, mask_files = [], []
            for name, imgs, masks, idx in sides:
                f, m = _write(Path(tmp) / name, imgs, masks, idx)
                files.append(f)
                mask_files.append(m)
            dropped = 0
            try:
                stats = package.calculate_feature_statistics(
                    file_lists=files, norm_type=norm_type, norm_range=norm_range, feature_extractor=extractor,
                    mask_lists=mask_files, num_workers=max(1, int(workers)), norm_ref=norm_ref,
                    frd_version=FRD_FEATURES)
            except (ValueError, RuntimeError) as err:
                # a mask PyRadiomics refuses (e.g. one voxel left after resampling) fails the whole batch:
                # find the refused slices in this process, drop them, and run once more
                log.info("FRD: extraction failed (%s); dropping the slices PyRadiomics refuses", err)
                for k in range(2):
                    ok = _extractable(package, extractor, files[k], mask_files[k])
                    dropped += len(files[k]) - len(ok)
                    if len(ok) < 2:
                        raise InputError(None, f"FRD: PyRadiomics could extract features from only {len(ok)} "
                                               f"{sides[k][0]} slice(s); need at least 2") from None
                    files[k] = [files[k][i] for i in ok]
                    if mask_files[k] is not None:
                        mask_files[k] = [mask_files[k][i] for i in ok]
                stats = package.calculate_feature_statistics(
                    file_lists=files, norm_type=norm_type, norm_range=norm_range, feature_extractor=extractor,
                    mask_lists=mask_files, num_workers=max(1, int(workers)), norm_ref=norm_ref,
                    frd_version=FRD_FEATURES)
    mu, sigma, normalised, _names = stats
    if normalised[0].shape[1] == 0 or min(len(normalised[0]), len(normalised[1])) < 2:
        raise InputError(None, "FRD: no usable radiomics features remained (every feature was NaN or constant)")
    with _quiet():
        value = float(package.calculate_frechet_distance(mu[0], sigma[0], mu[1], sigma[1]))
    return FRDResult(value=value, n_real=int(len(normalised[0])), n_synthetic=int(len(normalised[1])),
                     n_features=int(normalised[0].shape[1]), dropped=dropped)
