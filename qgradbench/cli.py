"""The ``qgradbench`` command: parse arguments, call the library, print.

Errors in the user's input end the program with exit code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

from qgradbench import __version__


class UsageError(Exception):
    """A command-line argument the library or the parser rejected."""


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (no usage block) and exit code 2."""

    def error(self, message: str):  # noqa: D102
        raise UsageError(f"{self.prog}: {message}")


def _methods(args: argparse.Namespace) -> int:
    from qgradbench.methods import available

    rows = [("method", "family", "shots", "hardware", "description")]
    for m in available():
        rows.append((m.name, m.family, "yes" if m.supports_shots else "no", m.hardware, m.summary))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for row in rows:
        print("  ".join(c.ljust(w) for c, w in zip(row[:4], widths, strict=True)) + "  " + row[4])
    return 0


def _option(text: str) -> tuple[str, object]:
    """Parse ``KEY=VALUE`` (the value as a YAML scalar: 0.1, 4, central, null)."""
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), yaml.safe_load(value)


def _shots(text: str) -> int | None:
    if text.lower() in ("none", "exact"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"shots must be a positive integer or 'exact', got {text!r}"
        ) from None


class _Progress:
    """A one-line progress bar on a terminal's stderr; silent when stderr is not a terminal."""

    def __init__(self, total: int, width: int = 30):
        self.total, self.width, self.done = total, width, 0
        self.enabled = sys.stderr.isatty()

    def __call__(self, row: dict) -> None:
        self.done += 1
        if not self.enabled:
            return
        filled = self.width * self.done // self.total
        bar = "#" * filled + "." * (self.width - filled)
        sys.stderr.write(
            f"\r{row['model']:<9} [{bar}] {self.done}/{self.total}  loss {row['loss']:.3f}  "
            f"test acc {row['test_accuracy']:.3f}"
        )
        if self.done == self.total:
            sys.stderr.write("\n")
        sys.stderr.flush()


def _run_train(args: argparse.Namespace) -> int:
    from qgradbench.experiments.train import TrainSpec
    from qgradbench.suite.runs import run_train
    from qgradbench.suite.store import RunExistsError, run_id

    spec = TrainSpec(
        dataset=args.dataset,
        model=args.model,
        method=args.method,
        shots=args.shots,
        n_qubits=args.qubits,
        n_layers=args.layers,
        ansatz=args.ansatz,
        hidden_size=args.hidden,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        n_features=args.features,
        n_samples=args.samples,
        method_options=dict(args.option),
    )
    runs = 2 if args.plots and args.model == "hybrid" else 1
    out = args.out or f"results/train/{run_id(dataclasses.asdict(spec))}"
    try:
        table = run_train(
            spec,
            out,
            plots=args.plots,
            overwrite=args.overwrite,
            on_row=_Progress(runs * args.epochs),
        )
    except RunExistsError as err:
        raise UsageError(
            f"--out {str(err.path)!r} holds another run ({', '.join(err.found)}); "
            "pass --overwrite to replace it, or choose another --out"
        ) from None
    print(f"wrote {table}")
    return 0


def _add_train(commands) -> None:
    p = commands.add_parser(
        "train",
        help="train a hybrid (or classical) model and record one row per epoch",
        description="Train the seed notebook's hybrid model (or the classical baseline) and "
        "write one row per epoch to OUT/train.parquet.",
    )
    p.add_argument("--method", default="backprop", help="differentiation method (see `methods`)")
    p.add_argument("--shots", type=_shots, default=None, help="shots per circuit (default exact)")
    p.add_argument("--layers", type=int, default=2, help="ansatz layers (default 2)")
    p.add_argument("--qubits", type=int, default=4, help="qubits (default 4)")
    p.add_argument("--ansatz", default="strongly-entangling", help="ansatz (default %(default)s)")
    p.add_argument("--dataset", default="circles", help="data set (default circles)")
    p.add_argument("--features", type=int, default=4, help="input features (default 4)")
    p.add_argument("--samples", type=int, default=None, help="samples (default: the set's)")
    p.add_argument(
        "--model", default="hybrid", help="hybrid, classical or classical-matched (default hybrid)"
    )
    p.add_argument("--hidden", type=int, default=16, help="classical width (default 16)")
    p.add_argument("--epochs", type=int, default=50, help="epochs (default 50)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default 32)")
    p.add_argument("--lr", type=float, default=0.01, help="Adam learning rate (default 0.01)")
    p.add_argument("--seed", type=int, default=0, help="seed of data, init, batches, shots")
    p.add_argument(
        "--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="a method option, e.g. --option h=0.1 (repeatable)",
    )  # fmt: skip
    p.add_argument("--out", default=None, help="run directory (default results/train/RUN_ID)")
    p.add_argument(
        "--overwrite", action="store_true",
        help="replace the run already in OUT (its tables, metadata.json and figures/)",
    )  # fmt: skip
    p.add_argument(
        "--plots", action="store_true",
        help="also train the classical baseline and draw the figures into OUT/figures",
    )  # fmt: skip
    p.set_defaults(func=_run_train)


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of the ``qgradbench`` command."""
    parser = _Parser(
        prog="qgradbench",
        description="Benchmark gradient methods of hybrid quantum-classical neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"qgradbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    methods = commands.add_parser("methods", help="list the differentiation methods")
    methods.set_defaults(func=_methods)
    run = commands.add_parser("run", help="run an experiment")
    experiments = run.add_subparsers(dest="experiment", required=True, parser_class=_Parser)
    _add_train(experiments)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    try:
        args = build_parser().parse_args(argv)
        return args.func(args)
    except (UsageError, ValueError) as err:
        print(f"error: {err}" if isinstance(err, ValueError) else str(err), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
