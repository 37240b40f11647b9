"""Benchmarks: speed and memory measured as ratios against a reference in the same run.

Each ``benchmarks/bench_*.py`` module exposes ``run(quick: bool) -> list[Row]``; ``python -m
benchmarks [NAME ...] [--quick]`` runs them and prints one table. Nothing here is a timed test.
"""
