"""Sample quality, each score read against a data-vs-data baseline.

- Points: the sliced Wasserstein distance (Rabin et al. 2011; Bonneel et al. 2015), the average
  over random directions of the 1-D Wasserstein-2 distance between the projected point sets.
- Digits: the Fréchet distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update
  Rule", the FID formula) between Gaussians fitted to the 64-D features of a small CNN trained
  on the digits' train split. The CNN is a shipped checkpoint (``digits-classifier``).

A score alone has no scale. Each comes with a baseline: held-out real data scored against the
training data with the same sample size, so ``ratio = score / baseline`` near 1 means "as close to
the training data as fresh real data is".
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .data import load_digits, make_toy_dataset
from .schedules import check_finite

SWISS_ROLL_TRAIN_SEED = 0
# Held-out Swiss rolls use these seeds; the baseline is averaged over them to reduce its noise.
SWISS_ROLL_HELDOUT_SEEDS = (1, 2, 3, 4, 5)
CLASSIFIER_CONFIG = {"architecture": "DigitsClassifier", "feature_dim": 64, "image_size": 16}


# ---------------------------------------------------------------------- sliced Wasserstein
def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, num_projections: int = 256, seed: int = 0) -> float:
    """Return the sliced Wasserstein-2 distance between two point sets.

    SW₂(a, b) = ( mean over unit directions θ of W₂²(θ·a, θ·b) )^½. In 1-D, W₂ pairs the sorted
    values; sets of different sizes are compared through their quantile functions at
    max(N, M) levels.

    Args:
        a: shape (N, D), e.g. 2-D samples.
        b: shape (M, D) with the same D.
        num_projections: number of random directions.
        seed: seeds the directions, so the same inputs give the same value.
    Returns:
        a float ≥ 0, in the units of the points (0 for identical sets).
    """
    for value, name in ((a, "a"), (b, "b")):
        if not isinstance(value, torch.Tensor) or value.ndim != 2 or value.shape[0] < 1:
            raise ValueError(f"{name} must be a tensor of shape (N, D) with N ≥ 1, got {getattr(value, 'shape', value)}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"a and b must have the same dimension D, got {a.shape[1]} and {b.shape[1]}")
    check_finite(a, "a")
    check_finite(b, "b")
    if isinstance(num_projections, bool) or not isinstance(num_projections, int) or num_projections < 1:
        raise ValueError(f"num_projections must be an int ≥ 1, got {num_projections!r}")
    generator = torch.Generator().manual_seed(seed)
    directions = torch.randn(a.shape[1], num_projections, generator=generator, dtype=torch.float64)
    directions = directions / directions.norm(dim=0, keepdim=True)  # (D, P) unit columns

    projected_a = (a.detach().cpu().double() @ directions).sort(dim=0).values  # (N, P)
    projected_b = (b.detach().cpu().double() @ directions).sort(dim=0).values  # (M, P)
    if projected_a.shape[0] != projected_b.shape[0]:
        levels = (torch.arange(max(len(a), len(b)), dtype=torch.float64) + 0.5) / max(len(a), len(b))
        projected_a = torch.quantile(projected_a, levels, dim=0)
        projected_b = torch.quantile(projected_b, levels, dim=0)
    return float(((projected_a - projected_b) ** 2).mean().sqrt())


def swiss_roll_baseline(num_samples: int = 2000, num_projections: int = 256, seed: int = 0) -> float:
    """Return the mean sliced Wasserstein distance of held-out Swiss rolls to the training roll.

    The training set is ``make_toy_dataset("swiss_roll", 2000, seed=0)``; each held-out set has
    ``num_samples`` points from seeds 1–5.
    """
    train = make_toy_dataset("swiss_roll", num_points=2000, seed=SWISS_ROLL_TRAIN_SEED)
    distances = [
        sliced_wasserstein(make_toy_dataset("swiss_roll", num_samples, seed=s), train, num_projections, seed)
        for s in SWISS_ROLL_HELDOUT_SEEDS
    ]
    return sum(distances) / len(distances)


def score_swiss_roll(samples: torch.Tensor, num_projections: int = 256, seed: int = 0) -> dict[str, Any]:
    """Score 2-D samples against the Swiss roll training set; returns distance, baseline and ratio."""
    train = make_toy_dataset("swiss_roll", num_points=2000, seed=SWISS_ROLL_TRAIN_SEED)
    distance = sliced_wasserstein(samples, train, num_projections, seed)
    baseline = swiss_roll_baseline(samples.shape[0], num_projections, seed)
    return {
        "metric": "sliced_wasserstein",
        "value": round(distance, 5),
        "baseline": round(baseline, 5),
        "ratio": round(distance / baseline, 3),
    }


# ---------------------------------------------------------------------- Fréchet distance
def frechet_distance(
    mean_a: torch.Tensor, cov_a: torch.Tensor, mean_b: torch.Tensor, cov_b: torch.Tensor
) -> float:
    """Return the squared Fréchet (Wasserstein-2) distance between N(μ_a, Σ_a) and N(μ_b, Σ_b).

    d² = ‖μ_a − μ_b‖² + tr(Σ_a + Σ_b − 2 (Σ_a Σ_b)^½) (Heusel et al. 2017). The trace of
    (Σ_a Σ_b)^½ equals the sum of the square roots of the eigenvalues of Σ_a^½ Σ_b Σ_a^½, a
    symmetric matrix, so only symmetric eigendecompositions are needed.

    Args:
        mean_a, mean_b: shape (D,).
        cov_a, cov_b: shape (D, D), symmetric positive semi-definite.
    Returns:
        a float ≥ 0 (up to rounding), in squared feature units.
    """
    mean_a, mean_b, cov_a, cov_b = (x.detach().cpu().double() for x in (mean_a, mean_b, cov_a, cov_b))
    dim = mean_a.shape[0]
    if mean_b.shape != (dim,) or cov_a.shape != (dim, dim) or cov_b.shape != (dim, dim):
        raise ValueError(
            f"expected means of shape (D,) and covariances of shape (D, D); got {tuple(mean_a.shape)}, "
            f"{tuple(cov_a.shape)}, {tuple(mean_b.shape)}, {tuple(cov_b.shape)}"
        )
    # 1. Σ_a^½ from the eigendecomposition of Σ_a (negative rounding noise clipped to 0).
    eigenvalues, eigenvectors = torch.linalg.eigh(cov_a)
    sqrt_cov_a = eigenvectors @ torch.diag(eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T
    # 2. tr (Σ_a Σ_b)^½ = Σ √λ_i(Σ_a^½ Σ_b Σ_a^½).
    middle = sqrt_cov_a @ cov_b @ sqrt_cov_a
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    # 3. The closed form above.
    distance = (mean_a - mean_b).pow(2).sum() + torch.trace(cov_a) + torch.trace(cov_b) - 2 * trace_sqrt
    return float(distance)


def feature_statistics(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Return the mean (D,) and unbiased covariance (D, D) of features of shape (N, D), N ≥ 2."""
    if features.ndim != 2 or features.shape[0] < 2:
        raise ValueError(f"features must have shape (N, D) with N ≥ 2, got {tuple(features.shape)}")
    features = features.detach().cpu().double()
    return features.mean(dim=0), torch.cov(features.T)


