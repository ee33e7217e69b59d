"""Tests for ddpm_lib.parameterization: implied loss weights, min-SNR-γ, error amplification.

Expected values come from the formulas x_t = √ᾱ x₀ + √(1−ᾱ) ε, v = √ᾱ ε − √(1−ᾱ) x₀ and
SNR = ᾱ / (1 − ᾱ), evaluated by hand on a two-step schedule with β = 0.5 (so ᾱ_0 = 1/2, SNR = 1,
and ᾱ_1 = 1/4, SNR = 1/3), or from diffusers' ``compute_snr``.
"""

import math

import pytest
import torch

from ddpm_lib.parameterization import (
    eps_to_x0_amplification,
    error_per_timestep,
    min_snr_loss_weight,
    min_snr_x0_weight,
    x0_space_weight,
    x0_to_eps_amplification,
)
from ddpm_lib.schedules import NoiseSchedule


@pytest.fixture
def half_schedule():
    # β_0 = β_1 = 0.5: ᾱ = (1/2, 1/4), SNR = (1, 1/3). All exact in binary floating point.
    return NoiseSchedule(num_train_timesteps=2, beta_start=0.5, beta_end=0.5)


@pytest.fixture
def schedule64():
    return NoiseSchedule(dtype=torch.float64)


def test_x0_space_weight_exact_values(half_schedule):
    timesteps = torch.tensor([0, 1])
    # w = SNR for ε, 1 for x₀, 1 + SNR for v, with SNR = (1, 1/3).
    expected = {
        "epsilon": [1.0, 1 / 3],
        "sample": [1.0, 1.0],
        "v_prediction": [2.0, 4 / 3],
    }
    for prediction_type, values in expected.items():
        weight = x0_space_weight(half_schedule, timesteps, prediction_type)
        assert weight.dtype == torch.float64
        torch.testing.assert_close(weight, torch.tensor(values, dtype=torch.float64), rtol=1e-12, atol=0)


def test_x0_space_weight_first_linear_step():
    # Linear schedule, t = 0: ᾱ = 1 − 1e-4 so SNR = 0.9999 / 1e-4 = 9999 (Ho et al. 2020 β_1 = 1e-4).
    schedule = NoiseSchedule(dtype=torch.float64)
    weight_eps = x0_space_weight(schedule, 0, "epsilon")
    weight_v = x0_space_weight(schedule, 0, "v_prediction")
    assert weight_eps.item() == pytest.approx(9999.0, rel=1e-9)
    assert weight_v.item() == pytest.approx(10000.0, rel=1e-9)


def test_epsilon_weight_matches_diffusers_snr():
    # Reference: diffusers.training_utils.compute_snr on the same linear schedule (float32 there).
    from diffusers import DDPMScheduler
    from diffusers.training_utils import compute_snr

    reference = DDPMScheduler(num_train_timesteps=1000, beta_schedule="linear")
    timesteps = torch.tensor([0, 10, 250, 500, 750, 999])
    expected = compute_snr(reference, timesteps).double()
    ours = x0_space_weight(NoiseSchedule(), timesteps, "epsilon")
    torch.testing.assert_close(ours, expected, rtol=1e-4, atol=0)


def test_min_snr_weights_exact_values(half_schedule):
    timesteps = torch.tensor([0, 1])
    # γ = 0.5: min(SNR, γ) = (0.5, 1/3).
    x0_weight = min_snr_x0_weight(half_schedule, timesteps, gamma=0.5)
    torch.testing.assert_close(x0_weight, torch.tensor([0.5, 1 / 3], dtype=torch.float64))
    # Divided by the implied weights: ε (1, 1/3) -> (0.5, 1); v (2, 4/3) -> (0.25, 0.25).
    eps_weight = min_snr_loss_weight(half_schedule, timesteps, "epsilon", gamma=0.5)
    v_weight = min_snr_loss_weight(half_schedule, timesteps, "v_prediction", gamma=0.5)
    sample_weight = min_snr_loss_weight(half_schedule, timesteps, "sample", gamma=0.5)
    torch.testing.assert_close(eps_weight, torch.tensor([0.5, 1.0], dtype=torch.float64))
    torch.testing.assert_close(v_weight, torch.tensor([0.25, 0.25], dtype=torch.float64))
    torch.testing.assert_close(sample_weight, x0_weight)


