"""Reader studies: can clinicians tell synthetic images from real ones?

``create_study`` writes a blinded, shuffled set of real (test-split) and synthetic images;
``record_answer`` logs each reader's "real"/"synthetic" call with a confidence; ``progress`` says
where a reader is; ``results`` scores the answers against the key (accuracy, sensitivity, ROC AUC,
Cohen's kappa, per-image agreement). Folder layout: :mod:`synth_core.readerstudy.study`.
"""

from synth_core.readerstudy.analysis import StudyResults, results
from synth_core.readerstudy.responses import latest_answers, progress, raters, read_responses, record_answer, validate_rater
from synth_core.readerstudy.study import (
    Study,
    available_images,
    create_study,
    item_png,
    list_studies,
    open_study,
    sets_for_dataset,
    window_spec,
)

__all__ = [
    "Study",
    "StudyResults",
    "available_images",
    "create_study",
    "item_png",
    "latest_answers",
    "list_studies",
    "open_study",
    "progress",
    "raters",
    "read_responses",
    "record_answer",
    "results",
    "sets_for_dataset",
    "validate_rater",
    "window_spec",
]
