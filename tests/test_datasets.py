"""Tests of the data sets: shapes, splits, determinism, preprocessing and error paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from qgradbench.datasets import (
    DATASETS,
    Dataset,
    load_dataset,
    make_breast_cancer,
    make_circles,
    make_hidden_manifold,
    make_hyperplanes,
    make_iris,
    make_moons,
    make_wine,
    names,
    standardise_pca,
)

SYNTHETIC = ["circles", "moons"]
REAL = ["breast-cancer", "iris", "wine"]
#: The benchmark families of Bowles, Ahmed & Schuld 2024 (500 samples by default).
BENCH = ["hyperplanes", "hidden-manifold"]
#: name -> (samples after class selection, raw features, class counts)
REAL_SIZES = {
    "breast-cancer": (569, 30, (212, 357)),
    "iris": (100, 4, (50, 50)),
    "wine": (130, 13, (59, 71)),
}


def _all_features(data: Dataset) -> torch.Tensor:
    return torch.cat([data.X_train, data.X_test])


def _all_labels(data: Dataset) -> torch.Tensor:
    return torch.cat([data.y_train, data.y_test])


def test_registry_lists_every_data_set():
    """Test that the registry holds exactly the seven documented data sets."""
    assert names() == [*SYNTHETIC, *REAL, *BENCH]
    assert [DATASETS[n].synthetic for n in names()] == [True] * 2 + [False] * 3 + [True] * 2
    assert [DATASETS[n].embedded for n in names()] == [False] * 5 + [True] * 2


@pytest.mark.parametrize("name", SYNTHETIC + REAL + BENCH)
class TestEveryDataset:
    """Shapes, dtypes, splits and determinism shared by every data set."""

    def test_shapes_and_dtypes(self, name):
        """Test that the split tensors have the documented shapes and dtypes."""
        data = load_dataset(name, seed=3)
        n_total = 500 if name in SYNTHETIC + BENCH else REAL_SIZES[name][0]
        n_test = math.ceil(0.2 * n_total)
        assert data.name == name
        assert (data.n_features, data.n_classes) == (4, 2)
        assert tuple(data.X_train.shape) == (n_total - n_test, 4)
        assert tuple(data.X_test.shape) == (n_test, 4)
        assert tuple(data.y_train.shape) == (n_total - n_test,)
        assert tuple(data.y_test.shape) == (n_test,)
        assert data.X_train.dtype == data.X_test.dtype == torch.float32
        assert data.y_train.dtype == data.y_test.dtype == torch.int64
        assert set(_all_labels(data).tolist()) == {0, 1}
        assert torch.isfinite(_all_features(data)).all()

    def test_same_seed_gives_identical_tensors(self, name):
        """Test that two loads with the same seed give identical tensors."""
        a, b = load_dataset(name, seed=11), load_dataset(name, seed=11)
        for field in ("X_train", "y_train", "X_test", "y_test"):
            assert torch.equal(getattr(a, field), getattr(b, field))

    def test_different_seed_gives_different_tensors(self, name):
        """Test that a different seed gives different training features."""
        a, b = load_dataset(name, seed=11), load_dataset(name, seed=12)
        assert not torch.equal(a.X_train, b.X_train)

    def test_seed_leaves_global_numpy_state_alone(self, name):
        """Test that loading neither uses nor changes numpy's global random state."""
        np.random.seed(5)
        before = np.random.get_state()[1].copy()
        load_dataset(name, seed=0)
        assert np.array_equal(np.random.get_state()[1], before)

    def test_n_features(self, name):
        """Test that n_features sets the feature count of both splits."""
        data = load_dataset(name, n_features=3)
        assert data.n_features == data.X_train.shape[1] == data.X_test.shape[1] == 3

    def test_n_samples_and_test_size(self, name):
        """Test that n_samples and test_size set the split sizes (test = ceil(size * n))."""
        data = load_dataset(name, n_samples=60, test_size=0.25)
        assert (data.n_train, data.n_test) == (45, 15)

    def test_metadata(self, name):
        """Test that metadata() reports the data set's identity and sizes."""
        meta = load_dataset(name, seed=2).metadata()
        assert meta["dataset"] == name
        assert meta["data_seed"] == 2
        n_total = 500 if name in SYNTHETIC + BENCH else REAL_SIZES[name][0]
        assert meta["n_train"] + meta["n_test"] == n_total