def test_min_snr_caps_at_gamma(schedule64):
    timesteps = torch.arange(0, 1000, 37)
    snr = schedule64.snr[timesteps]
    weight = min_snr_x0_weight(schedule64, timesteps, gamma=5.0)
    # min(SNR, 5): equal to 5 where SNR ≥ 5, to SNR elsewhere.
    torch.testing.assert_close(weight, torch.minimum(snr, torch.tensor(5.0, dtype=torch.float64)))
    assert bool((snr >= 5).any()) and bool((snr < 5).any())


@pytest.mark.parametrize("gamma", [0, -1.0, True, "5"])
def test_min_snr_rejects_bad_gamma(half_schedule, gamma):
    with pytest.raises(ValueError, match="gamma"):
        min_snr_x0_weight(half_schedule, 0, gamma=gamma)


def test_weights_reject_unknown_prediction_type(half_schedule):
    with pytest.raises(ValueError, match="prediction_type"):
        x0_space_weight(half_schedule, 0, "x0")


def test_weights_reject_timestep_out_of_range(half_schedule):
    with pytest.raises(ValueError, match="outside"):
        x0_space_weight(half_schedule, torch.tensor([2]), "epsilon")


def test_amplification_exact_values(half_schedule):
    timesteps = torch.tensor([0, 1])
    # 1/√SNR = (1, √3) and √SNR = (1, 1/√3).
    torch.testing.assert_close(
        eps_to_x0_amplification(half_schedule, timesteps), torch.tensor([1.0, math.sqrt(3)], dtype=torch.float64)
    )
    torch.testing.assert_close(
        x0_to_eps_amplification(half_schedule, timesteps), torch.tensor([1.0, 1 / math.sqrt(3)], dtype=torch.float64)
    )


