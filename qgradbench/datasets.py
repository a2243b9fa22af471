"""Data sets for the training experiment, split and returned as torch tensors.

Two synthetic sets (``circles``, the seed notebook's, and ``moons``) and three small real sets
bundled with scikit-learn (no download): ``breast-cancer``, ``iris`` and ``wine`` (the last two
restricted to their first two classes so that every set is a binary problem).

- Synthetic sets have two geometric features plus ``n_features - 2`` extra ``N(0, 0.1)`` noise
  features, left as generated (the notebook fed them raw into the network), shuffled and split
  ``1 - test_size`` / ``test_size``.
- Real sets get a stratified split; then a ``StandardScaler`` and a ``PCA`` to ``n_features``
  components are fitted on the training split only and applied to both splits.
- Two benchmark families with a difficulty knob, from Bowles, Ahmed & Schuld 2024
  (arXiv:2403.07059): ``hyperplanes`` (label: parity of ``n_hyperplanes`` half-spaces) and
  ``hidden-manifold`` (label: a random network on a ``manifold_dimension``-dimensional latent
  point), generated in ``n_features`` dimensions with balanced classes and split stratified.
- Your own data: :func:`load_file` reads a ``.csv`` or ``.parquet`` file with a label column
  (features: every other column, numeric; labels: any values, sorted and numbered) and
  processes it as the real sets, standardised, with PCA only when ``n_features`` is below the
  number of feature columns. The training experiment takes it as
  ``dataset: {path: FILE, label: COLUMN}``.

All randomness comes from ``numpy.random.default_rng(seed)``: the same seed gives identical
tensors, a different seed different ones.

>>> from qgradbench.datasets import load_dataset
>>> data = load_dataset("circles", seed=0)
>>> tuple(data.X_train.shape), tuple(data.X_test.shape), data.n_classes
((400, 4), (100, 4), 2)
>>> load_dataset("iris", n_features=2).X_train.shape
torch.Size([80, 2])
"""

from __future__ import annotations

import dataclasses
import functools
import math
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from sklearn import datasets as sk_datasets
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

#: Standard deviation of the extra noise features of the synthetic sets.
NOISE_FEATURE_STD = 0.1
#: Mean radius of each class of ``circles`` (class 0 inside, class 1 outside).
CIRCLE_RADII = (0.3, 0.7)
#: Standard deviation of the radius of each class of ``circles``.
CIRCLE_RADIUS_STD = 0.1


@dataclass(frozen=True, eq=False)
class Dataset:
    """A train/test split of a classification data set, as torch tensors.

    Attributes:
        name: registry name of the data set (e.g. ``"circles"``).
        X_train: training features, ``float32`` of shape ``(n_train, n_features)``.
        y_train: training labels, ``int64`` of shape ``(n_train,)`` in ``0 .. n_classes - 1``.
        X_test: test features, ``float32`` of shape ``(n_test, n_features)``.
        y_test: test labels, ``int64`` of shape ``(n_test,)``.
        n_features: number of features per sample.
        n_classes: number of classes.
        seed: the seed the data (and split) was drawn from.
        test_size: fraction of the samples held out for testing.
        preprocessing: ``"raw"`` (synthetic sets) or ``"standardise+pca"`` (real sets).
    """

    name: str
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    n_features: int
    n_classes: int
    seed: int
    test_size: float
    preprocessing: str

    def __post_init__(self):
        splits = (("train", self.X_train, self.y_train), ("test", self.X_test, self.y_test))
        for split, X, y in splits:
            if X.dtype != torch.float32 or X.dim() != 2 or X.shape[1] != self.n_features:
                raise ValueError(
                    f"X_{split} must be float32 of shape (n, {self.n_features}), "
                    f"got {X.dtype} of shape {tuple(X.shape)}"
                )
            if y.dtype != torch.int64 or y.shape != X.shape[:1]:
                raise ValueError(
                    f"y_{split} must be int64 of shape ({X.shape[0]},), "
                    f"got {y.dtype} of shape {tuple(y.shape)}"
                )

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return self.X_train.shape[0]

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return self.X_test.shape[0]

    def metadata(self) -> dict[str, object]:
        """Return the data set's description as flat columns for result rows."""
        return {
            "dataset": self.name,
            "n_features": self.n_features,
            "n_classes": self.n_classes,
            "n_train": self.n_train,
            "n_test": self.n_test,
            "data_seed": self.seed,
            "test_size": self.test_size,
            "preprocessing": self.preprocessing,
        }


# --------------------------------------------------------------------------- validation


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_test_size(test_size: object) -> float:
    is_number = isinstance(test_size, int | float | np.floating) and not isinstance(test_size, bool)
    if not is_number or not 0 < test_size < 1:
        raise ValueError(
            f"test_size must be a fraction strictly between 0 and 1, got {test_size!r}"
        )
    return float(test_size)


def _check_noise(noise: object) -> float:
    is_number = isinstance(noise, int | float | np.floating) and not isinstance(noise, bool)
    if not is_number or not noise >= 0:
        raise ValueError(f"noise must be a number >= 0, got {noise!r}")
    return float(noise)


def _split_sizes(n_samples: int, test_size: float) -> tuple[int, int]:
    """Return ``(n_train, n_test)`` with ``n_test = ceil(test_size * n_samples)`` as sklearn."""
    n_test = math.ceil(round(test_size * n_samples, 9))
    n_train = n_samples - n_test
    if n_train < 1:
        raise ValueError(
            f"test_size={test_size} of n_samples={n_samples} leaves no training sample; "
            "use a smaller test_size or more samples"
        )
    return n_train, n_test


