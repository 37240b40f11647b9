"""``python -m synth_core review SET``: keep, reject, clear or tag samples, or list the decisions.

    python -m synth_core review demo-set --reject syn-000012 syn-000040 --reason artefact --note "stripes"
    python -m synth_core review demo-set --keep syn-000013
    python -m synth_core review demo-set --tag syn-000013 bright-rim --tag syn-000040 bright-rim
    python -m synth_core review demo-set --list

One action per call. Unknown sets, sample ids, reasons and tags are one ``error:`` line (exit 2),
as everywhere in the CLI. The same :class:`~synth_core.review.setreview.SetReview` serves the page.
"""

from __future__ import annotations

import argparse

from synth_core.review.entry import REASONS
from synth_core.workspace import Workspace


def add_review_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("set_name", metavar="SET", help="synthetic set in workspace/synthetic")
    act = parser.add_mutually_exclusive_group(required=True)
    act.add_argument("--keep", nargs="+", metavar="ID", help="keep these samples (ids as in the catalog: syn-000012)")
    act.add_argument("--reject", nargs="+", metavar="ID", help="reject these samples (needs --reason)")
    act.add_argument("--clear", nargs="+", metavar="ID", help="back to unreviewed")
    act.add_argument("--tag", nargs=2, action="append", metavar=("ID", "TAG"), help="add TAG to sample ID (repeatable)")
    act.add_argument("--untag", nargs=2, action="append", metavar=("ID", "TAG"), help="remove TAG from sample ID (repeatable)")
    act.add_argument("--list", action="store_true", help="print the current decision of every reviewed sample")
    act.add_argument("--history", action="store_true", help="print every line of the review log, oldest first")
    # no argparse choices: an unknown reason is one line like every other error
    parser.add_argument("--reason", default="", metavar="REASON", help=f"why (with --reject): {', '.join(REASONS)}")
    parser.add_argument("--note", default="", metavar="TEXT", help="free text kept with the decision")


def _table(rows: list[list[str]], header: list[str]) -> list[str]:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    return ["  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip() for r in [header, *rows]]


def _plural(n: int) -> str:
    return f"{n} sample" + ("" if n == 1 else "s")


def run_review_command(args: argparse.Namespace, ws: Workspace) -> int:
    from synth_core.errors import ConfigError
    from synth_core.review.entry import validate_tag
    from synth_core.review.analysis import review_counts
    from synth_core.review.setreview import SetReview

    rv = SetReview.open(ws, args.set_name)
    name = rv.set.name
    if (args.reason or "").strip() and not args.reject:
        raise ConfigError("--reason goes with --reject only")
    if args.note.strip() and not (args.keep or args.reject):
        raise ConfigError("--note goes with --keep or --reject only")
    if args.keep:
        done = rv.keep(args.keep, note=args.note)
        print(f"kept {_plural(len(done))} of set {name}: {' '.join(e.sample_id for e in done)}")
    elif args.reject:
        done = rv.reject(args.reject, reason=args.reason, note=args.note)
        print(f"rejected {_plural(len(done))} of set {name} ({done[0].reason}): {' '.join(e.sample_id for e in done)}")
    elif args.clear:
        done = rv.clear(args.clear)
        print(f"cleared {_plural(len(done))} of set {name}: {' '.join(e.sample_id for e in done)}")
    elif args.tag or args.untag:
        pairs, remove = (args.tag, False) if args.tag else (args.untag, True)
        rv.check_ids([sample for sample, _ in pairs])  # every id and tag checked before anything is written
        for _, tag in pairs:
            validate_tag(tag)
        for sample, tag in pairs:
            (rv.untag if remove else rv.tag)([sample], [tag])
            print(f"{'untagged' if remove else 'tagged'} {sample} of set {name}: {tag}")
    elif args.history:
        hist = rv.history()
        for line in _table(hist.astype(str).values.tolist(), list(hist.columns)):
            print(line)
    else:
        table = rv.decisions()
        counts = review_counts(rv.set.catalog)
        if len(table):
            for line in _table(table.astype(str).values.tolist(), ["sample_id", "review", "reason", "tags", "note", "time"]):
                print(line)
        why = ", ".join(f"{k} {v}" for k, v in counts.reasons.items())
        print(f"set {name}: {_plural(counts.total)}; {counts.kept} kept, {counts.rejected} rejected"
              + (f" ({why})" if why else "") + f", {counts.unreviewed} not reviewed")
    return 0
