"""The report of a run: summary tables, figures and readings computed from the numbers.

:func:`write_report` reads a run directory (:func:`qgradbench.analysis.load`), draws the
study's figures into ``RUN_DIR/figures/``, and writes ``report.md`` and, on request, a
self-contained ``report.html`` (figures embedded as data URIs). Every sentence that states a
result is built from the tables ("parameter-shift (1000 shots) reaches 0.95 test accuracy
with 3.1e9 shots"); none is written by hand.
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qgradbench.analysis import figures, study
from qgradbench.analysis.load import ResultsError, load, metadata, run_dirs
from qgradbench.analysis.summaries import (
    estimator_summary,
    final_accuracy,
    hybrid_minus_classical,
    peer_ratios,
    shots_to_target,
    step_times,
    variance_slopes,
)

FORMATS = ("md", "html")


@dataclass
class Report:
    """A report as blocks: ``("h", text)``, ``("p", text)``, ``("table", df)``, ``("img", png)``."""

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def heading(self, text: str) -> None:  # noqa: D102
        self.blocks.append(("h", text))

    def text(self, text: str) -> None:  # noqa: D102
        self.blocks.append(("p", text))

    def table(self, frame: pd.DataFrame) -> None:  # noqa: D102
        self.blocks.append(("table", frame))

    def image(self, path: Path) -> None:  # noqa: D102
        self.blocks.append(("img", path))

    def readings(self) -> list[str]:
        """The report's sentences (paragraphs), for tests and summaries."""
        return [str(b) for kind, b in self.blocks if kind == "p"]


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1e5 or abs(value) < 1e-3:
            return f"{value:.3g}"
        return f"{value:.4g}"
    return str(value)


def _layers(n: object) -> str:
    return f"{int(n)} layer{'' if int(n) == 1 else 's'}"


def _shots(value: object) -> str:
    return "exact" if value is None or pd.isna(value) else f"{int(value)} shots"


