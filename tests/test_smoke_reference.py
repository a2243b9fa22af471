"""A fresh smoke run matches the committed smoke reference, so users can trust their install.

``results/smoke/reference`` is the smoke suite run by ``bash results/regenerate.sh smoke`` (one
worker, one thread). A fresh run on the same machine with the same versions reproduces it bit
for bit. Elsewhere float32 kernels may differ in the last bits, and shot sampling turns such
differences into other draws, so columns are compared by what they are:

* exact columns (no shots): to 1e-6 absolute for training curves (the README's promise),
  1e-5 relative for gradient variances of complex64 simulations;
* shot-based columns: within 5 standard errors of the difference of two independent
  estimates (final test accuracy: binomial over the test set; variance: the rows' own
  ``variance_se``; estimator MSE: a sample variance over ``repeats``);
* cost columns (circuits, shots), configuration columns and row counts exactly;
* timing columns not at all.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qgradbench.analysis.load import load

REFERENCE = Path(__file__).resolve().parents[1] / "results" / "smoke" / "reference"
COSTS = ("forward_circuits", "backward_circuits", "forward_shots", "backward_shots",
         "eval_circuits", "eval_shots", "gradient_circuits", "gradient_shots",
         "shots_per_step", "n_params")  # fmt: skip
CONFIG = ("task", "task_key", "method", "shots", "n_qubits", "n_layers", "seed", "epoch")


@pytest.fixture(scope="module")
def pair(smoke):
    """Fresh and committed tables, row-aligned."""
    return load(smoke), load(REFERENCE)


@pytest.mark.parametrize("table", ["train", "variance", "estimator", "runtime"])
def test_same_rows_configuration_and_costs(pair, table):
    """Test the same rows, configurations and costs, exactly."""
    fresh, ref = pair[0][table], pair[1][table]
    assert len(fresh) == len(ref)
    for column in (*CONFIG, *COSTS):
        if column in ref:
            pd.testing.assert_series_equal(fresh[column], ref[column], check_names=False)


def test_exact_training_curves(pair):
    """Test exact-mode training rows (no shots, incl. classical) to 1e-6."""
    fresh, ref = pair[0]["train"], pair[1]["train"]
    exact = ref["shots"].isna().to_numpy()
    for column in ("loss", "test_loss", "train_accuracy", "test_accuracy"):
        assert np.allclose(fresh[column][exact], ref[column][exact], rtol=0, atol=1e-6), column


def test_shot_based_final_accuracy(pair):
    """Test shot-based final test accuracies within 5 binomial SEs of their difference."""
    fresh, ref = pair[0]["train"], pair[1]["train"]
    last = (ref["epoch"] == ref["epoch"].max()) & ref["shots"].notna()
    p = ref["test_accuracy"][last].clip(1 / ref["n_test"][last], 1 - 1 / ref["n_test"][last])
    tol = 5 * np.sqrt(2 * p * (1 - p) / ref["n_test"][last])
    assert np.all(np.abs(fresh["test_accuracy"][last] - ref["test_accuracy"][last]) <= tol)


def test_variance_rows(pair):
    """Test exact variances to 1e-5 relative and shot-based ones within 5 SEs."""
    fresh, ref = pair[0]["variance"], pair[1]["variance"]
    exact = ref["shots"].isna().to_numpy()
    assert np.allclose(fresh["variance"][exact], ref["variance"][exact], rtol=1e-5, atol=0)
    se = np.sqrt(fresh["variance_se"] ** 2 + ref["variance_se"] ** 2)[~exact]
    assert np.all(np.abs(fresh["variance"] - ref["variance"])[~exact] <= 5 * se)


def test_estimator_mse(pair):
    """Test estimator MSEs within 5 SEs: relative SE of a mean square over R repeats sqrt(2/R)."""
    fresh, ref = pair[0]["estimator"], pair[1]["estimator"]
    rel = 5 * math.sqrt(2) * np.sqrt(2 / ref["repeats"])
    assert np.all(np.abs(fresh["mse"] - ref["mse"]) <= rel * ref["mse"])
