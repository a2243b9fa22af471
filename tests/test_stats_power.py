"""Power of the paired t-test: the minimum detectable effect, and how the report reads a tie."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats as st

from qgradbench.analysis import report, training
from qgradbench.analysis.stats import (
    FINDING_COLUMNS,
    LEVEL,
    Finding,
    detectable_effect,
    detectable_effect_size,
    findings_table,
    paired_power,
    tie_reading,
    tie_text,
)
from tests.test_training_analysis import synthetic

#: z_{0.975} and z_{0.8} (standard normal quantiles, e.g. Cohen 1988, Table 2.3).
Z_975, Z_80 = 1.959963984540054, 0.8416212335729143


class TestDetectableEffect:
    @pytest.mark.parametrize(("d", "n"), [(0.2, 199), (0.5, 34), (0.8, 15)])
    def test_cohen_sample_sizes(self, d, n):
        """Test the tabulated pairs needed for d_z = 0.2, 0.5, 0.8 (alpha 0.05, power 0.8).

        Cohen (1988) and G*Power (Faul et al. 2007, one-sample / matched-pairs t test): 199,
        34 and 15 pairs; one pair fewer must not reach the effect.
        """
        assert detectable_effect_size(n) <= d < detectable_effect_size(n - 1)

    @pytest.mark.parametrize(("alpha", "power"), [(0.05, 0.8), (0.01, 0.9)])
    def test_large_n_limit_is_the_normal_formula(self, alpha, power):
        """Test that sqrt(n) d_z(n) -> z_{1-alpha/2} + z_{power} for large n."""
        n = 1_000_000
        limit = st.norm.ppf(1 - alpha / 2) + st.norm.ppf(power)
        assert math.sqrt(n) * detectable_effect_size(n, alpha, power) == pytest.approx(
            limit, rel=1e-4
        )
        if (alpha, power) == (0.05, 0.8):
            assert limit == pytest.approx(Z_975 + Z_80)

    def test_power_at_the_detectable_effect_by_simulation(self):
        """Test that 10 pairs with true mean MDE are rejected 80% of the time (4000 draws).

        Binomial standard error sqrt(.8 .2 / 4000) = 0.0063; tolerance 0.03 (4.7 SE).
        """
        n, sd, alpha = 10, 0.02, 0.05 / 12
        delta = detectable_effect(sd, n, alpha)
        d = np.random.default_rng(7).normal(delta, sd, size=(4000, n))
        t = d.mean(1) / (d.std(1, ddof=1) / math.sqrt(n))
        rejected = np.abs(t) > st.t.ppf(1 - alpha / 2, n - 1)
        assert rejected.mean() == pytest.approx(0.8, abs=0.03)
        assert paired_power(delta / sd, n, alpha) == pytest.approx(0.8, abs=1e-8)

    def test_scales_with_sd_and_shrinks_with_level_and_seeds(self):
        """Test delta = d_z s, a stricter alpha needs more, more seeds need less."""
        assert detectable_effect(0.03, 15) == pytest.approx(3 * detectable_effect(0.01, 15))
        assert detectable_effect(0.01, 15, 0.05 / 12) > detectable_effect(0.01, 15)
        assert detectable_effect(0.01, 30) < detectable_effect(0.01, 15)
        assert detectable_effect(0.0, 5) == 0.0

    def test_no_test_gives_nan_and_bad_input_raises(self):
        """Test NaN for one pair or NaN sd; ValueError names bad sd, alpha, power, n."""
        assert math.isnan(detectable_effect(0.1, 1)) and math.isnan(detectable_effect(math.nan, 5))
        with pytest.raises(ValueError, match="sd must be >= 0"):
            detectable_effect(-1.0, 5)
        with pytest.raises(ValueError, match="alpha must be"):
            detectable_effect(0.1, 5, alpha=1.5)
        with pytest.raises(ValueError, match="power must exceed alpha"):
            detectable_effect(0.1, 5, alpha=0.5, power=0.4)
        with pytest.raises(ValueError, match="n must be an integer"):
            paired_power(0.5, 1)


class TestFindings:
    def test_table_has_detectable_effects_at_holm_worst_case_and_uncorrected(self):
        """Test detectable = MDE at alpha / m (m tested in the family), uncorrected at alpha."""
        found = [
            Finding(f"c{i}", 0.0, -0.1, 0.1, 0.5, "row 1", family="f", n=15, sd=0.01 * (i + 1))
            for i in range(3)
        ] + [Finding("other", 0.0, -0.1, 0.1, 0.5, "row 2", family="g")]
        table = findings_table(found)
        assert tuple(table.columns) == FINDING_COLUMNS
        for i in range(3):
            row = table.iloc[i]
            assert row["detectable"] == pytest.approx(
                detectable_effect(0.01 * (i + 1), 15, 0.05 / 3)
            )
            assert row["detectable_uncorrected"] == pytest.approx(
                detectable_effect(0.01 * (i + 1), 15)
            )
        assert math.isnan(table.iloc[3]["detectable"])  # not a paired t-test: none

    def test_versus_baseline_carries_scope_seeds_and_sd(self):
        """Test each comparison records its data set, seeds and the SD of its differences."""
        frame = synthetic(
            np.random.default_rng(3), datasets=("moons", "hyperplanes"), seeds=range(6)
        )
        table = findings_table(training.versus_baseline(frame))
        accuracy = table[table["family"].str.endswith("(test accuracy)")]
        assert list(accuracy["scope"]) == ["moons", "hyperplanes"]
        final = training.final_epochs(frame)
        for _, row in accuracy.iterrows():
            part = final[final["dataset"] == row["scope"]].sort_values("seed")
            d = (
                part[part["model"] == "hybrid"]["test_accuracy"].to_numpy()
                - part[part["model"] == "classical-matched"]["test_accuracy"].to_numpy()
            )
            assert row["n"] == 6 and row["sd"] == pytest.approx(d.std(ddof=1))
        samples = table[table["family"].str.endswith("(test samples)")]
        assert samples["sd"].to_numpy() == pytest.approx(100 * accuracy["sd"].to_numpy())


class TestReportText:
    def _table(self) -> pd.DataFrame:
        found = [
            Finding("a on moons", 0.004, -0.01, 0.02, 0.4, "r", family="fam (test accuracy)",
                    scope="moons", n=15, sd=0.012),
            Finding("b on moons", 0.05, 0.04, 0.06, 1e-6, "r", "above", "below",
                    family="fam (test accuracy)", scope="moons", n=15, sd=0.01),
            Finding("c on cancer", -0.002, -0.01, 0.01, 0.7, "r", family="fam (test accuracy)",
                    scope="breast-cancer", n=15, sd=0.02),
        ]  # fmt: skip
        return findings_table(found)

    def test_a_tie_reads_with_its_detectable_effect(self):
        """Test that ties say 'effects below X points not detectable ...', calls stay calls."""
        table = self._table()
        shown = report._with_resolution(table)
        mde = detectable_effect(0.012, 15, 0.05 / 3)
        assert table["verdict"].iloc[0] == tie_text(LEVEL)
        assert shown["verdict"].iloc[0] == (
            f"tie: effects below {100 * mde:.2g} points not detectable at 80% power with 15 seeds"
        )
        assert shown["verdict"].iloc[1] == "above"
        assert "no difference" not in shown["verdict"].iloc[2]
        assert tie_reading(math.nan, 5).startswith("tie")

    def test_conclusions_state_the_resolution_per_data_set(self):
        """Test the resolution sentence: each data set's range in points, Holm and uncorrected."""
        table = self._table()
        text = report._resolution_text(table, "fam (test accuracy)")
        low = 100 * detectable_effect(0.01, 15, 0.05 / 3)
        high = 100 * detectable_effect(0.012, 15, 0.05 / 3)
        cancer = 100 * detectable_effect(0.02, 15, 0.05 / 3)
        assert f"moons: {low:.1f} to {high:.1f} points" in text
        assert f"breast-cancer: {cancer:.1f} points" in text
        assert "15 seeds" in text and "80% power" in text
