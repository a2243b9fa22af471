"""Loaders: the tidy tables of one run directory, or of many, as pandas DataFrames.

>>> from qgradbench.analysis import load
>>> tables = load("results/default/*")          # doctest: +SKIP
>>> tables["variance"].groupby("n_qubits").variance.median()  # doctest: +SKIP

A run directory holds ``<experiment>.parquet`` tables and ``metadata.json``
(``results/README.md``). Tables of several runs are concatenated with a ``run_id`` column (the
directory's name) in front; integer columns keep pandas' nullable ``Int64`` dtype.
"""

from __future__ import annotations

import glob
import json
import os
from pathlib import Path

import pandas as pd

EXPERIMENTS = ("train", "variance", "estimator", "runtime")


class ResultsError(ValueError):
    """A path that holds no readable results; the message says which and why."""


def run_dirs(path_or_glob: str | os.PathLike) -> list[Path]:
    """The run directories named by a path or a glob pattern (sorted).

    A directory counts when it holds ``metadata.json`` or a Parquet table; a directory that
    holds run directories (e.g. ``results/default``) stands for all of them.
    """
    text = str(path_or_glob)
    paths = [Path(p) for p in sorted(glob.glob(text))] if glob.has_magic(text) else [Path(text)]
    runs: list[Path] = []
    for path in paths:
        if _is_run(path):
            runs.append(path)
        elif path.is_dir():
            runs.extend(sorted(child for child in path.iterdir() if _is_run(child)))
    return runs


def _is_run(path: Path) -> bool:
    return path.is_dir() and ((path / "metadata.json").exists() or any(path.glob("*.parquet")))


def metadata(run_dir: str | os.PathLike) -> dict:
    """The run's ``metadata.json`` (``{}`` when there is none).

    Raises:
        ResultsError: if the file exists but is not valid JSON.
    """
    path = Path(run_dir) / "metadata.json"
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except ValueError as err:
        raise ResultsError(f"{path}: not valid JSON ({err})") from None


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read one result table.

    Raises:
        ResultsError: if it cannot be read as Parquet (corrupt, truncated, not Parquet).
    """
    try:
        return pd.read_parquet(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises several types for bad files
        reason = " ".join(str(err).split())[:200]
        raise ResultsError(f"{path}: not a readable Parquet table ({reason})") from None


def load(path_or_glob: str | os.PathLike) -> dict[str, pd.DataFrame]:
    """Return ``{experiment: DataFrame}`` for every table of the run(s) found.

    Args:
        path_or_glob: a run directory, a folder of run directories, or a glob of either.

    Returns:
        One DataFrame per experiment table found, rows of all runs concatenated, with a leading
        ``run_id`` column (the run directory's name).

    Raises:
        ResultsError: if nothing is found or a table cannot be read.
    """
    runs = run_dirs(path_or_glob)
    if not runs:
        raise ResultsError(f"{path_or_glob}: no run directory with results found")
    parts: dict[str, list[pd.DataFrame]] = {}
    for run in runs:
        for table in sorted(run.glob("*.parquet")):
            frame = read_table(table)
            frame.insert(0, "run_id", run.name)
            parts.setdefault(table.stem, []).append(frame)
    if not parts:
        raise ResultsError(f"{path_or_glob}: run directories found but no tables in them")
    return {name: pd.concat(frames, ignore_index=True) for name, frames in parts.items()}
