"""Synthetic sets: the pipeline of METHOD.md §9, the set store with its catalog, regeneration."""
