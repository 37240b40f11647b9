"""What the Latent space page computes: random structure maps, ordered traversals, interpolation
between real maps, a 2-D projection of latents, the full sample of one latent, and saving chosen
latents as a synthetic set. Everything returns numpy arrays or tables (the page never sees torch).

An explorer holds one structure run (``E_s``, ``G_s``, ``G_m``) and, optionally, a multimodal run
built on it (``G`` and the generation settings); it is cheap to call repeatedly (one batched
network call per request), so a slider can re-render on every move. Structure maps and organ masks
are computed in two steps (``G_s`` is the cheap one) and kept in a small in-memory cache per
explorer, so a page can show the maps before the masks and redraw what it showed before at once
(:meth:`LatentExplorer.structure_maps`, :meth:`LatentExplorer.has_maps`).
"""

from __future__ import annotations

import hashlib
import shutil
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from synth_core.atomic import pause_point
from synth_core.errors import ConfigError
from synth_core.locks import item_lock
from synth_core.structure import MASK_MIN_AREA
from synth_core.structure_model import (
    decode_structures,
    encode_structures,
    interpolate,
    latent_grid,
    masks_from_structures,
)
from synth_core.synthesis.lesions import LesionSource
from synth_core.synthesis.models import SynthesisModels
from synth_core.synthesis.pipeline import catalog_rows, generate_batch, latents, set_meta
from synth_core.workspace import Workspace

#: tries of every searching map scored in one network call when the page screens random maps by D_s
SCREEN_CHUNK = 5


@dataclass
class RenderedSample:
    """One latent taken through the whole pipeline: each ``(H, W)`` in [0, 1] or {0, 1}."""

    structure: np.ndarray
    mask: np.ndarray
    fused: np.ndarray
    label: np.ndarray
    images: np.ndarray  # (M, H, W)
    modalities: tuple[str, ...]
    lesion_placed: bool


