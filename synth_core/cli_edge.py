"""The edge every command line shares: user errors become one line on stderr and an exit code."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from synth_core.errors import SynthCoreError, warnings_to


def _warning_line(message: str) -> None:
    if os.environ.get("RANK", "0") == "0":  # under torchrun, rank 0 speaks for all
        print(f"warning: {message}", file=sys.stderr, flush=True)


def run_at_edge(body: Callable[[], int], *, debug: bool, interrupted: str, catch_bugs: bool) -> int:
    """Run ``body``; ``SynthCoreError`` -> ``error: ...`` and exit 2, Ctrl-C -> ``interrupted`` and
    130, and with ``catch_bugs`` any other exception -> one line and exit 1. ``debug`` re-raises.
    Remarks (:func:`synth_core.errors.warn_user`) print ``warning: ...`` on stderr, once each."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        with warnings_to(_warning_line):
            return body()
    except SynthCoreError as err:
        if debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"error: {interrupted}", file=sys.stderr)
        return 130
    except Exception as err:
        if debug or not catch_bugs:
            raise
        print(f"error: unexpected {type(err).__name__}: {err} (rerun with --debug for details)", file=sys.stderr)
        return 1
