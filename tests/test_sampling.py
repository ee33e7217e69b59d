"""Tests for ddpm_lib.sampling: timestep grids, single DDPM/DDIM steps and the sampling loops.

The oracle tests feed each step the true ε, x₀ or v of a known x₀ and ε. The expected results
are the formulas themselves, evaluated by hand in float64: the posterior mean of q(x_s | x_t, x₀)
(Ho et al. 2020, eq. 7, with α_t → ᾱ_t / ᾱ_s for a strided step) and, for DDIM with η = 0,
x_s = √ᾱ_s x₀ + √(1 − ᾱ_s) ε (Song et al. 2021, eq. 12).
"""

import math

import numpy as np
import pytest
import torch

from ddpm_lib.sampling import ddim_sample, ddim_step, ddpm_sample, ddpm_step, timestep_grid
from ddpm_lib.schedules import PREDICTION_TYPES, NoiseSchedule

SPACINGS = ("leading", "trailing", "linspace")


# ---------------------------------------------------------------------------- timestep grids
def grid_cases():
    for num_train_timesteps in (1, 7, 1000):
        counts = {1, 2, 3, num_train_timesteps // 2, num_train_timesteps - 1, num_train_timesteps}
        if num_train_timesteps == 1000:
            counts |= {7, 10, 25, 50, 99, 100, 101, 333, 999}
        for count in sorted(c for c in counts if 1 <= c <= num_train_timesteps):
            for spacing in SPACINGS:
                yield num_train_timesteps, count, spacing


@pytest.mark.parametrize("num_train_timesteps, count, spacing", list(grid_cases()))
def test_grid_is_valid(num_train_timesteps, count, spacing):
    grid = timestep_grid(num_train_timesteps, count, spacing)
    assert grid.dtype == torch.long
    assert grid.shape == (count,)
    assert int(grid.max()) < num_train_timesteps, grid
    assert int(grid.min()) >= 0, grid
    assert torch.all(grid[:-1] > grid[1:]), grid


@pytest.mark.parametrize("spacing", SPACINGS)
def test_full_grid_visits_every_step(spacing):
    # With n = T every spacing must give T−1, …, 0.
    torch.testing.assert_close(timestep_grid(1000, 1000, spacing), torch.arange(999, -1, -1))


def test_grid_spacings_by_hand():
    # T = 1000, n = 10: leading is 0, 100, …, 900 reversed; trailing starts at T − 1 in steps of
    # T / n = 100; linspace is round(k · 999 / 9).
    assert timestep_grid(1000, 10, "leading").tolist() == list(range(900, -1, -100))
    assert timestep_grid(1000, 10, "trailing").tolist() == list(range(999, 0, -100))
    expected = [round(k * 999 / 9) for k in range(9, -1, -1)]
    assert timestep_grid(1000, 10, "linspace").tolist() == expected


@pytest.mark.parametrize("count", [0, -1, 8])
def test_grid_rejects_bad_counts(count):
    with pytest.raises(ValueError, match=rf"between 1 and num_train_timesteps=7, got {count}"):
        timestep_grid(7, count)


def test_grid_rejects_bad_types_and_spacing():
    with pytest.raises(TypeError, match="num_inference_steps must be an int, got float"):
        timestep_grid(10, 2.0)
    with pytest.raises(ValueError, match=r"unknown timestep spacing 'uniform'.*'leading', 'trailing', 'linspace'"):
        timestep_grid(10, 2, "uniform")


# ---------------------------------------------------------------------------- oracle steps
@pytest.fixture(scope="module")
def schedule64():
    return NoiseSchedule(dtype=torch.float64)


def reference_alpha_bar(t: int) -> float:
    """ᾱ_t of the default linear schedule from its definition; ᾱ_{−1} = 1."""
    if t < 0:
        return 1.0
    return float(np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))[t])


