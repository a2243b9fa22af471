"""Shot sampling: measurement counts of computational-basis measurements, batched.

``N`` shots of a state are ``N`` bitstrings drawn from ``|psi_s|^2``; what an estimator needs of
them is the multinomial vector of counts. It is drawn here exactly, without ``N`` draws, by
splitting the shots qubit by qubit: given ``c`` shots with a prefix ``b_0..b_{l-1}``, the number
whose next bit is 0 is ``Binomial(c, P(b_l = 0 | prefix))``. That is ``n`` vectorised binomial
calls whatever ``N`` is, and the same generator makes it reproducible.
"""

from __future__ import annotations

import torch


def sample_counts(
    probs: torch.Tensor, shots: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Draw measurement counts ``~ Multinomial(shots, probs)`` for every row.

    Args:
        probs: real ``(M, 2**n)`` probabilities (rows need not be exactly normalised).
        shots: shots per row.
        generator: the random generator (on the same device as ``probs``).

    Returns:
        ``(M, 2**n)`` float64 counts; every row sums to ``shots``.
    """
    rows, dim = probs.shape
    n = dim.bit_length() - 1
    if dim != 2**n:
        raise ValueError(f"probs must have 2**n columns, got {dim}")
    # the probability of every prefix, level by level from the root (1 prefix) to the leaves;
    # siblings added as two strided views: a reduction over an axis of two
    # (reshape(..., 2).sum(-1)) took twenty times as long on the CPU
    levels = [probs.to(torch.float64).clamp_min(0)]
    for _ in range(n):
        levels.insert(0, levels[0][:, 0::2] + levels[0][:, 1::2])
    # P(next bit 0 | prefix) for every prefix at once; a prefix of probability 0 gets no shots
    parents = torch.cat(levels[:n], dim=1)
    zero_children = torch.cat([level[:, 0::2] for level in levels[1:]], dim=1)
    p_zero = torch.where(parents > 0, zero_children / parents, 0.0).clamp(0, 1)
    counts = torch.full((rows, 1), float(shots), dtype=torch.float64, device=probs.device)
    for level in range(n):
        width = 2**level
        zeros = torch.binomial(counts, p_zero[:, width - 1 : 2 * width - 1], generator=generator)
        split = counts.new_empty(rows, 2 * width)
        split[:, 0::2] = zeros
        split[:, 1::2] = counts - zeros
        counts = split
    return counts


def estimate_expvals(
    probs: torch.Tensor,
    table: torch.Tensor,
    shots: int | None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Estimate diagonal observables from ``shots`` samples of each row (exact for ``None``).

    Every output is estimated from the *same* bitstrings, as hardware does when it measures
    commuting observables together: ``<O_j> ~ sum_s counts_s O_j[s] / shots``.

    Args:
        probs: ``(M, 2**n)`` probabilities.
        table: ``(n_out, 2**n)`` eigenvalues of the observables on each basis state.
        shots: shots per row, or ``None`` for the exact values.
        generator: the random generator.

    Returns:
        ``(M, n_out)`` in the dtype of ``table``.
    """
    if shots is None:
        return probs @ table.T
    counts = sample_counts(probs, shots, generator)
    return (counts @ table.T.to(torch.float64) / shots).to(table.dtype)
