"""The command line: listings and one-line errors with exit code 2."""

from __future__ import annotations

import subprocess
import sys

from qgradbench.cli import main
from qgradbench.methods import names


def test_methods_lists_every_method(capsys):
    """Test that `qgradbench methods` lists every registered method with its properties."""
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in names():
        assert name in out
    assert "parameter-shift  hardware   yes" in out


def test_unknown_command_is_one_line_exit_2(capsys):
    """Test that an unknown command exits with 2 and one line on stderr."""
    assert main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "frobnicate" in err


def test_console_script_no_traceback():
    """Test that the installed module entry point answers bad input without a traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "qgradbench.cli", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
