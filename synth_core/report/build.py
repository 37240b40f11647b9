"""One self-contained HTML report for clinicians: what the synthetic images are, what was found
(in sentences, bad results included), then the evidence — sample pictures, quality, realism
(classifier two-sample test, precision/recall/density/coverage, each beside a real-vs-real
control), lesion validity, ablation, usability, reader studies, training curves — and the details.

Self-contained: CSS inline, pictures as base64 PNG, charts as inline SVG, no scripts and no
URLs, so the file opens offline. Every section that has nothing to show says which command would
fill it. No patient identifiers: see :mod:`synth_core.report.gather`.

Pictures of real scans (test-split slices, and the samples of pix2pix sets, which are real training
slices with a painted lesion) are included only when asked for (``real_images=True``, ``report
--real-images``, the Quality page's checkbox): the default report pictures synthetic samples only
and says so visibly (a pix2pix set: a note that it is not pictured and why), so it can be passed
on without thinking about patient images.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth_core import __version__
from synth_core.atomic import atomic_write_text
from synth_core.errors import ConfigError
from synth_core.evaluation.table import C2ST_FEW_SAMPLES, better, few_c2st_samples, stale_notes
from synth_core.report import gather
from synth_core.experiments.results import GENERATOR_LABELS
from synth_core.report.charts import line_chart
from synth_core.workspace import Workspace

#: quality-table order (lesion validity has its own section)
QUALITY_ORDER = ("frd", "fid", "kid", "diversity_ms_ssim", "diversity_ms_ssim_real", "texture", "texture_real", "grain",
                 "grain_real", "rec_psnr", "rec_ssim", "rec_ms_ssim", "rec_mse", "fill_psnr", "fill_ssim",
                 "fill_ms_ssim", "fill_mse")
VALIDITY = ("seg_dice_real", "seg_dice_synthetic", "seg_mse_real", "seg_mse_synthetic")
#: thesis Table 4 (BraTS): Dice of the segmenter on real vs synthetic test data
THESIS_DICE = (0.915, 0.838)

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;max-width:1100px;margin:2em auto;
padding:0 1em;color:#1d2733;line-height:1.45}
h1{font-size:1.7em;margin-bottom:.2em}h2{border-bottom:2px solid #d8dee6;padding-bottom:.2em;margin-top:2em}
h3{margin-top:1.4em}.meta{color:#5b6776;font-size:.9em}
.found li{margin:.35em 0}.bad{color:#a03020}.good{color:#2d7a3a}
table{border-collapse:collapse;margin:.6em 0;font-size:.88em}th,td{border:1px solid #d8dee6;padding:.25em .5em;
text-align:left;vertical-align:top}th{background:#f2f5f8}td.n{text-align:right;font-variant-numeric:tabular-nums}
td.best{font-weight:bold}.missing{background:#fff7e0;border-left:4px solid #e0b000;padding:.5em .8em}.note{background:#e8f4ff;border-left:4px solid #2a7ab8;padding:.5em .8em}
code{background:#f2f5f8;padding:0 .25em;border-radius:3px;font-size:.92em}
figure{margin:1em 0}figcaption{color:#5b6776;font-size:.88em;margin-top:.3em}img{max-width:100%;height:auto;
image-rendering:pixelated;border:1px solid #d8dee6}.charts{display:flex;flex-wrap:wrap;gap:.6em}
svg.chart{border:1px solid #d8dee6;background:#fff}svg .ct{font-size:11px;font-weight:600;fill:#1d2733}
svg .cl{font-size:9px;fill:#5b6776}svg .cf{fill:#fafbfc;stroke:#e4e8ee}.chip{display:inline-block;width:.9em;
height:.9em;border:1px solid #888;vertical-align:middle;margin:0 .25em 0 .8em}details{margin:.6em 0}
summary{cursor:pointer;color:#2f6db5}.nw{white-space:nowrap}dl dt{font-weight:600;margin-top:.5em}dl dd{margin-left:1.2em}
@media print{details{display:block}summary{display:none}}
"""


# ---- small HTML helpers -------------------------------------------------------------------------
def esc(x: Any) -> str:
    return html.escape(str(x), quote=True)


def num(v: Any, digits: int = 3) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    if not math.isfinite(f):
        return "–"
    if f != 0 and abs(f) < 10 ** -digits:
        return f"{f:.1e}"
    return f"{f:.{digits}f}"


