"""Tests for ddpm_lib.schedules: betas, ᾱ, the forward process, the posterior and conversions.

Expected values are computed independently in NumPy float64 from the defining formulas:
ᾱ_t = ∏(1 − β) (Ho et al. 2020, eq. 4), the cosine curve of Nichol & Dhariwal (2021, eq. 17),
the posterior q(x_{t−1} | x_t, x₀) of Ho et al. (2020, eq. 7) and v = √ᾱ ε − √(1−ᾱ) x₀
(Salimans & Ho 2022).
"""

import math

import numpy as np
import pytest
import torch

from ddpm_lib.schedules import PREDICTION_TYPES, NoiseSchedule

SCHEDULE_NAMES = ("linear", "scaled_linear", "squaredcos_cap_v2", "cosine", "sigmoid")


def reference_alphas_cumprod(schedule_name: str, num_steps: int = 1000, start=1e-4, end=0.02) -> np.ndarray:
    """ᾱ from each schedule's published definition, in NumPy float64."""
    if schedule_name == "linear":
        betas = np.linspace(start, end, num_steps)
    elif schedule_name == "scaled_linear":
        betas = np.linspace(start**0.5, end**0.5, num_steps) ** 2
    elif schedule_name == "sigmoid":
        betas = 1 / (1 + np.exp(-np.linspace(-6, 6, num_steps))) * (end - start) + start
    else:
        # Nichol & Dhariwal (2021), eq. 17, s = 0.008, β capped at 0.999.
        curve = np.cos((np.arange(num_steps + 1) / num_steps + 0.008) / 1.008 * np.pi / 2) ** 2
        betas = np.minimum(1 - curve[1:] / curve[:-1], 0.999)
    return np.cumprod(1 - betas)


@pytest.fixture
def schedule64():
    return NoiseSchedule(dtype=torch.float64)


# ---------------------------------------------------------------------------- schedules
def test_linear_final_alphas_cumprod():
    # NumPy's cumulative product of 1 − β for β = linspace(1e-4, 0.02, 1000) is about 4.04e-5.
    expected = np.cumprod(1 - np.linspace(1e-4, 0.02, 1000))[-1]
    assert expected == pytest.approx(4.04e-5, abs=5e-8)  # 4.04e-5 to three significant digits
    schedule = NoiseSchedule(1000, "linear", 1e-4, 0.02)
    assert schedule.alphas_cumprod[-1].item() == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_alphas_cumprod_matches_definition(name):
    schedule = NoiseSchedule(1000, name, dtype=torch.float64)
    expected = reference_alphas_cumprod(name)
    np.testing.assert_allclose(schedule.alphas_cumprod.numpy(), expected, rtol=1e-10, atol=1e-14)


def test_cosine_first_alphas_cumprod_is_below_one():
    # Eq. 17 with s = 0.008: ᾱ_0 = f(1/T) / f(0) = 0.99995872, not 1.
    curve = [math.cos((t / 1000 + 0.008) / 1.008 * math.pi / 2) ** 2 for t in (0, 1)]
    assert curve[1] / curve[0] == pytest.approx(0.99995872, abs=1e-8)
    schedule = NoiseSchedule(1000, "squaredcos_cap_v2", dtype=torch.float64)
    assert schedule.alphas_cumprod[0].item() == pytest.approx(0.99995872, abs=1e-8)
    assert schedule.alphas_cumprod[0].item() < 1


def test_cosine_last_beta_is_clipped():
    # f(1) = cos²(π/2) = 0, so the last β would be 1; Nichol & Dhariwal clip it to 0.999.
    schedule = NoiseSchedule(1000, "cosine", dtype=torch.float64)
    assert schedule.betas[-1].item() == pytest.approx(0.999, abs=1e-12)
    assert schedule.betas.max().item() <= 0.999


