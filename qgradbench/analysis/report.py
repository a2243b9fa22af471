"""The report of a run: summary tables, figures and readings computed from the numbers.

:func:`write_report` reads a run directory (:func:`qgradbench.analysis.load`), draws the
study's figures into ``RUN_DIR/figures/``, and writes ``report.md`` and, on request, a
self-contained ``report.html`` (figures embedded as data URIs). Every sentence that states a
result is built from the tables ("parameter-shift (1000 shots) reaches 0.95 test accuracy
with 3.1e9 shots"); none is written by hand.

Every comparison the report states is a row of :func:`qgradbench.analysis.stats.findings_table`
(estimate, interval, p-value, Holm-adjusted p-value within its family, verdict), written to
``RUN_DIR/findings.parquet``; a difference is called only when its adjusted p-value is below
``1 - level``, and the rest are reported as ties. Intervals name what they are (a Student-t
interval over seeds, Clopper-Pearson on test samples).
"""

from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from qgradbench.analysis import figures, study, training
from qgradbench.analysis.landscape import estimator_section, variance_section
from qgradbench.analysis.load import ResultsError, load, metadata, run_dirs
from qgradbench.analysis.stats import (
    LEVEL,
    POWER,
    Finding,
    findings_table,
    is_called,
    tie_reading,
    tie_text,
    untested_text,
)
from qgradbench.analysis.summaries import best_configurations, peer_ratios, step_times

FORMATS = ("md", "html")


@dataclass
class Report:
    """A report as blocks: ``("h", text)``, ``("p", text)``, ``("table", df)``, ``("img", png)``."""

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def heading(self, text: str) -> None:  # noqa: D102
        self.blocks.append(("h", text))

    def text(self, text: str) -> None:  # noqa: D102
        self.blocks.append(("p", text))

    def table(self, frame: pd.DataFrame) -> None:  # noqa: D102
        self.blocks.append(("table", frame))

    def image(self, path: Path) -> None:  # noqa: D102
        self.blocks.append(("img", path))

    def findings_table(self) -> pd.DataFrame:
        """Every comparison the report makes (:func:`~qgradbench.analysis.stats.findings_table`)."""
        return findings_table(self.findings)

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
    report.heading("Training: accuracy, cost, and hybrid against classical")
    selected = _selected(report, train)
    _accuracy(report, selected)
    hybrid = selected[selected["model"] == "hybrid"]
    if not hybrid.empty:
        _best(report, selected)
    _versus_classical(report, selected, folder)
    if not hybrid.empty:
        _curves(report, selected, folder)
        _cost_to_target(report, selected, target)


