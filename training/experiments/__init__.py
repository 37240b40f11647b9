"""Downstream experiments on synthetic data: the usability study (thesis Table 5) and the ablation
(thesis Table 1). These modules run experiments and write their folders; reading the results is
the library's (:mod:`synth_core.experiments`: the experiment folder, summaries, ``load_experiment``,
``load_ablation``; no torch; pages and the report import that).

- :mod:`training.experiments.config`: usability settings, presets, the configuration grid (no torch);
- :mod:`training.experiments.usability`: data selection, training, scoring, resume (torch);
- :mod:`training.experiments.command`: ``python -m training usability`` / ``usability-table``;
- :mod:`training.experiments.ablation_config`: ablation settings, ``--rows``/``--set`` parsing, each
  row's multimodal configuration (no torch);
- :mod:`training.experiments.ablation`: preparation, the rows' training, synthesis and evaluation,
  summary rows, resume (torch inside the functions that need it);
- :mod:`training.experiments.ablation_command`: ``python -m training ablation`` / ``ablation-table``.
"""
