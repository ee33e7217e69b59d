"""Tests for ddpm_lib.metrics on cases with known values.

- Sliced Wasserstein-2: 0 for identical sets; for a set shifted by a vector s, every 1-D
  projection is shifted by θ·s, so SW₂² = mean over θ of (θ·s)², whose expectation over uniform
  unit directions in D dimensions is ‖s‖²/D.
- Fréchet distance: ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½) (Heusel et al. 2017), checked against
  scipy.linalg.sqrtm for random covariances, and against Σ(σ₁ᵢ − σ₂ᵢ)² for diagonal ones.
- Baselines: scoring the held-out data itself gives exactly the baseline (ratio 1).
"""

import numpy as np
import pytest
import scipy.linalg
import torch

from ddpm_lib import metrics
from ddpm_lib.checkpoints import CHECKPOINT_DIR, read_manifest
from ddpm_lib.data import load_digits, make_toy_dataset


@pytest.fixture(autouse=True)
def one_thread():
    # These small models and matrices gain nothing from threads, and on a busy CPU extra threads slow them down.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def roll():
    return make_toy_dataset("swiss_roll", num_points=1000, seed=7)


def random_covariance(dim: int, seed: int) -> torch.Tensor:
    matrix = torch.randn(dim, dim, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return matrix @ matrix.T / dim + 0.1 * torch.eye(dim, dtype=torch.float64)


# ---------------------------------------------------------------------- sliced Wasserstein
def test_sliced_wasserstein_identical_is_zero(roll):
    assert metrics.sliced_wasserstein(roll, roll.clone()) == pytest.approx(0.0, abs=1e-12)


def test_sliced_wasserstein_shift_matches_formula(roll):
    # E[(θ·s)²] = ‖s‖²/D; with 4,000 directions the estimate is within a few percent.
    shift = torch.tensor([0.3, -0.4])  # ‖s‖ = 0.5
    distance = metrics.sliced_wasserstein(roll, roll + shift, num_projections=4000)
    assert distance == pytest.approx(0.5 / np.sqrt(2), rel=0.03)


def test_sliced_wasserstein_larger_shift_scores_higher(roll):
    small = metrics.sliced_wasserstein(roll, roll + 0.05)
    large = metrics.sliced_wasserstein(roll, roll + 0.2)
    assert 0 < small < large


def test_sliced_wasserstein_is_symmetric_and_seeded(roll):
    other = make_toy_dataset("swiss_roll", num_points=1000, seed=8)
    assert metrics.sliced_wasserstein(roll, other, seed=3) == pytest.approx(metrics.sliced_wasserstein(other, roll, seed=3))
    assert metrics.sliced_wasserstein(roll, other, seed=3) == metrics.sliced_wasserstein(roll, other, seed=3)


def test_sliced_wasserstein_different_sizes(roll):
    # Every point twice is the same distribution: only quantile interpolation error remains.
    doubled = torch.cat([roll, roll])
    assert metrics.sliced_wasserstein(roll, doubled) < 0.01 * metrics.sliced_wasserstein(roll, roll + 0.1)


def test_sliced_wasserstein_rejects_bad_shapes(roll):
    with pytest.raises(ValueError, match="same dimension"):
        metrics.sliced_wasserstein(roll, torch.zeros(5, 3))
    with pytest.raises(ValueError, match=r"shape \(N, D\)"):
        metrics.sliced_wasserstein(roll[:, 0], roll)


def test_swiss_roll_fresh_data_near_baseline():
    # A fresh draw from the same distribution is, by definition of the baseline, "as good as data".
    score = metrics.score_swiss_roll(make_toy_dataset("swiss_roll", num_points=2000, seed=11))
    assert 0.5 < score["ratio"] < 2.0


def test_swiss_roll_shifted_data_worse():
    shifted = make_toy_dataset("swiss_roll", num_points=2000, seed=11) + torch.tensor([0.2, 0.0])
    assert metrics.score_swiss_roll(shifted)["ratio"] > 3


# ---------------------------------------------------------------------- Fréchet distance
def test_frechet_identical_is_zero():
    cov = random_covariance(6, seed=0)
    mean = torch.arange(6, dtype=torch.float64)
    assert metrics.frechet_distance(mean, cov, mean, cov) == pytest.approx(0.0, abs=1e-9)


def test_frechet_matches_closed_form_with_scipy():
    # Reference: ‖μ₁−μ₂‖² + tr(Σ₁ + Σ₂ − 2 sqrtm(Σ₁Σ₂)), with scipy's general matrix square root.
    cov_a, cov_b = random_covariance(5, seed=1), random_covariance(5, seed=2)
    mean_a, mean_b = torch.zeros(5, dtype=torch.float64), torch.linspace(-1, 1, 5, dtype=torch.float64)
    root = scipy.linalg.sqrtm(cov_a.numpy() @ cov_b.numpy()).real
    expected = float(((mean_a - mean_b) ** 2).sum()) + float(np.trace(cov_a.numpy() + cov_b.numpy() - 2 * root))
    assert metrics.frechet_distance(mean_a, cov_a, mean_b, cov_b) == pytest.approx(expected, rel=1e-8)


def test_frechet_diagonal_closed_form():
    # Commuting covariances: tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½) = Σ (σ₁ᵢ − σ₂ᵢ)².
    std_a = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64)
    std_b = torch.tensor([1.5, 1.0, 0.5], dtype=torch.float64)
    mean_a = torch.tensor([0.0, 0.0, 0.0], dtype=torch.float64)
    mean_b = torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64)
    expected = 1.0 + 4.0 + (0.25 + 1.0 + 0.0)
    actual = metrics.frechet_distance(mean_a, torch.diag(std_a**2), mean_b, torch.diag(std_b**2))
    assert actual == pytest.approx(expected, rel=1e-10)