def pct(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return "–"
    return "–" if not math.isfinite(f) else f"{f:.0%}"


def table(head: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """A table; ``head`` is plain text, each cell is HTML (already escaped)."""
    h = "".join(f"<th>{esc(x)}</th>" for x in head)
    body = "".join("<tr>" + "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def cell(v: Any, digits: int = 3, best: bool = False) -> str:
    return f'<td class="n{" best" if best else ""}">{num(v, digits)}</td>'


def spread_cell(v: Any, sd: Any, digits: int = 3) -> str:
    """A number with its spread, ``0.912 ± 0.008`` (the number alone when the spread is missing)."""
    spread = num(sd, digits)
    return f'<td class="n">{num(v, digits)}{"" if spread == "–" else " ± " + spread}</td>'


def missing(what: str, command: str | None = None) -> str:
    run = f" To fill it, run <code>{esc(command)}</code>." if command else ""
    return f'<p class="missing">{esc(what)}{run}</p>'


def image(png: bytes, alt: str) -> str:
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">'


def _mean(values: Any) -> float:
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else math.nan


def _first_sentence(text: str) -> str:
    return text.split(". ")[0].rstrip(".") + "." if text else ""


# ---- the report -----------------------------------------------------------------------------------
class _Report:
    """Collects the sections and the findings while reading the workspace once."""

    def __init__(self, ws: Workspace, sets: list[str] | None, dataset: str | None, samples: int, seed: int,
                 real_images: bool = False):
        self.ws, self.samples, self.seed = ws, samples, seed
        self.real_images = real_images
        self.sel = gather.select(ws, sets, dataset)
        self.set_names = [s.name for s in self.sel.sets]
        self.explicit_sets = list(sets) if sets else None
        self.findings: list[str] = []
        self.help = gather.metric_help()
        self.ev = gather.evaluations(ws, self.set_names) if self.set_names else pd.DataFrame()
        self.sections: list[tuple[str, str, str]] = []  # (anchor, title, html)

    def data_name(self) -> str:
        return ", ".join(self.sel.datasets) or "(none)"

    # ---- sections ------------------------------------------------------------------------------
    def images(self) -> str:
        out = []
        if not self.sel.datasets:
            return missing("There is no dataset in the workspace yet.", "python -m synth_core demo-data")
        for ds in self.sel.datasets:
            facts = gather.dataset_facts(self.ws, ds)
            mods = facts.get("modalities") or []
            legend = "".join(f'<span class="nw"><span class="chip" style="background:rgb{c}"></span>{esc(n)}</span> '
                             for n, c in gather.label_legend(self.ws, ds))
            rows = ", ".join(mods) + (f", then {mods[0]} with the lesion label" if mods else "")
            out.append(f"<h3>Dataset {esc(ds)}</h3>")
            png, split = (gather.real_sheet(self.ws, ds, self.samples, self.seed) if self.real_images
                          else (None, ""))
            if not self.real_images:
                out.append(f'<p class="note" id="no-real-images"><b>No real scans are pictured in this report</b> '
                           f"(synthetic samples only), so it holds no patient images. To show real test-split slices "
                           f"beside them, build it with <code>python -m synth_core report --real-images ...</code> or "
                           f"tick \"Include real scans\" on the Quality page, and share that file only where patient "
                           f"images may go.</p>")
            elif png is None:
                out.append(missing(f"No real images to show: {split}."))
            else:
                out.append(f'<figure>{image(png, f"real {split} slices of {ds}")}<figcaption>Real scans: '
                           f"{self.samples} slices from the {esc(split)} split (never used for training), slices with "
                           f"a lesion first. Rows: {esc(rows)}. Labels: {legend or 'none'}. Cyan line: organ outline."
                           "</figcaption></figure>")
            for s in [s for s in self.sel.sets if s.dataset == ds]:
                if s.on_real_slices and not self.real_images:
                    out.append(f'<p class="note painted-not-pictured"><b>Set {esc(s.name)} is not pictured</b>: its '
                               f"samples are real training slices with one painted lesion each (pix2pix inpainting), "
                               f"so outside the lesion they are patient images. Build the report with "
                               f"<code>--real-images</code> (or tick \"Include real scans\") to show them.</p>")
                    continue
                png, rejected = gather.set_sheet(self.ws, s.name, self.samples, self.seed)
                if png is None:
                    out.append(missing(f"All {rejected} samples of set {s.name} were rejected in review; none is "
                                       "pictured." if rejected else f"Set {s.name} could not be read."))
                    continue
                left_out = (f" {rejected} sample{'s' if rejected != 1 else ''} rejected in review (the Review page) "
                            f"{'are' if rejected != 1 else 'is'} left out." if rejected else "")
                what = ("Set {} of real training slices with a painted lesion (pix2pix inpainting; patient images "
                        "outside the lesion)" if s.on_real_slices else "Synthetic set {}").format(f"<b>{esc(s.name)}</b>")
                alt = f"{'painted real slices' if s.on_real_slices else 'synthetic samples'} of {s.name}"
                out.append(f'<figure>{image(png, alt)}<figcaption>{what} '
                           f"({s.n} samples): {min(self.samples, s.n - rejected)} samples, those "
                           f"with a lesion first.{left_out} "
                           f"Same rows and colours; the lesion label is the one the generator was asked to draw, the "
                           f"organ outline the {'source slice' if s.on_real_slices else 'generated'} organ mask."
                           "</figcaption></figure>")
            if not any(s.dataset == ds for s in self.sel.sets):
                out.append(missing(f"No synthetic set of {ds} yet.",
                                   f"python -m synth_core synthesize --dataset {ds} --n 200 --name {ds}-set"))
        out.append('<p class="meta">Display: stored intensities 0–1 shown from black to white, the same rule for real '
                   "and synthetic images (CT was windowed and MR scaled per volume when the data were imported).</p>")
        return "".join(out)

    def quality(self) -> str:
        if not self.set_names:
            return missing("No synthetic set to assess.", "python -m synth_core synthesize --n 200 --name SET")
        ev = self.ev
        out = []
        unevaluated = [s for s in self.sel.sets if ev.empty or s.name not in set(ev["set"])]
        for s in unevaluated:
            out.append(missing(f"Set {s.name} has not been evaluated.",
                               f"python -m synth_core evaluate --set {s.name} --real {s.dataset}"))
        stale = stale_notes(ev, {s.name: s.n for s in self.sel.sets}) if not ev.empty else {}
        for s in self.sel.sets:  # samples were added after the evaluation: its values describe the smaller set
            if s.name in stale:
                cmd = f"python -m synth_core evaluate --set {s.name} --real {s.dataset}"
                out.append(f'<p class="missing">{esc(stale[s.name])}: <code>{esc(cmd)}</code>.</p>')
        q = ev[ev["metric"].isin(QUALITY_ORDER)] if not ev.empty else ev
        if q.empty:
            return "".join(out)
        names = [s for s in self.set_names if s in set(q["set"])]
        groups = q.groupby(["metric", "region", "extractor"], sort=False)
        keys = sorted(groups.groups, key=lambda k: (QUALITY_ORDER.index(k[0]), k[1], k[2]))
        rows, skipped = [], {}
        for metric, region, extractor in keys:
            g = groups.get_group((metric, region, extractor))
            vals = [_mean(g.loc[g["set"] == n, "value"]) for n in names]
            if not any(math.isfinite(v) for v in vals):  # skipped everywhere: say why once, below the table
                notes = [x for x in g["note"].astype(str) if x and x != "nan"]
                skipped.setdefault(gather.scrub(notes[0] if notes else "not computed", self.ws), []).append(metric)
                continue
            label = f"{metric}" + (" (lesion region)" if region == "lesion" else "")
            rows.append([f"<b>{esc(label)}</b><br><span class='meta'>{esc(extractor)}</span>",
                         esc(_first_sentence(self.help.get(metric, ""))), esc(better(metric)),
                         *[cell(v, 4) for v in vals]])
        out.append("<p>Each value is the mean over the modalities; the per-modality values, the sample counts and the "
                   "notes are in the details below. Values in different feature spaces (the grey line under each "
                   "metric) cannot be compared.</p>")
        if rows:
            out.append(table(["Metric", "What it measures", "Better", *names], rows))
        for why, metrics in skipped.items():
            out.append(f"<p class='meta'>Not computed: {esc(', '.join(dict.fromkeys(metrics)))} ({esc(why)}).</p>")
        for n in names:
            sub = ev[ev["set"] == n].sort_values(["metric", "region", "modality"])
            det = [[esc(r.metric), esc(r.region), esc(r.modality), cell(r.value, 4), f'<td class="n">{int(r.n)}</td>',
                    esc(r.extractor), esc(gather.scrub(r.note, self.ws))] for r in sub.itertuples()]
            out.append(f"<details><summary>All values of set {esc(n)}</summary>"
                       + table(["metric", "region", "modality", "value", "n", "extractor", "note"], det) + "</details>")
        self._quality_findings(q, names)
        return "".join(out)

    def _quality_findings(self, q: pd.DataFrame, names: list[str]) -> None:
        for n in names:
            sub = q[q["set"] == n]
            syn = _mean(sub.loc[sub["metric"] == "diversity_ms_ssim", "value"])
            real = _mean(sub.loc[sub["metric"] == "diversity_ms_ssim_real", "value"])
            if math.isfinite(syn) and math.isfinite(real):
                if syn > real + 0.05:
                    self.findings.append(
                        f'<span class="bad">Set <b>{esc(n)}</b> is less varied than the real scans</span>: random pairs '
                        f"of synthetic images are more alike (MS-SSIM {num(syn)}) than pairs of real images "
                        f"({num(real)}; 1 = identical). The generator tends to repeat itself.")
                elif syn < real - 0.05:
                    self.findings.append(
                        f"Set <b>{esc(n)}</b> is more varied than the real scans (MS-SSIM {num(syn)} vs {num(real)} for "
                        "real pairs; lower = more different). Some of that variety may be noise or artefacts; look "
                        "at the pictures.")
                else:
                    self.findings.append(f"Set <b>{esc(n)}</b> is about as varied as the real scans (pairwise MS-SSIM "
                                         f"{num(syn)} vs {num(real)} for real pairs).")
            self._texture_finding(n, sub)
        for extractor, g in q[q["metric"] == "fid"].groupby("extractor"):
            vals = {n: _mean(g.loc[g["set"] == n, "value"]) for n in names}
            vals = {n: v for n, v in vals.items() if math.isfinite(v)}
            if len(vals) >= 2:
                best = min(vals, key=vals.get)
                self.findings.append(
                    f"Closest to the real image statistics by FID ({esc(extractor)}; lower is better): set "
                    f"<b>{esc(best)}</b> ({num(vals[best], 2)}; the others: "
                    + ", ".join(f"{esc(n)} {num(v, 2)}" for n, v in vals.items() if n != best) + ").")

    #: texture below this fraction of real's reads as smooth; grain above this multiple of real's, as lines
    TEXTURE_SMOOTH, GRAIN_LINES = 0.5, 1.25

    def _texture_finding(self, n: str, sub: pd.DataFrame) -> None:
        """One finding on the amount and kind of fine detail of set ``n`` (means over its modalities)."""
        val = {k: _mean(sub.loc[sub["metric"] == k, "value"]) for k in ("texture", "texture_real", "grain", "grain_real")}
        if not all(math.isfinite(v) for v in val.values()) or val["texture_real"] <= 0 or val["grain_real"] <= 0:
            return
        tex, grain = val["texture"] / val["texture_real"], val["grain"] / val["grain_real"]
        grains = f"grain {num(val['grain'], 2)} vs {num(val['grain_real'], 2)}; 0 = noise-like, 1 = lines"
        if tex < self.TEXTURE_SMOOTH:
            self.findings.append(
                f'<span class="bad">Set <b>{esc(n)}</b> is smoother than the real scans</span>: it carries '
                f"{num(tex, 2)} × their fine detail (acquisition noise, fine tissue; {grains}).")
        elif grain > self.GRAIN_LINES:
            self.findings.append(
                f'<span class="bad">Set <b>{esc(n)}</b> has the wrong kind of fine detail</span>: about as much as '
                f"real scans ({num(tex, 2)} ×), but it runs in lines far more ({grains}): sharp edges or a streaky "
                "ripple where scans show noise-like tissue. Look at the pictures before using them.")
        else:
            self.findings.append(f"Set <b>{esc(n)}</b> has fine detail like real scans: {num(tex, 2)} × their amount, "
                                 f"{grains}.")

    def realism(self) -> str:
        from synth_core.evaluation.table import realism_table

        t = realism_table(self.ev) if not self.ev.empty else realism_table(pd.DataFrame())
        if t.empty:
            cmd = (f"python -m synth_core evaluate --set {self.set_names[0]} --real {self.sel.sets[0].dataset}"
                   if self.set_names else "python -m synth_core evaluate --set SET --real DATASET")
            return missing("Realism has not been measured (the classifier test comes with every evaluation).", cmd)
        out = ["<p>A classifier (logistic regression) is trained to tell real slices of patients the models never "
               "saw from synthetic images, and tested on images it did not train on, never splitting one patient "
               "between training and testing. Its ROC AUC is the <b>C2ST AUC</b>: 0.5 = it cannot tell them apart, "
               "1.0 = it always can. <b>Precision</b> is the share of synthetic images that lie among real ones, "
               "<b>recall</b> and <b>coverage</b> how much of the real variety the synthetic images reach, "
               "<b>density</b> about 1 when they are spread like real images. Each is shown beside the same measure "
               "between two groups of real patients (training vs held-out) — the value real data reach with these "
               "sample sizes. View <i>handmade</i>: downsampled pixels, intensity and edge-strength histograms; the "
               "other view is the FID feature network. <i>structure</i>: the generated structure maps.</p>"]
        for n in [s for s in self.set_names if s in set(t["set"])]:
            sub = t[t["set"] == n]
            rows = [[esc(r.modality), esc(r.view), esc(r.measure), spread_cell(r[4], r[5]), spread_cell(r[6], r[7]),
                     f'<td class="n">{"–" if pd.isna(r.n) else int(r.n)}</td>'] for r in sub.itertuples(index=False)]
            out.append(f"<h3>Set {esc(n)}</h3>" + table(["modality", "view", "measure", "synthetic vs real",
                                                         "real vs real (control)", "synthetic samples"], rows))
            if (sub["measure"] == "c2st_auc").any():
                out.append("<p>C2ST AUCs are the mean over five ways of dealing the samples into the classifier's "
                           "folds, ± their standard deviation.</p>")
            few = few_c2st_samples(sub)
            if few:
                out.append(f'<p class="missing">Set {esc(n)}: the C2ST rests on fewer than {C2ST_FEW_SAMPLES} '
                           f"synthetic samples ({few[n]}), so its AUC is a rough figure; another draw of "
                           "samples can differ by a few hundredths. Compare models on at least 100.</p>")
            self._realism_findings(n, sub)
        return "".join(out)

    def _realism_findings(self, name: str, sub: pd.DataFrame) -> None:
        c = sub[(sub["measure"] == "c2st_auc") & (sub["view"] == "handmade")]
        for what, part in (("images", c[c["modality"] != "structure"]), ("structure maps", c[c["modality"] == "structure"])):
            auc, ctl = _mean(part["synthetic vs real"]), _mean(part["real vs real (control)"])
            if not math.isfinite(auc):
                continue
            gap = auc - (ctl if math.isfinite(ctl) else 0.5)
            if gap <= 0.05:
                verdict = '<span class="good">a computer can hardly tell them from real scans</span>'
            elif auc >= 0.9:
                verdict = '<span class="bad">a computer tells them from real scans almost every time</span>'
            else:
                verdict = "a computer tells them from real scans more often than chance"
            self.findings.append(
                f"Realism of set <b>{esc(name)}</b> ({what}): a classifier separated them from real slices of unseen "
                f"patients with an AUC of {num(auc, 2)} (0.5 = cannot tell, 1 = always; between two groups of real "
                f"patients: {num(ctl, 2)}) — {verdict}.")

    def validity(self) -> str:
        ev = self.ev
        v = ev[ev["metric"].isin(VALIDITY)] if not ev.empty else ev
        if v.empty or not v["value"].notna().any():
            cmd = (f"python -m synth_core evaluate --set {self.set_names[0]} --real {self.sel.sets[0].dataset}"
                   if self.set_names else "python -m synth_core evaluate --set SET --real DATASET")
            return missing("Lesion validity has not been measured (it needs an evaluation with a trained segmenter "
                           "run).", cmd)
        out = [f"<p>A lesion-segmentation network trained on real scans only looks at each image. On real test scans "
               f"its Dice overlap with the true label is the reference; on synthetic images it is compared with the "
               f"label the generator was asked to draw. Close values mean the synthetic lesions look like real ones "
               f"to the network (thesis Table 4: {THESIS_DICE[0]} real vs {THESIS_DICE[1]} synthetic). Dice: 1 = "
               "perfect overlap, 0 = none; MSE: error of the lesion probability, lower is better.</p>"]
        for n in [s for s in self.set_names if s in set(v["set"])]:
            sub = v[v["set"] == n]
            rows = []
            for m in sub["modality"].drop_duplicates():
                g = (sub[sub["modality"] == m].sort_values("created")  # newest row per metric (two segmenters)
                     .drop_duplicates("metric", keep="last").set_index("metric"))
                get = lambda k: g["value"].get(k, math.nan)  # noqa: E731
                cnt = lambda k: int(g["n"].get(k, 0))  # noqa: E731
                rows.append([esc(m), cell(get("seg_dice_real")), cell(get("seg_dice_synthetic")),
                             cell(get("seg_mse_real"), 4), cell(get("seg_mse_synthetic"), 4),
                             f'<td class="n">{cnt("seg_dice_real")} / {cnt("seg_dice_synthetic")}</td>'])
            out.append(f"<h3>Set {esc(n)}</h3>" + table(["modality", "Dice real", "Dice synthetic", "MSE real",
                                                         "MSE synthetic", "slices with a lesion (real / synthetic)"],
                                                        rows))
            real = _mean(sub.loc[sub["metric"] == "seg_dice_real", "value"])
            syn = _mean(sub.loc[sub["metric"] == "seg_dice_synthetic", "value"])
            if math.isfinite(real) and math.isfinite(syn):
                ratio = syn / real if real > 0 else math.nan
                if math.isfinite(ratio) and ratio >= 0.9:
                    verdict = ('<span class="good">the synthetic lesions are about as recognisable as real '
                               "ones</span>")
                elif math.isfinite(ratio) and ratio >= 0.6:
                    verdict = "the synthetic lesions are recognisable, but less clearly than real ones"
                else:
                    verdict = ('<span class="bad">the synthetic lesions are much harder to recognise than real ones; '
                               "treat their labels with caution</span>")
                self.findings.append(
                    f"Lesions in set <b>{esc(n)}</b>: a segmentation network trained on real scans found them with a "
                    f"Dice overlap of {num(syn, 2)} on average, against {num(real, 2)} on real test scans — {verdict}.")
        return "".join(out)

    def ablation(self) -> str:
        exps = gather.ablations(self.ws, self.sel.datasets)
        ds = self.sel.datasets[0] if self.sel.datasets else "DATASET"
        if not exps:
            return missing("No ablation study yet (thesis Table 1: the generator trained six times, each time with "
                           "one part switched off).", f"python -m training ablation --dataset {ds}")
        from synth_core.experiments.ablation import aggregate_ablation, paired_ablation

        out = ["<p>Each row trains the image generator again with one part switched off (row F: nothing off), makes a "
               "synthetic set from the same random seeds and scores it the same way. Best value per column in bold. "
               "With one training per row, small differences can be chance; with several (the <i>seeds</i> column), "
               "each value is the mean ± standard deviation over the trainings.</p>"]
        cols = [("lesion_dice", "lesion Dice", 3), ("lesion_dice_helper", "lesion Dice (training helper)", 3),
                ("registration_error", "registration error", 4),
                ("registration_error_helper", "registration error (training helper)", 4),
                ("lesion_outside_organ", "lesion outside organ", 3), ("fid", "FID", 2), ("kid", "KID", 4),
                ("frd", "FRD", 2), ("diversity_ms_ssim", "diversity MS-SSIM", 3),
                ("rec_psnr", "reconstruction PSNR (dB)", 2)]
        for name, config, summary in exps:
            c = config.get("config", {})
            agg = aggregate_ablation(summary)
            several = bool((agg["seeds"] > 1).any())
            out.append(f"<h3>Ablation {esc(name)}</h3><p class='meta'>dataset {esc(config.get('dataset'))}; "
                       f"{esc(c.get('pretrain_steps'))} pre-training + {esc(c.get('steps'))} adversarial steps per row; "
                       f"{esc(c.get('n'))} samples per set; {len(agg)} of {len(config.get('rows', []))} rows "
                       "finished" + (f"; {len(summary)} trainings over {summary['seed'].nunique()} seeds" if several
                                     else "") + "</p>")
            if summary.empty:
                out.append(missing("No row has finished yet.", f"python -m training ablation --dataset "
                                                               f"{config.get('dataset')} --name {name}"))
                continue
            info = config.get("columns", {})
            present = [(k, lab, d) for k, lab, d in cols if k in agg and agg[k].notna().any()]
            best = {}
            for k, _, _ in present:
                vals = agg[k].astype(float)
                direction = info.get(k, {}).get("better", "")
                if direction in ("higher", "lower") and vals.notna().any():
                    best[k] = vals.max() if direction == "higher" else vals.min()
            arrow = {"higher": " ↑", "lower": " ↓"}
            head = ["row", "switched off"] + (["seeds"] if several else []) + [
                lab + arrow.get(info.get(k, {}).get("better", ""), "") for k, lab, _ in present]

            def value(r: pd.Series, k: str, d: int) -> str:
                is_best = k in best and math.isfinite(float(r[k])) and float(r[k]) == best[k]
                sd = float(r[f"{k}_sd"])
                if not several or not math.isfinite(sd):
                    return cell(r[k], d, best=is_best)
                return f'<td class="n{" best" if is_best else ""}">{num(r[k], d)} ± {num(sd, d)}</td>'

            if set(agg["scored_by"]) - {"judge"}:
                out.append("<p>Lesion Dice and registration error of this experiment were scored by the training "
                           "helpers the rows trained against (circular): it predates independent judges.</p>")
            else:
                out.append("<p>Lesion Dice and registration error are scored by judge networks trained separately "
                           "(runs " + esc(", ".join(j.get("run_id", "") for j in config.get("judges", {}).values()))
                           + "); the '(training helper)' columns repeat them as scored by the networks the rows "
                             "trained against.</p>")
            rows = [[f"<b>{esc(r['row'])}</b>", esc(r["switched_off"])] + ([str(int(r["seeds"]))] if several else [])
                    + [value(r, k, d) for k, _, d in present] for _, r in agg.iterrows()]
            out.append(table(head, rows))
            out.append("<details><summary>What the columns mean</summary><dl>"
                       + "".join(f"<dt>{esc(lab)}</dt><dd>{esc(info.get(k, {}).get('help', ''))}</dd>"
                                 for k, lab, _ in present) + "</dl></details>")
            self._ablation_findings(name, agg, paired_ablation(summary))
        return "".join(out)

    def _ablation_findings(self, name: str, summary: pd.DataFrame, paired: pd.DataFrame) -> None:
        """Plain-words comparison of each row with the full model; ``summary`` is the per-row mean
        (and ``*_sd``, ``seeds``) of :func:`~synth_core.experiments.ablation.aggregate_ablation`,
        ``paired`` the tests of :func:`~synth_core.experiments.ablation.paired_ablation`. With several
        seeds a change counts as larger than the spread when its paired 95 % interval excludes 0 (the
        rule of the Quality page and the ablation table); rows with fewer than 2 seeds paired with F
        are said to be untested."""
        if "F" not in set(summary["row"]):
            self.findings.append(f"Ablation <b>{esc(name)}</b>: the full model (row F) has not finished yet, so the "
                                 "rows cannot be compared with it.")
            return
        full = summary[summary["row"] == "F"].iloc[0]
        several = bool((summary["seeds"] > 1).any())
        tests = {(str(t["row"]), str(t["metric"])): t for _, t in paired.iterrows()}
        clear, unclear = [], []  # with several seeds: paired difference beyond the spread over seeds, or not
        worse_any = False
        for key, label, lower, d in (("lesion_dice", "lesion Dice", False, 3),
                                     ("registration_error", "registration error", True, 4),
                                     ("lesion_outside_organ", "the share of lesion pixels outside the organ", True, 3),
                                     ("diversity_ms_ssim", "the similarity between samples (MS-SSIM; lower = more "
                                                           "varied)", True, 3)):
            key, label = _as_scored(summary, key, label)
            if key not in full:
                continue
            base = float(full[key])
            if not math.isfinite(base):
                continue
            for _, r in summary[summary["row"] != "F"].iterrows():
                v = float(r[key])
                if not math.isfinite(v) or abs(v - base) < 1e-12:
                    continue
                worse = (v > base) if lower else (v < base)
                what = (f"switching off the {esc(r['switched_off'].split(' (')[0])} (row {esc(r['row'])}) "
                        f"{'worsened' if worse else 'improved'} {label} from ")
                if not several:
                    worse_any |= worse
                    clear.append(what + f"{num(base, d)} to {num(v, d)}")
                    continue
                what += (f"{num(base, d)} ± {num(float(full[f'{key}_sd']), d)} to {num(v, d)} ± "
                         f"{num(float(r[f'{key}_sd']), d)}")
                t = tests.get((str(r["row"]), key))
                if t is None:
                    unclear.append(what + " (not tested: fewer than 2 seeds paired with F)")
                elif bool(t["exceeds_spread"]):
                    worse_any |= worse
                    clear.append(what + f" (paired difference {float(t['mean_diff']):+.3g}, 95 % interval "
                                        f"{float(t['ci_low']):+.3g} to {float(t['ci_high']):+.3g}, "
                                        f"{int(t['n_pairs'])} seeds)")
                else:
                    unclear.append(what)
        if not clear and not unclear:
            return
        extra = "" if worse_any else (' <span class="bad">No switch made things clearly worse: at this training '
                                      "length the parts of the method did not show their value.</span>")
        if not several:
            self.findings.append(f"Ablation <b>{esc(name)}</b> (one training per row): " + "; ".join(clear) + "."
                                 + extra)
            return
        n = int(summary["seeds"].max())
        text = f"Ablation <b>{esc(name)}</b> (mean ± sd over {n} trainings per row, each row paired seed by seed with F). "
        text += ("Larger than the spread over seeds: " + "; ".join(clear) + ". ") if clear else \
            "No change was larger than the spread over seeds. "
        if unclear:
            text += "Within the spread (possibly chance): " + "; ".join(unclear) + ". "
        if paired is not None:
            from synth_core.experiments.conclusions import chance_words

            text += " ".join(esc(s) for s in chance_words(paired))  # the Quality page's sentence
        self.findings.append(text.rstrip() + extra)

    def usability(self) -> str:
        exps = gather.usability(self.ws, self.sel.datasets, self.explicit_sets)
        if not exps:
            s = self.sel.sets[0] if self.sel.sets else None
            cmd = (f"python -m training usability --preset usability-demo --dataset {s.dataset} --set {s.name}" if s
                   else "python -m training usability --preset usability-demo --dataset DATASET --set SET")
            return missing("No usability experiment yet (thesis Table 5: does adding synthetic images help train a "
                           "lesion-segmentation network that is then tested on real scans only?).", cmd)
        out = ["<p>A lesion-segmentation network is trained from scratch on each mix of real and synthetic training "
               "images, under the same stopping rule for every row, then tested on real test scans only. Generator: "
               "“this fraction only” — the synthetic images come from a generator trained on the row's real images "
               "alone, so nothing of the other training scans reaches the row; “all train (oracle)” — from a "
               "generator trained on all training scans (the thesis's setting, an upper bound below 100 % real). "
               "Values: mean ± standard deviation over repeated trainings (seeds). Δ Dice: change against training "
               "on the same real images alone, paired seed by seed, with its 95 % confidence interval; ◆ marks a "
               "change the interval says is larger than the seed-to-seed spread (paired t-test, p < 0.05).</p>"]
        for name, config, summary, per_seed in exps:
            c = config.get("config", {})
            out.append(f"<h3>Usability {esc(name)}</h3><p class='meta'>dataset {esc(config.get('dataset'))}, set "
                       f"{esc(config.get('set'))}; {esc(_stopping(config))}; "
                       f"{esc(config.get('n_test_slices', '?'))} real test slices with a lesion</p>")
            if summary.empty:
                out.append(missing("No configuration has finished yet.",
                                   f"python -m training usability --dataset {config.get('dataset')} --set "
                                   f"{config.get('set')} --name {name}"))
                continue
            base = self._baselines(summary)
            paired = _paired_dice(per_seed)
            rows = []
            for _, r in summary.iterrows():
                b = base.get(float(r["real_fraction"]))
                delta = float(r["dice_mean"]) - b if b is not None and r["mode"] != "real-only" else math.nan
                test = paired.get(_row_key(r))
                rows.append([f"{float(r['real_fraction']) * 100:g}%", f"×{float(r['synthetic_multiplier']):g}",
                             esc(r["mode"]), esc(GENERATOR_LABELS.get(str(r.get("generator", "")), "-")),
                             "yes" if bool(r["augmentation"]) else "no",
                             f'<td class="n">{int(r["n_real"])} / {int(r["n_synthetic"])}</td>',
                             f'<td class="n">{int(r["n_seeds"])}</td>',
                             f'<td class="n">{_pm(r["dice_mean"], r["dice_sd"], 3)}</td>',
                             f'<td class="n">{_delta_cell(delta, test)}</td>',
                             f'<td class="n">{_pm(r["mse_mean"], r["mse_sd"], 4)}</td>',
                             f'<td class="n">{_pm(r["hd95_mean"], r["hd95_sd"], 2)}</td>'])
            out.append(table(["real data", "synthetic", "mode", "generator", "classic augmentation", "images (real / synthetic)",
                              "seeds", "Dice ↑", "Δ Dice", "MSE ↓", "HD95 (px) ↓"], rows))
            self._usability_findings(name, summary, base, paired)
        return "".join(out)

    @staticmethod
    def _baselines(summary: pd.DataFrame) -> dict[float, float]:
        b = summary[(summary["mode"] == "real-only") & (~summary["augmentation"].astype(bool))]
        return {float(r["real_fraction"]): float(r["dice_mean"]) for _, r in b.iterrows()}

    def _usability_findings(self, name: str, summary: pd.DataFrame, base: dict[float, float],
                            paired: dict[tuple, dict] | None = None) -> None:
        mixed = summary[summary["mode"] != "real-only"].copy()
        mixed = mixed[mixed["real_fraction"].astype(float).map(lambda f: f in base)]
        if mixed.empty:
            self.findings.append(f"Usability <b>{esc(name)}</b>: no mix of real and synthetic data has finished next to "
                                 "its real-only baseline yet.")
            return
        mixed["delta"] = [float(r["dice_mean"]) - base[float(r["real_fraction"])] for _, r in mixed.iterrows()]
        best, worst = mixed.loc[mixed["delta"].idxmax()], mixed.loc[mixed["delta"].idxmin()]
        sds = pd.to_numeric(summary["dice_sd"], errors="coerce")
        noise = float(sds[np.isfinite(sds)].mean()) if np.isfinite(sds).any() else math.nan

        def what(r: pd.Series) -> str:
            gen = GENERATOR_LABELS.get(str(r.get("generator", "")), "")
            return (f"{float(r['real_fraction']) * 100:g}% real + ×{float(r['synthetic_multiplier']):g} synthetic "
                    f"({r['mode']}{', generator: ' + gen if gen and gen != '-' else ''})")

        helped = int((mixed["delta"] > 0).sum())
        text = (f"Usability <b>{esc(name)}</b>: adding synthetic images raised the segmenter's Dice in {helped} of "
                f"{len(mixed)} mixes. Largest gain: {esc(what(best))}, {best['delta']:+.3f} "
                f"(from {num(base[float(best['real_fraction'])])} to {num(best['dice_mean'])}). ")
        if worst["delta"] < 0:
            text += f'<span class="bad">Largest loss: {esc(what(worst))}, {worst["delta"]:+.3f}.</span> '
        tested = [(r, (paired or {}).get(_row_key(r))) for _, r in mixed.iterrows()]
        tested = [(r, t) for r, t in tested if t is not None]
        if tested:
            up = [what(r) for r, t in tested if t["exceeds_spread"] and t["mean_diff"] > 0]
            down = [what(r) for r, t in tested if t["exceeds_spread"] and t["mean_diff"] < 0]
            text += (f"Paired seed by seed, {len(up) + len(down)} of {len(tested)} mixes differ from their real-only "
                     "baseline by more than the seed-to-seed spread" + (": higher: " + "; ".join(map(esc, up)) if up
                                                                         else "") +
                     ("; lower: " + "; ".join(map(esc, down)) if down else "") + ". "
                     f"At 5 % each, about {0.05 * len(tested):.1f} of {len(tested)} would be marked by chance alone.")
        elif math.isfinite(noise):
            size = "smaller than" if max(abs(best["delta"]), abs(worst["delta"])) < noise else "larger than"
            text += (f"The typical seed-to-seed spread is ±{noise:.3f}; the largest change is {size} that spread"
                     + (", so these differences may be chance." if size == "smaller than" else "."))
        else:
            text += "With one seed per configuration there is no estimate of chance variation."
        self.findings.append(text)

    def readers(self) -> str:
        studies = gather.reader_studies(self.ws, self.sel.datasets, self.explicit_sets)
        if not studies:
            s = self.sel.sets[0] if self.sel.sets else None
            cmd = (f"python -m synth_core reader-study create STUDY --dataset {s.dataset} --set {s.name} --n-real 20 "
                   f"--n-synthetic 20 --modality {s.modalities[0]}" if s else
                   "python -m synth_core reader-study create STUDY --dataset D --set S --n-real 20 --n-synthetic 20 "
                   "--modality M")
            return missing("No reader study yet (clinicians judge blinded images: real or synthetic?).", cmd)
        out = ["<p>Readers saw real and synthetic images in random order, without knowing which was which, and "
               "answered “real” or “synthetic” with a confidence. Accuracy 50% and AUC 0.5 mean they could not tell "
               "them apart; κ (Cohen's kappa) is the agreement between two readers beyond chance (0 = chance, "
               "1 = always agree). Reader names are replaced by numbers.</p>"]
        for study in studies:
            o, m = study.overall, study.meta
            out.append(f"<h3>Study {esc(study.name)}</h3><p class='meta'>set {esc(m.get('set'))}, modality "
                       f"{esc(m.get('modality'))}, real images from the {esc(m.get('split'))} split</p>")
            if not o.get("n_answers"):
                out.append(missing("No answers yet; readers answer on the Reader study page of the dashboard."))
                continue
            out.append(table(["readers", "answers", "accuracy", "sensitivity (synthetic called synthetic)",
                              "specificity (real called real)", "AUC", "mean κ"],
                             [[f'<td class="n">{int(o["n_raters"])}</td>', f'<td class="n">{int(o["n_answers"])}</td>',
                               f'<td class="n">{pct(o["accuracy"])}</td>', f'<td class="n">{pct(o["sensitivity"])}</td>',
                               f'<td class="n">{pct(o["specificity"])}</td>', cell(o["auc"], 2),
                               cell(o["mean_kappa"], 2)]]))
            if len(study.readers) > 1:
                out.append(table(["reader", "answered", "accuracy", "sensitivity", "specificity", "AUC"],
                                 [[esc(r.reader), f'<td class="n">{int(r.n_answered)}</td>',
                                   f'<td class="n">{pct(r.accuracy)}</td>', f'<td class="n">{pct(r.sensitivity)}</td>',
                                   f'<td class="n">{pct(r.specificity)}</td>', cell(r.auc, 2)]
                                  for r in study.readers.itertuples()]))
            if not study.kappa.empty:
                out.append(table(["reader", "reader", "images both answered", "κ"],
                                 [[esc(r.reader_a), esc(r.reader_b), f'<td class="n">{int(r.n_common)}</td>',
                                   cell(r.kappa, 2)] for r in study.kappa.itertuples()]))
            acc = float(o["accuracy"])
            if math.isfinite(acc):
                verdict = ("close to guessing: the readers could hardly tell synthetic from real images"
                           if acc <= 0.6 else
                           '<span class="bad">the readers could often tell synthetic from real images</span>')
                accs = pd.to_numeric(study.readers["accuracy"], errors="coerce").dropna()
                spread = (f" The readers differed widely, though (accuracy from {pct(accs.min())} to "
                          f"{pct(accs.max())}): look at each reader's row."
                          if len(accs) > 1 and accs.max() - accs.min() >= 0.3 else "")
                self.findings.append(
                    f"Reader study <b>{esc(study.name)}</b>: {int(o['n_raters'])} reader(s) gave {int(o['n_answers'])} "
                    f"answers with {pct(acc)} accuracy (50% = guessing; AUC {num(o['auc'], 2)}) — {verdict}.{spread}")
        return "".join(out)

    def training(self) -> str:
        ids = gather.run_ids_of(self.sel.sets)
        if not ids:
            return missing("No synthetic set records the runs it was made with, so there are no training curves to "
                           "show.", "python -m training demo")
        runs, gone = gather.run_curves(self.ws, ids)
        out = ["<p>How the training losses of the networks behind these sets went down (light line: every step; dark "
               "line: smoothed). A curve that flattens means the network stopped learning at this length; the "
               "adversarial losses (g_total, d_total) of a GAN oscillate rather than fall.</p>"]
        for r in runs:
            charts = "".join(line_chart(x, y, title=k) for k, (x, y) in r.curves.items()) or "<p>no losses logged</p>"
            out.append(f"<h3>{esc(r.stage)} run {esc(r.run)}</h3><p class='meta'>{r.steps} steps, {esc(r.state)}</p>"
                       f'<div class="charts">{charts}</div>')
        if gone:
            out.append(missing(f"Run folder(s) no longer in the workspace: {', '.join(gone)}."))
        return "".join(out)

    def details(self) -> str:
        out = []
        for ds in self.sel.datasets:
            f = gather.dataset_facts(self.ws, ds)
            out.append(f"<h3>Dataset {esc(ds)}</h3><p>{esc(f.get('kind', '?'))}; modalities "
                       f"{esc(', '.join(f.get('modalities', [])))}; {esc(f.get('size'))} × {esc(f.get('size'))} px; "
                       f"{esc(f.get('cases'))} scans, {esc(f.get('slices'))} slices.</p>")
        for s in self.sel.sets:
            out.append(f"<h3>Set {esc(s.name)}</h3>" + table(["what", "value"], [[esc(a), esc(b)]
                                                                   for a, b in gather.set_provenance(s)]))
        if self.help:
            out.append("<h3>Metrics</h3><dl>" + "".join(f"<dt>{esc(k)} ({esc(better(k))})</dt><dd>{esc(v)}</dd>"
                                                        for k, v in self.help.items()) + "</dl>")
        for p in self.sel.problems:
            out.append(missing(p))
        return "".join(out)

    # ---- the page ------------------------------------------------------------------------------
    def render(self) -> str:
        parts = [("images", "Sample images", self.images()), ("quality", "Image quality", self.quality()),
                 ("realism", "Realism: can a computer tell them apart?", self.realism()),
                 ("validity", "Lesion validity", self.validity()), ("ablation", "Ablation (thesis Table 1)", self.ablation()),
                 ("usability", "Usability (thesis Table 5)", self.usability()),
                 ("readers", "Reader studies", self.readers()), ("training", "Training curves", self.training()),
                 ("details", "Details", self.details())]
        now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        sets = ", ".join(self.set_names) or "none yet"
        intro = (
            "<p>This report describes <b>synthetic</b> (computer-generated) medical images made with MedSynth Studio "
            f"from the dataset {esc(self.data_name())}. A generative network first draws the outline of the anatomy "
            "(a structure map), places a lesion shape taken from real annotated lesions inside the organ, and then "
            "paints every imaging sequence of that slice. Such images are meant to enlarge the training data of "
            "lesion-segmentation software; they are not for diagnosis.</p><p>The report shows what the images look "
            "like next to real scans, how close they are to real scans by several measures, whether their lesions "
            "are recognisable where their labels say, and — where those experiments were run — whether they help "
            "train a segmentation network and whether readers can tell them apart from real scans. Numbers describe "
            "the models in this workspace as they are now; sections that have not been measured say what to run.</p>")
        found = self.findings or ["Nothing has been measured yet; the sections below say what to run."]
        toc = " · ".join(f'<a href="#{a}">{esc(t)}</a>' for a, t, _ in parts)
        body = "".join(f'<section id="{a}"><h2>{esc(t)}</h2>{h}</section>' for a, t, h in parts)
        return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>MedSynth Studio report — {esc(self.data_name())}</title><style>{CSS}</style></head><body>"
                f"<h1>Synthetic medical images: report</h1><p class=\"meta\">Generated {now} by MedSynth Studio "
                f"{esc(__version__)} · dataset {esc(self.data_name())} · synthetic sets {esc(sets)}</p>"
                f"<nav class=\"meta\">{toc}</nav>"
                f"<h2>What this is</h2>{intro}"
                "<h2>What we found</h2><ul class=\"found\">" + "".join(f"<li>{f}</li>" for f in found) + "</ul>"
                + body + "</body></html>")


def _pm(mean: Any, sd: Any, digits: int) -> str:
    m = num(mean, digits)
    if m == "–":
        return m
    s = num(sd, digits)
    return f"{m} ± {s}" if s != "–" else f"{m} ± –"


def _as_scored(summary: pd.DataFrame, key: str, label: str) -> tuple[str, str]:
    """``(key, label)`` of a finding, or of its helper twin when only the training helpers scored the
    experiment (:func:`~synth_core.experiments.ablation.scored_column`), labelled so."""
    from synth_core.experiments.ablation import scored_column

    column = scored_column(summary, key)
    return (key, label) if column == key else (column, f"{label} (scored by the training helper, circular)")


def _as_ws(ws: Workspace | str | Path) -> Workspace:
    return ws if isinstance(ws, Workspace) else Workspace.open(ws, create=False)


def build_report(ws: Workspace | str | Path, *, sets: list[str] | None = None, dataset: str | None = None,
                 samples: int = gather.SAMPLES, seed: int = 0, real_images: bool = False) -> str:
    """The report as one HTML string (see the module docstring).

    ``real_images``: also picture real test-split slices (patient images); off by default.

    ``sets``: the synthetic sets to cover (default: every set, or every set of ``dataset``);
    ``dataset``: restrict to one real dataset; ``samples``: pictures per grid; ``seed``: which
    slices and samples are shown. Raises :class:`~synth_core.errors.NotFoundError` for an unknown
    set or dataset and :class:`~synth_core.errors.ConfigError` for a set of another dataset."""
    if samples < 1:
        raise ConfigError(f"samples must be >= 1, not {samples}")
    return _Report(_as_ws(ws), sets, dataset, samples, seed, real_images).render()


def write_report(ws: Workspace | str | Path, out_path: str | Path, *, sets: list[str] | None = None,
                 dataset: str | None = None, samples: int = gather.SAMPLES, seed: int = 0,
                 real_images: bool = False) -> Path:
    """Write :func:`build_report` to ``out_path`` atomically; returns the path. The folder must
    exist (:class:`~synth_core.errors.InputError` otherwise; nothing is written)."""
    out = Path(out_path).expanduser()
    gather.ensure_dir_for(out)
    text = build_report(ws, sets=sets, dataset=dataset, samples=samples, seed=seed, real_images=real_images)
    atomic_write_text(out, text)
    return out


def _row_key(r: Any) -> tuple:
    """A usability summary line's configuration, as :func:`_paired_dice` keys it."""
    return (float(r["real_fraction"]), float(r["synthetic_multiplier"]), str(r["mode"]), bool(r["augmentation"]),
            str(r.get("generator", "") or ""))


def _paired_dice(per_seed: pd.DataFrame) -> dict[tuple, dict]:
    """Each configuration's paired test of Dice against real-only (:func:`paired_usability`), by :func:`_row_key`."""
    from synth_core.experiments.results import paired_usability

    p = paired_usability(per_seed, ("dice",))
    return {_row_key(r): r.to_dict() for _, r in p.iterrows()}


def _delta_cell(delta: float, test: dict | None) -> str:
    """Δ Dice: the paired mean difference with its 95 % interval (◆ beyond the spread), else the plain
    difference of the means (one seed), else a dash."""
    if test is not None:
        mark = " ◆" if test["exceeds_spread"] else ""
        return f"{test['mean_diff']:+.3f} [{test['ci_low']:+.3f}, {test['ci_high']:+.3f}]{mark}"
    return "–" if not math.isfinite(delta) else f"{delta:+.3f}"


def _stopping(config: dict) -> str:
    """How long each network of a usability experiment trained, in words."""
    c = config.get("config", {})
    if c.get("patience"):
        return (f"each network trained until {c.get('patience')} checks on {config.get('n_val_slices', '?')} real "
                f"validation slices (every {c.get('val_every')} steps, at most {c.get('steps')} per phase) brought "
                "no improvement, and the best one was tested")
    return f"{c.get('steps')} steps per training"