def oracle_case(t: int, seed: int = 0, scale: float = 1.0):
    """A known x₀ and ε, the x_t they make and the true model output of each prediction type."""
    generator = torch.Generator().manual_seed(seed)
    x0 = scale * torch.randn(3, 2, 4, generator=generator, dtype=torch.float64)
    noise = torch.randn(3, 2, 4, generator=generator, dtype=torch.float64)
    signal, noise_scale = math.sqrt(reference_alpha_bar(t)), math.sqrt(1 - reference_alpha_bar(t))
    x_t = signal * x0 + noise_scale * noise
    outputs = {"epsilon": noise, "sample": x0, "v_prediction": signal * noise - noise_scale * x0}
    return x0, noise, x_t, outputs


def hand_posterior(t: int, s: int, x0: torch.Tensor, x_t: torch.Tensor) -> tuple[torch.Tensor, float]:
    """Mean and variance of q(x_s | x_t, x₀): Ho et al. (2020) eq. 7 with α_t → ᾱ_t / ᾱ_s."""
    alpha_bar_t, alpha_bar_s = reference_alpha_bar(t), reference_alpha_bar(s)
    beta_t_given_s = 1 - alpha_bar_t / alpha_bar_s
    coef_x0 = math.sqrt(alpha_bar_s) * beta_t_given_s / (1 - alpha_bar_t)
    coef_xt = math.sqrt(alpha_bar_t / alpha_bar_s) * (1 - alpha_bar_s) / (1 - alpha_bar_t)
    return coef_x0 * x0 + coef_xt * x_t, (1 - alpha_bar_s) / (1 - alpha_bar_t) * beta_t_given_s


STEP_PAIRS = [(999, 998), (500, 499), (1, 0), (999, 899), (899, 799), (99, -1), (0, -1), (990, 0)]


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
@pytest.mark.parametrize("t, s", STEP_PAIRS)
def test_ddpm_oracle_step_is_posterior_mean(schedule64, prediction_type, t, s):
    x0, _, x_t, outputs = oracle_case(t)
    expected_mean, _ = hand_posterior(t, s, x0, x_t)
    step = ddpm_step(schedule64, outputs[prediction_type], t, x_t, s, prediction_type, noise=torch.zeros_like(x_t))
    torch.testing.assert_close(step.prev_sample, expected_mean, rtol=0, atol=1e-5)
    torch.testing.assert_close(step.pred_original_sample, x0, rtol=0, atol=1e-5)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
