"""Export real slices plus curated synthetic ones in a layout segmentation pipelines read.

``export(...)`` writes ``workspace/exports/NAME`` (nnU-Net v2, MSD or PNG layout, dataset.json,
manifest with provenance and checksums); ``check_export(path)`` lists what is wrong with one.
Submodules: options (what to do), selection (which synthetic samples and why), naming (case names
without patient identifiers), formats + encode (files per case), manifest, build, check, command.
"""

from synth_core.export.build import export, run_export
from synth_core.export.check import check_export
from synth_core.export.options import FORMATS, ExportOptions, ExportResult

__all__ = ["FORMATS", "ExportOptions", "ExportResult", "check_export", "export", "run_export"]
