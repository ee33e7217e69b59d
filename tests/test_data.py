"""Tests for ddpm_lib.data: 2-D toy sets and scikit-learn's digits.

Expected counts and ranges come from the module's documented contract: data in [−1, 1],
scikit-learn's 1,797 digits split into 1,500 train and 297 held-out images, 8×8 or 16×16.
"""

import pytest
import torch
from sklearn.datasets import load_digits as sklearn_load_digits

from ddpm_lib.data import TOY_DATASETS, load_digits, make_toy_dataset


@pytest.mark.parametrize("name", TOY_DATASETS)
@pytest.mark.parametrize("num_points", [1, 2, 500])
def test_toy_shape_dtype_range(name, num_points):
    points = make_toy_dataset(name, num_points=num_points)
    assert points.shape == (num_points, 2)
    assert points.dtype == torch.float32
    assert torch.isfinite(points).all(), points
    assert points.abs().max() <= 1.0


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_fills_unit_box(name):
    # Scaling divides by the largest absolute coordinate, so some coordinate reaches ±1.
    points = make_toy_dataset(name, num_points=1000)
    assert points.abs().max().item() == pytest.approx(1.0)


@pytest.mark.parametrize("name", TOY_DATASETS)
def test_toy_seeded(name):
    assert torch.equal(make_toy_dataset(name, 300, seed=4), make_toy_dataset(name, 300, seed=4))
    assert not torch.equal(make_toy_dataset(name, 300, seed=4), make_toy_dataset(name, 300, seed=5))


def test_toy_sets_differ():
    sets = [make_toy_dataset(name, 200) for name in TOY_DATASETS]
    assert not torch.allclose(sets[0], sets[1])
    assert not torch.allclose(sets[1], sets[2])


def test_toy_rejects_bad_input():
    with pytest.raises(ValueError, match=r"unknown toy data set 'spiral'.*'swiss_roll'"):
        make_toy_dataset("spiral")
    for bad in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match=rf"num_points must be a positive int, got {bad!r}"):
            make_toy_dataset("moons", num_points=bad)


@pytest.mark.parametrize("size", [8, 16])
def test_digits_shapes_and_counts(size):
    train = load_digits(size, "train")
    heldout = load_digits(size, "heldout")
    everything = load_digits(size, "all")
    assert train.shape == (1500, 1, size, size)
    assert heldout.shape == (297, 1, size, size)
    assert everything.shape == (1797, 1, size, size)
    for images in (train, heldout, everything):
        assert images.dtype == torch.float32
        assert images.min() >= -1 and images.max() <= 1


def test_digits_8x8_are_sklearn_rescaled():
    # Grey levels 0–16 map linearly to [−1, 1]: x / 8 − 1.
    reference = torch.from_numpy(sklearn_load_digits().images).float() / 8 - 1
    images = load_digits(8, "all")
    # The split order is a permutation: compare as sorted multisets of flattened images.
    assert torch.equal(images.sum(dim=(1, 2, 3)).sort().values, reference.sum(dim=(1, 2)).sort().values)
    assert images.min() == -1 and images.max() == 1


def test_digits_split_disjoint_and_fixed():
    train, train_labels = load_digits(8, "train", return_labels=True)
    heldout, heldout_labels = load_digits(8, "heldout", return_labels=True)
    # Disjoint as index sets: scikit-learn's digits contain no duplicate images across the split,
    # so compare the rows themselves.
    train_rows = {tuple(row.tolist()) for row in train.flatten(1)}
    heldout_rows = {tuple(row.tolist()) for row in heldout.flatten(1)}
    assert not train_rows & heldout_rows
    # Fixed across calls.
    again, again_labels = load_digits(8, "train", return_labels=True)
    assert torch.equal(train, again) and torch.equal(train_labels, again_labels)
    assert train_labels.shape == (1500,) and heldout_labels.shape == (297,)
    assert set(train_labels.tolist()) == set(range(10))


def test_digits_16_is_upsampled_8():
    # The same images in the same order: downsampling 16×16 by 2×2 averaging stays close to 8×8.
    small = load_digits(8, "train")
    large = load_digits(16, "train")
    pooled = torch.nn.functional.avg_pool2d(large, 2)
    assert (pooled - small).abs().mean() < 0.15


def test_digits_reject_bad_input():
    with pytest.raises(ValueError, match=r"digits size must be one of \(8, 16\), got 32"):
        load_digits(32)
    with pytest.raises(ValueError, match=r"unknown split 'test'.*'train', 'heldout', 'all'"):
        load_digits(8, "test")
