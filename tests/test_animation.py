"""Tests for ddpm_lib.animation: frame picking, the two views and the GIF they produce."""

from __future__ import annotations

import io
import math

import matplotlib
import numpy as np
import pytest
import torch
from PIL import Image

from ddpm_lib.animation import (
    DigitsTrajectoryView,
    PointsTrajectoryView,
    animate_trajectory,
    frame_changes,
    render_rgb,
    select_frames,
)
from ddpm_lib.plotting import tile_images
from ddpm_lib.sampling import SamplerOutput, ddim_sample, timestep_grid
from ddpm_lib.schedules import NoiseSchedule

matplotlib.use("Agg")


def make_trajectory(pred_original_sample: torch.Tensor, x_t: torch.Tensor | None = None) -> SamplerOutput:
    """Wrap frames (K, B, …) as a recording whose timesteps run K − 2, …, 0, then −1."""
    num_frames = pred_original_sample.shape[0]
    timesteps = torch.cat([torch.arange(num_frames - 2, -1, -1), torch.tensor([-1])])
    x_t = pred_original_sample.clone() if x_t is None else x_t
    return SamplerOutput(x_t[-1], timesteps, x_t, pred_original_sample)


def profile_trajectory(step_sizes: torch.Tensor, shape: tuple[int, ...] = (3, 2)) -> SamplerOutput:
    """A trajectory whose x̂₀ moves by exactly step_sizes[k] (RMS) between frames k and k + 1.

    x_t is x̂₀ too, so the progress measure sees the same profile.
    """
    direction = torch.ones(shape, dtype=torch.float64)  # RMS 1, so a step of s has RMS s
    positions = torch.cat([torch.zeros(1), step_sizes.double().cumsum(0)])
    frames = positions.view(-1, *([1] * len(shape))) * direction
    return make_trajectory(frames)


def random_trajectory(num_frames: int, shape: tuple[int, ...], seed: int = 0) -> SamplerOutput:
    generator = torch.Generator().manual_seed(seed)
    x_t = torch.randn((num_frames, *shape), generator=generator)
    pred_original_sample = torch.randn((num_frames, *shape), generator=generator).clamp(-1, 1)
    return make_trajectory(pred_original_sample, x_t)


def gif_frames(data: bytes) -> list[np.ndarray]:
    image = Image.open(io.BytesIO(data))
    frames = []
    for index in range(image.n_frames):
        image.seek(index)
        frames.append(np.asarray(image.convert("RGB")))
    return frames


# ---------------------------------------------------------------------------------- frame_changes
def test_frame_changes_x0_is_rms_of_differences():
    trajectory = random_trajectory(5, (4, 3))
    frames = trajectory.pred_original_sample.double()
    # Definition: √mean((f[k+1] − f[k])²) over everything but the frame axis.
    expected = [math.sqrt(((frames[k + 1] - frames[k]) ** 2).mean().item()) for k in range(4)]
    assert frame_changes(trajectory, "pred_original_sample").tolist() == pytest.approx(expected, rel=1e-12)


def test_frame_changes_x_t_is_rms_of_differences():
    trajectory = random_trajectory(4, (2, 2))
    frames = trajectory.x_t.double()
    expected = (frames[1] - frames[0]).pow(2).mean().sqrt().item()
    assert frame_changes(trajectory, "x_t")[0].item() == pytest.approx(expected, rel=1e-12)


