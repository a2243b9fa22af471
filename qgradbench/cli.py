"""The ``qgradbench`` command: parse arguments, call the library, print.

Errors in the user's input end the program with exit code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shlex
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from qgradbench import __version__
from qgradbench.progress import progress_bar


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


class _TrainProgress:
    """Progress of ``run train`` on stderr: a bar over the epochs of every run.

    An epoch that takes more than a second (a large register) also gets a bar over its
    batches. Both are silent when stderr is not a terminal or with ``--quiet``.
    """

    def __init__(self, epochs: int, quiet: bool):
        self.quiet, self.rows = quiet, 0
        self.epochs = progress_bar(epochs, "train", quiet=quiet, unit="epoch")
        self.batches = None

    def on_batch(self, batch: int, n_batches: int) -> None:
        if self.batches is None:
            self.batches = progress_bar(
                n_batches, "  batches", quiet=self.quiet, unit="batch", leave=False, delay=1.0
            )
        self.batches.update(1)

    def on_row(self, row: dict) -> None:
        self.rows += 1
        self._close_batches()
        self.epochs.set_postfix_str(
            f"{row['model']}  loss {row['loss']:.3f}  test acc {row['test_accuracy']:.3f}",
            refresh=False,
        )
        self.epochs.update(1)

    def _close_batches(self) -> None:
        if self.batches is not None:
            self.batches.close()
            self.batches = None

    def close(self) -> None:
        self._close_batches()
        self.epochs.close()


def _run_train(args: argparse.Namespace) -> int:
    from qgradbench.experiments.train import TrainSpec
    from qgradbench.suite.runs import TABLE, run_train
    from qgradbench.suite.store import METADATA, RunExistsError, run_id

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
    out = Path(args.out or f"results/train/{run_id(dataclasses.asdict(spec))}")
    progress = _TrainProgress(runs * args.epochs, args.quiet)
    try:
        written = run_train(
            spec,
            out,
            plots=args.plots,
            overwrite=args.overwrite,
            command=shlex.join(["qgradbench", *args.argv]),
            on_row=progress.on_row,
            on_batch=progress.on_batch,
        )
    except RunExistsError as err:
        raise UsageError(
            f"--out {str(err.path)!r} holds another run ({', '.join(err.found)}); "
            "pass --overwrite to replace it, or choose another --out"
        ) from None
    except KeyboardInterrupt as err:
        meta = json.loads((out / METADATA).read_text()) if (out / METADATA).exists() else {}
        if meta.get("status") != "interrupted":  # stopped before the run directory was written
            raise Interrupted(
                _signal_name(err), "before the first epoch; nothing written"
            ) from None
        raise Interrupted(
            _signal_name(err),
            f"kept {meta['rows']} of {runs * args.epochs} epochs' rows in {out / TABLE} "
            f"({out / METADATA} says status 'interrupted')",
        ) from None
    finally:
        progress.close()
    for path in written:
        print(f"wrote {path}")
    return 0


def _choices(values: Sequence[str], default: str | None = None) -> str:
    """Help text listing accepted values (and the default)."""
    text = "one of " + ", ".join(values)
    return text + (f" (default: {default})" if default is not None else "")


def _add_train(commands) -> None:
    from qgradbench.circuits import ANSATZES
    from qgradbench.datasets import names as dataset_names
    from qgradbench.experiments.train import MODELS
    from qgradbench.methods import names as method_names

    p = commands.add_parser(
        "train",
        help="train a hybrid (or classical) model and record one row per epoch",
        description="Train the seed notebook's hybrid model (or the classical baseline) and "
        "write one row per epoch to OUT/train.parquet.",
    )
    methods, datasets, ansatzes = method_names(), dataset_names(), list(ANSATZES)
    p.add_argument(
        "--method", default="backprop", choices=methods, metavar="METHOD",
        help="differentiation method of the quantum layer: " + _choices(methods, "backprop"),
    )  # fmt: skip
    p.add_argument(
        "--shots", type=_shots, default=None, metavar="N",
        help="shots per circuit, or 'exact' (default: exact)",
    )  # fmt: skip
    p.add_argument("--layers", type=int, default=2, help="ansatz layers (default: %(default)s)")
    p.add_argument("--qubits", type=int, default=4, help="qubits (default: %(default)s)")
    p.add_argument(
        "--ansatz", default="strongly-entangling", choices=ansatzes, metavar="ANSATZ",
        help=_choices(ansatzes, "strongly-entangling"),
    )  # fmt: skip
    p.add_argument(
        "--dataset", default="circles", choices=datasets, metavar="DATASET",
        help=_choices(datasets, "circles"),
    )  # fmt: skip
    p.add_argument("--features", type=int, default=4, help="input features (default: %(default)s)")
    p.add_argument("--samples", type=int, default=None, help="samples (default: the set's)")
    p.add_argument(
        "--model", default="hybrid", choices=MODELS, metavar="MODEL",
        help=_choices(MODELS, "hybrid") + "; classical-matched has about the hybrid's "
        "parameter count",
    )  # fmt: skip
    p.add_argument("--hidden", type=int, default=16, help="classical width (default: %(default)s)")
    p.add_argument("--epochs", type=int, default=50, help="epochs (default: %(default)s)")
    p.add_argument("--batch-size", type=int, default=32, help="batch size (default: %(default)s)")
    p.add_argument(
        "--lr", type=float, default=0.01, help="Adam learning rate (default: %(default)s)"
    )
    p.add_argument(
        "--seed", type=int, default=0,
        help="seed of data, init, batches, shots (default: %(default)s)",
    )  # fmt: skip
    p.add_argument(
        "--option", type=_option, action="append", default=[], metavar="KEY=VALUE",
        help="a method option, e.g. --option h=0.1 (repeatable)",
    )  # fmt: skip
    p.add_argument("--out", default=None, help="run directory (default: results/train/RUN_ID)")
    p.add_argument(
        "--overwrite", action="store_true",
        help="replace the run already in OUT (its tables, metadata.json and figures/)",
    )  # fmt: skip
    p.add_argument(
        "--plots", action="store_true",
        help="also train the classical baseline and draw the figures into OUT/figures",
    )  # fmt: skip
    p.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (it is off when stderr is no terminal)",
    )
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


class Interrupted(KeyboardInterrupt):
    """The command was stopped by SIGINT (Ctrl-C) or SIGTERM (``kill``, ``timeout``).

    Attributes:
        signal: ``"SIGINT"`` or ``"SIGTERM"``.
        detail: what the command kept, for the one line the user sees.
    """

    def __init__(self, signal_name: str = "SIGINT", detail: str = ""):
        super().__init__(signal_name, detail)
        self.signal, self.detail = signal_name, detail

    def __str__(self) -> str:
        return f"interrupted by {self.signal}" + (f": {self.detail}" if self.detail else "")


def _signal_name(err: BaseException) -> str:
    return err.signal if isinstance(err, Interrupted) else "SIGINT"


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Raise :class:`Interrupted` on SIGTERM inside the block, as Ctrl-C raises KeyboardInterrupt.

    A run stopped by ``kill`` or ``timeout`` then records its rows and status ``interrupted``
    like one stopped by Ctrl-C. Only the first SIGTERM raises (so that the run can write its
    metadata); the previous handler is restored afterwards. Outside the main thread signals
    cannot be handled and nothing is installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum, frame):
        nonlocal raised
        if not raised:
            raised = True
            raise Interrupted("SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        args = build_parser().parse_args(argv)
        args.argv = argv
        with _sigterm_interrupts():
            return args.func(args)
    except (UsageError, ValueError) as err:
        print(f"error: {err}" if isinstance(err, ValueError) else str(err), file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(str(err if isinstance(err, Interrupted) else Interrupted()), file=sys.stderr)
        return 130  # for SIGINT and SIGTERM alike: both mean "stopped by the user"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