@pytest.mark.parametrize("name", REAL)
class TestRealDatasets:
    """Class selection, stratification and train-only preprocessing of the real sets."""

    def test_class_counts_and_stratified_split(self, name):
        """Test that both classes keep their proportion in each split (stratified, +-1 sample)."""
        data = load_dataset(name, seed=4)
        counts = REAL_SIZES[name][2]
        assert torch.bincount(_all_labels(data)).tolist() == list(counts)
        fraction = counts[1] / sum(counts)
        for y in (data.y_train, data.y_test):
            assert abs(int(y.sum()) - fraction * len(y)) <= 1

    def test_train_features_are_centred_and_decorrelated(self, name):
        """Test that training features have zero mean and diagonal covariance (PCA on train)."""
        X = load_dataset(name, seed=4).X_train.double()
        assert X.mean(0).abs().max() < 1e-5
        cov = torch.cov(X.T)
        off_diagonal = cov - torch.diag(torch.diag(cov))
        assert off_diagonal.abs().max() < 1e-4 * cov.diag().max()
        assert torch.all(cov.diag()[:-1] >= cov.diag()[1:])  # components by explained variance

    def test_all_raw_features_available(self, name):
        """Test that n_features may go up to the raw feature count."""
        n_raw = REAL_SIZES[name][1]
        assert load_dataset(name, n_features=n_raw).n_features == n_raw

    def test_maker_matches_load_dataset(self, name):
        """Test that the make_* function and load_dataset give the same tensors."""
        maker = {"breast-cancer": make_breast_cancer, "iris": make_iris, "wine": make_wine}[name]
        a, b = maker(n_features=2, seed=7), load_dataset(name, n_features=2, seed=7)
        assert torch.equal(a.X_test, b.X_test) and torch.equal(a.y_train, b.y_train)


def test_test_split_of_real_set_is_not_centred():
    """Test that the test features are not forced to zero mean (the scaler saw train only)."""
    data = load_dataset("breast-cancer", seed=0)
    assert data.X_test.double().mean(0).abs().max() > 1e-2


def test_standardise_pca_is_fitted_on_train_only():
    """Test that the train transform ignores the test data and the test transform uses train's."""
    rng = np.random.default_rng(0)
    X_train = rng.normal(size=(50, 6)) * np.arange(1, 7)
    X_test = rng.normal(size=(10, 6))
    train_a, test_a = standardise_pca(X_train, X_test, 3)
    train_b, test_b = standardise_pca(X_train, X_test + 100.0, 3)
    np.testing.assert_array_equal(train_a, train_b)
    assert not np.allclose(test_a, test_b)
    # Transforming a training row as "test" reproduces its training features exactly.
    _, again = standardise_pca(X_train, X_train[:5], 3)
    np.testing.assert_allclose(again, train_a[:5], atol=1e-12)