# --------------------------------------------------------------------------- helpers


def _sklearn_state(rng: np.random.Generator) -> int:
    """Draw a ``random_state`` for scikit-learn from ``rng`` (so that any seed works)."""
    return int(rng.integers(2**32))


def _noise_features(rng: np.random.Generator, n_samples: int, noise_features: int) -> np.ndarray:
    return rng.normal(0.0, NOISE_FEATURE_STD, size=(n_samples, noise_features))


def _to_dataset(
    name, X_train, y_train, X_test, y_test, *, seed, test_size, preprocessing, n_classes=2
):
    return Dataset(
        name=name,
        X_train=torch.as_tensor(np.asarray(X_train), dtype=torch.float32),
        y_train=torch.as_tensor(np.asarray(y_train), dtype=torch.int64),
        X_test=torch.as_tensor(np.asarray(X_test), dtype=torch.float32),
        y_test=torch.as_tensor(np.asarray(y_test), dtype=torch.int64),
        n_features=int(np.shape(X_train)[1]),
        n_classes=n_classes,
        seed=seed,
        test_size=test_size,
        preprocessing=preprocessing,
    )


def _shuffle_split(name, X, y, rng, *, seed, test_size) -> Dataset:
    """Shuffle ``(X, y)`` with ``rng`` and split off the last ``test_size`` fraction."""
    n_train, _ = _split_sizes(len(y), test_size)
    order = rng.permutation(len(y))
    train, test = order[:n_train], order[n_train:]
    return _to_dataset(
        name, X[train], y[train], X[test], y[test],
        seed=seed, test_size=test_size, preprocessing="raw",
    )  # fmt: skip


# --------------------------------------------------------------------------- synthetic


def make_circles(
    n_samples: int = 500, noise_features: int = 2, seed: int = 0, test_size: float = 0.2
) -> Dataset:
    """Return the seed notebook's concentric circles, shuffled and split.

    Class 0 (``n_samples // 2`` points) has radius ``r ~ N(0.3, 0.1)``, class 1 (the rest)
    ``r ~ N(0.7, 0.1)``; the angle is uniform on ``[0, 2 pi)`` and the point is
    ``(r cos a, r sin a)``, followed by ``noise_features`` extra ``N(0, 0.1)`` features. With the
    defaults: 500 samples, 4 features, 400 train / 100 test, as in the notebook.

    Args:
        n_samples: total number of samples (>= 2).
        noise_features: number of extra noise features (>= 0).
        seed: seed of ``numpy.random.default_rng`` (>= 0).
        test_size: fraction held out for testing, in ``(0, 1)``; ``ceil(test_size * n)``.

    Returns:
        The :class:`Dataset` ``"circles"`` with ``2 + noise_features`` raw features.

    Raises:
        ValueError: for a bad ``n_samples``, ``noise_features``, ``seed`` or ``test_size``.
    """
    n_samples = _check_int("n_samples", n_samples, 2)
    noise_features = _check_int("noise_features", noise_features, 0)
    seed = _check_int("seed", seed, 0)
    test_size = _check_test_size(test_size)
    _split_sizes(n_samples, test_size)
    rng = np.random.default_rng(seed)
    n_inner = n_samples // 2
    n_outer = n_samples - n_inner
    radius = np.concatenate(
        [
            rng.normal(CIRCLE_RADII[0], CIRCLE_RADIUS_STD, n_inner),
            rng.normal(CIRCLE_RADII[1], CIRCLE_RADIUS_STD, n_outer),
        ]
    )
    angle = rng.uniform(0.0, 2 * np.pi, n_samples)
    points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
    X = np.hstack([points, _noise_features(rng, n_samples, noise_features)])
    y = np.repeat([0, 1], [n_inner, n_outer])
    return _shuffle_split("circles", X, y, rng, seed=seed, test_size=test_size)


def make_moons(
    n_samples: int = 500,
    noise_features: int = 2,
    seed: int = 0,
    test_size: float = 0.2,
    noise: float = 0.1,
) -> Dataset:
    """Return scikit-learn's two interleaving half circles plus extra noise features.

    The two geometric features are ``sklearn.datasets.make_moons(n_samples, noise=noise)``
    (class 0 the upper moon, ``n_samples // 2`` points), followed by ``noise_features`` extra
    ``N(0, 0.1)`` features; shuffled and split as :func:`make_circles`.

    Args:
        n_samples: total number of samples (>= 2).
        noise_features: number of extra noise features (>= 0).
        seed: seed of ``numpy.random.default_rng`` (>= 0); scikit-learn's ``random_state`` is
            drawn from it.
        test_size: fraction held out for testing, in ``(0, 1)``.
        noise: standard deviation of the Gaussian noise added to the moons (>= 0).

    Returns:
        The :class:`Dataset` ``"moons"`` with ``2 + noise_features`` raw features.

    Raises:
        ValueError: for a bad argument.
    """
    n_samples = _check_int("n_samples", n_samples, 2)
    noise_features = _check_int("noise_features", noise_features, 0)
    seed = _check_int("seed", seed, 0)
    test_size = _check_test_size(test_size)
    noise = _check_noise(noise)
    _split_sizes(n_samples, test_size)
    rng = np.random.default_rng(seed)
    points, y = sk_datasets.make_moons(
        n_samples, shuffle=False, noise=noise, random_state=_sklearn_state(rng)
    )
    X = np.hstack([points, _noise_features(rng, n_samples, noise_features)])
    return _shuffle_split("moons", X, y, rng, seed=seed, test_size=test_size)


