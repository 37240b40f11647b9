"""The HTML report for clinicians (``python -m synth_core report``).

- :mod:`synth_core.report.gather` — reads what the report shows from the workspace (tables and
  arrays only; no networks run; no patient identifiers leave it);
- :mod:`synth_core.report.charts` — training curves as inline SVG;
- :mod:`synth_core.report.build` — :func:`build_report` (HTML string) and :func:`write_report`;
- :mod:`synth_core.report.command` — the command line.

No Streamlit here; the Quality page can offer ``build_report`` as a download.
"""

from synth_core.report.build import build_report, write_report

__all__ = ["build_report", "write_report"]
