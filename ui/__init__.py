"""Dashboard helpers shared by ``app.py`` and ``pages/``: no torch, no file formats."""
