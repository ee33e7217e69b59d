"""Every public function of ddpm_lib rejects bad arguments with a message a student can act on.

Each row calls one function with one bad argument and names the exception type it must raise
(ValueError or TypeError) and two fragments its message must contain: the bad value itself (or
its type) and what would have been accepted. A row fails when the call succeeds, raises another
exception type, or raises with a message that leaves out either fragment.

The categories: wrong shapes, wrong dtypes, NaN or infinite inputs, data outside [−1, 1] where
the library requires it, t outside [0, T), unknown names, a step count of 0 or more than T, and
η outside [0, 1]. Checkpoint files are attacked in ``test_checkpoints.py``.
"""

from __future__ import annotations

import re
from typing import Callable, NamedTuple

import numpy as np
import pytest
import torch

from ddpm_lib import MLPDenoiser, NoiseSchedule, UNet, ddim_sample, ddim_step, ddpm_sample, ddpm_step
from ddpm_lib import get_device, load_digits, make_toy_dataset, timestep_embedding, timestep_grid
from ddpm_lib.ideal import loss_floor, loss_floor_gaussian, optimal_epsilon, optimal_epsilon_gaussian
from ddpm_lib.metrics import score_digits, sliced_wasserstein
from ddpm_lib.parameterization import eps_to_x0_amplification, x0_space_weight
from ddpm_lib.animation import animate_trajectory, check_trajectory
from ddpm_lib.plotting import plot_point_cloud, tile_images
from ddpm_lib.sampling import SamplerOutput, sample_in_chunks
from ddpm_lib.training import TrainingConfig, build_model, load_pretrained, train
from ddpm_lib.widgets import ForwardNoisingExplorer, TrajectoryScrubber, figure_to_png

T = 100
SCHEDULE = NoiseSchedule(T)
POINTS = torch.zeros(4, 2)
NOISE = torch.ones(4, 2)
MLP = MLPDenoiser(hidden_dim=16, num_blocks=1, time_embed_dim=8)
UNET = UNet(base_channels=8, channel_mults=(1,), time_embed_dim=8)
T_BATCH = torch.zeros(4, dtype=torch.long)
SMALL_CONFIG = TrainingConfig(num_steps=1, batch_size=2, warmup_steps=1, num_train_timesteps=T,
                              model_kwargs={"hidden_dim": 16, "num_blocks": 1, "time_embed_dim": 8})


def with_value(base: torch.Tensor, index: tuple, value: float) -> torch.Tensor:
    """Return a copy of ``base`` with one entry replaced, e.g. by NaN."""
    copy = base.clone()
    copy[index] = value
    return copy


NAN_POINTS = with_value(POINTS, (1, 0), float("nan"))
INF_POINTS = with_value(POINTS, (2, 1), float("inf"))
INT_POINTS = torch.zeros(4, 2, dtype=torch.long)


def small_explorer() -> ForwardNoisingExplorer:
    return ForwardNoisingExplorer(digits=torch.zeros(1, 1, 8, 8), points=torch.zeros(3, 2))


class Case(NamedTuple):
    call: Callable[[], object]
    error: type[Exception]
    value: str  # a regex fragment naming the bad value or its type
    accepted: str  # a regex fragment naming what is accepted