def test_amplification_matches_converted_error(schedule64):
    # Perturb ε by δ, convert to x̂₀: the x̂₀ error must be δ / √SNR, element by element.
    generator = torch.Generator().manual_seed(0)
    x0 = torch.rand(6, 3, generator=generator, dtype=torch.float64) * 2 - 1
    eps = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    delta = torch.randn(6, 3, generator=generator, dtype=torch.float64)
    timesteps = torch.tensor([0, 50, 300, 600, 900, 999])
    x_t = schedule64.add_noise(x0, eps, timesteps)

    x0_hat = schedule64.convert(eps + delta, x_t, timesteps, "epsilon", "sample")
    factor = eps_to_x0_amplification(schedule64, timesteps)[:, None]
    torch.testing.assert_close(x0_hat - x0, -delta * factor, rtol=1e-9, atol=1e-9)

    eps_hat = schedule64.convert(x0 + delta, x_t, timesteps, "sample", "epsilon")
    factor = x0_to_eps_amplification(schedule64, timesteps)[:, None]
    torch.testing.assert_close(eps_hat - eps, -delta * factor, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("prediction_type", ["epsilon", "v_prediction"])
def test_loss_identity_on_batch(schedule64, prediction_type):
    # ‖target − prediction‖² = w(t) ‖x₀ − x̂₀‖² per sample, for arbitrary (wrong) predictions.
    generator = torch.Generator().manual_seed(1)
    timesteps = torch.tensor([0, 1, 100, 400, 700, 999, 5, 250])
    x0 = torch.rand(8, 1, 4, 4, generator=generator, dtype=torch.float64) * 2 - 1
    eps = torch.randn(8, 1, 4, 4, generator=generator, dtype=torch.float64)
    prediction = torch.randn(8, 1, 4, 4, generator=generator, dtype=torch.float64)
    x_t = schedule64.add_noise(x0, eps, timesteps)

    target = schedule64.training_target(x0, eps, timesteps, prediction_type)
    x0_hat = schedule64.convert(prediction, x_t, timesteps, prediction_type, "sample")
    target_error = ((target - prediction) ** 2).sum(dim=(1, 2, 3))
    x0_error = ((x0 - x0_hat) ** 2).sum(dim=(1, 2, 3))
    weight = x0_space_weight(schedule64, timesteps, prediction_type)
    torch.testing.assert_close(target_error, weight * x0_error, rtol=1e-9, atol=1e-12)


class OracleModel(torch.nn.Module):
    """Return the exact target for x_t built from a known x₀, plus an optional constant offset."""

    def __init__(self, schedule, original_samples, prediction_type, offset=0.0):
        super().__init__()
        self.schedule = schedule
        self.original_samples = original_samples
        self.prediction_type = prediction_type
        self.offset = offset

    def forward(self, x_t, timesteps):
        exact = self.schedule.convert(self.original_samples, x_t, timesteps, "sample", self.prediction_type)
        return exact + self.offset


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
def test_error_per_timestep_zero_for_oracle(schedule64, prediction_type):
    generator = torch.Generator().manual_seed(2)
    x0 = torch.rand(5, 2, generator=generator, dtype=torch.float64) * 2 - 1
    noise = torch.randn(5, 2, generator=generator, dtype=torch.float64)
    model = OracleModel(schedule64, x0, prediction_type)
    errors = error_per_timestep(model, schedule64, prediction_type, x0, noise, torch.tensor([0, 500, 999]))
    assert errors.shape == (3,)
    assert float(errors.max()) < 1e-20


def test_error_per_timestep_epsilon_offset(schedule64):
    # ε̂ = ε + c gives x̂₀ − x₀ = −c / √SNR, so the x₀-space MSE is c² / SNR(t);
    # in ε-space it is c² at every t, and in v-space (1 + SNR) / SNR · c² = c² / ᾱ.
    generator = torch.Generator().manual_seed(3)
    x0 = torch.rand(4, 3, generator=generator, dtype=torch.float64) * 2 - 1
    noise = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    timesteps = torch.tensor([0, 200, 999])
    offset = 0.1
    model = OracleModel(schedule64, x0, "epsilon", offset=offset)
    snr = schedule64.snr[timesteps]
    alpha_bar = schedule64.alphas_cumprod[timesteps]

    x0_errors = error_per_timestep(model, schedule64, "epsilon", x0, noise, timesteps)
    eps_errors = error_per_timestep(model, schedule64, "epsilon", x0, noise, timesteps, space="epsilon")
    v_errors = error_per_timestep(model, schedule64, "epsilon", x0, noise, timesteps, space="v_prediction")
    torch.testing.assert_close(x0_errors, offset**2 / snr, rtol=1e-9, atol=0)
    torch.testing.assert_close(eps_errors, torch.full((3,), offset**2, dtype=torch.float64), rtol=1e-9, atol=0)
    torch.testing.assert_close(v_errors, offset**2 / alpha_bar, rtol=1e-9, atol=0)


def test_error_per_timestep_zero_model_for_sample(half_schedule):
    # A model that always predicts x̂₀ = 0 has x₀-space MSE mean(x₀²) at every t.
    x0 = torch.tensor([[0.5, -1.0], [1.0, 0.0]])
    noise = torch.ones(2, 2)
    model = lambda x_t, timesteps: torch.zeros_like(x_t)  # noqa: E731
    errors = error_per_timestep(model, half_schedule, "sample", x0, noise, torch.tensor([0, 1]))
    expected = (0.25 + 1.0 + 1.0 + 0.0) / 4
    torch.testing.assert_close(errors, torch.tensor([expected, expected], dtype=torch.float64))


def test_error_per_timestep_rejects_bad_input(half_schedule):
    x0 = torch.zeros(2, 2)
    model = lambda x_t, timesteps: x_t  # noqa: E731
    with pytest.raises(ValueError, match="shape"):
        error_per_timestep(model, half_schedule, "epsilon", x0, torch.zeros(2, 3), torch.tensor([0]))
    with pytest.raises(ValueError, match="1-D"):
        error_per_timestep(model, half_schedule, "epsilon", x0, x0, torch.tensor([[0]]))
    with pytest.raises(ValueError, match="prediction_type"):
        error_per_timestep(model, half_schedule, "epsilon", x0, x0, torch.tensor([0]), space="score")
