"""Evaluation of synthetic sets against real data (METHOD.md §12, thesis ch. 5).

- :mod:`~synth_core.evaluation.features` — feature extractors: the FID Inception-v3 (user-provided
  weights) and the project's own segmenter encoder (default, offline);
- :mod:`~synth_core.evaluation.distances` — Fréchet distance / FID and KID from feature arrays;
- :mod:`~synth_core.evaluation.frd` — Fréchet Radiomics Distance with the ``frd-score`` package;
- :mod:`~synth_core.evaluation.diversity` — mean pairwise MS-SSIM within a set;
- :mod:`~synth_core.evaluation.paired` — PSNR/SSIM/MS-SSIM/MSE of reconstructions of real slices;
- :mod:`~synth_core.evaluation.lesion_validity` — frozen segmenters on real vs synthetic (Table 4);
- :mod:`~synth_core.evaluation.c2st` — classifier two-sample test (subject-grouped folds, hand-made view);
- :mod:`~synth_core.evaluation.precision_recall` — precision, recall, density, coverage (``prdc``);
- :mod:`~synth_core.evaluation.realism` — those two as evaluation rows beside real-vs-real controls,
  and the per-sample realness;
- :mod:`~synth_core.evaluation.evaluate` — :func:`evaluate_set`, which computes the long table;
- :mod:`~synth_core.evaluation.table` — the table's columns, metric help and storage (no torch);
- :mod:`~synth_core.evaluation.command` — ``python -m synth_core evaluate``.

Heavy imports (torch networks, the radiomics package) happen in the submodules, not here.
"""

from __future__ import annotations

from typing import Any

__all__ = ["METRIC_HELP", "evaluate_set", "load_evaluations"]


def __getattr__(name: str) -> Any:  # lazy: `import synth_core.evaluation` stays cheap
    if name == "evaluate_set":
        from synth_core.evaluation import evaluate

        return evaluate.evaluate_set
    if name in __all__:
        from synth_core.evaluation import table

        return getattr(table, name)
    raise AttributeError(f"module 'synth_core.evaluation' has no attribute {name!r}")
