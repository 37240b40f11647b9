"""Experiment results as the library reads them (no torch): the experiment folder and the usability
table (:mod:`.results`), the ablation summary (:mod:`.ablation`). ``python -m training usability``
and ``python -m training ablation`` write them."""
