"""``python -m training.experiments usability ...`` (the same commands as ``python -m training``)."""

import sys

from training.experiments.command import main

if __name__ == "__main__":
    sys.exit(main())