def frechet_distance_of_features(features_a: torch.Tensor, features_b: torch.Tensor) -> float:
    """Return the Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D)."""
    return frechet_distance(*feature_statistics(features_a), *feature_statistics(features_b))


# ---------------------------------------------------------------------- the digits classifier
class DigitsClassifier(nn.Module):
    """A small CNN for 16×16 digits in [−1, 1]: two conv blocks, a 64-D feature layer, 10 logits."""

    def __init__(self, feature_dim: int = 64):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),  # (B, 16, 8, 8)
            nn.Conv2d(16, 32, 3, padding=1), nn.SiLU(), nn.MaxPool2d(2),  # (B, 32, 4, 4)
        )  # fmt: skip
        self.features = nn.Sequential(nn.Flatten(), nn.Linear(32 * 4 * 4, feature_dim), nn.SiLU())
        self.head = nn.Linear(feature_dim, 10)

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Return the (B, feature_dim) features of images of shape (B, 1, 16, 16)."""
        if images.ndim != 4 or tuple(images.shape[1:]) != (1, 16, 16):
            raise ValueError(f"DigitsClassifier expects images of shape (B, 1, 16, 16), got {tuple(images.shape)}")
        return self.features(self.conv(images))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.embed(images))


def _shift_batch(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift each image by up to one pixel in x and y (zero-padded), a light augmentation."""
    padded = F.pad(images, (1, 1, 1, 1), value=-1.0)
    offsets = torch.randint(0, 3, (images.shape[0], 2), generator=generator)
    return torch.stack([padded[i, :, dy : dy + 16, dx : dx + 16] for i, (dy, dx) in enumerate(offsets.tolist())])