def _markdown_table(frame: pd.DataFrame) -> str:
    cells = [[_fmt(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells]
    return "\n".join(lines)


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_markdown(report: Report, folder: Path) -> str:
    """The report as Markdown; images are linked relative to ``folder``."""
    parts = [f"# {report.title}"]
    for kind, content in report.blocks:
        if kind == "h":
            parts.append(f"## {content}")
        elif kind == "p":
            parts.append(str(content))
        elif kind == "table":
            parts.append(_markdown_table(content))
        else:
            rel = Path(content).relative_to(folder)
            parts.append(f"![{rel.stem}]({rel.as_posix()})")
    return "\n\n".join(parts) + "\n"


def render_html(report: Report) -> str:
    """The report as one self-contained HTML page (figures embedded)."""
    parts = [f"<h1>{html.escape(report.title)}</h1>"]
    for kind, content in report.blocks:
        if kind == "h":
            parts.append(f"<h2>{html.escape(str(content))}</h2>")
        elif kind == "p":
            parts.append(f"<p>{html.escape(str(content))}</p>")
        elif kind == "table":
            parts.append(_html_table(content))
        else:
            data = base64.b64encode(Path(content).read_bytes()).decode()
            parts.append(f'<img alt="{Path(content).stem}" src="data:image/png;base64,{data}">')
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:"
        "collapse;font-size:small}td,th{border:1px solid #ccc;padding:2px 6px}"
        "img{max-width:100%}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>"
        f"{html.escape(report.title)}</title><style>{style}</style></head><body>"
        + "\n".join(parts)
        + "</body></html>\n"
    )


# ------------------------------------------------------------------------------ sections
def _environment(report: Report, meta: dict) -> None:
    report.heading("Environment")
    versions = meta.get("versions") or {}
    machine = meta.get("machine") or {}
    rows = [
        ("status", meta.get("status")),
        ("suite / experiment", meta.get("suite") or meta.get("experiment")),
        ("started", meta.get("started")),
        ("finished", meta.get("finished")),
        ("runs finished", f"{meta.get('tasks_finished')} of {meta.get('tasks')}"),
        (
            "executor",
            f"{meta.get('executor')}, {meta.get('workers')} workers x "
            f"{meta.get('threads_per_worker')} threads",
        ),
        ("machine", f"{machine.get('processor')}, {machine.get('cpu_count')} CPUs"),
        ("git commit", meta.get("git_commit")),
        *((f"{name} version", v) for name, v in versions.items() if v),
    ]
    report.table(pd.DataFrame(rows, columns=["", "value"]))


def _training(report: Report, train: pd.DataFrame, folder: Path, target: float) -> None:
    report.heading("Training: accuracy, shots and hybrid against classical")
    summary = final_accuracy(train)
    report.table(summary)
    hybrid = summary[summary["model"] == "hybrid"]
    if not hybrid.empty:
        best = hybrid.sort_values("median", ascending=False).iloc[0]
        report.text(
            f"The best hybrid configuration is {best['method']} ({_shots(best['shots'])}, "
            f"{_layers(best['n_layers'])}): median final test accuracy {best['median']:.3f} "
            f"[{best['ci_low']:.3f}, {best['ci_high']:.3f}] over {int(best['n'])} seeds; one test "
            f"sample is {1 / best['n_test']:.3f} of accuracy."
            if "n_test" in best
            else f"The best hybrid configuration is {best['method']}."
        )
        reach = shots_to_target(train, target)
        with_shots = reach[reach["shots"].notna() & (reach["reached"] > 0)]
        if not with_shots.empty:
            phrases = [
                f"{r.method} ({int(r.shots)} shots, {_layers(r.n_layers)}) with "
                f"{r.median_shots:.2g} shots"
                for r in with_shots.sort_values("median_shots").itertuples()
            ]
            report.text(f"Reaching {target:.2f} test accuracy costs: " + "; ".join(phrases) + ".")
            report.table(reach)
        missed = reach[(reach["reached"] == 0)]
        if not missed.empty:
            names = ", ".join(
                sorted({f"{r.method} ({_shots(r.shots)})" for r in missed.itertuples()})
            )
            report.text(f"Never reached {target:.2f} in any seed: {names}.")
        for name, plot in (
            ("accuracy_vs_shots", study.plot_accuracy_vs_shots),
            ("accuracy_vs_depth", study.plot_accuracy_vs_depth),
        ):
            report.image(figures.save(plot(train), folder / f"{name}.png"))
        _curves(report, train, folder)
    diff = hybrid_minus_classical(train)
    if not diff.empty:
        report.table(diff)
        above = diff[diff["ci_low"] > 0]
        below = diff[diff["ci_high"] < 0]
        report.text(
            f"Hybrid minus classical (paired by seed): {len(above)} configurations above the "
            f"classical baseline with 95% confidence, {len(below)} below, "
            f"{len(diff) - len(above) - len(below)} indistinguishable; the largest median "
            f"difference is {diff['median'].max():+.3f} ({_label(diff, 'median', max)})."
        )
        report.image(
            figures.save(
                study.plot_hybrid_minus_classical(train), folder / "hybrid_minus_classical.png"
            )
        )


def _label(frame: pd.DataFrame, column: str, pick) -> str:
    row = frame.loc[frame[column].idxmax() if pick is max else frame[column].idxmin()]
    return f"{row['method']}, {_shots(row['shots'])}, {_layers(row['n_layers'])}"


def _curves(report: Report, train: pd.DataFrame, folder: Path) -> None:
    """Training curves of every method at the most common depth (one data set)."""
    depth = train.loc[train["model"] == "hybrid", "n_layers"].mode()
    rows = train[(train["model"] != "hybrid") | (train["n_layers"] == depth.iloc[0])]
    rows = rows[rows["dataset"] == rows["dataset"].iloc[0]]
    keep = [c for c in rows.columns if c not in ("n_qubits", "n_layers", "ansatz", "label")]
    report.text(
        f"Training curves of every method at {_layers(depth.iloc[0])} (data set "
        f"{rows['dataset'].iloc[0]}), with the classical baseline."
    )
    fig = figures.plot_training_curves(rows[keep])
    report.image(figures.save(fig, folder / "training_curves.png"))


def _variance(report: Report, variance: pd.DataFrame, folder: Path) -> None:
    report.heading("Gradient variance (barren plateaus)")
    slopes = variance_slopes(variance)
    if not slopes.empty:
        report.table(slopes)
        for r in slopes.itertuples():
            extra = ""
            if r.observable == "zz" and r.param == "first":
                extra = f" (2-design line: 2^({r.two_design_slope / math.log(2):.2f} n))"
            report.text(
                f"{r.observable}, {r.depth}, {r.method} ({_shots(r.shots)}): the variance falls "
                f"as 2^({r.base2_exponent:.2f} n) over {r.qubits} qubits, ln-slope "
                f"{r.slope:.3f} +- {r.slope_se:.3f}{extra}."
            )
    report.image(figures.save(study.plot_variance_scaling(variance), folder / "variance.png"))


def _estimator(report: Report, estimator: pd.DataFrame, folder: Path) -> None:
    report.heading("Gradient estimators at equal shot budgets")
    summary = estimator_summary(estimator)
    report.table(summary)
    budgets = summary[summary["budget"].notna()] if "budget" in summary else summary.iloc[0:0]
    for budget, group in budgets.groupby("budget"):
        best = group.sort_values("mse").iloc[0]
        worst = group.sort_values("mse").iloc[-1]
        report.text(
            f"At {int(budget)} shots per Jacobian the lowest MSE is {best['method']}'s "
            f"({best['mse']:.3g}, cosine {best['cosine']:.3f}); the highest is "
            f"{worst['method']}'s ({worst['mse']:.3g}), {worst['mse'] / best['mse']:.1f}x more."
        )
    report.image(figures.save(study.plot_estimator_mse(estimator), folder / "estimator_mse.png"))


def _runtime(report: Report, runtime: pd.DataFrame, folder: Path) -> None:
    report.heading("Runtime of the quantum layer")
    times = step_times(runtime)
    report.table(times)
    for n, group in times.groupby("n_qubits"):
        fast, slow = group.iloc[0], group.iloc[-1]
        report.text(
            f"At {int(n)} qubits the fastest step is {fast['method']} "
            f"({fast['time_total'] * 1e3:.3g} ms); the slowest, {slow['method']} "
            f"({_shots(slow['shots'])}), takes {slow['ratio_to_fastest']:.1f}x as long."
        )
    peers = peer_ratios(runtime)
    if not peers.empty:
        report.table(peers)
        for r in peers.itertuples():
            report.text(
                f"{r.method} ({_shots(r.shots)}, {int(r.n_qubits)} qubits): {r.implementation} "
                f"takes {r.ratio_to_qgradbench:.1f}x qgradbench's time per step."
            )
    report.image(figures.save(study.plot_runtime(runtime), folder / "runtime.png"))


def build_report(run_dir: str | Path, *, target: float = 0.9) -> Report:
    """Read the run, compute summaries and readings, draw the figures into ``figures/``.

    Raises:
        ResultsError: if the directory holds no results or a table cannot be read.
    """
    run_dir = Path(run_dir)
    if not run_dirs(run_dir):
        raise ResultsError(f"{run_dir}: no results (no metadata.json and no Parquet table)")
    meta = metadata(run_dir)
    tables = load(run_dir)
    folder = run_dir / "figures"
    name = meta.get("suite") or meta.get("experiment") or run_dir.name
    report = Report(f"qgradbench report: {name} ({run_dir.name})")
    _environment(report, meta)
    sections = (
        ("train", _training),
        ("variance", _variance),
        ("estimator", _estimator),
        ("runtime", _runtime),
    )
    for table, section in sections:
        if table in tables and len(tables[table]):
            if table == "train":
                section(report, tables[table], folder, target)
            else:
                section(report, tables[table], folder)
    return report


def write_report(run_dir: str | Path, formats=("md", "html"), *, target: float = 0.9) -> list:
    """Write ``report.md`` (and ``report.html``) into ``run_dir``; return the files written.

    The figures are written to ``run_dir/figures/`` and listed first.
    """
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown report format {unknown[0]!r}; expected md or html")
    run_dir = Path(run_dir)
    report = build_report(run_dir, target=target)
    written = [Path(b) for kind, b in report.blocks if kind == "img"]
    if "md" in formats:
        path = run_dir / "report.md"
        path.write_text(render_markdown(report, run_dir))
        written.append(path)
    if "html" in formats:
        path = run_dir / "report.html"
        path.write_text(render_html(report))
        written.append(path)
    return written