def _shown(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` without the configuration columns that hold one value throughout."""
    constant = [
        c for c in training.CONFIG_KEYS
        if c in frame and c != "dataset" and frame[c].astype(str).nunique() <= 1
    ]  # fmt: skip
    return frame.drop(columns=constant)


def _selected(report: Report, train: pd.DataFrame) -> pd.DataFrame:
    """The runs at each configuration's learning rate chosen on validation (or all runs)."""
    if not training.has_validation(train):
        report.text(
            "This run has no validation split (it was made with val_size 0 or before the "
            "split existed): no learning rate is selected and no cost to a target validation "
            "accuracy is computed; every figure and comparison reads the runs as they are."
        )
        return train
    selected, choices = training.select_lr(train)
    report.text(
        "Learning rate per configuration, chosen on validation for every method alike: the "
        "lr with the highest mean final validation accuracy over the seeds, ties to the "
        "smaller lr (val_accuracy: that mean; lrs: the rates tried). Test accuracy plays no "
        "part in the choice; every accuracy and comparison below is of the selected runs."
    )
    report.table(_shown(choices))
    return selected


def _accuracy(report: Report, selected: pd.DataFrame) -> None:
    table = training.accuracy_table(selected)
    report.table(_shown(table))
    n_seeds = int(table["n"].max())
    seeds = f"{n_seeds} seed{'' if n_seeds == 1 else 's'}"
    report.text(
        f"mean: mean final test accuracy over the seeds; t_low-t_high: {LEVEL:.0%} Student-t "
        f"interval over the {seeds}, clipped to [0, 1] (between-seed spread, each seed with "
        f"its own data split; none for one seed); n_test: test samples per seed (one is "
        f"1/n_test of accuracy). Configurations whose runs agree at every epoch, learning "
        f"rate and seed (the same gradient computed different ways) are one row naming all "
        f"of them."
    )


def _best(report: Report, selected: pd.DataFrame) -> None:
    final = training.final_epochs(training.merge_identical(selected))
    keys = [c for c in ("dataset", "dataset_options") if c in final]
    for config, part in final.groupby(keys, dropna=False, sort=False):
        config = dict(zip(keys, config if isinstance(config, tuple) else (config,), strict=True))
        name = training.dataset_label(config)
        hybrid = part[part["model"] == "hybrid"]
        if hybrid.empty:
            continue
        table = training.accuracy_table(hybrid)
        top = table["mean"].max()
        leaders = table[table["mean"] == top]
        names = "; ".join(
            f"{r['method']} ({_shots(r['shots'])}, {_layers(r['n_layers'])})"
            for _, r in leaders.iterrows()
        )
        first = leaders.iloc[0]
        text = (
            f"On {name}, the highest mean final test accuracy of a hybrid configuration, "
            f"{top:.3f}, is reached by {names}: "
            + _t_text(first["t_low"], first["t_high"], int(first["n"]))
        )
        _, _, findings = best_configurations(hybrid)
        if findings:
            for f in findings:
                f.family = f"best configuration on {name}"
            report.findings += findings
            verdicts = findings_table(findings)["verdict"]
            tied = int((verdicts == tie_text(LEVEL)).sum())
            untested = int((verdicts == untested_text()).sum())
            text += (
                f". Paired over seeds against each of the other {len(findings)} hybrid "
                f"configurations on it (Holm-adjusted, level {LEVEL:g}), {tied} are ties with "
                f"it and {len(findings) - tied - untested} are lower"
                + (f"; {untested} untested (no test possible)" if untested else "")
            )
        report.text(text + ".")


def _t_text(low: float, high: float, n: int, sign: str = "") -> str:
    if n < 2 or pd.isna(low):
        return f"no t-interval from {n} seed{'' if n == 1 else 's'}"
    return f"t-interval over {n} seeds [{low:{sign}.3f}, {high:{sign}.3f}]"


def _with_resolution(table: pd.DataFrame) -> pd.DataFrame:
    """The training family for display: each tie reads with its detectable effect in points."""
    shown = table[["comparison", "estimate", "low", "high", "p_value", "p_adjusted"]].copy()
    shown["detectable"] = table["detectable"]
    shown["verdict"] = [
        tie_reading(d, int(n)) if v == tie_text(LEVEL) else v
        for v, d, n in zip(table["verdict"], table["detectable"], table["n"], strict=True)
    ]
    return shown


def _resolution_text(table: pd.DataFrame, family: str) -> str:
    """The study's resolution per data set, in accuracy points (Holm worst case, uncorrected)."""
    rows = training.resolution(table, family)
    if rows.empty:
        return ""

    def span(low: float, high: float) -> str:
        a, b = f"{100 * low:.1f}", f"{100 * high:.1f}"
        return a if a == b else f"{a} to {b}"

    parts = [
        f"{r.scope}: {span(r.low, r.high)} points ({span(r.low_uncorrected, r.high_uncorrected)}"
        f" uncorrected; {r.n} seeds)"
        for r in rows.itertuples()
    ]
    return (
        f"Resolution of '{family}': the smallest true difference the paired t-test detects "
        f"with {POWER:.0%} power, from each comparison's seeds and the standard deviation of "
        "its paired differences (noncentral t), at Holm's worst-case level (alpha / m) and "
        f"uncorrected: {'; '.join(parts)}. Smaller true differences would mostly read as ties."
    )


def _versus_classical(report: Report, selected: pd.DataFrame, folder: Path) -> None:
    findings = training.versus_baseline(selected)
    if not findings:
        return
    report.findings += findings
    everything = findings_table(findings)
    family = findings[0].family
    table = everything[everything["family"] == family]
    kind = family.removeprefix("hybrid minus ").removesuffix(" (test accuracy)")
    report.table(_with_resolution(table))
    above = int((table["verdict"] == f"above {kind}").sum())
    below = int((table["verdict"] == f"below {kind}").sum())
    untested = int((table["verdict"] == untested_text()).sum())
    ties = len(table) - above - below - untested
    top = table.loc[table["estimate"].idxmax()]
    n_seeds = int(selected["seed"].nunique()) if "seed" in selected else 1
    report.text(
        f"Hybrid minus {kind} final test accuracy on the same data set (paired t-test over "
        f"matched seeds: same seed, same data split; Holm-adjusted over the {len(table)} "
        f"configurations, level {LEVEL:g}): {above} above the {kind} baseline, {below} below, "
        f"{ties} ties (no difference after correction)"
        f"{f', {untested} untested (no test possible)' if untested else ''}. "
        "The largest mean difference is "
        f"{top['estimate']:+.3f} ({_t_text(top['low'], top['high'], n_seeds, '+')}; "
        f"{top['verdict']}). detectable: the smallest true difference detected with "
        f"{POWER:.0%} power at Holm's worst-case level (alpha / {len(table)}), from the "
        "seeds and the spread of the paired differences. The same comparisons in test "
        f"samples are the family 'hybrid minus {kind} (test samples)' of findings.parquet."
    )
    resolution = _resolution_text(table, family)
    if resolution:
        report.text(resolution)


def _curves(report: Report, selected: pd.DataFrame, folder: Path) -> None:
    """Equal-cost learning curves: against cumulative shots and against epochs."""
    y = "val_accuracy" if training.has_validation(selected) else "test_accuracy"
    hybrid = selected[selected["model"] == "hybrid"]
    report.text(
        f"Learning curves ({y.replace('_', ' ')}, mean over seeds with {LEVEL:.0%} Student-t "
        "bands; a row of panels per data set, a column per method; dashed: the classical "
        "baseline's mean final value, dotted: the matched classical baseline's) "
        "against the training shots spent (log scale; shot-based runs only), the circuits "
        "run (log scale), the training wall time (exact methods merged into one row show one "
        "of their times) and the epochs: methods compared at equal shots, circuits, time and "
        "epochs. The curves are descriptive; the tested comparisons "
        "are the findings."
    )
    plots = [("learning_curves_epochs", "epoch")]
    if "time_epoch" in selected:
        plots.insert(0, ("learning_curves_time", "cum_time"))
    if "forward_circuits" in selected:
        plots.insert(0, ("learning_curves_circuits", "cum_circuits"))
    if hybrid["shots"].notna().any() if "shots" in hybrid else False:
        plots.insert(0, ("learning_curves_shots", "cum_shots"))
    for name, x in plots:
        fig = training.plot_learning_curves(selected, x, y)
        report.image(figures.save(fig, folder / f"{name}.png"))


def _cost_to_target(report: Report, selected: pd.DataFrame, target: float) -> None:
    if not training.has_validation(selected):
        return
    table = training.cost_to_target(selected, target)
    table = table[table["model"] == "hybrid"]
    if table.empty:
        return
    report.text(
        f"Cost to reach {target:.2f} validation accuracy, survival-style: per configuration, "
        "the fraction of seeds that reached it by each cost (Kaplan-Meier, a run that never "
        "reaches it censored at its total cost); median_* is the cost by which half the seeds "
        "had reached it, given only when at least half did; else the status says how many "
        "seeds never reached it. A listing, not a tested ranking."
    )
    report.table(_shown(table))
    reached = table[table["status"] == "median reached"]
    report.text(
        f"{len(reached)} of {len(table)} hybrid configurations had half their seeds reach "
        f"{target:.2f} validation accuracy."
    )


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
    report.text(
        "Step times are medians over the timed steps of one run on one machine; they carry no "
        "interval and their ratios are not tested comparisons (not in findings.parquet)."
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
        ("variance", variance_section),
        ("estimator", estimator_section),
        ("runtime", _runtime),
    )
    for table, section in sections:
        if table in tables and len(tables[table]):
            if table == "train":
                section(report, tables[table], folder, target)
            else:
                section(report, tables[table], folder)
    if report.findings:
        _findings(report)
        _conclusions(report)
    return report


def _findings(report: Report) -> None:
    table = report.findings_table()
    report.heading("Findings")
    report.text(
        f"Every comparison above is a row of findings.parquet: estimate, {LEVEL:.0%} interval, "
        "p-value, Holm-adjusted p-value within its family, verdict and the rows it rests on. "
        f"A difference is called only when the adjusted p-value is below {1 - LEVEL:.2g}."
    )
    counts = (
        table.assign(
            called=table["verdict"].map(is_called),
            untested=table["verdict"] == untested_text(),
        )
        .groupby("family", sort=False)
        .agg(
            comparisons=("verdict", "size"),
            differences=("called", "sum"),
            untested=("untested", "sum"),
        )
        .reset_index()
    )
    counts["ties"] = counts["comparisons"] - counts["differences"] - counts["untested"]
    counts = counts[["family", "comparisons", "differences", "ties", "untested"]]
    report.table(counts)


#: Called comparisons a conclusion names before it counts the rest.
NAMED = 3


def _conclusion(family: str, rows: pd.DataFrame) -> str:
    """One line for a family: how many comparisons, which were called, and the rest ties."""
    called = rows[rows["verdict"].map(is_called)]
    untested = int((rows["verdict"] == untested_text()).sum())
    if untested:
        rows = rows[rows["verdict"] != untested_text()]
        note = f" ({untested} more untested: no test possible)"
        if rows.empty:
            return f"{family}: nothing can be claimed; {untested} untested (no test possible)."
        return _conclusion(family, rows).removesuffix(".") + note + "."
    n, k = len(rows), len(called)
    if not k:
        return (
            f"{family}: no difference can be claimed; "
            f"{f'all {n} comparisons are ties' if n > 1 else 'its one comparison is a tie'} "
            f"at level {LEVEL:g} after Holm's correction."
        )
    pairs = zip(called["comparison"], called["verdict"], strict=True)
    shown = "; ".join(f"{c} ({v})" for c, v in list(pairs)[:NAMED])
    more = f"; and {k - NAMED} more" if k > NAMED else ""
    ties = f", {n - k} tie{'s' * (n - k != 1)}" if n > k else ""
    return f"{family}: {k} of {n} called{ties}. {shown}{more}."


def _conclusions(report: Report) -> None:
    """Close the report with what the findings support, family by family, and nothing more."""
    table = report.findings_table()
    report.heading("Conclusions")
    report.text(
        "What the findings above support, one family at a time: the comparisons whose "
        f"Holm-adjusted p-value is below {1 - LEVEL:.2g} (with their verdicts), and the rest "
        "as ties (or untested, where no test was possible). A tie is not evidence of "
        "equality: it says the data at this sample size cannot tell the two apart. Readings "
        "without a test (runtimes, the cost-to-target listing, the curves) are descriptive "
        "and support no conclusion here."
    )
    for family, rows in table.groupby("family", sort=False):
        report.text(_conclusion(str(family), rows))
        if str(family).endswith("(test accuracy)"):
            resolution = _resolution_text(rows, str(family))
            if resolution:
                report.text(resolution)


def write_report(run_dir: str | Path, formats=("md", "html"), *, target: float = 0.9) -> list:
    """Write ``report.md`` (and ``report.html``) and ``findings.parquet``; return the files.

    The figures are written to ``run_dir/figures/`` and listed first; ``findings.parquet``
    (every comparison the report makes, :func:`qgradbench.analysis.stats.findings_table`) is
    written when the report makes any.
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
    if report.findings:
        path = run_dir / "findings.parquet"
        report.findings_table().to_parquet(path, index=False)
        written.append(path)
    return written
