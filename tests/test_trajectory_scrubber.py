"""Tests for ddpm_lib.widgets.TrajectoryScrubber: scrubbing a recorded run without sampling again."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from ddpm_lib.sampling import SamplerOutput
from ddpm_lib.widgets import TrajectoryScrubber

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def make_trajectory(shape: tuple[int, ...], num_frames: int = 9, seed: int = 0) -> SamplerOutput:
    """Random frames (K, B, …) recorded at timesteps K − 2, …, 0, then −1 for the final sample."""
    generator = torch.Generator().manual_seed(seed)
    x_t = torch.randn((num_frames, *shape), generator=generator)
    pred_original_sample = torch.randn((num_frames, *shape), generator=generator).clamp(-1, 1)
    timesteps = torch.cat([torch.arange(num_frames - 2, -1, -1), torch.tensor([-1])])
    return SamplerOutput(x_t[-1], timesteps, x_t, pred_original_sample)


@pytest.fixture(params=[(4, 1, 6, 6), (50, 2)], ids=["digits", "points"])
def scrubber(request):
    return TrajectoryScrubber(make_trajectory(request.param))


def test_scrubber_starts_at_x_T(scrubber):
    assert scrubber.frame_index == 0
    assert bytes(scrubber.image.value).startswith(PNG_SIGNATURE)
    assert scrubber.step_label.value == "t = 7"  # frame 0 of 9 is x_T, recorded at t = K − 2


def test_moving_slider_changes_image(scrubber):
    before = scrubber.image.value
    scrubber.slider.value = 5  # what the front end does when the user drags
    assert scrubber.view.frame_index == 5
    assert scrubber.image.value != before
    assert scrubber.step_label.value == "t = 2"


def test_scrubbing_back_restores_image(scrubber):
    # The same frame must give the same picture: nothing is resampled or accumulated.
    first = scrubber.image.value
    scrubber.update(6)
    scrubber.update(0)
    assert scrubber.image.value == first


def test_last_frame_is_final_sample(scrubber):
    scrubber.update(-1)
    assert scrubber.frame_index == 8
    assert scrubber.step_label.value == "final sample"


def test_play_drives_slider_over_all_frames(scrubber):
    assert isinstance(scrubber.link, widgets.widget_link.Link)
    assert scrubber.link.source == (scrubber.play, "value")
    assert scrubber.link.target == (scrubber.slider, "value")
    assert (scrubber.play.min, scrubber.play.max) == (scrubber.slider.min, scrubber.slider.max) == (0, 8)


def test_play_step_sized_for_long_recordings():
    scrubber = TrajectoryScrubber(make_trajectory((3, 2), num_frames=1001), play_frames=50)
    assert scrubber.play.step == 1000 // 50


def test_figures_do_not_pile_up():
    before = plt.get_fignums()
    scrubber = TrajectoryScrubber(make_trajectory((4, 1, 6, 6)))
    for frame_index in [1, 2, 3, 4, 5, 6, 7, 8, 0]:
        scrubber.update(frame_index)
    assert plt.get_fignums() == before


def test_figure_at_draws_requested_frame():
    trajectory = make_trajectory((4, 1, 6, 6))
    scrubber = TrajectoryScrubber(trajectory, num_images=4, num_columns=2)
    figure = scrubber.figure_at(3)
    assert figure.number in plt.get_fignums()  # a pyplot figure, so plt.show() displays it
    x0_artist = figure.axes[1].images[0]
    expected = scrubber.view._grid("pred_original_sample", 3)
    assert np.array_equal(np.asarray(x0_artist.get_array()), expected)
    assert scrubber.frame_index == 0  # drawing a static figure leaves the widget alone


def test_representative_frame_is_midway_to_final():
    # x_t stays at distance 1 from the final sample up to frame 4, then closes in evenly:
    # half the distance is covered at frame 6.
    trajectory = make_trajectory((3, 2))
    distance = torch.tensor([1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0])
    trajectory.x_t = distance.view(-1, 1, 1) * torch.ones(9, 3, 2)
    assert TrajectoryScrubber(trajectory).representative_frame() == 6


@pytest.mark.parametrize("frame_index, error", [(9, ValueError), (-10, ValueError), (1.0, TypeError)])
def test_update_rejects_bad_frame(frame_index, error):
    scrubber = TrajectoryScrubber(make_trajectory((5, 2)))
    with pytest.raises(error, match="frame_index"):
        scrubber.update(frame_index)


def test_unrecorded_output_is_rejected():
    with pytest.raises(ValueError, match="record"):
        TrajectoryScrubber(SamplerOutput(torch.zeros(3, 2)))
