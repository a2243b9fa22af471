"""Analysis of result tables: seaborn figures with a fixed colour per method.

The package reads only DataFrames and files; it imports neither torch nor the rest of
qgradbench, so results can be analysed where the simulator is not installed. Loaders of a run
directory (:mod:`~qgradbench.analysis.load`), the statistics (:mod:`~qgradbench.analysis.stats`:
t-intervals, exact binomial intervals, paired tests, Holm/Benjamini-Hochberg, findings), the
scaling fits (:mod:`~qgradbench.analysis.scaling`), the training study
(:mod:`~qgradbench.analysis.training`), the landscape and estimator studies
(:mod:`~qgradbench.analysis.landscape`) and the report (:mod:`~qgradbench.analysis.report`) live
in their modules; the package re-exports the figures of :mod:`qgradbench.analysis.figures` and
the scaling helpers.
"""

from qgradbench.analysis.figures import (
    METHOD_COLOURS,
    accuracy_limits,
    describe,
    label,
    method_palette,
    plot_accuracy_comparison,
    plot_dataset,
    plot_decision_boundary,
    plot_training_curves,
    save,
    wilson_interval,
)
from qgradbench.analysis.scaling import Slope, log_slope, two_design_variance

__all__ = [
    "METHOD_COLOURS",
    "Slope",
    "log_slope",
    "two_design_variance",
    "accuracy_limits",
    "describe",
    "label",
    "method_palette",
    "plot_accuracy_comparison",
    "plot_dataset",
    "plot_decision_boundary",
    "plot_training_curves",
    "save",
    "wilson_interval",
]