class TestCircles:
    """The seed notebook's concentric circles."""

    def test_notebook_defaults(self):
        """Test that the defaults are 500 samples, 4 features, 400/100 split, 250 per class."""
        data = make_circles()
        assert (data.n_train, data.n_test, data.n_features) == (400, 100, 4)
        assert torch.bincount(_all_labels(data)).tolist() == [250, 250]
        assert data.preprocessing == "raw"

    def test_radius_statistics(self):
        """Test that class radii have mean 0.3 and 0.7 and std 0.1 within 4 standard errors.

        With m = 250 points per class, the standard error of the mean radius is
        0.1 / sqrt(250) = 0.0063 and of the standard deviation about 0.1 / sqrt(2 * 250) =
        0.0045; the tolerance is 4 standard errors (|r| differs from r with probability 1e-3,
        a bias of < 1e-4 on the mean).
        """
        data = make_circles(seed=0)
        X, y = _all_features(data).double(), _all_labels(data)
        radius = X[:, :2].norm(dim=1)
        for label, mean in ((0, 0.3), (1, 0.7)):
            r = radius[y == label]
            m = len(r)
            assert abs(r.mean().item() - mean) < 4 * 0.1 / math.sqrt(m)
            assert abs(r.std().item() - 0.1) < 4 * 0.1 / math.sqrt(2 * m)

    def test_angles_are_uniform(self):
        """Test that the angle's circular moments vanish within 4 standard errors (uniform)."""
        X = _all_features(make_circles(seed=1)).double()
        angle = torch.atan2(X[:, 1], X[:, 0])
        n = len(angle)  # E[cos a] = E[sin a] = 0, Var = 1/2: standard error sqrt(1 / (2 n))
        for moment in (angle.cos().mean(), angle.sin().mean()):
            assert abs(moment.item()) < 4 * math.sqrt(0.5 / n)

    def test_noise_features(self):
        """Test that the extra features have mean 0 and std 0.1 within 4 standard errors."""
        X = _all_features(make_circles(n_samples=1000, noise_features=3, seed=2)).double()
        noise = X[:, 2:]
        assert noise.shape == (1000, 3)
        n = noise.shape[0]
        assert noise.mean(0).abs().max() < 4 * 0.1 / math.sqrt(n)
        assert (noise.std(0) - 0.1).abs().max() < 4 * 0.1 / math.sqrt(2 * n)

    def test_odd_sample_count(self):
        """Test that an odd n_samples puts the extra sample in class 1."""
        data = make_circles(n_samples=7, seed=0)
        assert torch.bincount(_all_labels(data)).tolist() == [3, 4]

    def test_labels_are_shuffled(self):
        """Test that the training labels are not in generation order (all 0 then all 1)."""
        y = make_circles(seed=0).y_train
        assert not torch.equal(y, torch.sort(y).values)

    def test_n_features_adds_noise_features(self):
        """Test that load_dataset's n_features = 2 + noise_features, same data otherwise."""
        a = load_dataset("circles", n_features=6, seed=5)
        b = make_circles(noise_features=4, seed=5)
        assert torch.equal(a.X_train, b.X_train)


def test_moons_geometry():
    """Test that noiseless moons lie on sklearn's two unit half circles, centres (0,0), (1,0.5)."""
    data = make_moons(n_samples=200, noise=0.0, seed=0)
    X, y = _all_features(data).double(), _all_labels(data)
    upper = X[y == 0, :2]
    lower = X[y == 1, :2] - torch.tensor([1.0, 0.5], dtype=torch.float64)
    ones = torch.ones(100, dtype=torch.float64)
    torch.testing.assert_close(upper.norm(dim=1), ones, atol=1e-6, rtol=0)  # float32 data
    torch.testing.assert_close(lower.norm(dim=1), ones, atol=1e-6, rtol=0)
    assert (upper[:, 1] >= -1e-6).all() and (lower[:, 1] <= 1e-6).all()


def test_moons_noise_option():
    """Test that load_dataset passes the moons noise option through."""
    quiet = load_dataset("moons", seed=0, noise=0.0)
    noisy = load_dataset("moons", seed=0, noise=0.3)
    assert not torch.equal(quiet.X_train[:, :2], noisy.X_train[:, :2])


