"""Draw the README's real-beside-synthetic figure from a workspace (real output, nothing retouched).

    python docs/figures.py --workspace WS --set demo-set [--dataset demo] [--n 4] [--out docs/img/real-vs-synthetic.png]

Rows alternate: real held-out (test-split) slices, then synthetic samples of the set; columns: the
structure map, then every modality as stored (no display window) with the lesion label tinted. Real
slices are chosen with a lesion, the synthetic samples are the first ones of the set that have one.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _row(structure: np.ndarray, images: np.ndarray, label: np.ndarray, mask: np.ndarray) -> list[np.ndarray]:
    from synth_core.render import overlay

    tiles = [overlay(structure.astype(np.float32), mask=mask)]
    for img in images:
        tiles.append(overlay(img, label=label))
    return tiles


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workspace", required=True)
    p.add_argument("--set", required=True)
    p.add_argument("--dataset", default="demo")
    p.add_argument("--n", type=int, default=3, help="pairs of rows")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "docs" / "img" / "real-vs-synthetic.png"))
    a = p.parse_args(argv)

    from synth_core.dataset import Dataset
    from synth_core.render import grid, png_bytes, upscale
    from synth_core.synthesis.setstore import SyntheticSet
    from synth_core.workspace import Workspace

    ws = Workspace.open(a.workspace, create=False)
    ds = Dataset(ws.existing("datasets", a.dataset))
    syn = SyntheticSet(ws.existing("synthetic", a.set))
    test = ds.split_indices("test")
    with_lesion = test[np.asarray(ds.index["lesion_pixels"].to_numpy()[test] > 0)]
    real_rows = np.sort(np.random.default_rng(a.seed).choice(with_lesion, a.n, replace=False))
    syn_rows = [i for i in range(len(syn)) if np.asarray(syn.labels[i]).any()][: a.n]
    tiles: list[np.ndarray] = []
    for r, s in zip(real_rows, syn_rows):
        tiles += _row(np.asarray(ds.structure[r]), np.asarray(ds.images[r]), np.asarray(ds.labels[r]),
                      np.asarray(ds.masks[r]))
        tiles += _row(np.asarray(syn.structure[s]), np.asarray(syn.images[s]), np.asarray(syn.labels[s]),
                      np.asarray(syn.masks[s]))
    picture = upscale(grid(tiles, columns=1 + len(ds.modalities)), 2)
    Path(a.out).write_bytes(png_bytes(picture))
    print(f"wrote {a.out}: rows real / synthetic x {a.n}, columns structure map + {', '.join(ds.modalities)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