class _Cache:
    """A small thread-safe least-recently-used map (the dashboard serves sessions from several threads)."""

    def __init__(self, size: int):
        if size < 1:
            raise ConfigError(f"cache size must be at least 1, got {size}")
        self.size = size
        self._items: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> Any:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: str, value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def __contains__(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        return len(self._items)


def _key(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return hashlib.sha1(f"{a.dtype}{a.shape}".encode() + a.tobytes()).hexdigest()


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False  # cached: callers must not change what later calls get
    return a


class LatentExplorer:
    #: how many latent batches keep their maps and masks in memory (8 maps of 128 px: 256 KiB)
    CACHE_BATCHES = 64

    def __init__(self, E_s: torch.nn.Module, G_s: torch.nn.Module, G_m: torch.nn.Module, *, threshold: float = 0.5,
                 models: SynthesisModels | None = None, structure_run: str = "", multimodal_run: str = "",
                 D_s: torch.nn.Module | None = None, min_area: float = MASK_MIN_AREA):
        self.E_s, self.G_s, self.G_m, self.D_s = E_s, G_s, G_m, D_s
        self.threshold = threshold
        self.min_area = min_area
        self._latents: OrderedDict[tuple, np.ndarray] = OrderedDict()
        self.models = models
        self.structure_run, self.multimodal_run = structure_run, multimodal_run
        self.forget_maps()

    # ---- opening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, ws: Workspace, structure_run: str, multimodal_run: str = "") -> "LatentExplorer":
        from synth_core.runs.loading import load_run

        structure = load_run(ws, structure_run, names=["E_s", "G_s", "G_m", "D_s"])
        if structure.stage != "structure":
            raise ConfigError(f"run {structure_run!r} is a {structure.stage!r} run, not a structure run")
        models = None
        if multimodal_run:
            from synth_core.synthesis.loading import load_models

            models = load_models(ws, multimodal_run, which="best", figures=True)
            if models.runs["structure"]["run_id"] != structure_run:
                raise ConfigError(f"multimodal run {multimodal_run!r} was trained with structure run "
                                  f"{models.runs['structure']['run_id']!r}, not {structure_run!r}")
        return cls(structure.nets["E_s"], structure.nets["G_s"], structure.nets["G_m"], models=models,
                   structure_run=structure_run, D_s=structure.nets.get("D_s"),
                   multimodal_run=multimodal_run,
                   threshold=models.settings.structure_threshold if models else 0.5,
                   min_area=models.settings.mask_min_area if models else MASK_MIN_AREA)

    @property
    def latent_dim(self) -> int:
        return int(self.G_s.latent_dim)

    @property
    def size(self) -> int:
        return int(self.G_s.image_size)

    # ---- structure maps ------------------------------------------------------------------------
    def structure_maps(self, z: np.ndarray | torch.Tensor) -> np.ndarray:
        """Structure maps ``G_s(z) > threshold``, ``(N, H, W)`` uint8 (read-only), of latents ``z (N, latent_dim)``."""
        z = np.asarray(z.detach().cpu() if isinstance(z, torch.Tensor) else z, dtype=np.float32)
        key = _key(z)
        maps = self._structures.get(key)
        if maps is None:
            maps = _frozen((decode_structures(self.G_s, z) > self.threshold).astype(np.uint8))
            self._structures.put(key, maps)
        return maps

    def maps(self, z: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """``(maps, masks)`` ``(N, H, W)`` uint8 (read-only) of latents ``z (N, latent_dim)``: the maps of
        :meth:`structure_maps` and their organ masks ``G_m(map) > threshold`` without regions below
        ``min_area`` of the frame, as ``synthesize`` makes them."""
        maps = self.structure_maps(z)
        key = _key(maps)
        masks = self._masks.get(key)
        if masks is None:
            masks = _frozen(masks_from_structures(self.G_m, maps, self.threshold, min_area=self.min_area))
            self._masks.put(key, masks)
        return maps, masks

    def forget_maps(self) -> None:
        """Empty the map and mask cache (the next :meth:`maps` calls the networks again)."""
        self._structures, self._masks = _Cache(self.CACHE_BATCHES), _Cache(self.CACHE_BATCHES)

    def has_maps(self, z: np.ndarray | torch.Tensor) -> bool:
        """Whether :meth:`maps` of ``z`` is already in memory (then it returns without a network call)."""
        z = np.asarray(z.detach().cpu() if isinstance(z, torch.Tensor) else z, dtype=np.float32)
        maps = self._structures.get(_key(z))
        return maps is not None and _key(maps) in self._masks

    @property
    def screening(self) -> tuple[float, int]:
        """``(min_realness, tries)`` with which ``synthesize`` screens generated maps by ``D_s`` for the
        chosen image generator (METHOD.md §13); ``(0, 1)``: no screening (or no image generator chosen)."""
        if self.models is None or self.models.settings.structure_min_realness <= 0:
            return 0.0, 1
        return float(self.models.settings.structure_min_realness), int(self.models.settings.structure_tries)

    def random_latents(self, seed: int, n: int, *, min_realness: float | None = None, tries: int = 50) -> np.ndarray:
        """The latents of samples ``0..n-1`` of a set with ``seed``. ``min_realness`` None: exactly the
        latents ``synthesize --seed`` uses with the chosen image generator (screened by ``D_s`` when it
        screens, :attr:`screening`); a number: keep each sample's first try whose map ``D_s`` scores at
        least that, of ``tries`` (:func:`synth_core.synthesis.acceptance.accepted_latents`; 0 = no screening)."""
        if min_realness is None:
            min_realness, tries = self.screening
        key = (int(seed), int(n), float(min_realness), int(tries))
        if key not in self._latents:
            if min_realness > 0 and self.D_s is None:
                raise ConfigError(f"structure run {self.structure_run!r} has no discriminator D_s to screen maps with")
            if min_realness > 0:
                from synth_core.synthesis.acceptance import accepted_latents

                z = accepted_latents(self.G_s, self.D_s, int(seed), list(range(int(n))), self.latent_dim,
                                     threshold=self.threshold, min_realness=float(min_realness), tries=int(tries),
                                     chunk=SCREEN_CHUNK)[0]
            else:
                z = latents(int(seed), range(int(n)), self.latent_dim)
            self._latents[key] = z.numpy()
            while len(self._latents) > 16:
                self._latents.popitem(last=False)
        return self._latents[key].copy()

    def traversal(self, dims: tuple[int, int], *, steps: int = 5, span: float = 2.0,
                  center: np.ndarray | None = None) -> np.ndarray:
        """Latents of an ordered ``steps x steps`` grid along two latent axes (thesis Fig. 15), row-major."""
        if dims[0] == dims[1]:
            raise ConfigError("choose two different latent directions")
        for d in dims:
            if not 0 <= d < self.latent_dim:
                raise ConfigError(f"latent direction {d} outside 0..{self.latent_dim - 1}")
        return latent_grid(self.latent_dim, steps, steps, directions=dims, span=span, center=center).numpy()

    def encode(self, structure: np.ndarray) -> np.ndarray:
        """Mean latents of real structure maps ``(N, H, W)``."""
        s = np.asarray(structure)
        if s.shape[-1] != self.size:
            raise ConfigError(f"structure maps are {s.shape[-1]} px but the structure run works at {self.size} px")
        return encode_structures(self.E_s, s.astype(np.float32))

    def interpolation(self, a: np.ndarray, b: np.ndarray, steps: int = 7, mode: str = "slerp") -> np.ndarray:
        """Latents from the encoding of real map ``a`` to that of ``b`` (both ``(H, W)``)."""
        za, zb = self.encode(np.stack([a, b]))
        return interpolate(za, zb, steps, mode=mode).numpy()

    def projection(self, real_structure: np.ndarray, generated: np.ndarray, *, method: str = "pca",
                   seed: int = 0) -> pd.DataFrame:
        """2-D coordinates of real encodings and generated latents in one frame: columns x, y, kind
        (real | generated), i (row within its kind). Fitted on both together: PCA, or UMAP with
        ``method="umap"`` (seeded; at most 15 neighbours, fewer for few latents)."""
        real = self.encode(real_structure) if len(real_structure) else np.zeros((0, self.latent_dim), np.float32)
        allz = np.concatenate([real, np.asarray(generated, np.float32)])
        if len(allz) < 3:
            raise ConfigError("a projection needs at least 3 latents")
        if method == "umap":
            import umap  # umap-learn: imported here, it takes seconds (numba)

            xy = umap.UMAP(n_components=2, n_neighbors=min(15, len(allz) - 1), random_state=seed,
                           n_jobs=1).fit_transform(allz)  # a seed makes UMAP single-threaded anyway
        elif method == "pca":
            from sklearn.decomposition import PCA

            xy = PCA(n_components=2, random_state=seed).fit_transform(allz)
        else:
            raise ConfigError(f"projection method must be pca or umap, not {method!r}")
        kind = ["real"] * len(real) + ["generated"] * (len(allz) - len(real))
        idx = list(range(len(real))) + list(range(len(allz) - len(real)))
        return pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "kind": kind, "i": idx})

    # ---- whole samples -------------------------------------------------------------------------
    def _need_models(self) -> SynthesisModels:
        if self.models is None:
            raise ConfigError("choose a multimodal run trained on this structure run to render images")
        return self.models

    def render(self, z: np.ndarray, lesions: LesionSource, *, seed: int = 0, index: int = 0) -> RenderedSample:
        """Structure map, mask, fused input, lesion and every modality of one latent ``z``; the
        lesion and the fusion noise come from the ``(seed, index)`` streams, as in a set."""
        from synth_core.multimodal_model import fuse_noise_torch
        from synth_core.synthesis.pipeline import STREAM_NOISE, stream_seed

        models = self._need_models()
        b = generate_batch(models, lesions, seed, [index], z=np.asarray(z, np.float32)[None])
        settings = models.settings
        g = torch.Generator().manual_seed(stream_seed(seed, index, STREAM_NOISE))
        s = torch.from_numpy(b.structure[:1]).float()[:, None]
        m = torch.from_numpy(b.masks[:1]).float()[:, None]
        if settings.noise_fusion:
            fused = fuse_noise_torch(s, m, settings.noise_low, settings.noise_high, generator=g,
                                     blur=settings.noise_blur)[0, 0].numpy()
        else:
            fused = b.structure[0].astype(np.float32)
        return RenderedSample(b.structure[0], b.masks[0], fused, b.labels[0], b.images[0], models.modalities,
                              bool(b.lesion_index[0] >= 0))

    def save_set(self, ws: Workspace, name: str, z: np.ndarray, lesions: LesionSource, *, dataset: Any,
                 seed: int = 0) -> Path:
        """Chosen latents ``z (K, latent_dim)`` as a new synthetic set (catalog + figures-free rows),
        or appended to the set ``name`` if it exists and was made with the same runs.

        Appending rewrites the set under a temporary name and swaps it in (the old set stays
        complete and visible until then, even after ``kill -9``); the set's side files
        (``evaluation.parquet``, ``realness.parquet``, ``review.jsonl``) are kept, and
        ``set.json`` lists the ``additions``. The evaluation rows record the set size they were
        computed on (``set_n``; rows saved before it was recorded get the old size here), so the
        Quality page says they are stale until the set is evaluated again
        (:func:`synth_core.evaluation.table.stale_notes`); the added samples have no realness until
        then. The set's lock (``synth_core.locks``) makes a second writer wait and then append
        after this one."""
        from synth_core.workspace import validate_name

        models = self._need_models()
        validate_name(name, "set name")
        z = np.asarray(z, np.float32).reshape(-1, self.latent_dim)
        if not len(z):
            raise ConfigError("select at least one sample to save")
        dest = ws.path("synthetic", name)
        # the lock spans read, generate and write: a second session adding at the same time waits,
        # then appends after this addition instead of overwriting it
        with item_lock(dest, what=f"set {name!r}"):
            self._save_set_locked(dest, name, z, lesions, dataset=dataset, seed=seed, models=models)
        return dest

    def _save_set_locked(self, dest: Path, name: str, z: np.ndarray, lesions: LesionSource, *, dataset: Any,
                         seed: int, models: SynthesisModels) -> None:
        from synth_core.evaluation.table import stamp_set_size
        from synth_core.lesions.augment import AugmentRanges
        from synth_core.lesions.bank import LesionBank
        from synth_core.synthesis.figures import RealReference, sample_figures
        from synth_core.synthesis.setstore import SetWriter, SyntheticSet

        old = SyntheticSet(dest) if dest.exists() else None
        if old is not None and old.meta.get("runs", {}).get("multimodal", {}).get("sha256") != \
                models.runs["multimodal"]["sha256"]:
            raise ConfigError(f"set {name!r} was made with another multimodal checkpoint; choose a new name")
        start = len(old) if old is not None else 0
        pause_point("save_set:read")
        from synth_core.datalink import check_link, provenance

        match = check_link(dataset, fingerprint=models.runs["multimodal"]["fingerprint"],
                           content=models.dataset_content, what=f"run {self.multimodal_run!r}",
                           warn=False)  # the page said so when it found the dataset
        meta = set_meta(models, lesions, dataset=dataset.name, fingerprint=dataset.fingerprint, n=start + len(z),
                        seed=seed, batch_size=len(z), extra={"source": "latent space page"},
                        dataset_content=provenance(dataset, match, models.dataset_content))
        if old is not None:  # appended samples use the set's own bank and lesion settings
            meta["options"] = old.meta["options"]
            meta["additions"] = [*old.meta.get("additions", []), {"start": start, "n": int(len(z))}]
            o = old.meta["options"]["lesions"]
            lesions = LesionSource(o["mode"], LesionBank.load(old.path / "bank"), AugmentRanges.from_dict(o["ranges"]),
                                   tries=int(o["tries"]), mask_filter=bool(o["mask_filter"]))
        real = RealReference.from_dataset(dataset, "train")
        with SetWriter(dest, meta, overwrite=old is not None) as w:
            lesions.bank.save(w.tmp / "bank")
            if old is not None:
                for a in range(0, len(old), 256):
                    sl = slice(a, min(a + 256, len(old)))
                    rows = old.stored_catalog.iloc[sl].drop(columns=["sample_id", "index"]).to_dict("records")
                    w.add(old.images[sl], old.masks[sl], old.labels[sl], old.structure[sl], rows)
            if old is not None:  # appended samples are made as the set's own were (regenerate reads the set's settings)
                from synth_core.synthesis.loading import as_set_made

                models = as_set_made(models, old.meta)
            batch = generate_batch(models, lesions, seed, range(start, start + len(z)), z=z)
            figs = sample_figures(batch.images, batch.masks, batch.labels, batch.structure, models.modalities,
                                  segmenters=models.segmenters, translator=models.translator, real=real)
            rows = catalog_rows(batch, seed, len(z), lesions.mode, figs, latent_source="explicit")
            if old is not None:
                ref = old.stored_catalog.drop(columns=["sample_id", "index"]).columns
                rows = [{c: r.get(c, np.nan) for c in ref} for r in rows]
            w.add(batch.images, batch.masks, batch.labels, batch.structure, rows)
            if old is not None:
                keep_side_files(old.path, w.tmp)
                stamp_set_size(w.tmp, start)  # rows of a table saved before set_n was recorded


#: files a :class:`SetWriter` makes itself; anything else in a set folder is a side file
WRITTEN_BY_WRITER = frozenset({"set.json", "catalog.parquet", "bank", "images.npy", "masks.npy", "labels.npy",
                               "structure.npy"})


def keep_side_files(old: str | Path, new: str | Path) -> list[str]:
    """Copy the side files of the set folder ``old`` (evaluation and realness tables, anything a
    later step added) into the set folder ``new`` being written; returns their names. Hidden
    names (temporaries) are skipped."""
    kept = []
    for p in sorted(Path(old).iterdir()):
        if p.name in WRITTEN_BY_WRITER or p.name.startswith("."):
            continue
        if p.is_dir():
            shutil.copytree(p, Path(new) / p.name)
        else:
            shutil.copy2(p, Path(new) / p.name)
        kept.append(p.name)
    return kept


def structure_runs(ws: Workspace) -> list[str]:
    """Finished structure runs, newest first."""
    from synth_core.runs.loading import find_runs

    return find_runs(ws, "structure")


def multimodal_runs(ws: Workspace, structure_run: str | None = None) -> list[str]:
    """Finished multimodal runs (trained with ``structure_run`` when given), newest first."""
    from synth_core.runs.checkpoint import load_checkpoint
    from synth_core.runs.loading import find_runs
    from synth_core.runs.folder import RunDir

    out = []
    for rid in find_runs(ws, "multimodal"):
        if structure_run is None:
            out.append(rid)
            continue
        try:
            meta = load_checkpoint(RunDir.open(ws, rid).checkpoint_path("last"))["meta"]
        except Exception:  # an unreadable checkpoint is simply not offered
            continue
        if meta.get("helpers", {}).get("structure", {}).get("run_id") == structure_run:
            out.append(rid)
    return out
