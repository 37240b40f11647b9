"""Creating and opening a blinded reader study (``workspace/studies/NAME``).

A reader study asks clinicians, one image at a time, "real or synthetic?". Its folder::

    study.json      what the study is: dataset (+ fingerprint), synthetic set, modality, display
                    window, seed, split, counts, item ids in presentation order, created
    items/0001.png  the blinded images, numbered in the (seeded, shuffled) order they are shown;
                    every image goes through the same rendering so only content differs
    key.parquet     item -> source (real | synthetic), dataset row or set sample index; read only
                    by the analysis, never shown while rating
    responses.jsonl the readers' answers, appended (``synth_core.readerstudy.responses``)

Why real images come from the *test* split: the generator was trained on the training split (and
checkpoints were chosen on validation), so it never saw these slices; a synthetic image cannot be
a near-copy of a real item shown next to it, and readers judge realism rather than memorisation.

The folder is written under a temporary name and renamed when complete
(:func:`synth_core.atomic.atomic_dir`): a study is all there or absent, and an existing study is
never overwritten (its responses would lose their meaning).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from synth_core import __version__
from synth_core.atomic import atomic_dir
from synth_core.dataset import Dataset
from synth_core.errors import ConfigError, ExistsError, InputError, NotFoundError, SynthCoreError
from synth_core.render import DisplayWindow, png_bytes, to_uint8, upscale
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace

FORMAT = "medsynth-reader-study/1"
SOURCES = ("real", "synthetic")
# Splits real images may come from: never "train" (the generator learnt from it).
REAL_SPLITS = ("test", "val")
KEY_COLUMNS = ("item", "position", "source", "dataset_row", "set_index", "ref")


def as_workspace(ws: Workspace | str | Path) -> Workspace:
    """A :class:`Workspace` from a workspace or its root folder (not created if missing)."""
    return ws if isinstance(ws, Workspace) else Workspace.open(ws, create=False)


def window_spec(window: DisplayWindow | dict[str, Any] | None) -> dict[str, Any]:
    """Normalise a display window to the JSON form stored in ``study.json``.

    Accepted: ``None`` (as stored, [0, 1]), a :class:`DisplayWindow`, ``{"low": a, "high": b}``,
    or ``{"percentile": [lo, hi]}`` (each image gets its own percentile window; the same rule for
    real and synthetic images, so the rendering itself gives nothing away).
    """
    if window is None:
        return {"low": 0.0, "high": 1.0}
    if isinstance(window, DisplayWindow):
        return {"low": float(window.low), "high": float(window.high)}
    if not isinstance(window, dict):
        raise ConfigError(f"display window must be a DisplayWindow or a dict, not {type(window).__name__}")
    if set(window) == {"percentile"}:
        try:
            lo, hi = (float(v) for v in window["percentile"])
        except (TypeError, ValueError):
            raise ConfigError(f"percentile window needs two numbers, not {window['percentile']!r}") from None
        if not (0.0 <= lo < hi <= 100.0):
            raise ConfigError(f"percentile window needs 0 <= low < high <= 100, not ({lo}, {hi})")
        return {"percentile": [lo, hi]}
    if set(window) == {"low", "high"}:
        try:
            w = DisplayWindow(float(window["low"]), float(window["high"]))
        except (TypeError, ValueError) as err:
            raise ConfigError(f"bad display window {window!r}: {err}") from None
        return {"low": w.low, "high": w.high}
    raise ConfigError(f"display window dict needs keys low and high, or percentile; got {sorted(window)}")


def render_item(image: np.ndarray, spec: dict[str, Any]) -> np.ndarray:
    """``(H, W)`` image in [0, 1] -> uint8 grey through the study's window ``spec``."""
    if "percentile" in spec:
        lo, hi = spec["percentile"]
        return to_uint8(image, DisplayWindow.from_percentiles(image, lo, hi))
    return to_uint8(image, DisplayWindow(spec["low"], spec["high"]))


def item_id(position: int, total: int) -> str:
    """Id of the item shown at 0-based ``position``: ``0001``, ``0002``, ... (wider past 9999)."""
    return f"{position + 1:0{max(4, len(str(total)))}d}"


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{what} must be a whole number, not {value!r}")
    if value < 1:
        raise ConfigError(f"{what} must be at least 1 (a study needs both real and synthetic images), not {value}")
    return int(value)