@pytest.mark.parametrize("t, s", STEP_PAIRS)
def test_ddim_oracle_step_lands_on_forward_process(schedule64, prediction_type, t, s):
    x0, noise, x_t, outputs = oracle_case(t)
    # Song et al. (2021), eq. 12 with σ = 0 and the true x₀ and ε: x_s = √ᾱ_s x₀ + √(1 − ᾱ_s) ε.
    alpha_bar_s = reference_alpha_bar(s)
    expected = math.sqrt(alpha_bar_s) * x0 + math.sqrt(1 - alpha_bar_s) * noise
    step = ddim_step(schedule64, outputs[prediction_type], t, x_t, s, eta=0.0, prediction_type=prediction_type)
    torch.testing.assert_close(step.prev_sample, expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(step.pred_original_sample, x0, rtol=0, atol=1e-5)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_ddim_oracle_chain_on_strided_grid(schedule64, prediction_type):
    # Walking a 10-step trailing grid with the true output at every step stays on the
    # forward process of the same x₀ and ε, and ends at x₀ exactly.
    x0, noise, _, _ = oracle_case(0, seed=5)
    grid = timestep_grid(1000, 10, "trailing").tolist()
    sample = schedule64.add_noise(x0, noise, grid[0])
    for t, s in zip(grid, grid[1:] + [-1]):
        output = schedule64.training_target(x0, noise, t, prediction_type)
        sample = ddim_step(schedule64, output, t, sample, s, prediction_type=prediction_type).prev_sample
        expected = x0 if s < 0 else schedule64.add_noise(x0, noise, s)
        torch.testing.assert_close(sample, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("variance_type", ["fixed_small", "fixed_large"])
@pytest.mark.parametrize("t, s", [(500, 499), (999, 899), (1, 0)])
def test_ddpm_noise_scale(schedule64, variance_type, t, s):
    # x_s = μ̃ + σ z, so (x_s(z) − x_s(0)) / z = σ: √β̃ for fixed_small, √(1 − ᾱ_t/ᾱ_s) for fixed_large.
    x0, _, x_t, outputs = oracle_case(t)
    z = torch.full_like(x_t, 2.0)
    with_noise = ddpm_step(schedule64, outputs["epsilon"], t, x_t, s, variance_type=variance_type, noise=z)
    without = ddpm_step(schedule64, outputs["epsilon"], t, x_t, s, variance_type=variance_type, noise=torch.zeros_like(z))
    _, posterior_variance = hand_posterior(t, s, x0, x_t)
    if variance_type == "fixed_small":
        expected = posterior_variance
    else:
        expected = 1 - reference_alpha_bar(t) / reference_alpha_bar(s)
    sigma = (with_noise.prev_sample - without.prev_sample) / z
    torch.testing.assert_close(sigma, torch.full_like(sigma, math.sqrt(expected)), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("variance_type", ["fixed_small", "fixed_large"])
@pytest.mark.parametrize("t", [0, 99])
def test_last_ddpm_step_adds_no_noise(schedule64, variance_type, t):
    # Ho et al. (2020), Algorithm 2: z = 0 on the last step, so x₀ = μ̃ = x̂₀ whatever the noise.
    x0, _, x_t, outputs = oracle_case(t)
    results = [
        ddpm_step(schedule64, outputs["epsilon"], t, x_t, -1, variance_type=variance_type, noise=noise).prev_sample
        for noise in (torch.zeros_like(x_t), torch.randn_like(x_t), 100 * torch.ones_like(x_t))
    ]
    assert torch.equal(results[0], results[1])
    assert torch.equal(results[0], results[2])
    torch.testing.assert_close(results[0], x0, rtol=0, atol=1e-5)


@pytest.mark.parametrize("t, s", [(500, 499), (999, 899), (10, -1)])
def test_ddim_eta_one_has_posterior_variance(schedule64, t, s):
    # Song et al. (2021), eq. 16: σ²(η = 1) = (1 − ᾱ_s)/(1 − ᾱ_t) · (1 − ᾱ_t/ᾱ_s) = β̃.
    x0, _, x_t, outputs = oracle_case(t)
    z = torch.full_like(x_t, 3.0)
    with_noise = ddim_step(schedule64, outputs["epsilon"], t, x_t, s, eta=1.0, noise=z).prev_sample
    without = ddim_step(schedule64, outputs["epsilon"], t, x_t, s, eta=1.0, noise=torch.zeros_like(z)).prev_sample
    _, posterior_variance = hand_posterior(t, s, x0, x_t)
    variance = ((with_noise - without) / z) ** 2
    torch.testing.assert_close(variance, torch.full_like(variance, posterior_variance), rtol=1e-9, atol=1e-15)
    # With σ² = β̃ the mean of a DDIM η = 1 step equals the DDPM posterior mean.
    expected_mean, _ = hand_posterior(t, s, x0, x_t)
    torch.testing.assert_close(without, expected_mean, rtol=0, atol=1e-5)


@pytest.mark.parametrize("step_fn", [ddpm_step, ddim_step])
def test_clipping_only_when_asked(schedule64, step_fn):
    # x₀ drawn with std 3 lies partly outside [−1, 1]; clipping must act only with clip_sample=True.
    t, s = 500, 400
    x0, noise, x_t, outputs = oracle_case(t, scale=3.0)
    assert x0.abs().max() > 2
    extra = {"noise": torch.zeros_like(x_t)} if step_fn is ddpm_step else {}
    unclipped = step_fn(schedule64, outputs["epsilon"], t, x_t, s, **extra)
    torch.testing.assert_close(unclipped.pred_original_sample, x0, rtol=0, atol=1e-9)
    for clip_range in (1.0, 2.0):
        clipped = step_fn(schedule64, outputs["epsilon"], t, x_t, s, clip_sample=True, clip_sample_range=clip_range, **extra)
        torch.testing.assert_close(clipped.pred_original_sample, x0.clamp(-clip_range, clip_range), rtol=0, atol=1e-9)
        # The step uses the clipped x̂₀: DDPM in μ̃, DDIM in √ᾱ_s x̂₀ (ε̂ stays unclipped).
        if step_fn is ddpm_step:
            expected, _ = hand_posterior(t, s, x0.clamp(-clip_range, clip_range), x_t)
        else:
            alpha_bar_s = reference_alpha_bar(s)
            expected = math.sqrt(alpha_bar_s) * x0.clamp(-clip_range, clip_range) + math.sqrt(1 - alpha_bar_s) * noise
        torch.testing.assert_close(clipped.prev_sample, expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("eta", [-0.1, 1.5, float("nan"), "0.5"])
def test_eta_outside_unit_interval_rejected(schedule64, eta):
    x = torch.zeros(1, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"eta must be a number in \[0, 1\], got"):
        ddim_step(schedule64, x, 5, x, eta=eta)
    with pytest.raises(ValueError, match=r"eta must be a number in \[0, 1\], got"):
        ddim_sample(lambda x_t, t: x_t, schedule64, (1, 2), num_inference_steps=2, eta=eta)


def test_step_rejects_bad_prediction_type(schedule64):
    x = torch.zeros(1, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"unknown prediction_type 'noise'"):
        ddpm_step(schedule64, x, 5, x, prediction_type="noise")
    with pytest.raises(ValueError, match=r"model_output has shape \(1, 3\) but sample has shape \(1, 2\)"):
        ddim_step(schedule64, torch.zeros(1, 3, dtype=torch.float64), 5, x)


# ---------------------------------------------------------------------------- sampling loops
def toy_model(x_t: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
    """A deterministic stand-in for a network: its output depends on x_t and t."""
    return 0.5 * x_t + 1e-3 * timesteps.view(-1, *([1] * (x_t.ndim - 1))).to(x_t.dtype)


@pytest.fixture(scope="module")
def small_schedule():
    return NoiseSchedule(num_train_timesteps=50)


@pytest.mark.parametrize("sampler, kwargs", [(ddpm_sample, {}), (ddim_sample, {"eta": 0.5}), (ddim_sample, {})])
def test_same_seed_same_samples(small_schedule, sampler, kwargs):
    runs = [
        sampler(toy_model, small_schedule, (4, 3), generator=torch.Generator().manual_seed(7), **kwargs).sample
        for _ in range(2)
    ]
    assert torch.equal(runs[0], runs[1])
    other_seed = sampler(toy_model, small_schedule, (4, 3), generator=torch.Generator().manual_seed(8), **kwargs)
    assert not torch.equal(runs[0], other_seed.sample)


@pytest.mark.parametrize("sampler", [ddpm_sample, ddim_sample])
@pytest.mark.parametrize("record, num_frames", [("all", 11), (2, 2), (5, 5), (11, 11), ([0, 3, 9], 4)])
def test_trajectory_frames(small_schedule, sampler, record, num_frames):
    x_T = torch.randn(2, 1, 3, 3, generator=torch.Generator().manual_seed(1))
    out = sampler(
        toy_model,
        small_schedule,
        (2, 1, 3, 3),
        num_inference_steps=10,
        generator=torch.Generator().manual_seed(2),
        x_T=x_T,
        record=record,
    )
    grid = timestep_grid(50, 10, "trailing").tolist()
    assert out.x_t.shape == (num_frames, 2, 1, 3, 3)
    assert out.pred_original_sample.shape == (num_frames, 2, 1, 3, 3)
    assert out.timesteps.tolist()[-1] == -1
    assert len(out.timesteps) == num_frames
    # The frames follow the grid in order, so their timesteps are a decreasing subsequence of it.
    recorded = out.timesteps.tolist()[:-1]
    assert all(t in grid for t in recorded)
    assert recorded == sorted(recorded, reverse=True)
    if record != [0, 3, 9]:
        assert torch.equal(out.x_t[0], x_T)
        assert recorded[0] == grid[0]
    assert torch.equal(out.x_t[-1], out.sample.cpu())
    assert torch.equal(out.pred_original_sample[-1], out.sample.cpu())


def test_trajectory_matches_manual_loop(small_schedule):
    # Recording every step must store exactly the x_t entering each step and the x̂₀ it used.
    x_T = torch.randn(2, 3, generator=torch.Generator().manual_seed(3))
    out = ddim_sample(toy_model, small_schedule, (2, 3), num_inference_steps=5, x_T=x_T, record="all")
    grid = timestep_grid(50, 5).tolist()
    sample = x_T
    for index, (t, s) in enumerate(zip(grid, grid[1:] + [-1])):
        assert torch.equal(out.x_t[index], sample)
        step = ddim_step(small_schedule, toy_model(sample, torch.full((2,), t)), t, sample, s)
        assert torch.equal(out.pred_original_sample[index], step.pred_original_sample)
        sample = step.prev_sample
    assert torch.equal(out.sample, sample)
    assert out.timesteps.tolist() == grid + [-1]


def test_no_trajectory_by_default(small_schedule):
    out = ddpm_sample(toy_model, small_schedule, (2, 3), generator=torch.Generator().manual_seed(0))
    assert out.sample.shape == (2, 3)
    assert out.timesteps is None and out.x_t is None and out.pred_original_sample is None


@pytest.mark.parametrize("record, pattern", [(1, "at least 2, got 1"), ([0, 10], r"position 10 is outside \[0, 10\)")])
def test_bad_record_rejected(small_schedule, record, pattern):
    with pytest.raises(ValueError, match=pattern):
        ddim_sample(toy_model, small_schedule, (1, 2), num_inference_steps=10, record=record)


@pytest.mark.parametrize("sampler", [ddpm_sample, ddim_sample])
@pytest.mark.parametrize("count", [0, 51])
def test_sampler_rejects_bad_step_count(small_schedule, sampler, count):
    with pytest.raises(ValueError, match=rf"between 1 and num_train_timesteps=50, got {count}"):
        sampler(toy_model, small_schedule, (1, 2), num_inference_steps=count)


def test_sampler_rejects_wrong_x_T_shape(small_schedule):
    with pytest.raises(ValueError, match=r"x_T has shape \(2, 3\) but shape=\(2, 4\)"):
        ddpm_sample(toy_model, small_schedule, (2, 4), x_T=torch.zeros(2, 3))


@pytest.mark.parametrize("sampler", [ddpm_sample, ddim_sample])
def test_single_step_chain(sampler):
    # T = 1: one step from t = 0 to the final sample, which is x̂₀ (no noise on the last step).
    schedule = NoiseSchedule(num_train_timesteps=1, dtype=torch.float64)
    x_T = torch.randn(3, 2, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    out = sampler(toy_model, schedule, (3, 2), num_inference_steps=1, x_T=x_T, generator=torch.Generator())
    expected = schedule.pred_original_sample(toy_model(x_T, torch.zeros(3, dtype=torch.long)), x_T, 0, "epsilon")
    torch.testing.assert_close(out.sample, expected)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_sampling_is_finite(dtype):
    # ᾱ_0 = 0.9999 rounds to 1 in half precision; the last step divides by 1 − ᾱ_0, which must
    # be formed in the schedule's float32 for the result to stay finite.
    schedule = NoiseSchedule(num_train_timesteps=1000)
    x_T = torch.randn(2, 4, generator=torch.Generator().manual_seed(0)).to(dtype)

    def half_model(x_t, timesteps):
        return (0.1 * x_t).to(dtype)

    for sampler in (ddpm_sample, ddim_sample):
        out = sampler(half_model, schedule, (2, 4), num_inference_steps=20, x_T=x_T, generator=torch.Generator())
        assert out.sample.dtype == dtype
        assert torch.isfinite(out.sample).all(), f"{sampler.__name__} in {dtype}: {out.sample}"
