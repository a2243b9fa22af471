"""Tidy tables from rows: column dtypes decided by the values' Python types.

pandas turns a column of ``None`` and ``1000`` into float64 (``1000.0``). Result tables keep
integer columns integer: a column whose values are all Python (or numpy) integers, with or
without nulls, becomes pandas' nullable ``Int64``; floats become float64 (nulls as NaN); bools
the nullable ``boolean``; everything else stays as it is (strings as object).
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd


def _kind(values: list) -> str | None:
    present = [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
    present = [v for v in present if v is not pd.NA]
    if not present:
        return None
    if all(isinstance(v, bool | np.bool_) for v in present):
        return "boolean"
    if any(isinstance(v, bool | np.bool_) for v in present):
        return None
    if all(isinstance(v, numbers.Integral) for v in present):
        return "Int64"
    if all(isinstance(v, numbers.Real) for v in present):
        return "float64"
    return None


def tidy(frame: pd.DataFrame) -> pd.DataFrame:
    """Give object columns of numbers a numeric dtype (integers as nullable ``Int64``)."""
    out = frame
    for column in frame.columns:
        if frame[column].dtype != object:
            continue
        if out is frame:
            out = frame.copy()
        kind = _kind(list(out[column]))
        if kind == "Int64":
            out[column] = pd.array([None if pd.isna(v) else int(v) for v in out[column]], "Int64")
        elif kind is not None:
            out[column] = out[column].astype(kind)
    return out


def _column(values: list):
    """A typed array for one column of Python values (see the module docstring)."""
    kind = _kind(values)
    if kind == "Int64":
        return pd.array([None if v is None or v is pd.NA else int(v) for v in values], "Int64")
    if kind == "float64":
        return np.array([np.nan if v is None or v is pd.NA else v for v in values], float)
    if kind == "boolean":
        return pd.array(values, "boolean")
    return pd.Series(values, dtype=object)


def frame(rows: list[dict]) -> pd.DataFrame:
    """Rows as a tidy DataFrame (columns in first-seen order)."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    data = {c: _column([row.get(c) for row in rows]) for c in columns}
    return pd.DataFrame(data, index=range(len(rows)))


def concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate tidy frames, keeping integer columns integer."""
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame()
    merged = pd.concat(frames, ignore_index=True)
    # Columns whose dtypes disagree (Int64 and an all-null object column, say) come out as
    # object; only those need tidying again.
    return tidy(merged)


#: Columns that hold integers or null (``shots`` of an exact run, the quantum settings of a
#: classical one): Int64 even when every value is null, as when they are not.
NULLABLE_INTEGERS = ("shots", "n_qubits", "n_layers", "n_samples", "budget")


def nullable_integers(frame: pd.DataFrame, columns=NULLABLE_INTEGERS) -> pd.DataFrame:
    """Give the named columns that hold only nulls the nullable ``Int64`` dtype."""
    out = frame
    for column in columns:
        if column in frame.columns and frame[column].dtype == object and frame[column].isna().all():
            if out is frame:
                out = frame.copy()
            out[column] = pd.array([None] * len(frame), dtype="Int64")
    return out
