"""What the workspace holds: the data behind the dashboard's front page and ``list``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from synth_core.runs.folder import RunDir
from synth_core.workspace import Workspace


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def workspace_overview(ws: Workspace) -> dict[str, list[dict[str, Any]]]:
    """One list per kind (datasets, runs, synthetic, exports) of small dicts describing each item."""
    out: dict[str, list[dict[str, Any]]] = {}
    datasets = []
    for name in ws.list("datasets"):
        info = _read_json(ws.datasets / name / "dataset.json")
        spec = info.get("spec", {})
        datasets.append(
            {
                "name": name,
                "layout": spec.get("layout", "?"),
                "kind": spec.get("kind", "?"),
                "modalities": ", ".join(spec.get("modalities", [])),
                "size": spec.get("size"),
                "cases": info.get("n_cases"),
                "slices": info.get("n_slices"),
                "fingerprint": str(info.get("fingerprint", ""))[:12],
                "created": info.get("created", ""),
            }
        )
    out["datasets"] = datasets
    runs = []
    for name in ws.list("runs"):
        status = RunDir(ws.runs / name).read_status()
        runs.append({"name": name, "stage": status.get("stage", "?"), "state": status.get("state", "?"), "step": status.get("step")})
    out["runs"] = runs
    out["synthetic"] = [{"name": n} for n in ws.list("synthetic")]
    out["exports"] = [{"name": n} for n in ws.list("exports")]
    return out
