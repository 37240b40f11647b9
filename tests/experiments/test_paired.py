"""Paired tests per seed (synth_core.experiments.results.paired_test and the two pairings) and the
plain-words conclusions, on tiny hand-made result tables with known answers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from synth_core.experiments.ablation import ROW_OFF, aggregate_ablation, paired_ablation, summary_frame
from synth_core.experiments.conclusions import (ablation_conclusions, needed_multiple, seed_words,
                                                usability_conclusions)
from synth_core.experiments.results import PAIRED_COLUMNS, paired_test, paired_usability, signed, summarise


def _p_t2(t: float) -> float:
    """Two-sided p of Student's t with 2 degrees of freedom (closed form: F(t) = 1/2 + t / (2 sqrt(t^2 + 2)))."""
    return 1.0 - abs(t) / math.sqrt(t * t + 2.0)


def test_paired_test_known_answers_three_seeds():
    # differences 0.1, 0.2, 0.2: mean 1/6, sd sqrt(1/300), t = 5
    r = paired_test([0.5, 0.6, 0.7], [0.4, 0.4, 0.5])
    assert set(r) == set(PAIRED_COLUMNS) and r["n_pairs"] == 3
    assert r["mean_diff"] == pytest.approx(1 / 6) and r["sd_diff"] == pytest.approx(math.sqrt(1 / 300))
    assert r["p_ttest"] == pytest.approx(_p_t2(5.0), rel=1e-6)  # 0.0377
    half = 4.302652729911275 * math.sqrt(1 / 300) / math.sqrt(3)  # t(0.975, 2) = 4.3027
    assert (r["ci_low"], r["ci_high"]) == pytest.approx((1 / 6 - half, 1 / 6 + half))
    assert r["exceeds_spread"] is True and math.isnan(r["p_wilcoxon"])  # fewer than 6 pairs: no Wilcoxon
    # differences 0.1, -0.1, 0.3: mean 0.1, sd 0.2, t = sqrt(3)/2 -> within the spread
    r = paired_test([0.6, 0.4, 0.8], [0.5, 0.5, 0.5])
    assert r["mean_diff"] == pytest.approx(0.1) and r["sd_diff"] == pytest.approx(0.2)
    assert r["p_ttest"] == pytest.approx(_p_t2(math.sqrt(3) / 2), rel=1e-6) and r["exceeds_spread"] is False
    assert r["ci_low"] < 0 < r["ci_high"]


def test_paired_test_wilcoxon_from_six_pairs_nan_pairs_and_edge_cases():
    ref = np.zeros(7)
    vals = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, np.nan])  # the NaN pair is left out: 6 pairs
    r = paired_test(vals, ref)
    assert r["n_pairs"] == 6 and r["p_wilcoxon"] == pytest.approx(2 / 64)  # exact: all 6 ranks positive
    assert paired_test([1.0], [0.0]) is None and paired_test([1.0, np.nan], [0.0, 0.0]) is None
    same = paired_test([0.3, 0.5], [0.1, 0.3])  # every difference 0.2: no spread at all
    assert same["p_ttest"] == 0.0 and same["exceeds_spread"] is True and same["ci_low"] == pytest.approx(0.2)
    zero = paired_test([0.3, 0.5], [0.3, 0.5])
    assert zero["p_ttest"] == 1.0 and zero["exceeds_spread"] is False
    with pytest.raises(ValueError, match="one length"):
        paired_test([1.0, 2.0], [1.0])


def _u(f, k, mode, aug, seed, dice, mse=0.1):
    return {"real_fraction": f, "synthetic_multiplier": k, "mode": mode, "augmentation": aug, "n_real": 4,
            "n_synthetic": 4 if k else 0, "seed": seed, "steps": 3, "dice": dice, "dice_lesion": dice, "mse": mse, "hd95": 1.0}


