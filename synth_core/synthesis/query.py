"""Filters on a catalog: a small, validated subset of pandas' query language.

A filter is one expression over the catalog's columns, e.g.
``dice_T1 > 0.5 and nn_dist >= 0.1 and contour_outside == 0``. It is parsed with :mod:`ast`
before pandas sees it: only column names, numbers, strings, booleans, comparisons (``< <= > >= ==
!=``, ``in`` / ``not in`` a list), ``and`` / ``or`` / ``not`` and arithmetic are allowed. An unknown
column is an error naming the valid ones; anything else (calls, attributes, ``@`` variables,
assignments) is "not a valid filter". So a filter typed into a page or the CLI can only select rows.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

import pandas as pd

from synth_core.errors import ConfigError

_ALLOWED = (
    ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.UnaryOp, ast.Not, ast.USub, ast.UAdd, ast.Compare,
    ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.Eq, ast.NotEq, ast.In, ast.NotIn, ast.Name, ast.Load, ast.Constant,
    ast.List, ast.Tuple, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div,
)


def validate_filter(expr: str, columns: Iterable[str]) -> str:
    """``expr`` stripped, or a :class:`ConfigError` saying what is wrong with it."""
    expr = (expr or "").strip()
    cols = list(columns)
    if not expr:
        raise ConfigError("the filter is empty")
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError as err:
        raise ConfigError(f"not a valid filter: {expr!r} ({err.msg})") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED):
            raise ConfigError(f"not a valid filter: {expr!r} ({type(node).__name__.lower()} is not allowed; use "
                              "comparisons of columns with values joined by and/or)")
        if isinstance(node, ast.Name) and node.id not in cols and node.id not in ("True", "False"):
            raise ConfigError(f"unknown column {node.id!r} in filter; valid columns: {', '.join(sorted(cols))}")
    if isinstance(tree.body, ast.Constant) and not isinstance(tree.body.value, bool):
        raise ConfigError(f"not a valid filter: {expr!r} (it is a value, not a condition)")
    return expr


def apply_filter(table: pd.DataFrame, expr: str | None) -> pd.Series:
    """A boolean mask over ``table``'s rows (all True when ``expr`` is empty or None)."""
    if expr is None or not expr.strip():
        return pd.Series(True, index=table.index)
    expr = validate_filter(expr, table.columns)
    try:
        out = table.eval(expr, engine="python")
    except Exception as err:  # type errors such as comparing a string column with a number
        raise ConfigError(f"filter {expr!r} cannot be evaluated on the catalog ({type(err).__name__}: {err})") from None
    if isinstance(out, pd.Series) and out.dtype == bool:
        return out
    if isinstance(out, (bool,)) or getattr(out, "dtype", None) == bool:
        return pd.Series(bool(out), index=table.index)
    raise ConfigError(f"filter {expr!r} does not give true/false per sample")