# --------------------------------------------------------------------------- benchmarks

#: Default difficulty of ``hyperplanes``: the number of hyperplanes whose parity is the label.
N_HYPERPLANES = 2
#: Default dimension of the space the hyperplanes live in (as Bowles et al.).
DIM_HYPERPLANES = 3
#: Default manifold dimension of ``hidden-manifold``.
MANIFOLD_DIMENSION = 4
#: Samples drawn per round while ``hyperplanes`` balances its classes (times ``n_samples``).
_OVERSAMPLE = 4
_MAX_ROUNDS = 50


def _benchmark_split(name, X, y, rng, *, seed, test_size, standardise) -> Dataset:
    """Split ``(X, y)`` stratified; optionally standardise with train-split statistics."""
    X_train, X_test, y_train, y_test = _stratified_split(name, X, y, rng, test_size)
    if standardise:
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    return _to_dataset(
        name, X_train, y_train, X_test, y_test, seed=seed, test_size=test_size,
        preprocessing="standardise" if standardise else "raw",
    )  # fmt: skip


def _benchmark_args(n_samples, n_features, seed, test_size) -> tuple[int, int, int, float]:
    n_samples = 500 if n_samples is None else _check_int("n_samples", n_samples, 4)
    n_features = _check_int("n_features", n_features, 1)
    seed = _check_int("seed", seed, 0)
    test_size = _check_test_size(test_size)
    _split_sizes(n_samples, test_size)
    return n_samples, n_features, seed, test_size


def hyperplane_parity(Z: np.ndarray, weights: np.ndarray, biases: np.ndarray) -> np.ndarray:
    """The label of each row of ``Z``: parity of the hyperplanes it lies above.

    ``y = (sum_j [w_j . z + b_j > 0]) mod 2`` (1 for an odd count).
    """
    return ((Z @ weights.T + biases > 0).sum(axis=1) % 2).astype(np.int64)