def train_digits_classifier(seed: int = 0, num_epochs: int = 30, batch_size: int = 64) -> tuple[DigitsClassifier, float]:
    """Train the classifier on the 16×16 train split; returns it (eval mode) and its held-out accuracy."""
    images, labels = load_digits(size=16, split="train", return_labels=True)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        classifier = DigitsClassifier(CLASSIFIER_CONFIG["feature_dim"])
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(classifier.parameters(), lr=2e-3)
    for _ in range(num_epochs):
        order = torch.randperm(len(labels), generator=generator)
        for start in range(0, len(labels), batch_size):
            index = order[start : start + batch_size]
            loss = F.cross_entropy(classifier(_shift_batch(images[index], generator)), labels[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    classifier.eval()
    return classifier, digits_classifier_accuracy(classifier)


def digits_classifier_accuracy(classifier: DigitsClassifier) -> float:
    """Return the fraction of the 297 held-out digits the classifier labels correctly."""
    images, labels = load_digits(size=16, split="heldout", return_labels=True)
    with torch.inference_mode():
        return float((classifier(images).argmax(dim=1) == labels).float().mean())


def load_digits_classifier(checkpoint_dir=None) -> DigitsClassifier:
    """Load the shipped ``digits-classifier`` checkpoint (weights-only, sha256-checked), in eval mode."""
    from .checkpoints import load_checkpoint, manifest_entry

    entry = manifest_entry("digits-classifier", checkpoint_dir)
    classifier = DigitsClassifier(entry["config"]["feature_dim"])
    load_checkpoint(entry["path"], classifier, expected_sha256=entry["sha256"], preset="digits-classifier")
    return classifier.eval()


def digits_features(images: torch.Tensor, classifier: DigitsClassifier, batch_size: int = 500) -> torch.Tensor:
    """Return classifier features (N, 64) of images (N, 1, 16, 16), clamped to [−1, 1] first."""
    with torch.inference_mode():
        chunks = [classifier.embed(images[i : i + batch_size].clamp(-1, 1)) for i in range(0, len(images), batch_size)]
    return torch.cat(chunks)


def digits_reference_features(classifier: DigitsClassifier) -> torch.Tensor:
    """Return the classifier features (1500, 64) of the digits train split, the reference set."""
    return digits_features(load_digits(size=16, split="train"), classifier)


def _check_digit_samples(samples: torch.Tensor) -> None:
    check_finite(samples, "samples")
    if samples.ndim != 4 or tuple(samples.shape[1:]) != (1, 16, 16):
        raise ValueError(f"digit samples must have shape (N, 1, 16, 16), got {tuple(samples.shape)}")


def digits_frechet(
    samples: torch.Tensor,
    classifier: DigitsClassifier,
    sample_size: int,
    reference_features: torch.Tensor | None = None,
) -> float:
    """Mean Fréchet distance to the train split over disjoint chunks of ``sample_size`` samples.

    Fréchet distances shrink as the sample grows, so generated samples are scored in chunks of
    the same size as the baseline's held-out set; leftover samples are not used.
    """
    _check_digit_samples(samples)
    if reference_features is None:
        reference_features = digits_reference_features(classifier)
    num_chunks = samples.shape[0] // sample_size
    if num_chunks < 1:
        raise ValueError(f"need at least {sample_size} samples to score digits, got {samples.shape[0]}")
    features = digits_features(samples, classifier)
    distances = [
        frechet_distance_of_features(features[i * sample_size : (i + 1) * sample_size], reference_features)
        for i in range(num_chunks)
    ]
    return sum(distances) / num_chunks


def digits_baseline(
    classifier: DigitsClassifier, reference_features: torch.Tensor | None = None, chunk_size: int | None = None
) -> float:
    """Return the Fréchet distance of held-out digits to the 1,500 training digits.

    With ``chunk_size`` None the whole held-out set (297 digits) is one chunk; otherwise the
    distance is averaged over its disjoint chunks of ``chunk_size`` digits.
    """
    heldout = load_digits(size=16, split="heldout")
    return digits_frechet(heldout, classifier, chunk_size or heldout.shape[0], reference_features)


def score_digits(
    samples: torch.Tensor, classifier: DigitsClassifier | None = None, chunk_size: int | None = None
) -> dict[str, Any]:
    """Score digit samples (N, 1, 16, 16): Fréchet distance, baseline, ratio and class counts.

    ``value`` is the mean Fréchet distance over chunks of ``chunk_size`` samples (default 297,
    the held-out size), and ``baseline`` the same for the held-out digits, both measured to the
    train split in classifier features. Smaller chunks are cheaper but give larger distances,
    for samples and baseline alike, so only ratios at the same chunk size compare.
    """
    _check_digit_samples(samples)
    classifier = load_digits_classifier() if classifier is None else classifier
    reference = digits_reference_features(classifier)
    heldout_size = load_digits(size=16, split="heldout").shape[0]
    chunk_size = chunk_size or heldout_size
    if not 2 <= chunk_size <= heldout_size:
        raise ValueError(f"chunk_size must be between 2 and {heldout_size} (the held-out size), got {chunk_size}")
    distance = digits_frechet(samples, classifier, chunk_size, reference)
    baseline = digits_baseline(classifier, reference, chunk_size)
    with torch.inference_mode():
        predicted = classifier(samples.clamp(-1, 1)).argmax(dim=1)
    counts = torch.bincount(predicted, minlength=10).tolist()
    return {
        "metric": "frechet_distance_classifier_features",
        "value": round(distance, 4),
        "baseline": round(baseline, 4),
        "ratio": round(distance / baseline, 3),
        "chunk_size": chunk_size,
        "class_counts": counts,
        "num_classes_present": sum(1 for c in counts if c > 0),
    }