def test_usability_rows_are_paired_with_real_only_of_the_same_fraction_by_seed():
    per_seed = pd.DataFrame([
        _u(0.1, 0.0, "real-only", False, 0, 0.40), _u(0.1, 0.0, "real-only", False, 1, 0.40),
        _u(0.1, 0.0, "real-only", False, 2, 0.50),
        _u(0.1, 1.0, "synthetic-first", False, 0, 0.50), _u(0.1, 1.0, "synthetic-first", False, 1, 0.60),
        _u(0.1, 1.0, "synthetic-first", False, 2, 0.70), _u(0.1, 1.0, "synthetic-first", False, 3, 0.99),  # seed 3 unpaired
        _u(0.1, 0.0, "real-only", True, 0, 0.50), _u(0.1, 0.0, "real-only", True, 1, 0.30),
        _u(0.1, 0.0, "real-only", True, 2, 0.80),  # the augmentation control is compared too
        _u(1.0, 0.0, "real-only", False, 0, 0.90), _u(1.0, 0.0, "real-only", False, 1, 0.90),
        _u(1.0, 1.0, "random", False, 0, 0.10),  # one seed: not tested
    ])
    paired = paired_usability(per_seed)
    dice = paired[paired["metric"] == "dice"]
    assert len(dice) == 2 and (dice["against"] == "real-only 10%").all()
    syn = dice[dice["mode"] == "synthetic-first"].iloc[0]
    assert syn["n_pairs"] == 3 and syn["mean_diff"] == pytest.approx(1 / 6)
    assert syn["p_ttest"] == pytest.approx(_p_t2(5.0), rel=1e-6) and bool(syn["exceeds_spread"])
    aug = dice[dice["augmentation"].astype(bool)].iloc[0]
    assert aug["mean_diff"] == pytest.approx(0.1) and not bool(aug["exceeds_spread"])
    mse = paired[paired["metric"] == "mse"]
    assert (mse["mean_diff"] == 0).all() and (mse["p_ttest"] == 1.0).all()  # equal MSE everywhere
    assert paired_usability(per_seed.iloc[:0]).empty

    words = usability_conclusions(summarise(per_seed), paired)
    text = " ".join(words)
    # seeds paired in the dice tests: 3 and 3 (seed 3 of synthetic-first has no partner; real-only 100 % is no test)
    assert "3 seeds paired per test" in text and f"With 3 seeds a paired difference counts only when its mean exceeds {needed_multiple(3):.2f} times the sd" in text
    assert ("10% real + synthetic x1 (synthetic-first, generator: all train (oracle)): dice higher than real-only"
            in text) and "better" in text  # results without a generator column are oracle rows
    assert "other 1 comparison(s) of dice" in text and "cannot tell" in text
    assert "1 compared row(s) have fewer than 2 seeds paired" in text and "2 of the 2 test(s) have only" in text
    assert f"about {0.05 * len(paired):.1f} would by chance" in text


def test_ablation_rows_are_paired_with_the_full_model_by_seed():
    rows = [{"row": r, "switched_off": ROW_OFF[r], "seed": s, "run": f"x-{r}-{s}", "set": f"x-{r}-{s}", "n": 4,
             "lesion_dice": v, "registration_error": 0.01 + 0.001 * s, "scored_by": "judge"}
            for r, vals in (("E", (0.2, 0.3, 0.2)), ("F", (0.5, 0.7, 0.6)), ("A", (0.5, np.nan, 0.6)))
            for s, v in enumerate(vals)]
    summary = summary_frame(rows)
    paired = paired_ablation(summary)
    e = paired[(paired["row"] == "E") & (paired["metric"] == "lesion_dice")].iloc[0]
    # differences -0.3, -0.4, -0.4: mean -11/30, sd sqrt(1/300), t = -11/30 / (sd / sqrt 3)
    assert e["n_pairs"] == 3 and e["mean_diff"] == pytest.approx(-11 / 30)
    t = (-11 / 30) / (math.sqrt(1 / 300) / math.sqrt(3))
    assert e["p_ttest"] == pytest.approx(_p_t2(t), rel=1e-6) and bool(e["exceeds_spread"])
    a = paired[(paired["row"] == "A") & (paired["metric"] == "lesion_dice")].iloc[0]
    assert a["n_pairs"] == 2  # the NaN seed is left out
    reg = paired[paired["metric"] == "registration_error"]
    assert (reg["p_ttest"] == 1.0).all()  # the same registration error as F seed by seed
    assert "F" not in set(paired["row"]) and paired_ablation(summary[summary["row"] != "F"]).empty

    text = " ".join(ablation_conclusions(aggregate_ablation(summary), paired,
                                         {"lesion_dice": "higher", "registration_error": "lower"}))
    assert "row E without lesion guidance (eq. 15): lesion_dice lower than the full model F by 0.367" in text
    assert "worse, beyond the spread" in text and "2-3 seeds paired per test" in text  # A's NaN seed has no pair
    assert "circular" not in text
    assert "circular" in " ".join(ablation_conclusions(aggregate_ablation(summary), paired, {}, scored_by="helper"))


def test_seed_words_with_single_seeds_only():
    no_tests = pd.DataFrame(columns=list(PAIRED_COLUMNS))
    assert "No compared row has 2 or more seeds paired" in seed_words(no_tests, untested=2)[0]
    assert seed_words(no_tests) == []
    assert needed_multiple(3) == pytest.approx(2.4841, abs=1e-4) and math.isnan(needed_multiple(1))


