"""Training runs as the library reads them: settings, the run folder, checkpoints, network builders
and loading. ``training`` writes runs through these modules; nothing here imports ``training``."""