def make_hyperplanes(
    n_features: int = 4,
    seed: int = 0,
    test_size: float = 0.2,
    n_samples: int | None = None,
    n_hyperplanes: int = N_HYPERPLANES,
    dim_hyperplanes: int = DIM_HYPERPLANES,
) -> Dataset:
    r"""Return "hyperplanes and parity" (Bowles, Ahmed & Schuld 2024), balanced and split.

    The generating process of Bowles, Ahmed & Schuld, "Better than classical? The subtle art of
    benchmarking quantum machine learning models", arXiv:2403.07059 (2024), Sec. 5.1 and their
    ``qml-benchmarks`` generator:

    1. ``k = n_hyperplanes`` hyperplanes in ``d = dim_hyperplanes`` dimensions: normals
       ``w_j ~ U[0, 1)^d`` and offsets ``b_j ~ U[0, 1)``.
    2. Points ``z ~ N(0, I_d)``; label ``y = (#{j : w_j . z + b_j > 0}) mod 2``, the parity of
       the hyperplanes the point lies above. Points are drawn in rounds of
       ``4 n_samples`` until each class has enough; the first ``n_samples // 2`` of class 0
       and ``n_samples - n_samples // 2`` of class 1 are kept (balanced classes).
    3. Embedding into ``n_features`` dimensions by ``x = z A`` with ``A ~ U[0, 1)^{d x
       n_features}`` (a linear map, so the features span a ``d``-dimensional subspace).
    4. Stratified split; the features are standardised with the training split's mean and
       standard deviation (the paper standardises the whole set; fitting on train avoids a
       leak of test statistics).

    The difficulty knob is ``k``: ``k = 1`` is linearly separable, each further hyperplane
    adds a parity bit, and a linear model falls towards chance (0.5).

    Args:
        n_features: dimension of the embedded features (>= 1).
        seed: seed of ``numpy.random.default_rng`` (>= 0): hyperplanes, points, embedding and
            split.
        test_size: fraction held out for testing, in ``(0, 1)``.
        n_samples: total samples (>= 4; ``None``: 500).
        n_hyperplanes: ``k``, the number of hyperplanes (>= 1): the difficulty.
        dim_hyperplanes: ``d``, the dimension of the hyperplanes' space (>= 1).

    Returns:
        The :class:`Dataset` ``"hyperplanes"``, ``preprocessing="standardise"``.

    Raises:
        ValueError: for a bad argument, or when one class stays too rare to balance.
    """
    n_samples, n_features, seed, test_size = _benchmark_args(n_samples, n_features, seed, test_size)
    k = _check_int("n_hyperplanes", n_hyperplanes, 1)
    d = _check_int("dim_hyperplanes", dim_hyperplanes, 1)
    rng = np.random.default_rng(seed)
    weights = rng.uniform(size=(k, d))
    biases = rng.uniform(size=k)
    wanted = (n_samples // 2, n_samples - n_samples // 2)
    found: tuple[list, list] = ([], [])
    for _ in range(_MAX_ROUNDS):
        Z = rng.normal(size=(_OVERSAMPLE * n_samples, d))
        y = hyperplane_parity(Z, weights, biases)
        for label in (0, 1):
            found[label].append(Z[y == label])
        if all(sum(map(len, found[c])) >= wanted[c] for c in (0, 1)):
            break
    else:
        raise ValueError(
            f"hyperplanes with seed={seed}, n_hyperplanes={k}, dim_hyperplanes={d}: one class "
            f"is too rare to draw {n_samples} balanced samples; use another seed"
        )
    Z = np.vstack([np.vstack(found[c])[: wanted[c]] for c in (0, 1)])
    y = np.repeat([0, 1], wanted)
    X = Z @ rng.uniform(size=(d, n_features))
    return _benchmark_split(
        "hyperplanes", X, y, rng, seed=seed, test_size=test_size, standardise=True
    )


def make_hidden_manifold(
    n_features: int = 4,
    seed: int = 0,
    test_size: float = 0.2,
    n_samples: int | None = None,
    manifold_dimension: int = MANIFOLD_DIMENSION,
) -> Dataset:
    r"""Return the hidden manifold model (Goldt et al. 2020) as Bowles, Ahmed & Schuld 2024.

    The generating process of Bowles, Ahmed & Schuld, arXiv:2403.07059 (2024), Sec. 5.1 and
    their ``qml-benchmarks`` generator, after Goldt, Mezard, Krzakala & Zdeborova, "Modeling
    the influence of data structure on learning in neural networks: the hidden manifold model",
    Phys. Rev. X 10, 041044 (2020):

    1. Latent points ``c ~ N(0, I_m)`` on an ``m = manifold_dimension`` dimensional manifold.
    2. Features ``x = tanh(c F / sqrt(m) - beta)`` with ``F ~ N(0, 1)^{m x n_features}`` and
       biases ``beta ~ U[-1, 1)^{n_features}`` (an element-wise non-linearity).
    3. Labels from a random one-layer network on the latent point:
       ``f(c) = v . tanh(W c) / sqrt(m)``, ``W ~ N(0, 1)^{m x m}``, ``v ~ N(0, 1)^m``;
       ``y = [f(c) >= median f]``, so the classes are balanced (``n // 2`` of class 0).
    4. Stratified split; features left raw (in ``(-1, 1)``, as the paper).

    The difficulty knob is ``m``: the label depends on ``m`` latent directions seen through
    the non-linear embedding, and models' accuracy falls as ``m`` grows.

    Args:
        n_features: dimension of the features (>= 1).
        seed: seed of ``numpy.random.default_rng`` (>= 0).
        test_size: fraction held out for testing, in ``(0, 1)``.
        n_samples: total samples (>= 4; ``None``: 500).
        manifold_dimension: ``m`` (>= 1): the difficulty.

    Returns:
        The :class:`Dataset` ``"hidden-manifold"``, ``preprocessing="raw"``.

    Raises:
        ValueError: for a bad argument.
    """
    n_samples, n_features, seed, test_size = _benchmark_args(n_samples, n_features, seed, test_size)
    m = _check_int("manifold_dimension", manifold_dimension, 1)
    rng = np.random.default_rng(seed)
    F = rng.normal(size=(m, n_features))
    C = rng.normal(size=(n_samples, m))
    beta = 2 * rng.uniform(size=n_features) - 1
    X = np.tanh(C @ F / math.sqrt(m) - beta)
    W = rng.normal(size=(m, m))
    v = rng.normal(size=m)
    f = np.tanh(C @ W.T) @ v / math.sqrt(m)
    y = (f >= np.median(f)).astype(np.int64)
    return _benchmark_split(
        "hidden-manifold", X, y, rng, seed=seed, test_size=test_size, standardise=False
    )


def validation_split(
    data: Dataset, val_size: float, seed: int
) -> tuple[Dataset, torch.Tensor, torch.Tensor]:
    """Hold out a stratified fraction of the training split for validation.

    ``ceil(val_size * n_train)`` training samples, stratified by class, drawn with a generator
    seeded from ``(seed, 2)`` (independent of the data's own draw); the test split is left as
    it is, so model selection on the validation split never sees a test sample.

    Args:
        data: the data set.
        val_size: fraction of the training split held out, in ``[0, 1)``; 0 holds out nothing.
        seed: the run's seed (>= 0).

    Returns:
        ``(fit, X_val, y_val)``: the data set with the remaining training samples, and the
        validation features and labels (empty tensors for ``val_size = 0``).

    Raises:
        ValueError: for a bad ``val_size``, or a training split too small to hold out a
            stratified validation split.
    """
    is_number = isinstance(val_size, int | float | np.floating) and not isinstance(val_size, bool)
    if not is_number or not 0 <= val_size < 1:
        raise ValueError(f"val_size must be a fraction in [0, 1) (0: none), got {val_size!r}")
    if val_size == 0:
        empty = data.X_train[:0]
        return data, empty, data.y_train[:0]
    seed = _check_int("seed", seed, 0)
    rng = np.random.default_rng([seed, 2])
    y = data.y_train.numpy()
    try:
        fit, val = train_test_split(
            np.arange(len(y)), test_size=float(val_size), stratify=y,
            random_state=_sklearn_state(rng),
        )  # fmt: skip
    except ValueError as error:
        raise ValueError(
            f"cannot hold out val_size={val_size} of the {len(y)} training samples of "
            f"{data.name!r} stratified by class: {error}; use another val_size or more samples"
        ) from None
    fit, val = torch.as_tensor(np.sort(fit)), torch.as_tensor(np.sort(val))
    kept = dataclasses.replace(data, X_train=data.X_train[fit], y_train=data.y_train[fit])
    return kept, data.X_train[val], data.y_train[val]


# --------------------------------------------------------------------------- real


def standardise_pca(
    X_train: np.ndarray, X_test: np.ndarray, n_components: int
) -> tuple[np.ndarray, np.ndarray]:
    """Standardise and project onto the leading principal components, fitted on train only.

    A ``StandardScaler`` followed by ``PCA(n_components, svd_solver="full")`` is fitted on
    ``X_train`` alone and then applied to both arrays, so that no statistic of the test split
    leaks into the features. The training output has zero mean per component; the test output
    is not forced to.

    Args:
        X_train: training features ``(n_train, d)``.
        X_test: test features ``(n_test, d)``.
        n_components: number of components kept (``1 <= n_components <= min(n_train, d)``).

    Returns:
        The transformed ``(X_train, X_test)``.
    """
    reducer = make_pipeline(StandardScaler(), PCA(n_components=n_components, svd_solver="full"))
    reducer.fit(X_train)
    return reducer.transform(X_train), reducer.transform(X_test)


def _stratified_split(name, X, y, rng, test_size):
    try:
        return train_test_split(
            X, y, test_size=test_size, stratify=y, random_state=_sklearn_state(rng)
        )
    except ValueError as error:
        raise ValueError(
            f"cannot split the {len(y)} samples of {name!r} stratified by class with "
            f"test_size={test_size}: {error}"
        ) from error


def _make_real(
    name: str,
    loader: Callable[[], object],
    keep_classes: int | None,
    n_features: int,
    seed: int,
    test_size: float,
    n_samples: int | None,
) -> Dataset:
    """Load a scikit-learn bundled set, subsample, split stratified, standardise and PCA."""
    bunch = loader()
    X, y = np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target)
    if keep_classes is not None:
        keep = y < keep_classes
        X, y = X[keep], y[keep]
    n_features = _check_int("n_features", n_features, 1)
    if n_features > X.shape[1]:
        raise ValueError(
            f"n_features must be between 1 and {X.shape[1]} for {name!r} "
            f"(it has {X.shape[1]} features), got {n_features}"
        )
    seed = _check_int("seed", seed, 0)
    test_size = _check_test_size(test_size)
    rng = np.random.default_rng(seed)
    if n_samples is not None:
        n_samples = _check_int("n_samples", n_samples, 2)
        if n_samples > len(y):
            raise ValueError(
                f"n_samples must be between 2 and {len(y)} for {name!r} "
                f"(it has {len(y)} samples), got {n_samples}"
            )
        chosen = np.sort(rng.choice(len(y), size=n_samples, replace=False))
        X, y = X[chosen], y[chosen]
    X_train, X_test, y_train, y_test = _stratified_split(name, X, y, rng, test_size)
    if n_features > len(y_train):
        raise ValueError(
            f"n_features={n_features} exceeds the {len(y_train)} training samples of {name!r}; "
            "PCA needs n_features <= the number of training samples"
        )
    X_train, X_test = standardise_pca(X_train, X_test, n_features)
    return _to_dataset(
        name, X_train, y_train, X_test, y_test,
        seed=seed, test_size=test_size, preprocessing="standardise+pca",
    )  # fmt: skip


