"""How a run, a synthetic set or a lesion label set is tied to the dataset it was made from.

Everything made from a dataset records two things of it (dataset format 2, :mod:`synth_core.dataset`):

* ``fingerprint`` — the dataset's stable identity (spec + case ids + splits). It is the link: the
  dataset is found, and accepted, by it. A different spec, other cases or splits, other modalities
  or another size give another fingerprint and are refused with one line.
* a content record — the exact byte hash of the arrays and the per-case summary
  (:meth:`Dataset.content_record`; checkpoints: ``meta["dataset_content"]``; sets and label sets:
  ``meta["dataset_content"]`` with ``dataset_sha256`` and ``summary``). Under the same fingerprint
  :func:`synth_core.dataset.compare_content` decides: ``identical`` and ``unknown`` pass silently,
  ``close`` (the dataset was built on another CPU, last bits differ) passes with one warning
  (:func:`synth_core.errors.warn_user`), ``different`` (other data under the same cases) is refused.

Records from before format 2 have no content record, and their ``fingerprint`` is the old byte
hash: they are accepted when it equals the dataset's ``content_sha256`` (the very same bytes) and
refused otherwise with a line saying the run or set predates format 2.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from synth_core.dataset import ContentMatch, Dataset, compare_content
from synth_core.errors import ConfigError, NotFoundError, SynthCoreError, warn_user
from synth_core.workspace import Workspace


def set_content(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The content record ``{"sha256", "summary"}`` a set's or label set's ``meta`` holds (None before format 2)."""
    dc = meta.get("dataset_content")
    if not isinstance(dc, dict) or not dc.get("dataset_sha256"):
        return None
    return {"sha256": dc["dataset_sha256"], "summary": dc.get("summary")}


def run_content(meta: dict[str, Any]) -> dict[str, Any] | None:
    """The content record a checkpoint's ``meta`` holds (None before format 2)."""
    dc = meta.get("dataset_content")
    return dc if isinstance(dc, dict) and dc.get("sha256") else None


def matches(ds: Dataset, fingerprint: str, content: dict[str, Any] | None) -> bool:
    """Whether a record names ``ds`` (the identity only; :func:`check_link` also compares content)."""
    return fingerprint == ds.fingerprint or (not content and fingerprint == ds.content_sha256)


def check_link(ds: Dataset, *, fingerprint: str, content: dict[str, Any] | None, what: str,
               verb: str = "was trained on", warn: bool = True, dataset: str = "") -> ContentMatch:
    """Accept ``what`` (e.g. ``"run 'demo-multimodal'"``), which recorded ``fingerprint`` and
    ``content``, as made from ``ds``, or raise :class:`ConfigError` with one line. A ``close``
    match warns once (:func:`warn_user`) unless ``warn=False``; the match is returned for the
    provenance. ``dataset``: the name the record gives its dataset (for the messages)."""
    fingerprint = str(fingerprint)
    why = "other cases, splits, modalities, size or settings"
    neg = f"not {verb.split()[-1]}"  # "not on" / "not from"
    if not content:
        if fingerprint == ds.content_sha256:
            return ContentMatch("identical", 0.0, f"same bytes (sha256 {fingerprint[:12]}, recorded before dataset "
                                                  "format 2)")
        if fingerprint == ds.fingerprint:
            return compare_content(ds, None)  # unknown: nothing recorded to compare with
        if dataset and dataset != ds.name:
            raise ConfigError(f"{what} {verb} dataset {dataset!r} (fingerprint {fingerprint[:12]}), {neg} "
                              f"{ds.name!r} (fingerprint {ds.fingerprint[:12]})")
        raise ConfigError(f"{what} predates dataset format 2: it names its dataset by the exact bytes "
                          f"({fingerprint[:12]}), which dataset {ds.name!r} on this machine does not have "
                          f"({ds.content_sha256[:12]}); retrain it on {ds.name!r}, or use it where its dataset "
                          "was built")
    if fingerprint != ds.fingerprint:
        if dataset == ds.name:
            raise ConfigError(f"{what} {verb} another dataset called {ds.name!r} (fingerprint {fingerprint[:12]}) "
                              f"than the one here (fingerprint {ds.fingerprint[:12]}): {why}")
        called = f"dataset {dataset!r}" if dataset else "another dataset"
        raise ConfigError(f"{what} {verb} {called} (fingerprint {fingerprint[:12]}), {neg} {ds.name!r} "
                          f"(fingerprint {ds.fingerprint[:12]}): {why}")
    m = compare_content(ds, content)
    if m.kind == "different":
        raise ConfigError(f"{what} {verb} other data than dataset {ds.name!r} holds under the same cases "
                          f"({m.detail}); rebuild {ds.name!r} as it was, or retrain")
    if m.kind == "close" and warn:
        warn_user(f"{what} {verb} dataset {ds.name!r} as built on another machine: {m.detail}; going on",
                  key=("dataset content", ds.content_sha256, content.get("sha256")))
    return m