class TestErrors:
    """Every bad input is a ValueError naming the value and what is accepted."""

    def test_unknown_name_lists_known(self):
        """Test that an unknown name lists the known data sets."""
        with pytest.raises(ValueError, match=r"'mnist'.*circles, moons, breast-cancer, iris, wine"):
            load_dataset("mnist")

    @pytest.mark.parametrize("name", SYNTHETIC)
    @pytest.mark.parametrize("n_features", [1, 0, -3, 2.5])
    def test_synthetic_n_features_below_two(self, name, n_features):
        """Test that synthetic sets reject n_features below 2 or non-integers."""
        with pytest.raises(ValueError, match=rf"n_features must be an integer >= 2.*{n_features}"):
            load_dataset(name, n_features=n_features)

    @pytest.mark.parametrize("name", REAL)
    @pytest.mark.parametrize("n_features", [0, -1])
    def test_real_n_features_below_one(self, name, n_features):
        """Test that real sets reject n_features < 1."""
        message = rf"n_features must be an integer >= 1, got {n_features}"
        with pytest.raises(ValueError, match=message):
            load_dataset(name, n_features=n_features)

    @pytest.mark.parametrize("name", REAL)
    def test_real_n_features_too_large(self, name):
        """Test that n_features above the raw feature count says how many there are."""
        n_raw = REAL_SIZES[name][1]
        with pytest.raises(ValueError, match=rf"it has {n_raw} features\), got {n_raw + 1}"):
            load_dataset(name, n_features=n_raw + 1)

    @pytest.mark.parametrize("name", SYNTHETIC + REAL)
    @pytest.mark.parametrize("n_samples", [1, 0, -5])
    def test_n_samples_below_two(self, name, n_samples):
        """Test that n_samples < 2 is rejected."""
        with pytest.raises(ValueError, match=rf"n_samples must be .*2.*got {n_samples}"):
            load_dataset(name, n_samples=n_samples)

    @pytest.mark.parametrize("name", REAL)
    def test_n_samples_above_available(self, name):
        """Test that real sets reject more samples than they have, saying how many."""
        n_total = REAL_SIZES[name][0]
        with pytest.raises(ValueError, match=rf"it has {n_total} samples\), got {n_total + 1}"):
            load_dataset(name, n_samples=n_total + 1)

    @pytest.mark.parametrize("name", SYNTHETIC + REAL)
    @pytest.mark.parametrize("test_size", [0, 1, -0.2, 1.5, 0.0, 1.0, "0.2", True])
    def test_test_size_outside_unit_interval(self, name, test_size):
        """Test that test_size outside (0, 1) is rejected."""
        with pytest.raises(ValueError, match=r"test_size must be a fraction strictly between 0"):
            load_dataset(name, test_size=test_size)

    @pytest.mark.parametrize("seed", [-1, 1.5, None, True])
    def test_bad_seed(self, seed):
        """Test that a negative or non-integer seed is rejected."""
        with pytest.raises(ValueError, match=r"seed must be an integer >= 0"):
            load_dataset("circles", seed=seed)

    def test_split_with_empty_train(self):
        """Test that a split leaving no training sample is rejected."""
        with pytest.raises(ValueError, match=r"leaves no training sample"):
            make_circles(n_samples=2, test_size=0.9)

    def test_stratified_split_impossible(self):
        """Test that an impossible stratified split names the data set and the sizes."""
        with pytest.raises(ValueError, match=r"cannot split the 100 samples of 'iris'.*0.01"):
            load_dataset("iris", test_size=0.01)  # one test sample for two classes

    def test_pca_needs_enough_training_samples(self):
        """Test that more components than training samples is rejected."""
        with pytest.raises(ValueError, match=r"n_features=4 exceeds the 2 training samples"):
            load_dataset("iris", n_features=4, test_size=0.98)  # one training sample per class

    def test_dataset_checks_its_tensors(self):
        """Test that Dataset rejects wrong dtypes or mismatched shapes."""
        X, y = torch.zeros(5, 3), torch.zeros(5, dtype=torch.int64)
        Dataset("x", X, y, X, y, n_features=3, n_classes=2, seed=0, test_size=0.5,
                preprocessing="raw")  # fmt: skip
        with pytest.raises(ValueError, match=r"X_train must be float32 of shape \(n, 4\)"):
            Dataset("x", X, y, X, y, n_features=4, n_classes=2, seed=0, test_size=0.5,
                    preprocessing="raw")  # fmt: skip
        with pytest.raises(ValueError, match=r"y_test must be int64 of shape \(5,\)"):
            Dataset("x", X, y, X, y.float(), n_features=3, n_classes=2, seed=0, test_size=0.5,
                    preprocessing="raw")  # fmt: skip

    def test_negative_noise_features(self):
        """Test that make_circles rejects a negative noise_features."""
        with pytest.raises(ValueError, match=r"noise_features must be an integer >= 0, got -1"):
            make_circles(noise_features=-1)

    @pytest.mark.parametrize("noise", [-0.1, float("nan"), "0.1"])
    def test_bad_moons_noise(self, noise):
        """Test that make_moons rejects a negative or non-numeric noise."""
        with pytest.raises(ValueError, match=r"noise must be a number >= 0"):
            make_moons(noise=noise)


