"""Data sets for the lessons: 2-D toy point clouds and scikit-learn's handwritten digits.

Everything is generated or read from an installed package, never downloaded, and scaled to
[−1, 1], the range the forward process assumes for x₀.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

TOY_DATASETS = ("swiss_roll", "moons", "gaussian_mixture")
DIGITS_SIZES = (8, 16)
DIGITS_SPLITS = ("train", "heldout", "all")
# The digits are split once with this seed: 1,500 for training and 297 held out for metrics.
DIGITS_SPLIT_SEED = 0
DIGITS_NUM_TRAIN = 1500


def _scale_to_unit_box(points: np.ndarray) -> np.ndarray:
    """Centre points and divide by their largest absolute coordinate, so all lie in [−1, 1]."""
    points = points - points.mean(axis=0, keepdims=True)
    largest = np.abs(points).max()
    # A single point centres to the origin, which is already in the box (dividing would give NaN).
    return points / largest if largest > 0 else points


def make_toy_dataset(name: str, num_points: int = 2000, seed: int = 0, noise: float | None = None) -> torch.Tensor:
    """Generate a 2-D toy data set as a float32 tensor of shape (num_points, 2) in [−1, 1].

    Args:
        name: ``swiss_roll`` (a 2-D spiral), ``moons`` (two interleaved half circles) or
            ``gaussian_mixture`` (8 Gaussians on a circle).
        num_points: how many points (at least 1).
        seed: the same seed gives the same points.
        noise: standard deviation of the jitter before scaling (each set has its own default).
    """
    if name not in TOY_DATASETS:
        raise ValueError(f"unknown toy data set {name!r}; expected one of {TOY_DATASETS}")
    if isinstance(num_points, bool) or not isinstance(num_points, int) or num_points < 1:
        raise ValueError(f"num_points must be a positive int, got {num_points!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be a non-negative int, got {seed!r}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed}")
    if noise is not None and (isinstance(noise, bool) or not isinstance(noise, (int, float)) or not 0 <= noise < math.inf):
        raise ValueError(f"noise must be None or a finite standard deviation >= 0, got {noise!r}")
    rng = np.random.default_rng(seed)

    if name == "swiss_roll":
        angle = 1.5 * math.pi * (1 + 2 * rng.random(num_points))
        points = np.stack([angle * np.cos(angle), angle * np.sin(angle)], axis=1)
        points += (0.3 if noise is None else noise) * rng.standard_normal(points.shape)
    elif name == "moons":
        upper = rng.random(num_points) < 0.5
        angle = math.pi * rng.random(num_points)
        x = np.where(upper, np.cos(angle), 1 - np.cos(angle))
        y = np.where(upper, np.sin(angle), 0.5 - np.sin(angle))
        points = np.stack([x, y], axis=1) + (0.05 if noise is None else noise) * rng.standard_normal((num_points, 2))
    else:
        component = rng.integers(0, 8, num_points)
        centre_angle = 2 * math.pi * component / 8
        centres = np.stack([np.cos(centre_angle), np.sin(centre_angle)], axis=1)
        points = centres + (0.08 if noise is None else noise) * rng.standard_normal((num_points, 2))

    return torch.from_numpy(_scale_to_unit_box(points)).float()


def load_digits(
    size: int = 16, split: str = "train", return_labels: bool = False
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Load scikit-learn's 1,797 real 8×8 handwritten digits as images in [−1, 1].

    The 0–16 grey levels map linearly to [−1, 1]; at size 16 the 8×8 images are upsampled
    bilinearly. The split is fixed: 1,500 train and 297 held-out images.

    Args:
        size: 8 (original) or 16 (upsampled).
        split: ``train``, ``heldout`` or ``all``.
        return_labels: also return the digit labels, shape (N,), values 0–9.
    Returns:
        images of shape (N, 1, size, size), float32, and optionally the labels.
    """
    from sklearn.datasets import load_digits as sklearn_load_digits

    if size not in DIGITS_SIZES:
        raise ValueError(f"digits size must be one of {DIGITS_SIZES}, got {size!r}")
    if split not in DIGITS_SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {DIGITS_SPLITS}")

    bunch = sklearn_load_digits()
    images = torch.from_numpy(bunch.images).float().unsqueeze(1) / 8.0 - 1.0  # (1797, 1, 8, 8)
    labels = torch.from_numpy(bunch.target).long()
    if size == 16:
        images = F.interpolate(images, size=(16, 16), mode="bilinear", align_corners=False).clamp(-1, 1)

    order = torch.from_numpy(np.random.default_rng(DIGITS_SPLIT_SEED).permutation(len(labels)))
    if split == "train":
        order = order[:DIGITS_NUM_TRAIN]
    elif split == "heldout":
        order = order[DIGITS_NUM_TRAIN:]
    images, labels = images[order], labels[order]
    return (images, labels) if return_labels else images