def test_frame_changes_progress_is_running_min_drop():
    # x_t[k] = final + D[k] · u with u of RMS 1, so the distance to the final sample is D[k].
    # Progress is the drop of its running minimum R = (3, 2.5, 2.5, 1, 0): the step back out to
    # 2.6 counts as no progress, and neither does returning to 2.5.
    distances = torch.tensor([3.0, 2.5, 2.6, 1.0, 0.0], dtype=torch.float64)
    final = torch.randn((4, 2), generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    x_t = final + distances.view(-1, 1, 1) * torch.ones(4, 2, dtype=torch.float64)
    trajectory = make_trajectory(torch.zeros_like(x_t), x_t)
    assert frame_changes(trajectory).tolist() == pytest.approx([0.5, 0.0, 1.5, 1.0], rel=1e-12)


def test_progress_ignores_noise_that_path_length_counts():
    # Frames 0–100 jitter around x_T with fresh noise (long path, no net progress); frames
    # 100–120 walk straight to the final sample. Path length of x_t puts most frames in the
    # jitter, progress puts them in the walk.
    generator = torch.Generator().manual_seed(0)
    start, final = torch.full((200, 2), 3.0), torch.zeros(200, 2)
    jitter = start + 0.3 * torch.randn((101, 200, 2), generator=generator)
    walk = start + torch.linspace(0, 1, 21)[1:].view(-1, 1, 1) * (final - start)
    trajectory = make_trajectory(torch.zeros(121, 200, 2), torch.cat([jitter, walk]))
    by_progress = select_frames(trajectory, max_frames=11, measure="progress", uniform_share=0.0)
    by_path = select_frames(trajectory, max_frames=11, measure="x_t", uniform_share=0.0)
    assert sum(index > 100 for index in by_progress) >= 9
    assert sum(index > 100 for index in by_path) <= 3


def test_frame_changes_rejects_unknown_measure():
    with pytest.raises(ValueError, match="change measure"):
        frame_changes(random_trajectory(3, (2, 2)), measure="noise")


# ---------------------------------------------------------------------------------- select_frames
@pytest.mark.parametrize("max_frames", [2, 3, 10, 30])
def test_select_frames_count_is_bounded(max_frames):
    trajectory = random_trajectory(201, (2, 2))
    assert len(select_frames(trajectory, max_frames=max_frames)) <= max_frames


def test_select_frames_fills_the_budget_on_a_smooth_run():
    # Even change per step: every target lands on a different step, so all 30 frames are used.
    trajectory = profile_trajectory(torch.ones(300))
    assert len(select_frames(trajectory, max_frames=30)) == 30


def test_select_frames_never_exceeds_recorded_frames():
    trajectory = random_trajectory(4, (2, 2))
    assert select_frames(trajectory, max_frames=30) == [0, 1, 2, 3]


@pytest.mark.parametrize("uniform_share", [0.0, 0.2, 1.0])
def test_select_frames_increasing_from_x_T_to_final(uniform_share):
    trajectory = random_trajectory(101, (3, 2))
    indices = select_frames(trajectory, max_frames=12, uniform_share=uniform_share)
    assert indices[0] == 0  # x_T
    assert indices[-1] == 100  # the final sample
    assert all(later > earlier for earlier, later in zip(indices, indices[1:]))


def test_select_frames_follows_a_known_change_profile():
    # Step k changes x̂₀ by k + 1, so the cumulative change at frame k is k(k + 1)/2 and frame j
    # of n is expected where k(k + 1)/2 first reaches j/(n − 1) of the total (inverse of a quadratic).
    num_steps, num_targets = 400, 11
    trajectory = profile_trajectory(torch.arange(1, num_steps + 1, dtype=torch.float64))
    indices = select_frames(trajectory, max_frames=num_targets, measure="pred_original_sample", uniform_share=0.0)
    total = num_steps * (num_steps + 1) / 2
    expected = []
    for j in range(num_targets):
        target = j / (num_targets - 1) * total
        expected.append(math.ceil((-1 + math.sqrt(1 + 8 * target)) / 2 - 1e-9))
    assert indices == expected


def test_select_frames_puts_more_frames_where_change_is_larger():
    # x̂₀ is still for the first 300 steps, then moves evenly for 100: with no even share, every
    # frame but x_T falls in the moving stretch.
    step_sizes = torch.cat([torch.zeros(300), torch.ones(100)])
    indices = select_frames(profile_trajectory(step_sizes), max_frames=21, measure="pred_original_sample", uniform_share=0.0)
    assert indices[0] == 0
    assert all(index >= 300 for index in indices[1:])


def test_select_frames_even_share_keeps_quiet_stretch_visible():
    # Same profile, uniform_share 0.2: the still stretch (3/4 of the steps) carries
    # 0.2 · 3/4 = 15 % of the weight, so 15 % of the 20 gaps between targets land there.
    step_sizes = torch.cat([torch.zeros(300), torch.ones(100)])
    indices = select_frames(profile_trajectory(step_sizes), max_frames=21, measure="pred_original_sample", uniform_share=0.2)
    quiet = [index for index in indices if index <= 300]
    assert len(quiet) == 1 + math.floor(0.15 * 20)  # x_T plus the targets at 0.05, 0.10 and 0.15


def test_select_frames_uniform_share_one_is_even_in_steps():
    # All weight spread evenly: frame j of n is at round-up of j·(K − 1)/(n − 1).
    trajectory = profile_trajectory(torch.cat([torch.zeros(50), torch.ones(50)]))
    indices = select_frames(trajectory, max_frames=5, measure="pred_original_sample", uniform_share=1.0)
    assert indices == [0, 25, 50, 75, 100]


def test_select_frames_still_trajectory_is_even():
    # No change at all: the weights fall back to even spacing instead of dividing by zero.
    trajectory = profile_trajectory(torch.zeros(100))
    assert select_frames(trajectory, max_frames=5, measure="pred_original_sample", uniform_share=0.0) == [0, 25, 50, 75, 100]


@pytest.mark.parametrize("max_frames", [1, 0, 2.5, True])
def test_select_frames_rejects_bad_max_frames(max_frames):
    with pytest.raises(ValueError, match="max_frames"):
        select_frames(random_trajectory(10, (2, 2)), max_frames=max_frames)


def test_select_frames_rejects_bad_uniform_share():
    with pytest.raises(ValueError, match="uniform_share"):
        select_frames(random_trajectory(10, (2, 2)), uniform_share=1.5)


def test_unrecorded_output_is_rejected():
    with pytest.raises(ValueError, match="record"):
        select_frames(SamplerOutput(torch.zeros(2, 2)))


def test_non_sampler_output_is_rejected():
    with pytest.raises(TypeError, match="SamplerOutput"):
        select_frames(torch.zeros(3, 2, 2))


# ---------------------------------------------------------------------------------- views
def test_digits_view_shows_x_t_and_x0_of_one_frame():
    trajectory = random_trajectory(6, (4, 1, 5, 5))
    view = DigitsTrajectoryView(trajectory, num_images=4, num_columns=2)
    view.update(3)
    shown_x_t, shown_x0 = (np.asarray(artist.get_array()) for artist in view.artists)
    assert np.array_equal(shown_x_t, tile_images(trajectory.x_t[3], 2))
    assert np.array_equal(shown_x0, tile_images(trajectory.pred_original_sample[3], 2))
    assert "t = 1" in view.image_axes[0].get_title()  # frame 3 of 6 was taken at t = 6 − 2 − 3


def test_digits_view_titles_final_frame():
    view = DigitsTrajectoryView(random_trajectory(4, (2, 1, 4, 4)))
    view.update(-1)
    assert "final sample" in view.image_axes[0].get_title()


def test_view_rejects_frame_outside_recording():
    view = DigitsTrajectoryView(random_trajectory(4, (2, 1, 4, 4)))
    with pytest.raises(ValueError, match="outside"):
        view.update(4)


def test_points_view_moves_points_and_fades_trails():
    trajectory = random_trajectory(12, (7, 2))
    view = PointsTrajectoryView(trajectory, trail_length=4)
    view.update(9)
    assert np.allclose(view.scatter.get_offsets(), trajectory.x_t[9].double().numpy())
    # 4 steps of trail for each of 7 points, oldest first: opacity must rise with recency.
    alphas = view.trails.get_colors()[:, 3].reshape(4, 7)
    assert len(view.trails.get_segments()) == 4 * 7
    assert all(alphas[k + 1, 0] > alphas[k, 0] for k in range(3))


def test_points_view_rejects_images():
    with pytest.raises(ValueError, match=r"\(K, B, 2\)"):
        PointsTrajectoryView(random_trajectory(4, (2, 1, 4, 4)))


def test_views_do_not_register_with_pyplot():
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    for _ in range(3):
        DigitsTrajectoryView(random_trajectory(3, (2, 1, 4, 4)))
        PointsTrajectoryView(random_trajectory(3, (5, 2)))
    assert len(plt.get_fignums()) == before


# ---------------------------------------------------------------------------------- animation
def test_animation_first_frame_is_x_T_and_last_is_final_sample():
    trajectory = random_trajectory(40, (4, 1, 6, 6))
    animation = animate_trajectory(trajectory, max_frames=8, num_images=4)
    frames = gif_frames(animation.data)
    assert len(frames) == len(animation.frame_indices) <= 8

    # Grey images take fewer than 256 colours, so the GIF keeps the rendered pixels exactly.
    view = DigitsTrajectoryView(trajectory, num_images=4)
    view.update(0)
    assert np.array_equal(frames[0], np.asarray(render_rgb(view.figure)))
    view.update(39)
    assert np.array_equal(frames[-1], np.asarray(render_rgb(view.figure)))


def test_animation_html_is_deterministic_inline_gif():
    trajectory = random_trajectory(10, (20, 2))
    first = animate_trajectory(trajectory, max_frames=4)._repr_html_()
    second = animate_trajectory(trajectory, max_frames=4)._repr_html_()
    assert first.startswith('<img src="data:image/gif;base64,')
    assert first == second


def test_animation_of_a_recorded_sampler_run():
    # A model that predicts ε = 0 makes DDIM scale x_T up to x̂₀ = x_t / √ᾱ_t: a real recording.
    schedule = NoiseSchedule(num_train_timesteps=50)
    output = ddim_sample(
        lambda x, t: torch.zeros_like(x), schedule, (3, 2), num_inference_steps=20,
        generator=torch.Generator().manual_seed(0), record="all",
    )
    animation = animate_trajectory(output, max_frames=6)
    grid = timestep_grid(50, 20)
    assert int(output.timesteps[animation.frame_indices[0]]) == int(grid[0])
    assert int(output.timesteps[animation.frame_indices[-1]]) == -1
    assert len(gif_frames(animation.data)) == len(animation.frame_indices)
