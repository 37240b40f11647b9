"""One stage of ``python -m training demo`` in a process of its own:
``python -m training.demo_worker WORKSPACE STAGE RUN_ID`` with the stage's settings as JSON on stdin
(the ``config`` object of a run's ``config.json``). A fresh interpreter per stage, so nothing of the
caller (its ``__main__``, torch's thread pools) is copied into it. Exit 0 when the run finished,
1 when it stopped unfinished, 2 with one ``error: ...`` line for a user error."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from synth_core.cli_edge import run_at_edge
from synth_core.errors import ConfigError
from synth_core.runs.config import make_config
from synth_core.workspace import Workspace
from training.loop import Trainer
from training.stages import get_stage


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    return run_at_edge(lambda: _train(args), debug=False, interrupted="interrupted; resume with --resume RUN",
                       catch_bugs=False)


def _train(args: list[str]) -> int:
    if len(args) != 3:
        raise ConfigError("usage: python -m training.demo_worker WORKSPACE STAGE RUN_ID < settings.json")
    root, name, run_id = args
    try:
        values = json.loads(sys.stdin.read())
    except json.JSONDecodeError as err:
        raise ConfigError(f"demo worker: the settings on stdin are not JSON ({err})") from None
    stage = get_stage(name)
    run = Trainer(stage, make_config(stage.config_cls, values), Workspace.open(root), run_id=run_id,
                  progress=False).run()
    return 0 if run.read_status().get("state") == "finished" else 1


if __name__ == "__main__":
    sys.exit(main())
