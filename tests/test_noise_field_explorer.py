"""Tests for NoiseFieldExplorer, lesson 2's slider over t, and its grid helpers.

Expected values come from ddpm_lib.ideal (tested on its own against closed forms in
test_ideal.py) and from Tweedie's formula: the score is −E[ε | x_t] / √(1 − ᾱ_t).
"""

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ddpm_lib.ideal import optimal_epsilon  # noqa: E402
from ddpm_lib.schedules import NoiseSchedule  # noqa: E402
from ddpm_lib.widgets import NoiseFieldExplorer, clip_arrows, field_grid  # noqa: E402


@pytest.fixture
def explorer():
    angle = torch.linspace(0, 6, 40)
    points = torch.stack([0.1 * angle * angle.cos(), 0.1 * angle * angle.sin()], dim=1)
    return NoiseFieldExplorer(points, NoiseSchedule(), t=20, grid_size=9, seed=0)


def test_field_grid_covers_square():
    # A 3 × 3 grid over [−1, 1]² contains every pair of {−1, 0, 1}, row by row in x₂.
    grid = field_grid(1.0, 3)
    assert grid.shape == (9, 2)
    torch.testing.assert_close(grid[:3], torch.tensor([[-1.0, -1.0], [0.0, -1.0], [1.0, -1.0]]))
    torch.testing.assert_close(grid[-1], torch.tensor([1.0, 1.0]))


def test_clip_arrows_keeps_direction():
    # (3, 4) has length 5: clipped to 2 it becomes (1.2, 1.6). (0.3, 0.4) is short and stays.
    vectors = torch.tensor([[3.0, 4.0], [0.3, 0.4]])
    torch.testing.assert_close(clip_arrows(vectors, 2.0), torch.tensor([[1.2, 1.6], [0.3, 0.4]]))


def test_explorer_builds_ipywidgets(explorer):
    assert isinstance(explorer.widget, widgets.VBox)
    assert isinstance(explorer.t_slider, widgets.IntSlider)
    assert explorer.t_slider.max == 999
    assert bytes(explorer.image.value).startswith(b"\x89PNG")


@pytest.mark.parametrize("t", [0, 100, 999])
def test_explorer_fields_match_ideal(explorer, t):
    # The arrows are E[ε | x_t] from ddpm_lib.ideal and the score −E[ε | x_t]/√(1 − ᾱ_t).
    epsilon, score = explorer.fields_at(t)
    expected = optimal_epsilon(explorer.grid, t, explorer.points, explorer.schedule)
    torch.testing.assert_close(epsilon, expected)
    noise_scale = (1 - explorer.schedule.alphas_cumprod[t]).sqrt()
    torch.testing.assert_close(score, -expected / noise_scale, rtol=1e-4, atol=1e-4)


def test_explorer_slider_move_redraws(explorer):
    before = bytes(explorer.image.value)
    explorer.t_slider.value = 300
    assert explorer.t == 300
    assert bytes(explorer.image.value) != before
    assert explorer.title.startswith("t = 300,")


def test_explorer_update_returns_current_png(explorer):
    png = explorer.update(150)
    assert png == bytes(explorer.image.value)
    assert explorer.t_slider.value == 150


def test_explorer_figure_at_is_static(explorer):
    open_before = len(plt.get_fignums())
    figure = explorer.figure_at(50)
    assert len(figure.axes) == 3  # the two panels and the log-density colour bar
    assert explorer.t == 20
    plt.close(figure)
    assert len(plt.get_fignums()) == open_before


def test_explorer_rejects_bad_t(explorer):
    with pytest.raises(ValueError, match="outside"):
        explorer.update(1000)
    with pytest.raises(TypeError, match="int"):
        explorer.update(1.5)


def test_explorer_rejects_bad_points():
    with pytest.raises(ValueError, match="shape"):
        NoiseFieldExplorer(torch.zeros(5, 3))
