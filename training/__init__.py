"""Training of the synthesis pipeline: ``python -m training <stage> ...`` (see ``training.cli``)."""