class TestDataFiles:
    """Data sets from a .csv or .parquet file (load_file)."""

    @staticmethod
    def frame(n: int = 60, seed: int = 3):
        import pandas as pd

        rng = np.random.default_rng(seed)
        return pd.DataFrame({
            "height": rng.normal(170.0, 10.0, n),
            "weight": rng.normal(70.0, 5.0, n),
            "flag": rng.integers(0, 2, n).astype(bool),
            "kind": rng.choice(["tulip", "rose", "daisy"], n),
        })  # fmt: skip

    def test_features_are_standardised_on_the_training_split(self, tmp_path):
        """Test labels sorted and numbered, and features equal to sklearn's scaler fitted on train.

        The reference repeats the documented recipe: the same stratified split (same seed),
        then ``(X - mean_train) / std_train`` with the training split's population std.
        """
        from sklearn.model_selection import train_test_split

        from qgradbench.datasets import load_file

        frame = self.frame()
        frame.to_csv(tmp_path / "flowers.csv", index=False)
        data = load_file(tmp_path / "flowers.csv", "kind", seed=5)
        assert data.name == "flowers.csv" and data.n_classes == 3 and data.n_features == 3
        assert data.preprocessing == "standardise"
        X = frame[["height", "weight", "flag"]].to_numpy(dtype=float)
        y = frame["kind"].map({"daisy": 0, "rose": 1, "tulip": 2}).to_numpy()
        rng = np.random.default_rng(5)
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=0.2, stratify=y, random_state=int(rng.integers(2**32))
        )
        mean, std = X_tr.mean(0), X_tr.std(0)
        np.testing.assert_allclose(data.X_train.numpy(), (X_tr - mean) / std, atol=1e-5)
        np.testing.assert_allclose(data.X_test.numpy(), (X_te - mean) / std, atol=1e-5)
        assert data.y_train.tolist() == y_tr.tolist() and data.y_test.tolist() == y_te.tolist()

    def test_parquet_pca_and_subsample(self, tmp_path):
        """Test a parquet file, PCA to fewer components, a seeded subsample, determinism."""
        from qgradbench.datasets import load_file

        frame = self.frame()
        frame.to_parquet(tmp_path / "flowers.parquet")
        data = load_file(tmp_path / "flowers.parquet", "kind", n_features=2, n_samples=30)
        assert data.preprocessing == "standardise+pca" and data.n_features == 2
        assert data.n_train + data.n_test == 30
        again = load_file(tmp_path / "flowers.parquet", "kind", n_features=2, n_samples=30)
        assert torch.equal(data.X_train, again.X_train)
        assert torch.allclose(data.X_train.mean(0), torch.zeros(2), atol=1e-5)

    def test_a_changed_file_is_read_again(self, tmp_path):
        """Test that the cache of read files follows the file's changes."""
        from qgradbench.datasets import read_data_file

        path = tmp_path / "d.csv"
        self.frame(40).to_csv(path, index=False)
        assert read_data_file(path, "kind").n_rows == 40
        self.frame(50).to_csv(path, index=False)
        assert read_data_file(path, "kind").n_rows == 50

    @pytest.mark.parametrize(
        "change, kwargs, match",
        [
            (None, {"path": "nowhere.csv"}, "no such file"),
            (None, {"label": "colour"}, r"no label column 'colour'; its columns are height"),
            (lambda f: f.assign(weight="heavy"), {}, "feature column 'weight' is not numeric"),
            (lambda f: f.assign(height=np.nan), {}, r"60 missing value\(s\)"),
            (lambda f: f.assign(kind="rose"), {}, r"single value \('rose'\)"),
            (lambda f: f.iloc[:4], {}, "4 rows are too few to split stratified"),
            (None, {"n_features": 4}, "n_features must be between 1 and 3"),
            (None, {"n_samples": 61}, "n_samples must be between 2 and 60"),
            (lambda f: f.assign(height=np.inf), {}, "infinite value in column 'height'"),
        ],
    )
    def test_bad_files(self, change, kwargs, match, tmp_path):
        """Test that each bad file or argument is a ValueError naming the problem."""
        from qgradbench.datasets import load_file

        frame = self.frame()
        (frame if change is None else change(frame)).to_csv(tmp_path / "d.csv", index=False)
        kwargs = {"path": tmp_path / "d.csv", "label": "kind", **kwargs}
        if not str(kwargs["path"]).startswith("/"):
            kwargs["path"] = tmp_path / kwargs["path"]
        with pytest.raises(ValueError, match=match):
            load_file(**kwargs)


# --------------------------------------------------------------------------- benchmark families


def _logistic_accuracy(name: str, seeds=range(5), **options) -> float:
    """Mean test accuracy over ``seeds`` of a logistic regression (1,000 samples each)."""
    from sklearn.linear_model import LogisticRegression

    accuracies = []
    for seed in seeds:
        data = load_dataset(name, seed=seed, n_samples=1000, **options)
        model = LogisticRegression().fit(data.X_train.numpy(), data.y_train.numpy())
        accuracies.append(model.score(data.X_test.numpy(), data.y_test.numpy()))
    return float(np.mean(accuracies))