def create_study(
    ws: Workspace | str | Path,
    name: str,
    *,
    dataset: str,
    set_name: str,
    n_real: int,
    n_synthetic: int,
    modality: str,
    window: DisplayWindow | dict[str, Any] | None = None,
    seed: int = 0,
    split: str = "test",
) -> Path:
    """Make the blinded study ``name``: ``n_real`` slices of ``dataset``'s ``split`` (test by
    default; see the module docstring for why) and ``n_synthetic`` samples of set ``set_name``,
    shown as ``modality`` through ``window``, in a seeded shuffled order. Returns the folder.

    Raises :class:`ConfigError` for a bad name, count, window, split or modality, or a set made
    from another dataset; :class:`NotFoundError` for a missing dataset or set;
    :class:`ExistsError` when the study exists.
    """
    ws = as_workspace(ws)
    dest = ws.path("studies", name)
    if dest.exists():
        raise ExistsError(f"{dest}: study {name!r} already exists; choose another name "
                          "(a study is never overwritten: its answers refer to its images)")
    n_real = _count(n_real, "number of real images")
    n_synthetic = _count(n_synthetic, "number of synthetic images")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ConfigError(f"seed must be a whole number, not {seed!r}")
    if split not in REAL_SPLITS:
        raise ConfigError(f"real images must come from a split the generator never trained on "
                          f"({' or '.join(REAL_SPLITS)}), not {split!r}")
    wspec = window_spec(window)

    ds = Dataset(ws.existing("datasets", dataset))
    syn = SyntheticSet(ws.existing("synthetic", set_name))
    if syn.dataset != ds.name:
        raise ConfigError(f"synthetic set {set_name!r} was made from dataset {syn.dataset!r}, not {ds.name!r}")
    from synth_core.datalink import check_set

    check_set(ds, syn.meta, f"synthetic set {set_name!r}")  # one line if made from another version of it
    if modality not in ds.modalities or modality not in syn.modalities:
        have = [m for m in ds.modalities if m in syn.modalities]
        raise ConfigError(f"unknown modality {modality!r}; {ds.name!r} and {set_name!r} have: {', '.join(have) or 'none in common'}")
    if syn.size != ds.spec.size:
        raise InputError(syn.path, f"images are {syn.size} px but dataset {ds.name!r} has {ds.spec.size} px")

    real_rows = ds.split_indices(split)
    if len(real_rows) < n_real:
        raise ConfigError(f"dataset {ds.name!r} has {len(real_rows)} slices in its {split} split; "
                          f"cannot take {n_real} real images (ask for at most {len(real_rows)})")
    if len(syn) < n_synthetic:
        raise ConfigError(f"synthetic set {set_name!r} has {len(syn)} samples; cannot take {n_synthetic} "
                          f"(ask for at most {len(syn)})")

    rng = np.random.default_rng(int(seed))
    real_pick = np.sort(rng.choice(real_rows, size=n_real, replace=False))
    syn_pick = np.sort(rng.choice(len(syn), size=n_synthetic, replace=False))
    entries = [("real", int(r), -1) for r in real_pick] + [("synthetic", -1, int(s)) for s in syn_pick]
    order = rng.permutation(len(entries))
    total = len(entries)
    m_real, m_syn = ds.modalities.index(modality), syn.modalities.index(modality)

    rows = []
    with atomic_dir(dest) as tmp:
        (tmp / "items").mkdir()
        for pos, j in enumerate(order):
            source, row, index = entries[int(j)]
            if source == "real":
                image = np.asarray(ds.images[row, m_real], dtype=np.float32)
                meta = ds.index.iloc[row]
                ref = f"{meta.case_id}:{int(meta.slice_index)}"
            else:
                image = np.asarray(syn.images[index, m_syn], dtype=np.float32)
                ref = f"syn-{index:06d}"
            item = item_id(pos, total)
            (tmp / "items" / f"{item}.png").write_bytes(png_bytes(render_item(image, wspec)))
            rows.append({"item": item, "position": pos, "source": source, "dataset_row": row,
                         "set_index": index, "ref": ref})
        pd.DataFrame(rows, columns=list(KEY_COLUMNS)).to_parquet(tmp / "key.parquet", index=False)
        info = {
            "format": FORMAT,
            "name": name,
            "dataset": ds.name,
            "dataset_fingerprint": ds.fingerprint,
            "dataset_sha256": ds.content_sha256,
            "set": syn.name,
            "modality": modality,
            "window": wspec,
            "seed": int(seed),
            "split": split,
            "counts": {"real": n_real, "synthetic": n_synthetic, "total": total},
            "items": [r["item"] for r in rows],
            "image_size": int(ds.spec.size),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "synth_core_version": __version__,
            "note": f"real images from the {split} split: slices the generator never trained on",
        }
        (tmp / "study.json").write_text(json.dumps(info, indent=2) + "\n")
    return dest


