"""The experiment folder and the usability tables (no torch: pages and reports read them here).

``workspace/experiments/NAME/``::

    config.json       the UsabilityConfig, the grid, dataset/set fingerprints, metric definitions
    results.parquet   one row per finished (configuration, seed), rewritten atomically after each
    summary.parquet   one row per configuration: mean and sd over the finished seeds
    summary.csv       the same as CSV
    progress.jsonl    one JSON line per event (start, each finished configuration, end)

Summary statistics: ``<metric>_mean`` is the mean over seeds and ``<metric>_sd`` the SAMPLE
standard deviation (ddof = 1); with a single seed the sd is NaN (shown as "-").
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth_core.atomic import atomic_write_bytes, atomic_write_json, atomic_write_text, pause_point
from synth_core.errors import InputError, NotFoundError
from synth_core.locks import item_lock, try_item_lock
from synth_core.workspace import Workspace

#: how a usability configuration mixes real and synthetic data
MODES = ("random", "real-first", "synthetic-first")
REAL_ONLY = "real-only"
#: Order of the mode column in tables.
MODE_ORDER = (REAL_ONLY, *MODES)
#: ``generator``: "" for real-only rows; "fraction": the synthetic data comes from a generator trained on
#: this row's real slices only (no leakage); "oracle": from a generator trained on ALL training data
#: (the thesis's setting, an upper bound: below 100 % real it carries information from slices the row
#: does not have). Results written before the column existed read as "" / "oracle" (see :func:`with_generator`).
KEY_COLUMNS = ("real_fraction", "synthetic_multiplier", "mode", "augmentation", "generator")
GENERATOR_ORDER = ("", "fraction", "oracle")
SIZE_COLUMNS = ("n_real", "n_synthetic")
#: Metrics of each trained network on the real test split (definitions in training.experiments.usability).
METRICS = ("dice", "dice_lesion", "mse", "hd95")
#: Per-seed table columns (in this order; extra columns are kept after them).
RESULT_COLUMNS = ("config", *KEY_COLUMNS, "generator_set", *SIZE_COLUMNS, "n_synthetic_wanted", "capped", "seed",
                  "steps", "steps_real", "steps_synthetic", "steps_mixed", "steps_run", "best_step", "val_dice", *METRICS, "n_test", "final_loss", "seconds", "train_seconds", "cpu_seconds",
                  "finished")


class ExperimentStore:
    """Reads and writes one experiment folder."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @classmethod
    def open(cls, ws: Workspace, name: str, *, must_exist: bool = True) -> "ExperimentStore":
        path = ws.existing("experiments", name) if must_exist else ws.path("experiments", name)
        return cls(path)

    # ---- files ---------------------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / "config.json"

    @property
    def results_path(self) -> Path:
        return self.path / "results.parquet"

    def read_config(self) -> dict[str, Any]:
        if not self.config_path.is_file():
            raise NotFoundError(f"{self.path}: not an experiment (no config.json)")
        try:
            return json.loads(self.config_path.read_text())
        except ValueError as err:
            raise InputError(self.config_path, f"unreadable experiment description ({err})") from None

    def write_config(self, data: dict[str, Any]) -> None:
        atomic_write_json(self.config_path, data)

    def read_results(self) -> pd.DataFrame:
        if not self.results_path.is_file():
            return pd.DataFrame(columns=list(RESULT_COLUMNS))
        try:
            return pd.read_parquet(self.results_path)
        except Exception as err:  # pyarrow raises several types for a damaged file
            raise InputError(self.results_path, f"unreadable results ({err})") from None

    def append_result(self, row: dict[str, Any]) -> pd.DataFrame:
        """Add one finished (configuration, seed); rewrite results and summaries atomically, under
        the experiment's lock (two processes appending at once both land)."""
        with item_lock(self.path, what=f"experiment {self.path.name!r}"):
            old = self.read_results()
            pause_point("append_result:read")
            new = pd.DataFrame([row])
            df = new if old.empty else pd.concat([old, new], ignore_index=True)
            df = order_columns(df)
            write_parquet(self.results_path, df)
            self.write_summary(summarise(df))
        return df

    @contextlib.contextmanager
    def running(self) -> Any:
        """Hold the experiment for a whole run (``workspace/experiments/.NAME.running.lock``): a second
        run of the same experiment in another process or session is refused at once with
        :class:`~synth_core.locks.BusyError` instead of training the same rows twice beside it."""
        lock = try_item_lock(self.path.with_name(f"{self.path.name}.running"),
                             what=f"experiment {self.path.name!r}")
        try:
            yield
        finally:
            lock.release()

    def write_summary(self, summary: pd.DataFrame) -> None:
        write_parquet(self.path / "summary.parquet", summary)
        atomic_write_text(self.path / "summary.csv", summary.to_csv(index=False))

    def log(self, event: str, **fields: Any) -> None:
        """Append one line to ``progress.jsonl`` (a log: appended, not rewritten)."""
        self.path.mkdir(parents=True, exist_ok=True)
        line = json.dumps({"event": event, "time": time.time(), **fields}, default=_json_default)
        with open(self.path / "progress.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()

    def read_progress(self) -> list[dict[str, Any]]:
        p = self.path / "progress.jsonl"
        if not p.is_file():
            return []
        out = []
        for line in p.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a kill
        return out


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.bool_):
        return bool(o)
    return str(o)


