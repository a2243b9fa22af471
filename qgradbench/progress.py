"""Progress bars for long commands (tqdm), quiet when the output is not a terminal.

Every long-running entry point (``run train``, ``run variance``, ``run suite`` ...) shows one
bar with elapsed time and an ETA on stderr. The bar is silent when stderr is not a terminal
(CI logs, pipes) or when the user asked for ``--quiet``.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


def progress_bar(
    total: int | None, desc: str, *, quiet: bool = False, unit: str = "it", **options
) -> tqdm:
    """Return a tqdm bar on stderr; disabled when ``quiet`` or stderr is not a terminal.

    Args:
        total: the number of steps (``None`` when unknown).
        desc: a short label shown before the bar.
        quiet: never show the bar.
        unit: what one step is called ("run", "epoch", "row").
        **options: other tqdm options, e.g. ``leave=False`` and ``delay=1.0`` for an inner
            bar that only appears when its loop is slow.
    """
    enabled = not quiet and sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        disable=not enabled,
        file=sys.stderr,
        dynamic_ncols=True,
        **{"leave": True, **options},
    )