def test_a_no_leak_row_and_its_oracle_twin_are_told_apart_in_the_conclusions():
    """10 % real + x1 synthetic-first twice: from the fraction's own generator (no gain) and from the
    all-train oracle generator (a gain beyond the spread). The sentence naming the marked row must say
    it is the oracle row, and the two rows must have different labels."""
    from synth_core.experiments.conclusions import usability_label

    base = [_u(0.1, 0.0, "real-only", False, s, d) for s, d in enumerate((0.40, 0.40, 0.50))]
    fraction = [{**_u(0.1, 1.0, "synthetic-first", False, s, d), "generator": "fraction"}
                for s, d in enumerate((0.40, 0.45, 0.45))]  # +0, +0.05, -0.05: within the spread
    oracle = [{**_u(0.1, 1.0, "synthetic-first", False, s, d), "generator": "oracle"}
              for s, d in enumerate((0.50, 0.60, 0.70))]  # +0.1, +0.2, +0.2: beyond it
    per_seed = pd.DataFrame([{**r, "generator": ""} for r in base] + fraction + oracle)
    paired = paired_usability(per_seed)
    dice = paired[paired["metric"] == "dice"]
    labels = dice.apply(usability_label, axis=1).tolist()
    assert labels == ["10% real + synthetic x1 (synthetic-first, generator: this fraction only)",
                      "10% real + synthetic x1 (synthetic-first, generator: all train (oracle))"]
    text = " ".join(usability_conclusions(summarise(per_seed), paired))
    assert ("10% real + synthetic x1 (synthetic-first, generator: all train (oracle)): dice higher than real-only"
            in text)
    assert "generator: this fraction only): dice" not in text  # the no-leak row is not marked


def test_the_seed_sentence_counts_only_seeds_paired_in_its_tests():
    """Real-only 10 % has seeds 0-2 and real-only 100 % seeds 0-1 (references, never tested); the
    synthetic row seeds 0-3 (seed 3 has no partner) and a random row seeds 5-6 (no partner at all).
    The dice tests pair 3 seeds, once: "3 seeds", not the rows' "2-4"; the random row is untested."""
    per_seed = pd.DataFrame([_u(0.1, 0.0, "real-only", False, s, 0.4 + 0.05 * s) for s in range(3)]
                            + [_u(1.0, 0.0, "real-only", False, s, 0.9) for s in range(2)]
                            + [_u(0.1, 1.0, "synthetic-first", False, s, 0.5 + 0.1 * s) for s in range(4)]
                            + [_u(0.1, 2.0, "random", False, s, 0.3) for s in (5, 6)])
    summary, paired = summarise(per_seed), paired_usability(per_seed)
    assert sorted(summary["n_seeds"]) == [2, 2, 3, 4]
    words = usability_conclusions(summary, paired)
    assert words[0].startswith("3 seeds paired per test: ") and f"exceeds {needed_multiple(3):.2f} times" in words[0]
    assert not any("2-4" in w for w in words)
    assert "1 compared row(s) have fewer than 2 seeds paired with their reference" in " ".join(words)
    # ablation: row A lacks lesion Dice on seed 1, so its lesion test pairs 2 seeds; F is the reference
    rows = [{"row": r, "switched_off": ROW_OFF[r], "seed": s, "run": f"x-{r}-{s}", "set": f"x-{r}-{s}", "n": 4,
             "lesion_dice": np.nan if (r, s) == ("A", 1) else 0.1 * s + (r == "F"), "scored_by": "judge"}
            for r in "AF" for s in range(3)]
    summary = summary_frame(rows)
    words = ablation_conclusions(aggregate_ablation(summary), paired_ablation(summary), {"lesion_dice": "higher"})
    assert words[0].startswith("2 seeds paired per test: ") and "untested" not in words[0]


def test_wilcoxon_counts_only_nonzero_differences():
    """Zero differences carry no sign: they are dropped before the Wilcoxon test, and below 6 non-zero
    differences its p is NaN (it could not reach 0.05) although there are 6 or more pairs."""
    ref = np.zeros(7)
    r = paired_test([0.0, 1.0, 2.0, 3.0, 4.0, 5.0, -6.0], ref)  # non-zero 1..5 and -6: W- = 6, 14 of 64 sign sets <= 6
    assert r["n_pairs"] == 7 and r["p_wilcoxon"] == pytest.approx(28 / 64)
    r = paired_test([0.0, 0.0, 1.0, 2.0, 3.0, 4.0], ref[:6])  # 6 pairs, 4 non-zero: no Wilcoxon
    assert r["n_pairs"] == 6 and math.isnan(r["p_wilcoxon"]) and r["p_ttest"] < 1.0
    r = paired_test([0.5] * 6, [0.5] * 6)  # every difference zero: only the t-test speaks (p = 1)
    assert math.isnan(r["p_wilcoxon"]) and r["p_ttest"] == 1.0
    r = paired_test([0.1 + 0.2, 0.3, 1.0, 2.0, 3.0, 4.0, 5.0], [0.3] * 2 + [0.0] * 5)  # 0.1 + 0.2 - 0.3 = 5.6e-17
    assert math.isnan(r["p_wilcoxon"])  # a rounding difference counts as zero: 5 non-zero
    tests = pd.DataFrame([{"n_pairs": 6, "p_wilcoxon": math.nan}, {"n_pairs": 6, "p_wilcoxon": 0.03}])
    assert "so 1 of the 2 test(s) have only the paired t-test" in " ".join(seed_words(tests))


@pytest.mark.parametrize("x, text", [(-6.571e-05, "-0.0000657"), (0.0026, "+0.00260"), (0.052, "+0.0520"),
                                     (-0.3, "-0.300"), (12.345, "+12.3"), (1234.5, "+1234"), (0.0, "+0"),
                                     (float("nan"), "-")])
def test_signed_differences_in_fixed_point(x, text):
    assert signed(x) == text