@dataclass(frozen=True)
class Study:
    """An existing study: its folder and ``study.json``. The key is read only on request."""

    path: Path
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def items(self) -> list[str]:
        """Item ids in presentation order."""
        return list(self.meta["items"])

    @property
    def total(self) -> int:
        return len(self.meta["items"])

    @property
    def responses_path(self) -> Path:
        return self.path / "responses.jsonl"

    def item_path(self, item: str) -> Path:
        return self.path / "items" / f"{self.normalise_item(item)}.png"

    def normalise_item(self, item: str | int) -> str:
        """``"0003"``, ``"3"`` or ``3`` -> ``"0003"`` if it is one of the study's items."""
        if isinstance(item, bool):
            raise ConfigError(f"unknown item {item!r}")
        if isinstance(item, (int, np.integer)):
            pos = int(item) - 1
        elif isinstance(item, str) and item.strip().isdigit():
            pos = int(item.strip()) - 1
        else:
            raise ConfigError(f"study {self.name!r} has no item {item!r} (items are 1..{self.total})")
        if not (0 <= pos < self.total):
            raise ConfigError(f"study {self.name!r} has no item {item!r} (items are 1..{self.total})")
        return self.meta["items"][pos]

    def key(self) -> pd.DataFrame:
        """The answer key (item, position, source, dataset_row, set_index, ref), in item order."""
        f = self.path / "key.parquet"
        try:
            key = pd.read_parquet(f)
        except Exception as err:  # pyarrow raises several types for a damaged file
            raise InputError(f, f"unreadable answer key ({err})") from None
        if list(key.columns) != list(KEY_COLUMNS) or list(key["item"]) != self.items:
            raise InputError(f, "answer key does not match the study's items")
        return key


def open_study(ws: Workspace | str | Path, name: str) -> Study:
    """Open study ``name`` (:class:`NotFoundError` if missing, :class:`InputError` if damaged)."""
    path = as_workspace(ws).existing("studies", name)
    f = path / "study.json"
    if not f.is_file():
        raise NotFoundError(f"{path}: not a reader study (no study.json)")
    try:
        meta = json.loads(f.read_text())
    except (OSError, ValueError) as err:
        raise InputError(f, f"unreadable study description ({err})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT or not isinstance(meta.get("items"), list):
        raise InputError(f, f"not a reader study description (expected format {FORMAT})")
    return Study(path, meta)


def list_studies(ws: Workspace | str | Path) -> list[str]:
    """Names of the workspace's studies (sorted; temporary folders skipped)."""
    return as_workspace(ws).list("studies")


def sets_for_dataset(ws: Workspace | str | Path, dataset: str) -> list[str]:
    """Synthetic sets made from ``dataset`` (unreadable sets are skipped)."""
    ws = as_workspace(ws)
    out = []
    for name in ws.list("synthetic"):
        try:
            if SyntheticSet(ws.synthetic / name).dataset == dataset:
                out.append(name)
        except (SynthCoreError, KeyError):
            continue
    return out


def item_png(ws: Workspace | str | Path, study: str, item: str | int, *, min_size: int = 0) -> bytes:
    """PNG bytes of one blinded item, enlarged by a whole factor (nearest neighbour, crisp pixels)
    until it is at least ``min_size`` pixels wide. Carries nothing about the item's source."""
    opened = open_study(ws, study)
    path = opened.item_path(item)
    data = path.read_bytes()
    size = int(opened.meta.get("image_size", 0)) or 1
    factor = -(-int(min_size) // size) if min_size > size else 1
    if factor == 1:
        return data
    with Image.open(io.BytesIO(data)) as im:
        arr = np.asarray(im)
    return png_bytes(upscale(arr, factor))


def available_images(ws: Workspace | str | Path, dataset: str, set_name: str, split: str = "test") -> dict[str, Any]:
    """What a study of ``dataset`` + ``set_name`` can draw on: ``{"real": slices in split,
    "synthetic": samples in the set, "modalities": modalities both have}``."""
    ws = as_workspace(ws)
    if split not in REAL_SPLITS:
        raise ConfigError(f"real images must come from {' or '.join(REAL_SPLITS)}, not {split!r}")
    ds = Dataset(ws.existing("datasets", dataset))
    syn = SyntheticSet(ws.existing("synthetic", set_name))
    return {"real": int(len(ds.split_indices(split))), "synthetic": int(len(syn)),
            "modalities": [m for m in ds.modalities if m in syn.modalities]}
