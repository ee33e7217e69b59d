"""Tests for ErrorAmplificationExplorer, lesson 4's slider over t.

Expected values come from x̂₀ = (x_t − √(1−ᾱ_t) ε̂) / √ᾱ_t: with ε̂ = ε + δ the x̂₀ error is
−δ / √SNR(t) exactly, and a perturbed x₀ keeps the error δ at every t.
"""

import ipywidgets as widgets
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ddpm_lib.schedules import NoiseSchedule  # noqa: E402
from ddpm_lib.widgets import ErrorAmplificationExplorer  # noqa: E402


@pytest.fixture
def explorer():
    digits = torch.linspace(-1, 1, 4 * 16 * 16).reshape(4, 1, 16, 16)
    return ErrorAmplificationExplorer(digits=digits, error_std=0.1, t=500, seed=0)


def test_explorer_builds_ipywidgets(explorer):
    assert isinstance(explorer.widget, widgets.VBox)
    assert isinstance(explorer.t_slider, widgets.IntSlider)
    assert explorer.t_slider.max == 999
    assert bytes(explorer.image.value).startswith(b"\x89PNG")


@pytest.mark.parametrize("t", [0, 300, 999])
def test_explorer_eps_error_amplified(explorer, t):
    # x̂₀ − x₀ = −δ / √SNR(t) (the ε → x₀ conversion formula).
    _, from_eps, from_x0 = explorer.reconstructions(t)
    schedule = NoiseSchedule()
    snr, alpha_bar = float(schedule.snr[t]), float(schedule.alphas_cumprod[t])
    # float32 rounding of x_t (about 1e-6 here) is divided by √ᾱ_t too, so the tolerance grows with t.
    tolerance = 1e-5 / alpha_bar**0.5
    torch.testing.assert_close(from_eps - explorer.digits, -explorer.error / snr**0.5, rtol=1e-4, atol=tolerance)
    torch.testing.assert_close(from_x0 - explorer.digits, explorer.error)


def test_explorer_slider_move_redraws(explorer):
    before = bytes(explorer.image.value)
    explorer.t_slider.value = 900
    assert explorer.t == 900
    assert bytes(explorer.image.value) != before
    assert explorer.title.startswith("t = 900,")


def test_explorer_update_returns_current_png(explorer):
    png = explorer.update(100)
    assert png == bytes(explorer.image.value)
    assert explorer.t_slider.value == 100


def test_explorer_same_state_gives_same_image(explorer):
    first = explorer.update(250)
    explorer.update(750)
    assert explorer.update(250) == first


@pytest.mark.parametrize("t, error", [(1000, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)])
def test_explorer_update_rejects_bad_t(explorer, t, error):
    with pytest.raises(error):
        explorer.update(t)


@pytest.mark.parametrize("error_std", [0, -0.1, "0.1"])
def test_explorer_rejects_bad_error_std(error_std):
    with pytest.raises(ValueError, match="error_std"):
        ErrorAmplificationExplorer(digits=torch.zeros(1, 1, 8, 8), error_std=error_std)


def test_explorer_figure_at_leaves_slider(explorer):
    open_before = len(plt.get_fignums())
    fig = explorer.figure_at(700)
    assert len(fig.axes) == 4
    assert explorer.t == 500
    plt.close(fig)
    assert len(plt.get_fignums()) == open_before