def make_breast_cancer(
    n_features: int = 4, seed: int = 0, test_size: float = 0.2, n_samples: int | None = None
) -> Dataset:
    """Return the Wisconsin breast cancer set (569 samples, 30 features, 2 classes), reduced.

    Stratified split, then standardisation and PCA to ``n_features`` fitted on the training
    split (see :func:`standardise_pca`). Labels: 0 malignant, 1 benign.

    Args:
        n_features: number of principal components kept (1 to 30).
        seed: seed of the subsample and the split (>= 0).
        test_size: fraction held out for testing, in ``(0, 1)``.
        n_samples: if given, a seeded random subsample of this size (2 to 569) is used.

    Returns:
        The :class:`Dataset` ``"breast-cancer"``.

    Raises:
        ValueError: for a bad argument.
    """
    return _make_real(
        "breast-cancer", sk_datasets.load_breast_cancer, None, n_features, seed, test_size,
        n_samples,
    )  # fmt: skip


def make_iris(
    n_features: int = 4, seed: int = 0, test_size: float = 0.2, n_samples: int | None = None
) -> Dataset:
    """Return the first two iris classes (setosa 0, versicolor 1: 100 samples, 4 features).

    Processed as :func:`make_breast_cancer`; ``n_features`` is 1 to 4, ``n_samples`` 2 to 100.

    Args:
        n_features: number of principal components kept (1 to 4).
        seed: seed of the subsample and the split (>= 0).
        test_size: fraction held out for testing, in ``(0, 1)``.
        n_samples: if given, a seeded random subsample of this size.

    Returns:
        The :class:`Dataset` ``"iris"``.

    Raises:
        ValueError: for a bad argument.
    """
    return _make_real("iris", sk_datasets.load_iris, 2, n_features, seed, test_size, n_samples)


def make_wine(
    n_features: int = 4, seed: int = 0, test_size: float = 0.2, n_samples: int | None = None
) -> Dataset:
    """Return the first two wine cultivars (130 samples, 13 features), reduced.

    Processed as :func:`make_breast_cancer`; ``n_features`` is 1 to 13, ``n_samples`` 2 to 130.

    Args:
        n_features: number of principal components kept (1 to 13).
        seed: seed of the subsample and the split (>= 0).
        test_size: fraction held out for testing, in ``(0, 1)``.
        n_samples: if given, a seeded random subsample of this size.

    Returns:
        The :class:`Dataset` ``"wine"``.

    Raises:
        ValueError: for a bad argument.
    """
    return _make_real("wine", sk_datasets.load_wine, 2, n_features, seed, test_size, n_samples)