def same_dataset(fp_a: str, content_a: dict[str, Any] | None, fp_b: str, content_b: dict[str, Any] | None) -> bool:
    """Whether two records (say a multimodal run and its structure run) name the same dataset."""
    if fp_a == fp_b:
        return True
    if not content_a and content_b:
        return fp_a == content_b.get("sha256")
    if content_a and not content_b:
        return fp_b == content_a.get("sha256")
    return False


def find_dataset(ws: Workspace, *, fingerprint: str, content: dict[str, Any] | None, what: str,
                 verb: str = "was trained on", name: str = "",
                 opener: Callable[[str], Dataset] | None = None) -> tuple[Dataset, ContentMatch]:
    """The workspace's dataset a record names, checked with :func:`check_link`. ``name`` (the
    dataset's name when it was recorded) is tried first, and gives the precise refusal when no
    dataset matches; ``opener(name)`` opens a dataset (default :class:`Dataset`)."""
    open_ = opener or (lambda n: Dataset(ws.path("datasets", n)))
    names = ws.list("datasets")
    order = ([name] if name in names else []) + [n for n in names if n != name]
    refused: list[ConfigError] = []
    for n in order:
        try:
            ds = open_(n)
        except (SynthCoreError, OSError, ValueError):  # an unreadable dataset is not the one we look for
            continue
        if matches(ds, fingerprint, content):
            try:
                return ds, check_link(ds, fingerprint=fingerprint, content=content, what=what, verb=verb,
                                      dataset=name)
            except ConfigError as err:  # a copy under the same identity may still hold the right content
                refused.append(err)
    if refused:
        raise refused[0]
    if name in names:  # say why the dataset of that name is not it
        check_link(open_(name), fingerprint=fingerprint, content=content, what=what, verb=verb, dataset=name)
    called = f"{name!r}, " if name else ""
    raise NotFoundError(f"the dataset {what} {verb} ({called}fingerprint {str(fingerprint)[:12]}) is not in "
                        f"{ws.datasets}")


def provenance(ds: Dataset, match: ContentMatch, trained_on: dict[str, Any] | None) -> dict[str, Any]:
    """What a set records of its dataset: how it compared with the content the run was trained on
    (``match``, ``max_abs_diff``, ``detail``), both byte hashes and the dataset's per-case summary
    (which later links of the set compare with)."""
    mad = float(match.max_abs_diff)
    return {"match": match.kind, "max_abs_diff": mad if math.isfinite(mad) else None, "detail": match.detail,
            "dataset_sha256": ds.content_sha256, "trained_on_sha256": (trained_on or {}).get("sha256"),
            "summary": ds.info.get("content_summary")}


def check_set(ds: Dataset, meta: dict[str, Any], what: str) -> ContentMatch:
    """:func:`check_link` for a synthetic set or label set (its ``meta``) and ``ds``."""
    return check_link(ds, fingerprint=str(meta.get("fingerprint", "")), content=set_content(meta), what=what,
                      verb="was made from", dataset=str(meta.get("dataset", "")))
