"""A synthetic set made without any network, for tests of what reads sets (export, evaluation,
reader study, pages): the samples are perturbed copies of a tiny dataset's training slices, and
the catalog has every column the real pipeline writes, with values computed from those arrays."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from synth_core.dataset import Dataset
from synth_core.synthesis.setstore import SetWriter
from synth_core.workspace import Workspace


def make_fake_set(ws_root: Path, dataset: str = "tiny", name: str = "fake", n: int = 12, seed: int = 0,
                  chunk: int = 5) -> Path:
    ws = Workspace.open(ws_root)
    ds = Dataset(ws.existing("datasets", dataset))
    rng = np.random.default_rng(seed)
    train = ds.split_indices("train")
    meta = {"dataset": ds.name, "fingerprint": ds.fingerprint, "modalities": list(ds.modalities),
            "label_names": {str(k): v for k, v in ds.label_names.items()}, "size": ds.spec.size,
            "runs": {"multimodal": {"run_id": "fake-run", "sha256": "0" * 64, "step": 0}},
            "options": {"n": n, "seed": seed, "lesions": "bank"}}
    with SetWriter(ws.path("synthetic", name), meta) as w:
        for start in range(0, n, chunk):
            rows_idx = train[rng.integers(len(train), size=min(chunk, n - start))]
            imgs = np.clip(np.asarray(ds.images[np.sort(rows_idx)]) + rng.normal(0, 0.03, (len(rows_idx), len(ds.modalities), ds.spec.size, ds.spec.size)), 0, 1).astype(np.float32)
            masks = np.asarray(ds.masks[np.sort(rows_idx)])
            labels = np.asarray(ds.labels[np.sort(rows_idx)])
            structure = np.asarray(ds.structure[np.sort(rows_idx)])
            rows = []
            for j in range(len(rows_idx)):
                i = start + j
                lab = labels[j] > 0
                ys, xs = np.nonzero(lab)
                row = {"seed": seed, "latent_index": i, "noise_seed": seed * 1000003 + i, "batch_start": start,
                       "batch_size": len(rows_idx), "lesion_source": "bank",
                       "lesion_index": i % 3 if lab.any() else -1,
                       "lesion_params": json.dumps({"scale": 1.0, "rotation_deg": 0.0}) if lab.any() else "",
                       "has_lesion": bool(lab.any()), "lesion_area": int(lab.sum()),
                       "lesion_cy": float(ys.mean()) if lab.any() else float("nan"),
                       "lesion_cx": float(xs.mean()) if lab.any() else float("nan"),
                       "organ_area": int(masks[j].sum()), "contour_pixels": int(structure[j].sum()),
                       "contour_outside": int((structure[j] * (1 - masks[j])).sum())}
                for k, m in enumerate(ds.modalities):
                    row[f"mean_{m}"] = float(imgs[j, k].mean())
                    row[f"std_{m}"] = float(imgs[j, k].std())
                for k, m in enumerate(ds.modalities):
                    row[f"dice_{m}"] = float(rng.uniform(0.2, 0.95)) if lab.any() else float("nan")
                for k, m in enumerate(ds.modalities):
                    row[f"reg_err_{m}"] = float(rng.uniform(0.001, 0.02))
                row["nn_dist"] = float(rng.uniform(0.05, 0.5))
                row["nn_index"] = int(rows_idx[j])
                rows.append(row)
            w.add(imgs, masks, labels, structure, rows)
    return ws.path("synthetic", name)


def make_painted_set(ws_root: Path, rows: list[int], dataset: str = "tiny", name: str = "painted") -> Path:
    """A set as pix2pix inpainting records it (``generator: pix2pix``, ``source_row`` per sample)
    whose samples are copies of the dataset's slices ``rows`` (real slices, as a painted set's are
    outside the lesion)."""
    ws = Workspace.open(ws_root)
    ds = Dataset(ws.existing("datasets", dataset))
    meta = {"generator": "pix2pix", "dataset": ds.name, "fingerprint": ds.fingerprint,
            "modalities": list(ds.modalities), "label_names": {str(k): v for k, v in ds.label_names.items()},
            "size": ds.spec.size, "runs": {"pix2pix": {"run_id": "p", "sha256": "0" * 64, "step": 0}},
            "options": {"n": len(rows)}}
    with SetWriter(ws.path("synthetic", name), meta) as w:
        w.add(np.asarray(ds.images[rows]), np.asarray(ds.masks[rows]), np.asarray(ds.labels[rows]),
              np.asarray(ds.structure[rows]),
              [{"generator": "pix2pix", "seed": 0, "source_row": int(r), "source_tries": 1, "lesion_index": 0,
                "lesion_params": "{}", "has_lesion": bool(np.asarray(ds.labels[r]).any()), "nn_dist": 0.5}
               for r in rows])
    return ws.path("synthetic", name)
