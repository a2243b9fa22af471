"""Statistics of the report: intervals' coverage, paired tests, Holm/BH, ties and findings."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from qgradbench.analysis.stats import (
    FINDING_COLUMNS,
    Finding,
    adjust,
    collapse_identical,
    findings_table,
    is_called,
    mean_interval,
    paired_difference,
    proportion_interval,
    tie_text,
    untested_text,
    verdict,
)

DRAWS = 2000
#: Binomial standard error of a 95% coverage estimated from 2,000 draws: sqrt(.95 .05 / 2000)
#: = 0.0049, so 2 points is about 4 standard errors (a false alarm rate below 1e-4).
COVERAGE_TOL = 0.02


class TestIntervals:
    @pytest.mark.parametrize("n", [3, 5, 10])
    def test_t_interval_covers_95_percent(self, n):
        """Test that the t interval on a mean of n normal seeds covers the mean 95% +- 2 points."""
        rng = np.random.default_rng(n)
        draws = rng.normal(0.9, 0.02, size=(DRAWS, n))
        hits = 0
        for row in draws:
            iv = mean_interval(row)
            hits += iv.low <= 0.9 <= iv.high
        assert abs(hits / DRAWS - 0.95) < COVERAGE_TOL

    def test_t_interval_closed_form(self):
        """Test that the t interval of 1, 2, 3 is x_bar +- t_{2,0.975} s / sqrt(3)."""
        iv = mean_interval([1.0, 2.0, 3.0])
        assert iv.estimate == 2.0 and iv.n == 3
        assert iv.high - 2.0 == pytest.approx(4.302652729911275 * 1.0 / math.sqrt(3))
        assert math.isnan(mean_interval([0.5]).low) and mean_interval([]).n == 0

    @pytest.mark.parametrize("n", [3, 5, 10])
    def test_clopper_pearson_coverage(self, n):
        """Test that Clopper-Pearson covers an accuracy >= 95% exactly and within 2 points."""
        p = 0.85  # binomial draws of n_test-sized test sets, n_test = 10 n (30, 50, 100)
        n_test = 10 * n
        k = np.random.default_rng(n).binomial(n_test, p, size=DRAWS)
        intervals = {j: proportion_interval(j, n_test) for j in np.unique(k)}
        simulated = np.mean([intervals[j].low <= p <= intervals[j].high for j in k])
        exact = sum(
            st.binom.pmf(j, n_test, p)
            for j in range(n_test + 1)
            if (iv := proportion_interval(j, n_test)).low <= p <= iv.high
        )
        assert exact >= 0.95
        assert abs(simulated - 0.95) < COVERAGE_TOL + (exact - 0.95)

    def test_clopper_pearson_closed_form(self):
        """Test that k = 0 gives high 1 - (alpha/2)^(1/n) and k = n gives low (alpha/2)^(1/n)."""
        iv = proportion_interval(0, 10)
        assert iv.low == 0 and iv.high == pytest.approx(1 - 0.025 ** (1 / 10))
        iv = proportion_interval(10, 10)
        assert iv.high == 1 and iv.low == pytest.approx(0.025 ** (1 / 10))
        with pytest.raises(ValueError, match="0 <= k <= n"):
            proportion_interval(11, 10)


class TestAdjust:
    def test_holm_by_hand(self):
        """Test that Holm on p = .01 .04 .03 .005 matches the hand computation."""
        out = adjust([0.01, 0.04, 0.03, 0.005], "holm")
        # sorted .005*4=.02, .01*3=.03, .03*2=.06, .04*1=.04 -> max-accumulated .02 .03 .06 .06
        assert out == pytest.approx([0.03, 0.06, 0.06, 0.02])

    def test_bh_by_hand(self):
        """Test that Benjamini-Hochberg on p = .01 .04 .03 .005 matches the hand computation."""
        out = adjust([0.01, 0.04, 0.03, 0.005], "bh")
        # sorted .005*4/1=.02, .01*4/2=.02, .03*4/3=.04, .04*4/4=.04
        assert out == pytest.approx([0.02, 0.04, 0.04, 0.02])
        out = adjust([0.02, 0.9, np.nan], "bh")
        assert out[:2] == pytest.approx([0.04, 0.9]) and math.isnan(out[2])

    def test_bad_method(self):
        """Test that an unknown method names the accepted ones."""
        with pytest.raises(ValueError, match="'holm' or 'bh'"):
            adjust([0.1], "bonferroni")


def _study(rng, n_configs, seeds, effect=None):
    """p-values of n_configs paired comparisons of accuracy against a baseline."""
    base = rng.normal(0.80, 0.02, size=seeds)
    findings = []
    for i in range(n_configs):
        mean = 0.80 + (effect if effect is not None and i == 0 else 0.0)
        other = rng.normal(mean, 0.02, size=seeds)
        t = paired_difference(other, base)
        findings.append(Finding(f"config {i}", t.estimate, t.low, t.high, t.p_value, str(i)))
    return findings_table(findings, "holm")


class TestFindings:
    def test_paired_difference_matches_scipy(self):
        """Test that the paired t-test agrees with scipy.stats.ttest_rel."""
        rng = np.random.default_rng(0)
        a, b = rng.normal(size=6), rng.normal(size=6)
        t = paired_difference(a, b)
        assert t.p_value == pytest.approx(st.ttest_rel(a, b).pvalue)
        assert t.low < t.estimate < t.high and t.n == 6

    def test_holm_family_wise_error_under_the_null(self):
        """Test that with no effect Holm's family-wise error over 33 comparisons stays <= 5%."""
        rng = np.random.default_rng(7)
        studies = 300  # FWER estimate se sqrt(.05 .95 / 300) = 0.0126; allow 2 se over 0.05
        false = 0
        for _ in range(studies):
            table = _study(rng, 33, 5)
            false += (table["verdict"] != tie_text(0.95)).any()
        assert false / studies <= 0.05 + 2 * 0.0126

    def test_a_planted_five_point_effect_is_found(self):
        """Test that 0.85 against 0.80 over 10 seeds (sd 0.02) is found with its t-test power."""
        # d has sd 0.02 sqrt(2); noncentrality 0.05 / (0.0283 / sqrt(10)) = 5.59 on 9 dof.
        ncp = 0.05 / (0.02 * math.sqrt(2) / math.sqrt(10))
        rng = np.random.default_rng(3)
        studies = 200
        for family in (1, 33):
            # Holm calls the smallest p when p * family < 0.05 (the others are null, larger).
            power = st.nct.sf(st.t.ppf(1 - 0.025 / family, 9), 9, ncp)
            found = [
                _study(rng, family, 10, effect=0.05)["verdict"].iloc[0] == "higher"
                for _ in range(studies)
            ]
            # binomial se of the found rate <= sqrt(.25 / 200) = 0.035; allow 3 se
            assert abs(np.mean(found) - power) < 3 * math.sqrt(power * (1 - power) / studies) + 0.01
        assert power > 0.8  # with 33 comparisons about 0.87: Holm's price, stated honestly
        table = _study(np.random.default_rng(4), 33, 10, effect=0.05)
        assert tuple(table.columns) == FINDING_COLUMNS

    def test_verdict(self):
        """Test that the verdict needs an adjusted p below 1 - level, and NaN is untested."""
        assert verdict(0.1, 0.01) == "higher" and verdict(-0.1, 0.01) == "lower"
        assert verdict(0.1, 0.06) == tie_text(0.95)
        assert verdict(0.1, math.nan) == untested_text() and not is_called(untested_text())
        assert not is_called(tie_text(0.95)) and is_called("higher")

    def test_collapse_identical_names_all_methods(self):
        """Test that configurations identical in every measured column become one row."""
        frame = pd.DataFrame({
            "method": ["backprop", "backprop", "adjoint", "adjoint", "spsa", "spsa"],
            "seed": [0, 1, 1, 0, 0, 1],
            "accuracy": [0.9, 0.8, 0.8, 0.9, 0.9, 0.7],
        })  # fmt: skip
        out = collapse_identical(frame, ["method"], ["accuracy"])
        assert sorted(out["method"].unique()) == ["adjoint = backprop", "spsa"]
        assert len(out) == 4