# --------------------------------------------------------------------------- data files

#: Suffixes of the data files :func:`load_file` reads.
DATA_SUFFIXES = (".csv", ".parquet")


@dataclass(frozen=True, eq=False)
class DataTable:
    """A data file read and checked: features, class indices and class values.

    Attributes:
        path: the file.
        label: the label column.
        X: features ``(n_rows, n_columns)`` float64, in the file's column order.
        y: class indices ``(n_rows,)`` int64: the position of the row's label among the sorted
            distinct labels.
        classes: the distinct labels, sorted (class ``i`` is ``classes[i]``).
        features: the feature columns' names.
    """

    path: str
    label: str
    X: np.ndarray
    y: np.ndarray
    classes: tuple
    features: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        """Rows of the file."""
        return len(self.y)


def _read_frame(path: Path):
    import pandas as pd

    try:
        if path.suffix.lower() == ".csv":
            return pd.read_csv(path)
        return pd.read_parquet(path)
    except (OSError, ValueError, ImportError) as err:
        detail = " ".join(str(err).split())
        raise ValueError(f"data file {path}: cannot read it: {detail}") from None


def _sorted_classes(values: np.ndarray) -> list:
    distinct = list(dict.fromkeys(values.tolist()))
    try:
        return sorted(distinct)
    except TypeError:  # labels of several types: order by type, then value
        return sorted(distinct, key=lambda v: (type(v).__name__, str(v)))


def _check_columns(frame, path: Path, label: str) -> list[str]:
    """The feature columns (every column but ``label``), checked to be numbers without gaps."""
    import pandas as pd

    columns = [str(c) for c in frame.columns]
    if label not in columns:
        raise ValueError(
            f"data file {path}: no label column {label!r}; its columns are {', '.join(columns)}"
        )
    features = [c for c in frame.columns if str(c) != label]
    if not features:
        raise ValueError(f"data file {path}: no feature column besides the label {label!r}")
    for column in features:
        series = frame[column]
        if not pd.api.types.is_numeric_dtype(series) or pd.api.types.is_complex_dtype(series):
            example = series.dropna()
            shown = f" (e.g. {example.iloc[0]!r} in data row {example.index[0] + 1})"
            raise ValueError(
                f"data file {path}: feature column {column!r} is not numeric"
                f"{shown if len(example) else ''}; every column but the label must hold "
                f"numbers: drop the column or encode it"
            )
    missing = frame.isna().to_numpy()
    if missing.any():
        row, col = np.argwhere(missing)[0]
        raise ValueError(
            f"data file {path}: {int(missing.sum())} missing value(s) (NaN or empty), the "
            f"first in column {columns[col]!r}, data row {row + 1}; fill or drop them"
        )
    values = frame[features].to_numpy(dtype=np.float64)
    if not np.isfinite(values).all():
        row, col = np.argwhere(~np.isfinite(values))[0]
        raise ValueError(
            f"data file {path}: infinite value in column {str(features[col])!r}, data row "
            f"{row + 1}; features must be finite numbers"
        )
    return [str(c) for c in features]


@functools.lru_cache(maxsize=16)
def _read_table(path: str, label: str, stamp: tuple) -> DataTable:
    file = Path(path)
    frame = _read_frame(file)
    features = _check_columns(frame, file, label)
    labels = frame[label].to_numpy()
    classes = _sorted_classes(labels)
    if len(classes) < 2:
        raise ValueError(
            f"data file {file}: the label column {label!r} holds a single value "
            f"({classes[0]!r}); a classifier needs at least two classes"
        )
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in labels.tolist()], dtype=np.int64)
    X = frame[[c for c in frame.columns if str(c) != label]].to_numpy(dtype=np.float64)
    return DataTable(str(file), label, X, y, tuple(classes), tuple(features))


def read_data_file(path: str | os.PathLike, label: str) -> DataTable:
    """Read and check a data file (``.csv`` or ``.parquet``) with its label column ``label``.

    Features are every other column; each must be numeric (booleans count as 0 and 1), with no
    missing or infinite value. Labels may be any values (numbers or text): they are sorted and
    numbered ``0 .. n_classes - 1``. The result is cached while the file is unchanged.

    Raises:
        ValueError: a missing or unreadable file, another suffix, an unknown label column, a
            non-numeric feature column, a missing value, or a single class (one line each).
    """
    if not isinstance(label, str) or not label:
        raise ValueError(f"label must be the name of the label column, got {label!r}")
    file = Path(path).expanduser()
    if file.suffix.lower() not in DATA_SUFFIXES:
        raise ValueError(
            f"data file {file}: expected a {' or '.join(DATA_SUFFIXES)} file, got {file.name!r}"
        )
    try:
        stat = file.stat()
    except OSError:
        raise ValueError(f"data file {file}: no such file") from None
    if not file.is_file():
        raise ValueError(f"data file {file}: not a file")
    return _read_table(str(file.resolve()), label, (stat.st_mtime_ns, stat.st_size))


