"""Run the benchmarks and print one table: ``python -m benchmarks [NAME ...] [--quick]``."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import traceback
from pathlib import Path

from benchmarks.common import Row


def _fmt(v: float | None) -> str:
    if v is None:
        return "-"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def print_table(rows: list[Row]) -> None:
    head = ("benchmark", "case", "value", "unit", "reference", "ratio", "target", "met", "note")
    body = [
        (r.benchmark, r.case, _fmt(r.value), r.unit, _fmt(r.reference), _fmt(r.ratio), r.target,
         "-" if r.ok is None else ("yes" if r.ok else "NO"), r.note)
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths))
    print(line)
    print("  ".join("-" * w for w in widths))
    for b in body:
        print("  ".join(c.ljust(w) for c, w in zip(b, widths)))


def main(argv: list[str] | None = None) -> int:
    here = Path(__file__).parent
    names = sorted(m.name[len("bench_"):] for m in pkgutil.iter_modules([str(here)]) if m.name.startswith("bench_"))
    ap = argparse.ArgumentParser(prog="python -m benchmarks")
    ap.add_argument("names", nargs="*", help=f"benchmarks to run (default all): {', '.join(names)}")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = ap.parse_args(argv)
    chosen = args.names or names
    unknown = set(chosen) - set(names)
    if unknown:
        print(f"error: unknown benchmark(s) {sorted(unknown)}; available: {', '.join(names)}", file=sys.stderr)
        return 2
    rows: list[Row] = []
    failed = False
    for name in chosen:
        mod = importlib.import_module(f"benchmarks.bench_{name}")
        try:
            rows.extend(mod.run(quick=args.quick))
        except Exception:
            failed = True
            traceback.print_exc()
            rows.append(Row(name, "(failed)", float("nan"), "", note="see traceback above"))
    print_table(rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
