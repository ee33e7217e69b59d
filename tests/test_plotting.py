"""Tests for ddpm_lib.plotting: image tiling, point clouds and schedule curves."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ddpm_lib import NoiseSchedule
from ddpm_lib.plotting import (
    first_step_below,
    plot_point_cloud,
    plot_schedule_curves,
    show_image_grid,
    tile_images,
)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_tile_images_shape_and_placement():
    # Expected layout from the definition: tile i sits at row i // nrow, column i % nrow,
    # each tile H + padding apart, with the padding filled with −1.
    images = torch.arange(5 * 3 * 4, dtype=torch.float32).reshape(5, 1, 3, 4) / 100
    canvas = tile_images(images, nrow=2, padding=1)
    assert canvas.shape == (3 * (3 + 1) - 1, 2 * (4 + 1) - 1)
    for index in range(5):
        top, left = (index // 2) * 4, (index % 2) * 5
        np.testing.assert_array_equal(canvas[top : top + 3, left : left + 4], images[index, 0].numpy())
    assert canvas[3, 0] == -1.0  # a padding row
    assert np.all(canvas[8:, 5:] == -1.0)  # the empty sixth slot


def test_tile_images_default_nrow_is_ceil_sqrt():
    # ⌈√5⌉ = 3 images per row, so 2 rows.
    canvas = tile_images(np.zeros((5, 2, 2), dtype=np.float32), padding=0)
    assert canvas.shape == (4, 6)


@pytest.mark.parametrize(
    "images, nrow",
    [
        (torch.zeros(3, 2, 4, 4), None),  # two channels
        (torch.zeros(4, 4), None),  # no batch axis
        (torch.zeros(0, 1, 4, 4), None),  # empty batch
        (torch.zeros(3, 1, 4, 4), 0),
    ],
)
def test_tile_images_rejects_bad_input(images, nrow):
    with pytest.raises(ValueError):
        tile_images(images, nrow=nrow)


def test_tile_images_rejects_lists():
    with pytest.raises(TypeError):
        tile_images([[0.0]])


def test_show_image_grid_fixed_limits():
    fig, ax = plt.subplots()
    images = torch.linspace(-3, 3, 4 * 16).reshape(4, 1, 4, 4)
    artist = show_image_grid(ax, images, nrow=2, title="x_t")
    # Display range fixed to x₀'s range [−1, 1], whatever the values.
    assert artist.get_clim() == (-1.0, 1.0)
    np.testing.assert_array_equal(artist.get_array(), tile_images(images, nrow=2))
    assert ax.get_title() == "x_t"


def test_show_image_grid_accepts_figure_and_none():
    fig = plt.figure()
    artist = show_image_grid(fig, torch.zeros(1, 1, 2, 2))
    assert artist.axes.figure is fig
    assert show_image_grid(None, torch.zeros(1, 1, 2, 2)).axes is not None
    with pytest.raises(TypeError):
        show_image_grid("axes", torch.zeros(1, 1, 2, 2))


def test_plot_point_cloud_limits_and_labels():
    fig, ax = plt.subplots()
    points = torch.tensor([[0.5, -0.5], [10.0, 10.0]])
    artist = plot_point_cloud(ax, points, limit=2.0)
    # The limits stay at ±limit even when a point lies outside them.
    assert ax.get_xlim() == (-2.0, 2.0)
    assert ax.get_ylim() == (-2.0, 2.0)
    assert ax.get_xlabel()
    assert ax.get_ylabel()
    np.testing.assert_array_equal(artist.get_xdata(), [0.5, 10.0])


@pytest.mark.parametrize("points", [torch.zeros(5, 3), torch.zeros(5)])
def test_plot_point_cloud_rejects_bad_shape(points):
    with pytest.raises(ValueError):
        plot_point_cloud(None, points)


def test_plot_point_cloud_rejects_bad_limit():
    with pytest.raises(ValueError):
        plot_point_cloud(None, torch.zeros(3, 2), limit=0)


def test_first_step_below_hand_made():
    values = torch.tensor([1.0, 0.8, 0.5, 0.4, 0.1])
    assert first_step_below(values, 0.5) == 3  # strictly below, so 0.5 itself does not count
    assert first_step_below(values, 0.05) is None


def test_first_step_below_linear_schedule_matches_numpy():
    # Reference: ᾱ_t = ∏_{s≤t} (1 − β_s) with β linear from 1e-4 to 0.02 (Ho et al. 2020),
    # computed here in numpy float64 independently of NoiseSchedule.
    alphas_cumprod = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))
    expected = int(np.argmax(alphas_cumprod < 0.5))
    schedule = NoiseSchedule(1000, "linear", dtype=torch.float64)
    assert first_step_below(schedule.alphas_cumprod, 0.5) == expected


def test_plot_schedule_curves_marks_crossings():
    schedules = {"linear": NoiseSchedule(1000, "linear"), "cosine": NoiseSchedule(1000, "cosine")}
    fig = plot_schedule_curves(schedules, threshold=0.5)
    ax_alpha, ax_snr = fig.axes
    for label, schedule in schedules.items():
        crossing = first_step_below(schedule.alphas_cumprod, 0.5)
        markers = [line for line in ax_alpha.lines if line.get_marker() == "o" and list(line.get_xdata()) == [crossing]]
        assert len(markers) == 1, label
        assert any(line.get_label() == f"{label} (< 0.5 at t = {crossing})" for line in ax_alpha.lines), label
    # One log-SNR curve per schedule, plus the reference line; log SNR = log ᾱ / (1 − ᾱ).
    curve = next(line for line in ax_snr.lines if line.get_label() == "linear")
    alpha_bar = schedules["linear"].alphas_cumprod.double()
    np.testing.assert_allclose(curve.get_ydata(), torch.log(alpha_bar / (1 - alpha_bar)).numpy(), rtol=1e-4, atol=1e-3)
    assert ax_alpha.get_legend() is not None
    assert ax_snr.get_legend() is not None


def test_plot_schedule_curves_rejects_bad_input():
    with pytest.raises(ValueError):
        plot_schedule_curves({})
    with pytest.raises(ValueError):
        plot_schedule_curves({"linear": NoiseSchedule(10)}, threshold=1.5)