CASES = {
    # ------------------------------------------------------------------ schedules
    "schedule_T_zero": Case(lambda: NoiseSchedule(0), ValueError, r"\b0\b", r"at least 1"),
    "schedule_T_float": Case(lambda: NoiseSchedule(10.0), TypeError, r"float", r"int"),
    "schedule_unknown_name": Case(lambda: NoiseSchedule(T, "quadratic"), ValueError, r"quadratic", r"linear"),
    "schedule_dtype_float16": Case(lambda: NoiseSchedule(T, dtype=torch.float16), ValueError, r"float16", r"float32"),
    "schedule_beta_nan": Case(lambda: NoiseSchedule(T, beta_start=float("nan")), ValueError, r"nan", r"0 < beta_start"),
    "schedule_beta_above_one": Case(lambda: NoiseSchedule(T, beta_end=1.5), ValueError, r"1\.5", r"beta_end < 1"),
    "add_noise_shape_mismatch": Case(lambda: SCHEDULE.add_noise(POINTS, torch.zeros(4, 3), 5), ValueError,
                                     r"\(4, 3\)", r"must match"),
    "add_noise_nan_sample": Case(lambda: SCHEDULE.add_noise(NAN_POINTS, NOISE, 5), ValueError, r"nan", r"finite"),
    "add_noise_inf_noise": Case(lambda: SCHEDULE.add_noise(POINTS, INF_POINTS, 5), ValueError, r"inf", r"finite"),
    "add_noise_int_dtype": Case(lambda: SCHEDULE.add_noise(INT_POINTS, INT_POINTS, 5), TypeError,
                                r"int64", r"floating-point"),
    "add_noise_numpy": Case(lambda: SCHEDULE.add_noise(POINTS.numpy(), NOISE, 5), TypeError, r"ndarray", r"Tensor"),
    "add_noise_t_equals_T": Case(lambda: SCHEDULE.add_noise(POINTS, NOISE, T), ValueError, r"\b100\b", r"\[0, 100\)"),
    "add_noise_t_negative": Case(lambda: SCHEDULE.add_noise(POINTS, NOISE, -1), ValueError, r"-1", r"\[0, 100\)"),
    "add_noise_t_float": Case(lambda: SCHEDULE.add_noise(POINTS, NOISE, torch.full((4,), 2.0)), TypeError,
                              r"float32", r"integer"),
    "add_noise_t_batch_mismatch": Case(lambda: SCHEDULE.add_noise(POINTS, NOISE, torch.tensor([1, 2])), ValueError,
                                       r"\(2,\)", r"\(4,\)"),
    "velocity_shape_mismatch": Case(lambda: SCHEDULE.get_velocity(POINTS, torch.zeros(3, 2), 5), ValueError,
                                    r"\(3, 2\)", r"must match"),
    "snr_at_t_equals_T": Case(lambda: SCHEDULE.snr_at(T), ValueError, r"\b100\b", r"\[0, 100\)"),
    "convert_unknown_from": Case(lambda: SCHEDULE.convert(POINTS, POINTS, 5, "x0", "epsilon"), ValueError,
                                 r"x0", r"epsilon"),
    "convert_unknown_to": Case(lambda: SCHEDULE.convert(POINTS, POINTS, 5, "epsilon", "noise"), ValueError,
                               r"noise", r"score"),
    "training_target_unknown": Case(lambda: SCHEDULE.training_target(POINTS, NOISE, 5, "v"), ValueError,
                                    r"'v'", r"v_prediction"),
    "step_variance_unknown": Case(lambda: SCHEDULE.step_variance(5, variance_type="learned"), ValueError,
                                  r"learned", r"fixed_small"),
    # ------------------------------------------------------------------ sampling
    "grid_zero_steps": Case(lambda: timestep_grid(T, 0), ValueError, r"got 0", r"between 1 and"),
    "grid_too_many_steps": Case(lambda: timestep_grid(T, T + 1), ValueError, r"101", r"between 1 and"),
    "grid_float_steps": Case(lambda: timestep_grid(T, 10.0), TypeError, r"float", r"int"),
    "grid_unknown_spacing": Case(lambda: timestep_grid(T, 10, "uniform"), ValueError, r"uniform", r"trailing"),
    "ddpm_zero_steps": Case(lambda: ddpm_sample(MLP, SCHEDULE, (4, 2), 0), ValueError, r"got 0", r"between 1 and"),
    "ddpm_too_many_steps": Case(lambda: ddpm_sample(MLP, SCHEDULE, (4, 2), T + 1), ValueError, r"101",
                                r"between 1 and"),
    "ddpm_unknown_prediction": Case(lambda: ddpm_sample(MLP, SCHEDULE, (4, 2), 2, prediction_type="x0"),
                                    ValueError, r"x0", r"epsilon"),
    "ddpm_unknown_variance": Case(lambda: ddpm_sample(MLP, SCHEDULE, (4, 2), 2, variance_type="learned"),
                                  ValueError, r"learned", r"fixed_small"),
    "ddpm_x_T_nan": Case(lambda: ddpm_sample(MLP, SCHEDULE, (4, 2), 2, x_T=NAN_POINTS), ValueError, r"nan",
                         r"finite"),
    "ddpm_x_T_inf": Case(lambda: ddpm_sample(MLP, SCHEDULE, (4, 2), 2, x_T=INF_POINTS), ValueError, r"inf",
                         r"finite"),
    "ddpm_x_T_int": Case(lambda: ddpm_sample(MLP, SCHEDULE, (4, 2), 2, x_T=INT_POINTS), TypeError, r"int64",
                         r"floating-point"),
    "ddpm_x_T_numpy": Case(lambda: ddpm_sample(MLP, SCHEDULE, (4, 2), 2, x_T=POINTS.numpy()), TypeError,
                           r"ndarray", r"Tensor"),
    "ddpm_x_T_wrong_shape": Case(lambda: ddpm_sample(MLP, SCHEDULE, (4, 2), 2, x_T=torch.zeros(3, 2)), ValueError,
                                 r"\(3, 2\)", r"\(4, 2\)"),
    "ddpm_negative_shape": Case(lambda: ddpm_sample(MLP, SCHEDULE, (-4, 2), 2), ValueError, r"-4",
                                r"positive ints"),
    "ddpm_model_not_callable": Case(lambda: ddpm_sample("mlp", SCHEDULE, (4, 2), 2), TypeError, r"str",
                                    r"callable"),
    "ddpm_schedule_wrong_type": Case(lambda: ddpm_sample(MLP, "linear", (4, 2), 2), TypeError, r"str",
                                     r"NoiseSchedule"),
    "ddpm_record_one_frame": Case(lambda: ddpm_sample(MLP, SCHEDULE, (4, 2), 2, record=1), ValueError, r"got 1",
                                  r"at least 2"),
    "ddpm_record_bad_position": Case(lambda: ddpm_sample(MLP, SCHEDULE, (4, 2), 2, record=[5]), ValueError,
                                     r"\b5\b", r"\[0, 2\)"),
    "ddim_eta_above_one": Case(lambda: ddim_sample(MLP, SCHEDULE, (4, 2), 2, eta=1.5), ValueError, r"1\.5",
                               r"\[0, 1\]"),
    "ddim_eta_negative": Case(lambda: ddim_sample(MLP, SCHEDULE, (4, 2), 2, eta=-0.1), ValueError, r"-0\.1",
                              r"\[0, 1\]"),
    "ddim_eta_nan": Case(lambda: ddim_sample(MLP, SCHEDULE, (4, 2), 2, eta=float("nan")), ValueError, r"nan",
                         r"\[0, 1\]"),
    "ddim_eta_string": Case(lambda: ddim_sample(MLP, SCHEDULE, (4, 2), 2, eta="0.5"), ValueError, r"'0\.5'",
                            r"\[0, 1\]"),
    "ddim_zero_steps": Case(lambda: ddim_sample(MLP, SCHEDULE, (4, 2), 0), ValueError, r"got 0", r"between 1 and"),
    "ddpm_step_t_equals_T": Case(lambda: ddpm_step(SCHEDULE, POINTS, T, POINTS), ValueError, r"\b100\b",
                                 r"\[-?\d, 100\)"),
    "ddpm_step_t_float": Case(lambda: ddpm_step(SCHEDULE, POINTS, 5.5, POINTS), TypeError, r"5\.5", r"int"),
    "ddpm_step_prev_after_t": Case(lambda: ddpm_step(SCHEDULE, POINTS, 5, POINTS, prev_timestep=7), ValueError,
                                   r"prev_timestep=7", r"< t"),
    "ddpm_step_shape_mismatch": Case(lambda: ddpm_step(SCHEDULE, torch.zeros(4, 3), 5, POINTS), ValueError,
                                     r"\(4, 3\)", r"must match"),
    "ddim_step_eta_two": Case(lambda: ddim_step(SCHEDULE, POINTS, 5, POINTS, eta=2), ValueError, r"\b2\b",
                              r"\[0, 1\]"),
    "chunks_zero_chunk_size": Case(lambda: sample_in_chunks(ddpm_sample, MLP, SCHEDULE, (4, 2), chunk_size=0),
                                   ValueError, r"got 0", r"positive int"),
    # ------------------------------------------------------------------ models
    "embedding_odd_dim": Case(lambda: timestep_embedding(T_BATCH, 3), ValueError, r"got 3", r"even"),
    "embedding_2d_timesteps": Case(lambda: timestep_embedding(torch.zeros(4, 1), 8), ValueError, r"\(4, 1\)",
                                   r"\(B,\)"),
    "mlp_wrong_dim": Case(lambda: MLP(torch.zeros(4, 3), T_BATCH), ValueError, r"\(4, 3\)", r"2-D"),
    "mlp_timesteps_mismatch": Case(lambda: MLP(POINTS, torch.zeros(3, dtype=torch.long)), ValueError, r"\(3,\)",
                                   r"\(4,\)"),
    "unet_two_channels": Case(lambda: UNet(in_channels=2), ValueError, r"got 2", r"1 or 3"),
    "unet_wrong_ndim": Case(lambda: UNET(torch.zeros(4, 8, 8), T_BATCH), ValueError, r"\(4, 8, 8\)",
                            r"4 dimensions"),
    "unet_wrong_channels": Case(lambda: UNET(torch.zeros(4, 3, 8, 8), T_BATCH), ValueError, r"\(4, 3, 8, 8\)",
                                r"1-channel"),
    # ------------------------------------------------------------------ data and device
    "toy_unknown_name": Case(lambda: make_toy_dataset("spiral"), ValueError, r"spiral", r"swiss_roll"),
    "toy_zero_points": Case(lambda: make_toy_dataset("moons", 0), ValueError, r"got 0", r"positive int"),
    "toy_negative_noise": Case(lambda: make_toy_dataset("moons", 10, noise=-1.0), ValueError, r"-1\.0", r">= 0"),
    "toy_nan_noise": Case(lambda: make_toy_dataset("moons", 10, noise=float("nan")), ValueError, r"nan",
                          r"finite"),
    "toy_string_seed": Case(lambda: make_toy_dataset("moons", 10, seed="a"), TypeError, r"'a'", r"int"),
    "toy_negative_seed": Case(lambda: make_toy_dataset("moons", 10, seed=-1), ValueError, r"-1", r"non-negative"),
    "digits_unknown_size": Case(lambda: load_digits(12), ValueError, r"12", r"\(8, 16\)"),
    "digits_unknown_split": Case(lambda: load_digits(16, "test"), ValueError, r"test", r"heldout"),
    "device_unknown": Case(lambda: get_device("tpu"), ValueError, r"tpu", r"cpu"),
    "device_not_a_string": Case(lambda: get_device(3), TypeError, r"int", r"string"),
    # ------------------------------------------------------------------ ideal denoisers
    "optimal_eps_nan_sample": Case(lambda: optimal_epsilon(NAN_POINTS, 5, POINTS, SCHEDULE), ValueError, r"x_t",
                                   r"NaN or infinite"),
    "optimal_eps_int_data": Case(lambda: optimal_epsilon(POINTS, 5, INT_POINTS, SCHEDULE), TypeError, r"int64",
                                 r"floating-point"),
    "optimal_eps_t_equals_T": Case(lambda: optimal_epsilon(POINTS, T, POINTS, SCHEDULE), ValueError, r"\b100\b",
                                   r"\[0, 100\)"),
    "optimal_eps_shape_mismatch": Case(lambda: optimal_epsilon(torch.zeros(4, 3), 5, POINTS, SCHEDULE), ValueError,
                                       r"\(4, 3\)", r"\(B, 2\)"),
    "optimal_eps_schedule_type": Case(lambda: optimal_epsilon(POINTS, 5, POINTS, "linear"), TypeError, r"str",
                                      r"NoiseSchedule"),
    "gaussian_eps_cov_shape": Case(lambda: optimal_epsilon_gaussian(POINTS, 5, torch.zeros(2), torch.eye(3),
                                                                    SCHEDULE), ValueError, r"\(3, 3\)", r"\(2, 2\)"),
    "loss_floor_t_negative": Case(lambda: loss_floor(POINTS, SCHEDULE, [-1]), ValueError, r"-1", r"\[0, 100\)"),
    "gaussian_floor_asymmetric": Case(lambda: loss_floor_gaussian(torch.zeros(2), torch.tensor([[1.0, 0.5],
                                                                                               [0.0, 1.0]]),
                                                                  SCHEDULE, [5]), ValueError, r"0\.5", r"symmetric"),
    # ------------------------------------------------------------------ parameterization
    "x0_weight_unknown_prediction": Case(lambda: x0_space_weight(SCHEDULE, 5, "noise"), ValueError, r"noise",
                                         r"epsilon"),
    "amplification_t_equals_T": Case(lambda: eps_to_x0_amplification(SCHEDULE, T), ValueError, r"\b100\b",
                                     r"\[0, 100\)"),
    # ------------------------------------------------------------------ training
    "config_unknown_prediction": Case(lambda: TrainingConfig(prediction_type="x0"), ValueError, r"x0", r"epsilon"),
    "config_zero_steps": Case(lambda: TrainingConfig(num_steps=0), ValueError, r"got 0", r"positive int"),
    "config_unknown_weighting": Case(lambda: TrainingConfig(loss_weighting="p2"), ValueError, r"p2", r"min_snr"),
    "config_ema_above_one": Case(lambda: TrainingConfig(ema_decay=1.5), ValueError, r"1\.5", r"\(0, 1\)"),
    "train_data_outside_unit_range": Case(lambda: train(build_model(SMALL_CONFIG), SCHEDULE, POINTS + 3,
                                                        SMALL_CONFIG, progress=False, device="cpu"),
                                          ValueError, r"\[3, 3\]", r"\[-1, 1\]"),
    "train_data_nan": Case(lambda: train(build_model(SMALL_CONFIG), SCHEDULE, NAN_POINTS, SMALL_CONFIG,
                                         progress=False, device="cpu"), ValueError, r"nan", r"finite"),
    "train_data_int": Case(lambda: train(build_model(SMALL_CONFIG), SCHEDULE, INT_POINTS, SMALL_CONFIG,
                                         progress=False, device="cpu"), TypeError, r"Tensor|int64", r"floating-point"),
    "train_schedule_mismatch": Case(lambda: train(build_model(SMALL_CONFIG), NoiseSchedule(50), POINTS,
                                                  SMALL_CONFIG, progress=False, device="cpu"),
                                    ValueError, r"\b50\b", r"\b100\b"),
    "pretrained_unknown_name": Case(lambda: load_pretrained("digits-score", device="cpu"), ValueError,
                                    r"digits-score", r"available"),
    # ------------------------------------------------------------------ metrics
    "sliced_wasserstein_nan": Case(lambda: sliced_wasserstein(NAN_POINTS, POINTS), ValueError, r"nan", r"finite"),
    "sliced_wasserstein_dims": Case(lambda: sliced_wasserstein(POINTS, torch.zeros(4, 3)), ValueError, r"\b3\b",
                                    r"same dimension"),
    "score_digits_wrong_shape": Case(lambda: score_digits(torch.zeros(300, 1, 8, 8)), ValueError,
                                     r"\(300, 1, 8, 8\)", r"\(N, 1, 16, 16\)"),
    "score_digits_nan": Case(lambda: score_digits(with_value(torch.zeros(300, 1, 16, 16), (0, 0, 0, 0),
                                                             float("nan"))), ValueError, r"nan", r"finite"),
    # ------------------------------------------------------------------ plotting, animation, widgets
    "tile_images_2d": Case(lambda: tile_images(torch.zeros(4, 4)), ValueError, r"\(4, 4\)", r"\(B, 1, H, W\)"),
    "tile_images_zero_rows": Case(lambda: tile_images(torch.zeros(4, 1, 4, 4), nrow=0), ValueError, r"got 0",
                                  r"positive int"),
    "point_cloud_3d": Case(lambda: plot_point_cloud(None, torch.zeros(5, 3)), ValueError, r"\(5, 3\)", r"\(N, 2\)"),
    "trajectory_wrong_type": Case(lambda: check_trajectory("frames"), TypeError, r"str", r"SamplerOutput"),
    "animation_without_record": Case(lambda: animate_trajectory(SamplerOutput(POINTS)), ValueError,
                                     r"no recorded frames", r"record="),
    "scrubber_without_record": Case(lambda: TrajectoryScrubber(SamplerOutput(POINTS)), ValueError,
                                    r"no recorded frames", r"record="),
    "figure_to_png_not_figure": Case(lambda: figure_to_png("figure"), TypeError, r"str", r"Figure"),
    "explorer_t_equals_T": Case(lambda: small_explorer().update(t=1000), ValueError, r"1000", r"\[0, 999\]"),
    "explorer_unknown_schedule": Case(lambda: small_explorer().update(beta_schedule="quadratic"), ValueError,
                                      r"quadratic", r"linear"),
}


@pytest.mark.parametrize("name", CASES)
def test_bad_argument_rejected(name: str) -> None:
    case = CASES[name]
    with pytest.raises((ValueError, TypeError)) as info:
        case.call()
    message = str(info.value)
    assert isinstance(info.value, case.error), f"raised {type(info.value).__name__}, expected {case.error.__name__}"
    assert re.search(case.value, message, re.IGNORECASE), f"message does not name the bad value: {message!r}"
    assert re.search(case.accepted, message), f"message does not say what is accepted: {message!r}"


def test_numpy_integers_accepted_as_shape() -> None:
    # A shape built from numpy integers (e.g. array.shape of a numpy array) is valid, not bad input.
    shape = (np.int64(3), np.int64(2))
    assert ddpm_sample(MLP, SCHEDULE, shape, 2, generator=torch.Generator().manual_seed(0)).sample.shape == (3, 2)