def write_parquet(path: Path, df: pd.DataFrame) -> None:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def order_columns(df: pd.DataFrame) -> pd.DataFrame:
    first = [c for c in RESULT_COLUMNS if c in df.columns]
    return df[first + [c for c in df.columns if c not in first]]


def with_generator(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with a ``generator`` column: results written before it existed came from one set made
    by a generator trained on all training data, so their synthetic rows read as "oracle"."""
    if "generator" in df.columns:
        return df.assign(generator=df["generator"].fillna("").astype(str))
    k = pd.to_numeric(df["synthetic_multiplier"], errors="coerce").fillna(0).to_numpy()
    return df.assign(generator=np.where(k > 0, "oracle", ""))


def _sort_rows(df: pd.DataFrame) -> pd.DataFrame:
    rank = {m: i for i, m in enumerate(MODE_ORDER)}
    grank = {g: i for i, g in enumerate(GENERATOR_ORDER)}
    tmp = df.assign(_f=-df["real_fraction"].astype(float), _a=df["augmentation"].astype(bool).astype(int),
                    _m=df["mode"].map(lambda m: rank.get(m, len(rank))), _k=df["synthetic_multiplier"].astype(float),
                    _g=df["generator"].map(lambda g: grank.get(g, len(grank))))
    # baseline, then the augmentation control, then the modes in MODE_ORDER, multipliers ascending,
    # the no-leak generator before the oracle
    tmp = tmp.assign(_block=np.where(tmp["_m"] == 0, tmp["_a"], 2))
    return tmp.sort_values(["_f", "_block", "_m", "_k", "_g"], kind="stable").drop(
        columns=["_f", "_a", "_m", "_k", "_g", "_block"])


def summarise(per_seed: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: sizes, ``n_seeds``, ``<metric>_mean`` and ``<metric>_sd``
    (sample sd, ddof = 1; NaN for one seed), ``steps_run_mean`` (optimisation steps the networks
    ran: with early stopping they differ per seed), rows in table order."""
    cols = [*KEY_COLUMNS, *SIZE_COLUMNS, "n_seeds", "steps_run_mean"] + [f"{m}_{s}" for m in METRICS
                                                                          for s in ("mean", "sd")]
    if per_seed is None or per_seed.empty:
        return pd.DataFrame(columns=cols)
    per_seed = with_generator(per_seed)
    rows = []
    for key, g in per_seed.groupby(list(KEY_COLUMNS), sort=False):
        row = dict(zip(KEY_COLUMNS, key))
        row["n_real"] = int(g["n_real"].iloc[0])
        row["n_synthetic"] = int(g["n_synthetic"].iloc[0])
        row["n_seeds"] = int(g["seed"].nunique()) if "seed" in g else len(g)
        col = "steps_run" if "steps_run" in g else ("steps" if "steps" in g else None)
        run = pd.to_numeric(g[col], errors="coerce").to_numpy(dtype=float) if col else np.array([])
        run = run[np.isfinite(run)]
        row["steps_run_mean"] = float(run.mean()) if len(run) else math.nan
        for m in METRICS:
            vals = pd.to_numeric(g[m], errors="coerce").to_numpy(dtype=float) if m in g else np.array([])
            vals = vals[np.isfinite(vals)]
            row[f"{m}_mean"] = float(vals.mean()) if len(vals) else math.nan
            row[f"{m}_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else math.nan
        if "capped" in g and bool(g["capped"].astype(bool).any()):
            row["note"] = "synthetic capped"
        rows.append(row)
    out = pd.DataFrame(rows)
    out["augmentation"] = out["augmentation"].astype(bool)
    if "note" not in out:
        out["note"] = ""
    out["note"] = out["note"].fillna("")
    return _sort_rows(out)[cols + ["note"]].reset_index(drop=True)


def mean_sd(mean: float, sd: float, digits: int, *, no_sd: str = " ± -") -> str:
    """``"0.412 ± 0.031"``; ``"-"`` without a mean; the mean followed by ``no_sd`` without an sd."""
    if not math.isfinite(mean):
        return "-"
    s = f"{mean:.{digits}f}"
    return f"{s} ± {sd:.{digits}f}" if math.isfinite(sd) else f"{s}{no_sd}"


def signed(x: float, significant: int = 3) -> str:
    """A difference with its sign, in fixed-point notation with at least ``significant`` significant
    digits (``-0.0000657``, ``+0.00260``, ``+12.3``; never ``-6.57e-05``); ``"-"`` when not finite."""
    if not math.isfinite(x):
        return "-"
    if x == 0:
        return "+0"
    digits = max(0, significant - 1 - math.floor(math.log10(abs(x))))
    return f"{x:+.{digits}f}"


#: How tables name the generator of a row.
GENERATOR_LABELS = {"": "-", "fraction": "this fraction only", "oracle": "all train (oracle)"}


def format_table(summary: pd.DataFrame) -> str:
    """The summary like thesis Table 5: one line per configuration, metrics as mean ± sd."""
    if summary is None or summary.empty:
        return "(no finished configurations yet)"
    show = pd.DataFrame({
        "real": [f"{f * 100:g}%" for f in summary["real_fraction"]],
        "synthetic": [f"x{k:g}" for k in summary["synthetic_multiplier"]],
        "mode": summary["mode"],
        "generator": [GENERATOR_LABELS.get(g, g) for g in summary["generator"]],
        "augment": ["yes" if a else "no" for a in summary["augmentation"]],
        "n_real": summary["n_real"].astype(int),
        "n_syn": summary["n_synthetic"].astype(int),
        "seeds": summary["n_seeds"].astype(int),
        "steps": ["-" if not math.isfinite(v) else f"{v:.0f}" for v in summary["steps_run_mean"].astype(float)],
        "Dice": [mean_sd(m, s, 3) for m, s in zip(summary["dice_mean"], summary["dice_sd"])],
        "MSE": [mean_sd(m, s, 4) for m, s in zip(summary["mse_mean"], summary["mse_sd"])],
        "HD95 (px)": [mean_sd(m, s, 2) for m, s in zip(summary["hd95_mean"], summary["hd95_sd"])],
    })
    if "note" in summary and summary["note"].astype(str).str.len().any():
        show["note"] = summary["note"].astype(str)
    return show.to_string(index=False)


def load_experiment(ws: Workspace, name: str) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """``(config, summary, per_seed)`` of experiment ``name``.

    ``config`` is the saved ``config.json`` (``config["config"]`` holds the settings); ``summary``
    has one row per configuration (columns ``real_fraction, synthetic_multiplier, mode,
    augmentation, n_real, n_synthetic, n_seeds, <metric>_mean, <metric>_sd, note`` for the metrics
    ``dice, dice_lesion, mse, hd95``); ``per_seed`` one row per finished (configuration, seed).
    The summary is recomputed from the per-seed rows, so it is current even mid-run.
    """
    store = ExperimentStore.open(ws, name)
    config = store.read_config()
    per_seed = store.read_results()
    return config, summarise(per_seed), per_seed


def experiment_kind(ws: Workspace, name: str) -> str:
    """The ``kind`` in an experiment's config.json ("usability" when absent or unreadable)."""
    try:
        return str(json.loads((ws.experiments / name / "config.json").read_text()).get("kind") or "usability")
    except (OSError, ValueError, AttributeError):
        return "usability"


def list_experiments(ws: Workspace, kind: str | None = "usability") -> list[str]:
    """Names of experiment folders that have a config.json, of ``kind`` ("usability" by default,
    "ablation", or ``None`` for every kind)."""
    names = [n for n in ws.list("experiments") if (ws.experiments / n / "config.json").is_file()]
    return names if kind is None else [n for n in names if experiment_kind(ws, n) == kind]


# ---- paired tests per seed ----------------------------------------------------------------------
#: the columns of a paired test (:func:`paired_test`), in table order
PAIRED_COLUMNS = ("n_pairs", "mean_diff", "sd_diff", "ci_low", "ci_high", "p_ttest", "p_wilcoxon", "exceeds_spread")
#: the Wilcoxon signed-rank p-value is given from this many pairs with a non-zero difference on (with
#: fewer, its smallest possible two-sided p is above 0.05, so it could never show anything)
WILCOXON_MIN = 6
#: differences closer than this (relative to their mean, or absolute below 1) count as equal
ROUNDING = 1e-12


def paired_test(values: Any, reference: Any) -> dict[str, Any] | None:
    """Paired comparison of ``values`` with ``reference`` (same length, pair i = seed i; pairs with a
    NaN on either side are left out). ``None`` with fewer than 2 pairs.

    Returns :data:`PAIRED_COLUMNS`: ``n_pairs``; ``mean_diff`` and ``sd_diff`` (sample sd, ddof =
    1) of the differences ``values - reference``; ``ci_low``/``ci_high``, the 95 % confidence
    interval of the mean difference (t distribution with n - 1 degrees of freedom); ``p_ttest``,
    the two-sided paired t-test (:func:`scipy.stats.ttest_rel`); ``p_wilcoxon``, the two-sided
    Wilcoxon signed-rank test (:func:`wilcoxon_p`) on the pairs whose difference is not zero: the
    test ranks signs, and a zero difference has none, so such pairs are dropped before counting
    (Wilcoxon's method) and the p is NaN when fewer than :data:`WILCOXON_MIN` non-zero differences
    remain (all differences zero included; ``p_ttest`` then says 1); ``exceeds_spread``:
    the 95 % interval excludes 0 (the same as ``p_ttest < 0.05``), i.e. the mean difference is
    larger than the seed-to-seed spread of the differences can explain (``|mean| > t(0.975, n-1)
    * sd / sqrt(n)``: 2.48 sd with 3 seeds, 1.24 sd with 5). Differences that are all equal (up to
    :data:`ROUNDING`): p = 0 and an interval of that one value when they are not 0, p = 1 when they are.
    """
    from scipy import stats

    a = np.asarray(values, dtype=float)
    b = np.asarray(reference, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"expected two 1-D arrays of one length, got {a.shape} and {b.shape}")
    ok = np.isfinite(a) & np.isfinite(b)
    d = a[ok] - b[ok]
    n = len(d)
    if n < 2:
        return None
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    if sd <= ROUNDING * max(abs(mean), 1.0):  # all differences equal up to rounding: no spread
        mean = 0.0 if abs(mean) <= ROUNDING else mean
        p = 1.0 if mean == 0.0 else 0.0
        low = high = mean
    else:
        p = float(stats.ttest_rel(a[ok], b[ok]).pvalue)
        half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    return {"n_pairs": n, "mean_diff": mean, "sd_diff": sd, "ci_low": low, "ci_high": high, "p_ttest": p,
            "p_wilcoxon": wilcoxon_p(d), "exceeds_spread": bool(low > 0.0 or high < 0.0)}


def wilcoxon_p(d: np.ndarray) -> float:
    """Two-sided Wilcoxon signed-rank p of the differences ``d`` on their non-zero values (zero: up
    to :data:`ROUNDING`; Wilcoxon's own treatment of ties at zero, stated rather than left to scipy's
    default); NaN when fewer than :data:`WILCOXON_MIN` remain, since no result could then be below 0.05."""
    from scipy import stats

    nonzero = d[np.abs(d) > ROUNDING]
    return float(stats.wilcoxon(nonzero).pvalue) if len(nonzero) >= WILCOXON_MIN else math.nan


def _by_seed(part: pd.DataFrame, metric: str) -> pd.Series:
    """``metric`` per seed (the first line of a seed that appears twice)."""
    vals = pd.to_numeric(part[metric], errors="coerce") if metric in part else pd.Series(math.nan, index=part.index)
    return pd.Series(vals.to_numpy(dtype=float), index=part["seed"].to_numpy()).groupby(level=0).first()


def pair_seeds(part: pd.DataFrame, reference: pd.DataFrame, metric: str) -> dict[str, Any] | None:
    """:func:`paired_test` of ``part`` against ``reference`` on ``metric``, paired by the ``seed``
    column (seeds missing on one side are left out)."""
    a, b = _by_seed(part, metric), _by_seed(reference, metric)
    seeds = sorted(set(a.index) & set(b.index))
    return paired_test(a.loc[seeds].to_numpy(), b.loc[seeds].to_numpy()) if seeds else None


def is_baseline(per_seed: pd.DataFrame) -> pd.Series:
    """True for the usability rows of the real-only baseline (real data only, no augmentation)."""
    return (per_seed["mode"] == REAL_ONLY) & ~per_seed["augmentation"].astype(bool)


def paired_usability(per_seed: pd.DataFrame, metrics: tuple[str, ...] = METRICS) -> pd.DataFrame:
    """Each usability configuration against the real-only baseline with the same real fraction,
    paired by seed: one line per (configuration, metric) with at least 2 paired seeds; columns
    :data:`KEY_COLUMNS`, ``metric``, ``against`` and :data:`PAIRED_COLUMNS` (difference =
    configuration - real-only), in the summary's row order."""
    cols = [*KEY_COLUMNS, "metric", "against", *PAIRED_COLUMNS]
    if per_seed is None or per_seed.empty:
        return pd.DataFrame(columns=cols)
    base = is_baseline(per_seed).to_numpy()
    summary = summarise(per_seed)
    keys = [k for k in KEY_COLUMNS if k in per_seed.columns]  # results of older versions lack newer keys
    lines = []
    for _, row in summary.iterrows():
        sel = np.ones(len(per_seed), dtype=bool)
        for k in keys:
            col = per_seed[k]
            sel &= (col.astype(bool) == bool(row[k])).to_numpy() if k == "augmentation" else (col == row[k]).to_numpy()
        if (sel & base).any():
            continue  # the baseline itself
        ref = per_seed[base & (per_seed["real_fraction"] == row["real_fraction"]).to_numpy()]
        for m in metrics:
            test = pair_seeds(per_seed[sel], ref, m) if not ref.empty else None
            if test is not None:
                lines.append({**{k: row[k] for k in KEY_COLUMNS if k in summary.columns}, "metric": m,
                              "against": f"real-only {float(row['real_fraction']) * 100:g}%", **test})
    return pd.DataFrame(lines, columns=cols)
