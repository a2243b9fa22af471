"""The result store: tidy Parquet tables and a ``metadata.json`` per run directory.

A run directory holds one Parquet table per experiment (one row per measurement, snake_case
columns, the run's parameters as columns) and ``metadata.json`` with the resolved
configuration, package versions, git commit, machine, start and end time, and status.
Tables are rewritten atomically (write to a temporary file, then rename), so an interrupted
run leaves every finished row readable and never a half-written file. A run never writes into
a directory that holds another run, unless told to replace it (:func:`prepare_run_dir`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import numbers
import os
import platform
import shutil
import subprocess
from collections.abc import Iterable
from importlib import metadata as importlib_metadata
from pathlib import Path

import pandas as pd

from qgradbench import memory

PACKAGES = ("qgradbench", "torch", "numpy", "pandas", "pyarrow", "pennylane", "scikit-learn")


def check_out_dir(path: str | os.PathLike) -> Path:
    """Return ``path`` as a directory to write into, creating it.

    Raises:
        ValueError: if ``path`` exists and is not a directory.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output directory {str(path)!r} exists and is a file; give a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cannot create output directory {str(path)!r}: {err.strerror}") from err
    return path


#: What a run writes into its directory besides its tables (``*.parquet``).
METADATA = "metadata.json"
FIGURES = "figures"


class RunExistsError(ValueError):
    """The output directory holds another run (see :func:`prepare_run_dir`)."""

    def __init__(self, path: Path, found: list[str]):
        self.path, self.found = path, found
        super().__init__(
            f"output directory {str(path)!r} holds another run ({', '.join(found)}); "
            "give a new directory, or overwrite it"
        )


def run_outputs(path: str | os.PathLike) -> list[Path]:
    """Return what a run wrote into ``path``: tables, ``metadata.json``, log, figures, report."""
    path = Path(path)
    if not path.is_dir():
        return []
    found = sorted(path.glob("*.parquet"))
    extra = (METADATA, "log.txt", FIGURES, "report.md", "report.html")
    found += [path / name for name in extra if (path / name).exists()]
    return found


def prepare_run_dir(path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Return ``path`` as a directory ready for a new run, creating it.

    A directory that holds another run (a ``metadata.json`` or a ``*.parquet`` table) is
    refused, so that a new run never mixes its rows, metadata or figures with an old one's.
    With ``overwrite`` the old run's outputs (:func:`run_outputs`) are removed first; nothing
    else in the directory is touched.

    Raises:
        RunExistsError: if ``path`` holds a run and ``overwrite`` is false.
        ValueError: if ``path`` is a file or cannot be created.
    """
    path = check_out_dir(path)
    old = run_outputs(path)
    if any(p.name == METADATA or p.suffix == ".parquet" for p in old):
        if not overwrite:
            raise RunExistsError(path, [p.name + ("/" if p.is_dir() else "") for p in old])
        for p in old:
            if p.is_dir():
                shutil.rmtree(p)
            else:
                p.unlink()
    return path


def now() -> str:
    """The current UTC time, ISO 8601."""
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def run_id(config: dict) -> str:
    """A run identifier: UTC timestamp and a short hash of the configuration."""
    digest = hashlib.sha1(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{digest[:8]}"


def git_commit() -> str | None:
    """The git commit of the qgradbench checkout, if it is one."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what :mod:`platform` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def torch_threads() -> int | None:
    """Threads torch's CPU kernels use (its float32 reductions depend on it), if torch is here."""
    try:
        import torch
    except ImportError:
        return None
    return torch.get_num_threads()


def environment(command: str | None = None) -> dict:
    """The command, package versions, Python, machine (CPU model, torch threads), git commit.

    Args:
        command: the command line that started the run, recorded as given.
    """
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "command": command,
        "versions": versions,
        "python": platform.python_version(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_model": cpu_model(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch_threads(),
            "malloc_retains_freed_memory": memory.retained(),
            "hostname": platform.node(),
        },
        "git_commit": git_commit(),
    }


def write_json(path: Path, content: dict) -> None:
    """Write ``content`` as JSON atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(content, indent=2, sort_keys=True, default=str) + "\n")
    os.replace(tmp, path)


def to_frame(rows: list[dict], nullable_integers: Iterable[str] = ()) -> pd.DataFrame:
    """Return rows as a DataFrame whose integer columns stay integers where some are null.

    pandas turns a column of ints and ``None`` into float64 (``1000.0``); such columns, and
    the columns named in ``nullable_integers`` (which may be null in every row, e.g. ``shots``
    of an exact run), become pandas' nullable ``Int64`` instead.
    """
    frame = pd.DataFrame(rows)
    named = set(nullable_integers)
    for column in frame.columns:
        values = [row.get(column) for row in rows]
        present = [v for v in values if v is not None]
        if column in named or (
            len(present) < len(values)
            and present
            and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in present)
        ):
            frame[column] = pd.array(values, dtype="Int64")
    return frame


def write_table(rows: list[dict], path: Path, nullable_integers: Iterable[str] = ()) -> None:
    """Write rows as a Parquet table atomically (integer columns as in :func:`to_frame`)."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    to_frame(rows, nullable_integers).to_parquet(tmp, index=False)
    os.replace(tmp, path)