@pytest.mark.parametrize("name", BENCH)
class TestBenchmarkFamilies:
    """Bowles, Ahmed & Schuld's hyperplanes and hidden manifold generators."""

    def test_balanced_classes_and_stratified_split(self, name):
        """Test that the classes are balanced (n // 2 of class 0) and each split is stratified."""
        data = load_dataset(name, seed=1, n_samples=301)
        assert torch.bincount(_all_labels(data)).tolist() == [150, 151]
        # stratified: each split holds half of its samples in class 1, to within one sample
        # (a binomial split would spread by sqrt(n / 4), about 8 samples on the train split)
        for y in (data.y_train, data.y_test):
            assert abs(int(y.sum()) - len(y) / 2) <= 1

    def test_maker_matches_load_dataset(self, name):
        """Test that the make_* function and load_dataset (with the knob) give the same tensors."""
        maker, knob = {
            "hyperplanes": (make_hyperplanes, "n_hyperplanes"),
            "hidden-manifold": (make_hidden_manifold, "manifold_dimension"),
        }[name]
        a = maker(n_features=5, seed=7, **{knob: 3})
        b = load_dataset(name, n_features=5, seed=7, **{knob: 3})
        assert torch.equal(a.X_train, b.X_train) and torch.equal(a.y_test, b.y_test)
        assert not torch.equal(a.X_train, load_dataset(name, n_features=5, seed=7).X_train)

    @pytest.mark.parametrize("knob", ["n_hyperplanes", "manifold_dimension", "dim_hyperplanes"])
    def test_bad_knob(self, name, knob):
        """Test that a difficulty knob below 1 (or the other family's knob) is rejected."""
        accepted = {"hyperplanes": ("n_hyperplanes", "dim_hyperplanes")}.get(
            name, ("manifold_dimension",)
        )
        if knob in accepted:
            with pytest.raises(ValueError, match=rf"{knob} must be an integer >= 1, got 0"):
                load_dataset(name, **{knob: 0})
        else:
            with pytest.raises(TypeError, match=knob):
                load_dataset(name, **{knob: 2})


def test_hyperplanes_labels_are_the_parity_of_the_half_spaces():
    """Test that the hyperplanes labels are the parity of a closed-form example."""
    from qgradbench.datasets import hyperplane_parity

    weights = np.array([[1.0, 0.0], [0.0, 1.0]])
    biases = np.zeros(2)
    Z = np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])
    # above both (2, even), one (odd), one (odd), none (even): XOR of the quadrant signs
    assert hyperplane_parity(Z, weights, biases).tolist() == [0, 1, 1, 0]


def test_hyperplanes_with_one_plane_are_standardised_and_linearly_separable():
    """Test that k = 1 gives standardised training features that a linear model separates."""
    data = load_dataset("hyperplanes", seed=0, n_hyperplanes=1, n_samples=1000)
    X = data.X_train.double()
    assert X.mean(0).abs().max() < 1e-5
    assert torch.allclose(X.std(0, correction=0), torch.ones(4, dtype=torch.float64), atol=1e-5)
    assert _logistic_accuracy("hyperplanes", n_hyperplanes=1) > 0.95


def test_hidden_manifold_features_lie_in_the_tanh_range():
    """Test that the hidden manifold's raw features lie in (-1, 1) (tanh of the embedding)."""
    data = load_dataset("hidden-manifold", seed=3, n_features=6)
    assert data.preprocessing == "raw"
    assert _all_features(data).abs().max() < 1


@pytest.mark.parametrize(
    ("name", "knob", "easy", "hard"),
    [("hyperplanes", "n_hyperplanes", 1, 6), ("hidden-manifold", "manifold_dimension", 1, 10)],
)
def test_difficulty_knob_lowers_a_linear_models_accuracy(name, knob, easy, hard):
    """Test that raising the difficulty knob lowers a logistic regression's test accuracy.

    Mean over 5 seeds of 200 test samples: measured about 0.98 -> 0.68 (hyperplanes k = 1 ->
    6) and 1.00 -> 0.71 (hidden manifold m = 1 -> 10). The seed-to-seed standard deviation at
    the hard end is about 0.06, so the mean's standard error is about 0.03; a drop of 0.15
    (5 standard errors) is required.
    """
    drop = _logistic_accuracy(name, **{knob: easy}) - _logistic_accuracy(name, **{knob: hard})
    assert drop > 0.15
