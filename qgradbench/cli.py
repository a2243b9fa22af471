"""The ``qgradbench`` command: parse arguments, call the library, print.

Errors in the user's input end the program with exit code 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
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