def test_cosine_alias_equals_squaredcos():
    cosine = NoiseSchedule(50, "cosine")
    squaredcos = NoiseSchedule(50, "squaredcos_cap_v2")
    assert torch.equal(cosine.betas, squaredcos.betas)


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
@pytest.mark.parametrize("num_steps", [1, 2, 3, 10])
def test_short_chains_are_valid(name, num_steps):
    schedule = NoiseSchedule(num_steps, name, dtype=torch.float64)
    # Every buffer has one entry per step; ᾱ lies in (0, 1) and decreases (each β in (0, 1)).
    for buffer in (schedule.betas, schedule.alphas_cumprod, schedule.posterior_variance, schedule.snr):
        assert buffer.shape == (num_steps,)
    assert torch.all((schedule.alphas_cumprod > 0) & (schedule.alphas_cumprod < 1))
    assert torch.all(schedule.alphas_cumprod[1:] < schedule.alphas_cumprod[:-1])
    np.testing.assert_allclose(schedule.alphas_cumprod.numpy(), reference_alphas_cumprod(name, num_steps), rtol=1e-10)
    assert torch.isfinite(schedule.posterior_log_variance_clipped).all()


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_buffers_match_formulas(name):
    schedule = NoiseSchedule(1000, name, dtype=torch.float64)
    alpha_bar = reference_alphas_cumprod(name)
    alpha_bar_prev = np.concatenate([[1.0], alpha_bar[:-1]])
    betas = 1 - alpha_bar / alpha_bar_prev
    # Ho et al. (2020), eq. 7: β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t; β̃_0 = 0.
    posterior_variance = (1 - alpha_bar_prev) / (1 - alpha_bar) * betas
    np.testing.assert_allclose(schedule.alphas_cumprod_prev.numpy(), alpha_bar_prev, rtol=1e-10)
    np.testing.assert_allclose(schedule.snr.numpy(), alpha_bar / (1 - alpha_bar), rtol=1e-8)
    np.testing.assert_allclose(schedule.posterior_variance.numpy(), posterior_variance, rtol=1e-8, atol=1e-15)
    assert schedule.posterior_variance[0].item() == 0.0


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
@pytest.mark.parametrize("num_steps", [1, 2, 1000])
def test_log_posterior_variance_finite(name, num_steps):
    # β̃_0 = 0, so an unclipped log would be −inf at t = 0.
    schedule = NoiseSchedule(num_steps, name)
    log_variance = schedule.posterior_log_variance_clipped
    assert torch.isfinite(log_variance).all(), log_variance
    if num_steps > 1:
        # Clipped to log β̃_1 at t = 0, as in Ho et al.'s released code; exact elsewhere.
        expected = torch.log(schedule.posterior_variance[1:])
        torch.testing.assert_close(log_variance[1:], expected)
        assert log_variance[0] == log_variance[1]


# ---------------------------------------------------------------------------- forward process
def test_add_noise_matches_formula(schedule64):
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(4, 3, 5, generator=generator, dtype=torch.float64)
    noise = torch.randn(4, 3, 5, generator=generator, dtype=torch.float64)
    timesteps = torch.tensor([0, 10, 500, 999])
    alpha_bar = torch.from_numpy(reference_alphas_cumprod("linear"))[timesteps].view(-1, 1, 1)
    # Ho et al. (2020), eq. 4: x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε.
    expected = alpha_bar.sqrt() * x0 + (1 - alpha_bar).sqrt() * noise
    torch.testing.assert_close(schedule64.add_noise(x0, noise, timesteps), expected, rtol=0, atol=1e-12)


def test_add_noise_scalar_timestep_broadcasts(schedule64):
    x0 = torch.ones(3, 2, dtype=torch.float64)
    noise = torch.zeros(3, 2, dtype=torch.float64)
    # With ε = 0, x_t = √ᾱ_t x₀ for every item of the batch.
    expected = math.sqrt(reference_alphas_cumprod("linear")[7])
    torch.testing.assert_close(schedule64.add_noise(x0, noise, 7), torch.full((3, 2), expected, dtype=torch.float64))