def test_frechet_of_shifted_features_is_squared_shift():
    # Shifting every feature vector by c leaves Σ unchanged and moves μ by c: d² = ‖c‖².
    features = torch.randn(500, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    shift = torch.tensor([1.0, -2.0, 0.0, 0.5], dtype=torch.float64)
    distance = metrics.frechet_distance_of_features(features, features + shift)
    assert distance == pytest.approx(float((shift**2).sum()), rel=1e-6)


def test_frechet_rejects_bad_shapes():
    with pytest.raises(ValueError, match="covariances"):
        metrics.frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(3), torch.eye(4))
    with pytest.raises(ValueError, match="N ≥ 2"):
        metrics.feature_statistics(torch.zeros(1, 3))


# ---------------------------------------------------------------------- digits classifier
SHIPPED = read_manifest(CHECKPOINT_DIR)
needs_classifier = pytest.mark.skipif("digits-classifier" not in SHIPPED, reason="digits-classifier not trained yet")


def test_classifier_embed_shape():
    classifier = metrics.DigitsClassifier()
    assert classifier.embed(torch.zeros(3, 1, 16, 16)).shape == (3, 64)
    with pytest.raises(ValueError, match=r"\(B, 1, 16, 16\)"):
        classifier.embed(torch.zeros(3, 1, 8, 8))


@needs_classifier
def test_classifier_accuracy_matches_manifest():
    classifier = metrics.load_digits_classifier()
    recorded = SHIPPED["digits-classifier"]["metrics"]["heldout_accuracy"]
    assert metrics.digits_classifier_accuracy(classifier) == pytest.approx(recorded, abs=1e-4)


@needs_classifier
def test_digits_score_of_heldout_equals_baseline():
    score = metrics.score_digits(load_digits(size=16, split="heldout"))
    assert score["value"] == pytest.approx(score["baseline"])
    assert score["num_classes_present"] == 10


@needs_classifier
def test_digits_score_of_altered_digits_is_worse():
    heldout = load_digits(size=16, split="heldout")
    brighter = (heldout + 0.5).clamp(-1, 1)
    noisy = heldout + 0.5 * torch.randn(heldout.shape, generator=torch.Generator().manual_seed(0))
    classifier = metrics.load_digits_classifier()
    reference = metrics.digits_reference_features(classifier)
    baseline = metrics.digits_baseline(classifier, reference)
    assert metrics.digits_frechet(brighter, classifier, len(heldout), reference) > baseline
    assert metrics.digits_frechet(noisy, classifier, len(heldout), reference) > baseline


@needs_classifier
def test_digits_score_chunk_size_matches_baseline():
    # The held-out digits scored in chunks of 100 are the baseline at that chunk size.
    score = metrics.score_digits(load_digits(size=16, split="heldout"), chunk_size=100)
    assert score["chunk_size"] == 100
    assert score["value"] == pytest.approx(score["baseline"])


def test_digits_score_rejects_bad_chunk_size():
    with pytest.raises(ValueError, match="chunk_size"):
        metrics.score_digits(torch.zeros(10, 1, 16, 16), classifier=metrics.DigitsClassifier(), chunk_size=1000)