def _check_split(table: DataTable, y: np.ndarray, test_size: float) -> None:
    """Raise a clear error when ``y`` cannot be split stratified into train and test."""
    n, counts = len(y), np.bincount(y, minlength=len(table.classes))
    present = counts[counts > 0]
    n_test = math.ceil(round(test_size * n, 9))
    n_train = n - n_test
    k = len(present)
    if k < 2:
        raise ValueError(
            f"data file {table.path}: the {n} rows used hold a single class; a classifier needs "
            "at least two"
        )
    if present.min() < 2 or n_test < k or n_train < k:
        smallest = table.classes[int(np.flatnonzero(counts == present.min())[0])]
        raise ValueError(
            f"data file {table.path}: {n} rows are too few to split stratified into train and "
            f"test with test_size={test_size}: both splits need a row of each of the {k} "
            f"classes (the test split gets {n_test} rows, the training split {n_train}; class "
            f"{smallest!r} has {int(present.min())} row(s)); use more rows or another test_size"
        )


def check_file_options(table: DataTable, n_features: object, n_samples: object) -> int:
    """Validate ``n_features`` (``None``: every column) and ``n_samples`` for ``table``.

    Returns:
        The number of features the data set will have.
    """
    d = len(table.features)
    if n_features is None:
        n_features = d
    n_features = _check_int("n_features", n_features, 1)
    if n_features > d:
        name = Path(table.path).name
        raise ValueError(
            f"n_features must be between 1 and {d} for {name!r} (it has {d} feature "
            f"column(s): {', '.join(table.features)}), got {n_features}; or null for all of them"
        )
    if n_samples is not None:
        n_samples = _check_int("n_samples", n_samples, 2)
        if n_samples > table.n_rows:
            raise ValueError(
                f"n_samples must be between 2 and {table.n_rows} for {table.path} (it has "
                f"{table.n_rows} rows), got {n_samples}"
            )
    return n_features


def _file_rows(path, label, n_features, seed, n_samples, test_size):
    """The checked table, the feature count, the rows used and the generator that drew them."""
    table = read_data_file(path, label)
    n_features = check_file_options(table, n_features, n_samples)
    seed = _check_int("seed", seed, 0)
    test_size = _check_test_size(test_size)
    rng = np.random.default_rng(seed)
    X, y = table.X, table.y
    if n_samples is not None:
        chosen = np.sort(rng.choice(len(y), size=n_samples, replace=False))
        X, y = X[chosen], y[chosen]
    _check_split(table, y, test_size)
    return table, n_features, X, y, rng


def check_file(
    path: str | os.PathLike,
    label: str,
    *,
    n_features: int | None = None,
    seed: int = 0,
    n_samples: int | None = None,
    test_size: float = 0.2,
) -> int:
    """Check everything :func:`load_file` would, short of splitting; return the feature count.

    Raises:
        ValueError: as :func:`load_file` (a bad file or argument, too few rows to split).
    """
    return _file_rows(path, label, n_features, seed, n_samples, test_size)[1]


def load_file(
    path: str | os.PathLike,
    label: str,
    *,
    n_features: int | None = None,
    seed: int = 0,
    n_samples: int | None = None,
    test_size: float = 0.2,
) -> Dataset:
    """A data set from a ``.csv`` or ``.parquet`` file, split and standardised.

    Read and checked by :func:`read_data_file` (features: every column but ``label``; labels
    sorted and numbered). Then processed as the built-in real sets: an optional seeded
    subsample of ``n_samples`` rows, a stratified split, and a ``StandardScaler`` fitted on the
    training split only; with ``n_features`` below the number of feature columns, a ``PCA``
    to ``n_features`` components is fitted with it (:func:`standardise_pca`).

    Args:
        path: the file (``.csv`` with a header row, or ``.parquet``).
        label: the label column.
        n_features: features kept: ``None`` (or the column count) for every column,
            standardised; fewer for that many principal components.
        seed: seed of the subsample and the split (>= 0).
        n_samples: if given, a seeded random subsample of this many rows.
        test_size: fraction held out for testing, in ``(0, 1)``.

    Returns:
        The :class:`Dataset`, named after the file, with ``n_classes`` the distinct labels and
        ``preprocessing`` ``"standardise"`` or ``"standardise+pca"``.

    Raises:
        ValueError: for a bad file (see :func:`read_data_file`), a bad argument, or too few
            rows to split.
    """
    table, n_features, X, y, rng = _file_rows(path, label, n_features, seed, n_samples, test_size)
    test_size = _check_test_size(test_size)
    name = Path(table.path).name
    X_train, X_test, y_train, y_test = _stratified_split(name, X, y, rng, test_size)
    if n_features < X.shape[1]:
        if n_features > len(y_train):
            raise ValueError(
                f"n_features={n_features} exceeds the {len(y_train)} training rows of {name!r}; "
                "PCA needs n_features <= the number of training rows"
            )
        X_train, X_test = standardise_pca(X_train, X_test, n_features)
        preprocessing = "standardise+pca"
    else:
        scaler = StandardScaler().fit(X_train)
        X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
        preprocessing = "standardise"
    return _to_dataset(
        name, X_train, y_train, X_test, y_test, seed=seed, test_size=test_size,
        preprocessing=preprocessing, n_classes=len(table.classes),
    )  # fmt: skip