@pytest.mark.parametrize("name", ["linear", "squaredcos_cap_v2"])
def test_add_noise_keeps_unit_variance(name):
    # For x₀ and ε independent with unit variance, Var(x_t) = ᾱ + (1 − ᾱ) = 1 at every t, but only
    # if the noise is scaled by √(1 − ᾱ); scaling by (1 − ᾱ) gives std √(ᾱ + (1 − ᾱ)²), 0.87 at
    # ᾱ = 0.5. With 2^18 random samples the standard error of the sample std is at most about
    # 0.003, so the 0.01 tolerance is more than 3 standard errors.
    schedule = NoiseSchedule(1000, name)
    num_samples = 2**18
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randint(0, 2, (1, num_samples), generator=generator).float() * 2 - 1  # ±1, unit variance
    noise = torch.randn(1, num_samples, generator=generator)
    timesteps = torch.tensor([0, 100, 250, 500, 750, 999])
    x_t = schedule.add_noise(x0.expand(6, -1), noise.expand(6, -1), timesteps)
    for t, std in zip(timesteps.tolist(), x_t.std(dim=1).tolist()):
        assert abs(std - 1) < 0.01, f"std {std:.4f} at t={t}"


def whitened_pair(num_samples: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x₀ and ε whose sample means are 0, sample variances 1 and sample covariance 0."""
    generator = torch.Generator().manual_seed(0)
    x0 = torch.randn(num_samples, generator=generator, dtype=torch.float64)
    noise = torch.randn(num_samples, generator=generator, dtype=torch.float64)
    x0 = (x0 - x0.mean()) / x0.std()
    noise = noise - noise.mean()
    noise = noise - (noise @ x0) / (x0 @ x0) * x0  # Gram–Schmidt: no sample correlation with x₀
    return x0, noise / noise.std()


@pytest.mark.parametrize("name", SCHEDULE_NAMES)
def test_add_noise_unit_variance_every_t(name):
    # With whitened x₀ and ε the sample std of x_t is exactly √(ᾱ + (1 − ᾱ)) = 1 for the right
    # noise scale, so every t can be checked with few samples and no sampling error.
    schedule = NoiseSchedule(1000, name)
    x0, noise = whitened_pair(4096)
    timesteps = torch.arange(1000)
    x_t = schedule.add_noise(x0.float().expand(1000, -1), noise.float().expand(1000, -1), timesteps)
    std = x_t.double().std(dim=1)
    worst = int((std - 1).abs().argmax())
    assert abs(std[worst].item() - 1) < 0.01, f"std {std[worst].item():.4f} at t={worst}"


def test_get_velocity_matches_formula(schedule64):
    generator = torch.Generator().manual_seed(1)
    x0 = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    noise = torch.randn(3, 4, generator=generator, dtype=torch.float64)
    timesteps = torch.tensor([0, 321, 999])
    alpha_bar = torch.from_numpy(reference_alphas_cumprod("linear"))[timesteps].view(-1, 1)
    # Salimans & Ho (2022): v = √ᾱ ε − √(1 − ᾱ) x₀.
    expected = alpha_bar.sqrt() * noise - (1 - alpha_bar).sqrt() * x0
    torch.testing.assert_close(schedule64.get_velocity(x0, noise, timesteps), expected, rtol=0, atol=1e-12)


def test_snr_at_matches_formula(schedule64):
    alpha_bar = reference_alphas_cumprod("linear")
    timesteps = torch.tensor([0, 499, 999])
    expected = torch.from_numpy(alpha_bar / (1 - alpha_bar))[timesteps]
    torch.testing.assert_close(schedule64.snr_at(timesteps), expected)


def test_alphas_cumprod_at_final_step_is_one(schedule64):
    like = torch.zeros(2, 3, dtype=torch.float64)
    values = schedule64.alphas_cumprod_at(torch.tensor([-1, 5]), like)
    assert values.shape == (2, 1)
    assert values[0].item() == 1.0
    assert values[1].item() == pytest.approx(reference_alphas_cumprod("linear")[5], rel=1e-12)


# ---------------------------------------------------------------------------- posterior
def hand_posterior(alpha_bar_t, alpha_bar_s, x0, x_t):
    """Mean and variance of q(x_s | x_t, x₀), Ho et al. (2020) eq. 7 with α_t → ᾱ_t / ᾱ_s."""
    alpha_t_given_s = alpha_bar_t / alpha_bar_s
    beta_t_given_s = 1 - alpha_t_given_s
    mean = (
        math.sqrt(alpha_bar_s) * beta_t_given_s / (1 - alpha_bar_t) * x0
        + math.sqrt(alpha_t_given_s) * (1 - alpha_bar_s) / (1 - alpha_bar_t) * x_t
    )
    variance = (1 - alpha_bar_s) / (1 - alpha_bar_t) * beta_t_given_s
    return mean, variance


@pytest.mark.parametrize("t, s", [(1, 0), (500, 499), (999, 998), (999, 899), (300, 0), (0, -1), (99, -1)])
def test_posterior_mean_and_variance(schedule64, t, s):
    alpha_bar = reference_alphas_cumprod("linear")
    alpha_bar_s = 1.0 if s < 0 else alpha_bar[s]
    generator = torch.Generator().manual_seed(t)
    x0 = torch.randn(2, 3, generator=generator, dtype=torch.float64)
    x_t = torch.randn(2, 3, generator=generator, dtype=torch.float64)
    mean, variance = hand_posterior(alpha_bar[t], alpha_bar_s, x0, x_t)

    torch.testing.assert_close(schedule64.posterior_mean(x0, x_t, t, s), mean, rtol=0, atol=1e-10)
    small = schedule64.step_variance(t, s, "fixed_small").item()
    large = schedule64.step_variance(t, s, "fixed_large").item()
    assert small == pytest.approx(variance, rel=1e-9, abs=1e-15)
    assert large == pytest.approx(1 - alpha_bar[t] / alpha_bar_s, rel=1e-9)


def test_posterior_defaults_to_previous_step(schedule64):
    x0 = torch.ones(1, 2, dtype=torch.float64)
    x_t = torch.full((1, 2), 0.5, dtype=torch.float64)
    torch.testing.assert_close(schedule64.posterior_mean(x0, x_t, 10), schedule64.posterior_mean(x0, x_t, 10, 9))
    # For s = t − 1 the variances are the buffers β̃_t and β_t.
    assert schedule64.step_variance(10).item() == pytest.approx(schedule64.posterior_variance[10].item(), rel=1e-12)
    assert schedule64.step_variance(10, variance_type="fixed_large").item() == pytest.approx(
        schedule64.betas[10].item(), rel=1e-9
    )


def test_step_variance_accepts_batch_of_timesteps(schedule64):
    timesteps = torch.tensor([5, 6, 7])
    variance = schedule64.step_variance(timesteps)
    expected = schedule64.posterior_variance[timesteps]
    torch.testing.assert_close(variance.reshape(-1), expected)


def test_posterior_rejects_prev_not_before_t(schedule64):
    x = torch.zeros(1, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"prev_timesteps must be smaller than timesteps.*t=5 and prev=5"):
        schedule64.posterior_mean(x, x, 5, 5)


# ---------------------------------------------------------------------------- conversions
def true_targets(alpha_bar: torch.Tensor, x0: torch.Tensor, noise: torch.Tensor) -> dict[str, torch.Tensor]:
    """ε, x₀ and v for a known x₀ and ε, and x_t, from the definitions."""
    signal, noise_scale = alpha_bar.sqrt(), (1 - alpha_bar).sqrt()
    return {
        "epsilon": noise,
        "sample": x0,
        "v_prediction": signal * noise - noise_scale * x0,
        "x_t": signal * x0 + noise_scale * noise,
        # Tweedie: ∇ log q(x_t | x₀) = −ε / √(1 − ᾱ).
        "score": -noise / noise_scale,
    }


@pytest.fixture
def known_pair():
    generator = torch.Generator().manual_seed(2)
    x0 = torch.randn(4, 6, generator=generator, dtype=torch.float64)
    noise = torch.randn(4, 6, generator=generator, dtype=torch.float64)
    timesteps = torch.tensor([0, 250, 750, 999])
    alpha_bar = torch.from_numpy(reference_alphas_cumprod("linear"))[timesteps].view(-1, 1)
    return x0, noise, timesteps, true_targets(alpha_bar, x0, noise)


@pytest.mark.parametrize("from_type", PREDICTION_TYPES)
@pytest.mark.parametrize("to_type", PREDICTION_TYPES + ("score",))
def test_convert_matches_formulas(schedule64, known_pair, from_type, to_type):
    _, _, timesteps, targets = known_pair
    converted = schedule64.convert(targets[from_type], targets["x_t"], timesteps, from_type, to_type)
    expected = targets[to_type]
    # Converting from ε to x₀ at t = 999 divides by √ᾱ ≈ 0.0064, so compare relative to scale.
    torch.testing.assert_close(converted, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("from_type", PREDICTION_TYPES)
@pytest.mark.parametrize("to_type", PREDICTION_TYPES)
def test_convert_round_trip(schedule64, known_pair, from_type, to_type):
    _, _, timesteps, targets = known_pair
    there = schedule64.convert(targets[from_type], targets["x_t"], timesteps, from_type, to_type)
    back = schedule64.convert(there, targets["x_t"], timesteps, to_type, from_type)
    torch.testing.assert_close(back, targets[from_type], rtol=0, atol=1e-5)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
def test_helpers_agree_with_convert(schedule64, known_pair, prediction_type):
    x0, noise, timesteps, targets = known_pair
    output = targets[prediction_type]
    torch.testing.assert_close(
        schedule64.pred_original_sample(output, targets["x_t"], timesteps, prediction_type), x0, rtol=1e-9, atol=1e-9
    )
    torch.testing.assert_close(
        schedule64.pred_epsilon(output, targets["x_t"], timesteps, prediction_type), noise, rtol=1e-9, atol=1e-9
    )
    # The training target is the definition of each prediction type.
    target = schedule64.training_target(x0, noise, timesteps, prediction_type)
    torch.testing.assert_close(target, output, rtol=0, atol=1e-12)


# ---------------------------------------------------------------------------- dtypes
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_keep_buffers_full_precision(dtype):
    schedule = NoiseSchedule()
    buffers_before = {name: getattr(schedule, name).clone() for name in ("betas", "alphas_cumprod", "snr")}
    x = torch.randn(3, 4).to(dtype)
    timesteps = torch.tensor([0, 500, 999])

    outputs = [
        schedule.add_noise(x, x, timesteps),
        schedule.get_velocity(x, x, timesteps),
        schedule.convert(x, x, timesteps, "epsilon", "sample"),
        schedule.convert(x, x, timesteps, "v_prediction", "score"),
        schedule.posterior_mean(x, x, timesteps, timesteps - 1),
        schedule.step_variance(timesteps, like=x),
    ]
    for output in outputs:
        assert output.dtype == dtype
    for name, before in buffers_before.items():
        assert getattr(schedule, name).dtype == torch.float32
        assert torch.equal(getattr(schedule, name), before)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_inputs_stay_accurate_near_t0(dtype):
    # ᾱ_0 = 0.9999 rounds to 1.0 in float16 and bfloat16, so coefficients such as √(1 − ᾱ) and
    # 1 / (1 − ᾱ) must be formed in the schedule's precision before the cast, or they become
    # 0 and inf. Expected values: the float64 formulas, rounded once to the half dtype.
    schedule = NoiseSchedule()
    schedule64 = NoiseSchedule(dtype=torch.float64)
    generator = torch.Generator().manual_seed(3)
    x0 = torch.randn(2, 8, generator=generator, dtype=torch.float64).clamp(-1, 1)
    noise = torch.randn(2, 8, generator=generator, dtype=torch.float64)
    tolerance = dict(rtol=2e-2, atol=2e-2)
    for t in (0, 1, 5):
        x_t = schedule64.add_noise(x0, noise, t)
        torch.testing.assert_close(schedule.add_noise(x0.to(dtype), noise.to(dtype), t).double(), x_t, **tolerance)
        eps = schedule.convert(x0.to(dtype), x_t.to(dtype), t, "sample", "epsilon")
        assert torch.isfinite(eps).all(), f"ε̂ at t={t} in {dtype}: {eps}"
        mean = schedule.posterior_mean(x0.to(dtype), x_t.to(dtype), t, t - 1)
        expected_mean = schedule64.posterior_mean(x0, x_t, t, t - 1)
        torch.testing.assert_close(mean.double(), expected_mean, **tolerance)


def test_schedule_rejects_half_dtype():
    with pytest.raises(ValueError, match=r"float32 or torch\.float64, got torch\.float16"):
        NoiseSchedule(dtype=torch.float16)


# ---------------------------------------------------------------------------- bad input
def test_unknown_schedule_rejected():
    with pytest.raises(ValueError, match=r"unknown beta_schedule 'quadratic'.*'linear'.*'sigmoid'"):
        NoiseSchedule(beta_schedule="quadratic")


@pytest.mark.parametrize("num_steps, error, pattern", [(0, ValueError, "at least 1, got 0"), (2.5, TypeError, "int")])
def test_bad_num_train_timesteps_rejected(num_steps, error, pattern):
    with pytest.raises(error, match=pattern):
        NoiseSchedule(num_train_timesteps=num_steps)


def test_bad_betas_rejected():
    with pytest.raises(ValueError, match=r"beta_start=0\.1, beta_end=0\.01"):
        NoiseSchedule(beta_start=0.1, beta_end=0.01)


def test_unknown_prediction_type_rejected(schedule64):
    x = torch.zeros(1, 2, dtype=torch.float64)
    pattern = r"unknown prediction_type 'noise'.*'epsilon', 'sample', 'v_prediction'"
    with pytest.raises(ValueError, match=pattern):
        schedule64.convert(x, x, 0, "noise", "sample")
    with pytest.raises(ValueError, match=pattern):
        schedule64.training_target(x, x, 0, "noise")
    with pytest.raises(ValueError, match=r"unknown prediction_type 'velocity'.*'score'"):
        schedule64.convert(x, x, 0, "epsilon", "velocity")


@pytest.mark.parametrize("timestep, bad", [(1000, "1000"), (-1, "-1"), (torch.tensor([3, 1000]), "1000")])
def test_timestep_outside_range_rejected(schedule64, timestep, bad):
    x = torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match=rf"timestep {bad} is outside \[0, 1000\)"):
        schedule64.add_noise(x, x, timestep)


@pytest.mark.parametrize("timestep, pattern", [(3.5, r"got 3\.5"), (torch.tensor([1.0, 2.0]), "got torch.float32")])
def test_float_timesteps_rejected(schedule64, timestep, pattern):
    x = torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(TypeError, match=rf"timesteps must .*integer.*{pattern}"):
        schedule64.add_noise(x, x, timestep)


def test_variance_type_rejected(schedule64):
    with pytest.raises(ValueError, match=r"unknown variance_type 'learned'.*'fixed_small', 'fixed_large'"):
        schedule64.step_variance(5, variance_type="learned")


def test_shape_mismatch_rejected(schedule64):
    with pytest.raises(ValueError, match=r"original_samples has shape \(2, 3\) but noise has shape \(2, 4\)"):
        schedule64.add_noise(torch.zeros(2, 3), torch.zeros(2, 4), 0)
    with pytest.raises(ValueError, match=r"timesteps must be a scalar or have shape \(2,\).*got shape \(3,\)"):
        schedule64.add_noise(torch.zeros(2, 3), torch.zeros(2, 3), torch.tensor([1, 2, 3]))
    with pytest.raises(TypeError, match="noise must be a torch.Tensor, got list"):
        schedule64.add_noise(torch.zeros(2, 3), [0.0], 0)
