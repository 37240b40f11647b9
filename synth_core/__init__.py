"""MedSynth Studio core library: data, structure maps, lesions, networks, synthesis, metrics, export.

Nothing here imports Streamlit, and importing the package has no side effects: submodules are
imported where they are used (``from synth_core import structure``).
"""

__version__ = "0.1.0"
