"""The edge every command line shares: user errors become one line on stderr and an exit code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from synth_core.errors import SynthCoreError


def run_at_edge(body: Callable[[], int], *, debug: bool, interrupted: str, catch_bugs: bool) -> int:
    """Run ``body``; ``SynthCoreError`` -> ``error: ...`` and exit 2, Ctrl-C -> ``interrupted`` and
    130, and with ``catch_bugs`` any other exception -> one line and exit 1. ``debug`` re-raises."""
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
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
