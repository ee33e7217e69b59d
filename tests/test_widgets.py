"""Tests for ddpm_lib.widgets: PNG rendering and the forward-noising explorer."""

import io
import re

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_lib import NoiseSchedule, load_digits, make_toy_dataset
from ddpm_lib.plotting import tile_images
from ddpm_lib.widgets import ForwardNoisingExplorer, encode_png, figure_to_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def explorer():
    # Small inputs keep each redraw cheap; tests/test_widget_memory.py drives the default explorer.
    return ForwardNoisingExplorer(
        digits=load_digits(size=8)[:4], points=make_toy_dataset("moons", num_points=200), t=100
    )


def test_figure_to_png_size_and_signature():
    fig = plt.figure(figsize=(2, 1), dpi=50)
    fig.add_subplot().plot([0, 1], [0, 1])
    png = figure_to_png(fig)
    assert png.startswith(PNG_SIGNATURE)
    # Pixel size = inches × dpi.
    assert Image.open(io.BytesIO(png)).size == (100, 50)


def test_encode_png_round_trips_through_pillow():
    # Reference decoder: Pillow reads the bytes back to the same pixels.
    rgb = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    png = encode_png(rgb)
    assert png.startswith(PNG_SIGNATURE)
    decoded = Image.open(io.BytesIO(png))
    assert decoded.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(decoded), rgb)


@pytest.mark.parametrize("rgb", [np.zeros((4, 4, 3), dtype=np.float32), np.zeros((4, 4, 4), dtype=np.uint8)])
def test_encode_png_rejects_bad_input(rgb):
    with pytest.raises(ValueError):
        encode_png(rgb)


def test_figure_to_png_rejects_bad_input():
    with pytest.raises(TypeError):
        figure_to_png("figure")
    with pytest.raises(ValueError):
        figure_to_png(plt.figure(), compress_level=10)


def test_explorer_widgets_are_real_ipywidgets(explorer):
    assert isinstance(explorer.t_slider, widgets.IntSlider)
    assert "t" in explorer.t_slider.description
    assert (explorer.t_slider.min, explorer.t_slider.max) == (0, 999)
    assert isinstance(explorer.schedule_dropdown, widgets.Dropdown)
    assert tuple(explorer.schedule_dropdown.options) == ("linear", "cosine", "sigmoid")
    assert isinstance(explorer.image, widgets.Image)
    assert bytes(explorer.image.value).startswith(PNG_SIGNATURE)


def test_explorer_update_changes_image_when_t_changes(explorer):
    before = explorer.update(t=10, beta_schedule="linear")
    after = explorer.update(t=900)
    assert after != before
    assert explorer.image.value == after
    assert explorer.t_slider.value == 900


def test_explorer_same_state_gives_same_image(explorer):
    # ε is drawn once per explorer, so a state renders identically every time.
    first = explorer.update(t=321, beta_schedule="cosine")
    explorer.update(t=5, beta_schedule="sigmoid")
    assert explorer.update(t=321, beta_schedule="cosine") == first


def test_explorer_shows_add_noise_with_fixed_noise(explorer):
    # Expected image: x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε (Ho et al. 2020, eq. 4) with the explorer's ε.
    explorer.update(t=400, beta_schedule="linear")
    schedule = NoiseSchedule(1000, "linear")
    expected = schedule.add_noise(explorer.digits, explorer.digit_noise, 400)
    np.testing.assert_allclose(explorer._artists.digits.get_array(), tile_images(expected), atol=1e-6)
    x, y = explorer._artists.points.get_data()
    expected_points = schedule.add_noise(explorer.points, explorer.point_noise, 400)
    np.testing.assert_allclose(np.stack([x, y], axis=1), expected_points.numpy(), atol=1e-6)


@pytest.mark.parametrize(
    "beta_schedule, diffusers_name", [("linear", "linear"), ("cosine", "squaredcos_cap_v2"), ("sigmoid", "sigmoid")]
)
@pytest.mark.parametrize("t", [0, 250, 999])
def test_explorer_title_matches_diffusers(explorer, beta_schedule, diffusers_name, t):
    # Reference values: diffusers' DDPMScheduler with the same schedule and T = 1000.
    from diffusers import DDPMScheduler

    reference = DDPMScheduler(num_train_timesteps=1000, beta_schedule=diffusers_name)
    alpha_bar = float(reference.alphas_cumprod[t])
    explorer.update(t=t, beta_schedule=beta_schedule)
    title = explorer.title
    assert f"t = {t}" in title
    assert beta_schedule in title
    shown_alpha_bar = float(re.search(r"ᾱ_t = ([-+0-9.e]+)", title).group(1))
    shown_snr = float(re.search(r"SNR\(t\) = ([-+0-9.e]+)", title).group(1))
    # Three significant digits are shown, so allow half a unit in the third digit.
    assert shown_alpha_bar == pytest.approx(alpha_bar, rel=5e-3)
    assert shown_snr == pytest.approx(alpha_bar / (1 - alpha_bar), rel=5e-3)


def test_explorer_slider_and_dropdown_redraw(explorer):
    explorer.update(t=50, beta_schedule="linear")
    before = explorer.image.value
    explorer.t_slider.value = 700
    assert explorer.image.value != before
    assert "t = 700" in explorer.title
    explorer.schedule_dropdown.value = "sigmoid"
    assert explorer.title.startswith("sigmoid")


def test_explorer_open_figures_constant(explorer):
    open_before = len(plt.get_fignums())
    for t in range(0, 1000, 25):
        explorer.update(t=t)
    assert len(plt.get_fignums()) == open_before


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"t": -1}, ValueError),
        ({"t": 1000}, ValueError),
        ({"t": 2.5}, TypeError),
        ({"t": True}, TypeError),
        ({"t": "10"}, TypeError),
        ({"beta_schedule": "quadratic"}, ValueError),
        ({"beta_schedule": "scaled_linear"}, ValueError),  # a valid schedule, but not in the dropdown
    ],
)
def test_explorer_update_rejects_bad_input(explorer, kwargs, error):
    explorer.update(t=123, beta_schedule="linear")
    image = explorer.image.value
    with pytest.raises(error):
        explorer.update(**kwargs)
    # A rejected update leaves the state and the picture as they were.
    assert (explorer.t, explorer.beta_schedule, explorer.image.value) == (123, "linear", image)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"digits": torch.zeros(2, 3, 8, 8)}, ValueError),
        ({"digits": np.zeros((2, 1, 8, 8))}, TypeError),
        ({"points": torch.zeros(10, 3)}, ValueError),
        ({"beta_schedules": ()}, ValueError),
        ({"beta_schedules": ("linear", "quadratic")}, ValueError),
        ({"t": 10, "num_train_timesteps": 10}, ValueError),
    ],
)
def test_explorer_constructor_rejects_bad_input(kwargs, error):
    small = {"digits": torch.zeros(1, 1, 8, 8), "points": torch.zeros(5, 2)}
    with pytest.raises(error):
        ForwardNoisingExplorer(**{**small, **kwargs})


def test_explorer_figure_at_is_static(explorer):
    explorer.update(t=10, beta_schedule="linear")
    fig = explorer.figure_at(500, "cosine")
    assert "t = 500" in fig.get_suptitle()
    assert fig.get_suptitle().startswith("cosine")
    assert plt.fignum_exists(fig.number)
    # The widgets stay where they were.
    assert (explorer.t, explorer.beta_schedule) == (10, "linear")