def check_file_dataset(value: object) -> tuple[str, str]:
    """Validate a data-file spec ``{"path": FILE, "label": COLUMN}``; return ``(path, label)``.

    Raises:
        ValueError: for another shape (naming the accepted keys).
    """
    if not isinstance(value, dict) or set(value) != {"path", "label"}:
        raise ValueError(
            f"a data file is given as {{path: FILE.csv or FILE.parquet, label: COLUMN}}, got "
            f"{value!r}"
        )
    path, label = value["path"], value["label"]
    if not isinstance(path, str) or not path:
        raise ValueError(f"dataset path must be a file name, got {path!r}")
    if not isinstance(label, str) or not label:
        raise ValueError(f"dataset label must be the name of the label column, got {label!r}")
    return path, label


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class DatasetSpec:
    """A registered data set.

    Attributes:
        name: registry name.
        maker: the ``make_*`` function.
        synthetic: ``True`` for generated sets (2 geometric + noise features, raw, or
            generated in ``n_features`` dimensions when ``embedded``), ``False`` for real sets
            (standardised + PCA).
        description: one line for listings.
        embedded: ``True`` for generated sets whose maker takes ``n_features`` itself (the
            benchmark families ``hyperplanes`` and ``hidden-manifold``).
    """

    name: str
    maker: Callable[..., Dataset]
    synthetic: bool
    description: str
    embedded: bool = False

    def load(
        self,
        *,
        n_features: int = 4,
        seed: int = 0,
        n_samples: int | None = None,
        test_size: float = 0.2,
        **options,
    ) -> Dataset:
        """Build the data set; see :func:`load_dataset`."""
        if not self.synthetic or self.embedded:
            return self.maker(
                n_features=n_features, seed=seed, test_size=test_size, n_samples=n_samples,
                **options,
            )  # fmt: skip
        is_int = isinstance(n_features, numbers.Integral) and not isinstance(n_features, bool)
        if not is_int or n_features < 2:
            raise ValueError(
                f"n_features must be an integer >= 2 for {self.name!r} (2 geometric features "
                f"plus n_features - 2 noise features), got {n_features!r}"
            )
        if n_samples is not None:
            options["n_samples"] = n_samples
        return self.maker(
            noise_features=int(n_features) - 2, seed=seed, test_size=test_size, **options
        )


#: The registered data sets by name.
DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec("circles", make_circles, True, "the seed notebook's concentric circles"),
        DatasetSpec("moons", make_moons, True, "scikit-learn's two moons"),
        DatasetSpec(
            "breast-cancer", make_breast_cancer, False, "Wisconsin breast cancer (sklearn)"
        ),
        DatasetSpec("iris", make_iris, False, "iris, setosa vs versicolor (sklearn)"),
        DatasetSpec("wine", make_wine, False, "wine, first two cultivars (sklearn)"),
        DatasetSpec(
            "hyperplanes",
            make_hyperplanes,
            True,
            "parity of k hyperplanes (Bowles et al. 2024); option n_hyperplanes",
            embedded=True,
        ),  # fmt: skip
        DatasetSpec(
            "hidden-manifold",
            make_hidden_manifold,
            True,
            "hidden manifold model (Bowles et al. 2024); option manifold_dimension",
            embedded=True,
        ),  # fmt: skip
    )
}


def names() -> list[str]:
    """Return the registered data set names."""
    return list(DATASETS)


def get_spec(name: str) -> DatasetSpec:
    """Return the :class:`DatasetSpec` registered as ``name``.

    Raises:
        ValueError: for an unknown name, listing the known ones.
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; expected one of {', '.join(DATASETS)}")
    return DATASETS[name]


def load_dataset(
    name: str,
    *,
    n_features: int = 4,
    seed: int = 0,
    n_samples: int | None = None,
    test_size: float = 0.2,
    **options,
) -> Dataset:
    """Return the data set ``name`` split into train and test tensors.

    Args:
        name: one of :func:`names` (``circles``, ``moons``, ``breast-cancer``, ``iris``,
            ``wine``, ``hyperplanes``, ``hidden-manifold``).
        n_features: features per sample. ``circles`` and ``moons``: >= 2 (2 geometric features
            plus ``n_features - 2`` noise features). Real sets: 1 to the set's feature count
            (PCA components). ``hyperplanes`` and ``hidden-manifold``: >= 1 (the embedding's
            dimension).
        seed: seed of all randomness (>= 0).
        n_samples: number of samples; ``None`` is the set's default (500 for synthetic sets,
            all samples for real ones).
        test_size: fraction held out for testing, in ``(0, 1)``.
        **options: further options of the maker: ``noise`` for ``moons``, the difficulty
            knobs ``n_hyperplanes`` (and ``dim_hyperplanes``) for ``hyperplanes`` and
            ``manifold_dimension`` for ``hidden-manifold``.

    Returns:
        The :class:`Dataset`.

    Raises:
        ValueError: for an unknown name or a bad argument; the message names the value and what
            is accepted.
    """
    return get_spec(name).load(
        n_features=n_features, seed=seed, n_samples=n_samples, test_size=test_size, **options
    )


__all__ = [
    "DATASETS",
    "DATA_SUFFIXES",
    "DataTable",
    "Dataset",
    "DatasetSpec",
    "check_file",
    "check_file_dataset",
    "check_file_options",
    "get_spec",
    "load_dataset",
    "load_file",
    "make_breast_cancer",
    "make_circles",
    "make_hidden_manifold",
    "make_hyperplanes",
    "make_iris",
    "make_moons",
    "make_wine",
    "names",
    "read_data_file",
    "standardise_pca",
    "validation_split",
]
