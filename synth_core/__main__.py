"""``python -m synth_core`` — the command-line interface."""

import sys

from synth_core.cli import main

if __name__ == "__main__":
    sys.exit(main())
