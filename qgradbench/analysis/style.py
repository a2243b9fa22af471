"""The figures' style: colours, markers, sizes, rc settings, figure creation and saving.

Every colour, marker, size and rc setting of the analysis figures lives here, so that a method
looks the same in every figure: :data:`METHOD_COLOURS` and :func:`method_palette` give each
method its fixed colour, :func:`_style` applies the seaborn style, :func:`_new_figure` and
:func:`_finish` create and lay out a figure built on :class:`matplotlib.figure.Figure` (not
through pyplot), and :func:`save` writes it as a PNG and closes it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import seaborn as sns
from matplotlib.figure import Figure

# --------------------------------------------------------------------------------------------
# Styling: every colour, marker, size and rc setting of the figures lives here.
# --------------------------------------------------------------------------------------------

#: The fixed colour of each differentiation method (and of the classical baselines), from the
#: Okabe-Ito colour-blind-safe palette where it has enough colours. Order is legend order.
METHOD_COLOURS: dict[str, str] = {
    "backprop": "#0072B2",  # blue
    "adjoint": "#56B4E9",  # sky blue
    "parameter-shift": "#E69F00",  # orange
    "finite-diff": "#D55E00",  # vermilion
    "spsa": "#CC79A7",  # reddish purple
    "hadamard": "#8C564B",  # brown
    "shot-adjoint": "#009E73",  # bluish green
    "classical": "#222222",  # near black
    "classical-matched": "#888888",  # grey
}

#: Colours handed to names not in METHOD_COLOURS, in sorted name order (cycled if needed).
_EXTRA_COLOURS: tuple[str, ...] = (
    "#9467BD",  # purple
    "#BCBD22",  # olive
    "#17BECF",  # cyan
    "#E377C2",  # pink
    "#D62728",  # red
    "#2CA02C",  # green
    "#7F7F7F",  # mid grey
    "#1F3A93",  # navy
)

#: Markers for shot counts, assigned in increasing order of shots within a figure.
_SHOT_MARKERS: tuple[str, ...] = ("o", "s", "^", "D", "v", "P", "X", "*")

#: Class colours of the data points: the first two are the ends of the boundary colormap.
_CLASS_COLOURS: tuple[str, ...] = ("#2166AC", "#B2182B", "#1B7837", "#762A83", "#E08214")
_SPLIT_MARKERS: dict[str, str] = {"train": "o", "test": "^"}
_SPLIT_LINESTYLES: dict[str, str] = {"train": "--", "test": "-"}
_BOUNDARY_CMAP = "RdBu_r"

_SEABORN_STYLE = "whitegrid"
_SEABORN_CONTEXT = "notebook"
_FONT_SCALE = 0.9
_RC: dict[str, object] = {"axes.titleweight": "bold", "legend.frameon": False}
_LINE_WIDTH = 1.8
_MARKER_SIZE = 5.5
_N_MARKERS = 10  # markers per line, at most
_DPI = 120


@contextlib.contextmanager
def _style() -> Iterator[None]:
    """Apply the figures' seaborn style for the duration of the block (restored afterwards)."""
    with (
        sns.axes_style(_SEABORN_STYLE, rc=_RC),
        sns.plotting_context(_SEABORN_CONTEXT, font_scale=_FONT_SCALE),
    ):
        yield


def _new_figure(ncols: int, figsize: tuple[float, float], **gridspec) -> tuple[Figure, list]:
    """Return a constrained-layout Figure (not registered with pyplot) and its axes."""
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False, gridspec_kw=gridspec or None)[0]
    return fig, list(axes)


def _finish(fig: Figure) -> Figure:
    """Lay the figure out inside the style, so that ticks keep its fonts when saved later."""
    fig.draw_without_rendering()
    return fig


# --------------------------------------------------------------------------------------------
# Colours.
# --------------------------------------------------------------------------------------------


def method_palette(names: Iterable[str]) -> dict[str, str]:
    """Return a colour (hex string) for each distinct name, fixed for known methods.

    Known names get :data:`METHOD_COLOURS`. Unknown names get colours from a fixed extra
    palette in sorted name order, so the result depends only on the set of names given: never
    on their order or on chance.

    Args:
        names: method names (``"classical"`` for the classical model); repeats are ignored.

    Returns:
        ``{name: colour}`` in the order the names first appear.
    """
    unique = list(dict.fromkeys(str(name) for name in names))
    unknown = sorted(name for name in unique if name not in METHOD_COLOURS)
    extra = {name: _EXTRA_COLOURS[i % len(_EXTRA_COLOURS)] for i, name in enumerate(unknown)}
    return {name: METHOD_COLOURS.get(name, extra.get(name)) for name in unique}


def _class_colours(classes: Sequence[int]) -> dict[int, str]:
    return {c: _CLASS_COLOURS[i % len(_CLASS_COLOURS)] for i, c in enumerate(classes)}


# --------------------------------------------------------------------------------------------
# Output.
# --------------------------------------------------------------------------------------------


def save(fig: Figure, path: str | Path) -> Path:
    """Save ``fig`` as a PNG (120 dpi, tight bounding box) and close it.

    Args:
        fig: a figure from one of the ``plot_*`` functions (or any matplotlib figure).
        path: where to write; parent directories are created. The suffix must be ``.png``.

    Returns:
        The path written.

    Raises:
        ValueError: if ``path`` does not end in ``.png``.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"save writes PNG files; give a path ending in .png, got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fig.savefig(path, format="png", dpi=_DPI, bbox_inches="tight")
    finally:
        _close(fig)
    return path


def _close(fig: Figure) -> None:
    """Free the figure: drop it from pyplot's registry if it is there, and clear it."""
    import matplotlib.pyplot as plt  # already imported by seaborn; no backend is chosen here

    plt.close(fig)
    fig.clear()
