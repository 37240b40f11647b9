"""Downstream experiments on synthetic data: the usability study (thesis Table 5).

- :mod:`training.experiments.config`: settings, presets, the configuration grid (no torch);
- :mod:`training.experiments.usability`: data selection, training, scoring, resume (torch);
- :mod:`training.experiments.results`: the experiment folder, summaries, ``load_experiment``
  (no torch; pages and reports import this);
- :mod:`training.experiments.command`: ``python -m training usability`` / ``usability-table``.
"""

from training.experiments.results import list_experiments, load_experiment

__all__ = ["list_experiments", "load_experiment"]
