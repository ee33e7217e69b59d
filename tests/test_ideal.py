"""Tests for ddpm_lib.ideal: the optimal noise predictor E[ε | x_t, t] and the loss floor.

Expected values come from closed forms derived in each test's comment, from autograd on an
independently written log-density, or from the Gaussian formulas of a second code path.
"""

import math

import pytest
import torch

from ddpm_lib import NoiseSchedule
from ddpm_lib.ideal import (
    log_density,
    loss_floor,
    loss_floor_gaussian,
    optimal_epsilon,
    optimal_epsilon_gaussian,
    optimal_original_sample,
    optimal_score,
)


@pytest.fixture(scope="module")
def schedule():
    return NoiseSchedule(num_train_timesteps=1000, dtype=torch.float64)


def test_one_point_set_recovers_noise_exactly(schedule):
    # One training point: x₀ is known, so ε = (x_t − √ᾱ x₀)/√(1 − ᾱ) exactly (inverse of eq. 4,
    # Ho et al. 2020). Only float64 rounding may remain.
    generator = torch.Generator().manual_seed(0)
    x_0 = torch.rand(1, 1, 8, 8, generator=generator, dtype=torch.float64) * 2 - 1
    noise = torch.randn(5, 1, 8, 8, generator=generator, dtype=torch.float64)
    timesteps = torch.tensor([0, 1, 100, 500, 999])
    x_t = schedule.add_noise(x_0.expand(5, -1, -1, -1), noise, timesteps)
    pred = optimal_epsilon(x_t, timesteps, x_0, schedule)
    assert pred.shape == x_t.shape
    torch.testing.assert_close(pred, noise, rtol=0, atol=1e-9)


def test_one_point_set_has_zero_floor(schedule):
    # With one point the optimal predictor is exact, so E‖ε − E[ε|x_t]‖² = 0 at every t.
    x_0 = torch.tensor([[0.3, -0.7]])
    floors = loss_floor(x_0, schedule, [0, 10, 500, 999], num_samples=64, generator=torch.Generator().manual_seed(1))
    assert floors.shape == (4,)
    assert float(floors.max()) < 1e-12


def test_two_point_set_matches_tanh(schedule):
    # Data {−1, +1} in 1-D: p(+1 | x) / p(−1 | x) = exp(2√ᾱ x / (1 − ᾱ)), so
    # E[x₀ | x_t] = tanh(√ᾱ x_t / (1 − ᾱ)).
    data = torch.tensor([[-1.0], [1.0]], dtype=torch.float64)
    x_t = torch.linspace(-3, 3, 13, dtype=torch.float64).unsqueeze(1)
    for t in (0, 50, 300, 999):
        alpha_bar = schedule.alphas_cumprod[t]
        expected = torch.tanh(alpha_bar.sqrt() * x_t / (1 - alpha_bar))
        torch.testing.assert_close(optimal_original_sample(x_t, t, data, schedule), expected)


def test_far_points_stay_finite_at_first_step(schedule):
    # At t = 0, 1 − ᾱ = 1e-4, so raw likelihoods underflow to 0 for x_t far from the data; the
    # log-sum-exp form must still give the nearest point (here the only plausible one, +5).
    data = torch.tensor([[-5.0], [5.0]])
    x_t = torch.tensor([[40.0], [-40.0]])
    pred = optimal_original_sample(x_t, 0, data, schedule)
    assert bool(torch.isfinite(pred).all())
    torch.testing.assert_close(pred, torch.tensor([[5.0], [-5.0]]))


def test_score_matches_autograd_of_log_density(schedule):
    # log p_t(x) = logsumexp_i(−‖x − √ᾱ x₀ⁱ‖² / (2(1 − ᾱ))) + const for the noised finite set;
    # its autograd gradient must equal the Tweedie score −E[ε|x_t]/√(1 − ᾱ).
    generator = torch.Generator().manual_seed(2)
    data = torch.randn(30, 2, generator=generator, dtype=torch.float64)
    x_t = torch.randn(7, 2, generator=generator, dtype=torch.float64).requires_grad_(True)
    t = 200
    alpha_bar = schedule.alphas_cumprod[t]
    squared = ((x_t[:, None, :] - alpha_bar.sqrt() * data[None]) ** 2).sum(-1)
    log_density = torch.logsumexp(-squared / (2 * (1 - alpha_bar)), dim=1).sum()
    (expected,) = torch.autograd.grad(log_density, x_t)
    torch.testing.assert_close(optimal_score(x_t.detach(), t, data, schedule), expected)


def test_log_density_of_one_point_is_gaussian(schedule):
    # One point x₀: p_t = N(√ᾱ x₀, (1 − ᾱ) I), whose log density torch.distributions computes.
    x_0 = torch.tensor([[0.5, -1.0, 2.0]], dtype=torch.float64)
    x_t = torch.randn(6, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    for t in (0, 300, 999):
        a = schedule.alphas_cumprod[t]
        normal = torch.distributions.Normal(a.sqrt() * x_0[0], (1 - a).sqrt())
        expected = normal.log_prob(x_t).sum(dim=1)
        torch.testing.assert_close(log_density(x_t, t, x_0, schedule), expected)


def test_score_is_gradient_of_log_density(schedule):
    # Tweedie: the score from E[ε|x_t] must be the autograd gradient of log p_t.
    generator = torch.Generator().manual_seed(10)
    data = torch.randn(25, 2, generator=generator, dtype=torch.float64)
    x_t = torch.randn(5, 2, generator=generator, dtype=torch.float64).requires_grad_(True)
    (gradient,) = torch.autograd.grad(log_density(x_t, 50, data, schedule).sum(), x_t)
    torch.testing.assert_close(optimal_score(x_t.detach(), 50, data, schedule), gradient)


def test_per_row_timesteps_match_single_calls(schedule):
    # A batch with one timestep per row must give the same rows as one call per timestep.
    generator = torch.Generator().manual_seed(3)
    data = torch.randn(20, 3, generator=generator)
    x_t = torch.randn(4, 3, generator=generator)
    timesteps = torch.tensor([0, 5, 400, 999])
    batched = optimal_epsilon(x_t, timesteps, data, schedule)
    for row, t in enumerate(timesteps.tolist()):
        torch.testing.assert_close(batched[row : row + 1], optimal_epsilon(x_t[row : row + 1], t, data, schedule))


def test_chunked_queries_match_unchunked(schedule, monkeypatch):
    # Cutting the queries into chunks (to bound memory) must not change the result.
    generator = torch.Generator().manual_seed(4)
    data = torch.randn(50, 1, 4, 4, generator=generator)
    x_t = torch.randn(37, 1, 4, 4, generator=generator)
    whole = optimal_epsilon(x_t, 300, data, schedule)
    monkeypatch.setattr("ddpm_lib.ideal.MAX_LOGIT_ENTRIES", 50 * 3)  # 3 rows per chunk
    torch.testing.assert_close(optimal_epsilon(x_t, 300, data, schedule), whole)


def test_gaussian_predictor_matches_1d_formula(schedule):
    # 1-D, x₀ ~ N(μ, σ²): E[ε|x_t] = √(1 − ᾱ)(x_t − √ᾱ μ) / (ᾱσ² + 1 − ᾱ).
    mean, variance = torch.tensor([0.4], dtype=torch.float64), 0.25
    cov = torch.tensor([[variance]], dtype=torch.float64)
    x_t = torch.linspace(-2, 2, 9, dtype=torch.float64).unsqueeze(1)
    for t in (0, 100, 999):
        a = schedule.alphas_cumprod[t]
        expected = (1 - a).sqrt() * (x_t - a.sqrt() * mean) / (a * variance + 1 - a)
        torch.testing.assert_close(optimal_epsilon_gaussian(x_t, t, mean, cov, schedule), expected)


def test_gaussian_floor_matches_1d_formula(schedule):
    # 1-D floor: Var(ε | x_t) = 1 − (1 − ᾱ)/(ᾱσ² + 1 − ᾱ) = ᾱσ² / (ᾱσ² + 1 − ᾱ).
    variance = 0.3
    timesteps = [0, 1, 50, 250, 999]
    floors = loss_floor_gaussian(torch.zeros(1), torch.tensor([[variance]]), schedule, timesteps)
    a = schedule.alphas_cumprod[timesteps]
    torch.testing.assert_close(floors, a * variance / (a * variance + 1 - a))


def test_gaussian_floor_diagonal_cov(schedule):
    # With Σ = diag(σ₁², σ₂²) the dimensions are independent, so the per-dimension floor is the
    # average of the two 1-D formulas.
    variances = torch.tensor([0.1, 2.0], dtype=torch.float64)
    floors = loss_floor_gaussian(torch.zeros(2), torch.diag(variances), schedule, [20, 300])
    a = schedule.alphas_cumprod[[20, 300]].unsqueeze(1)
    expected = (a * variances / (a * variances + 1 - a)).mean(dim=1)
    torch.testing.assert_close(floors, expected)


def test_finite_set_approaches_gaussian_predictor(schedule):
    # Many samples of N(μ, Σ): once the noise is wide compared with the gaps between samples, the
    # finite-set posterior mean approaches the Gaussian one where x_t is typical. Queries x_t are
    # drawn from the noised Gaussian itself, because in its far tails the 20,000 samples are too
    # sparse. The gap left is sampling error, O(1/√N) ≈ 0.01 per coordinate, so an RMS bound of
    # 0.05 leaves a 5× margin.
    generator = torch.Generator().manual_seed(5)
    mean = torch.tensor([0.3, -0.2], dtype=torch.float64)
    cov = torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=torch.float64)
    cholesky = torch.linalg.cholesky(cov)
    data = mean + torch.randn(20_000, 2, generator=generator, dtype=torch.float64) @ cholesky.T
    fresh = mean + torch.randn(200, 2, generator=generator, dtype=torch.float64) @ cholesky.T
    noise = torch.randn(200, 2, generator=generator, dtype=torch.float64)
    for t in (150, 400):
        x_t = schedule.add_noise(fresh, noise, t)
        finite = optimal_epsilon(x_t, t, data, schedule)
        gaussian = optimal_epsilon_gaussian(x_t, t, mean, cov, schedule)
        assert float((finite - gaussian).pow(2).mean().sqrt()) < 0.05


def test_finite_set_floor_approaches_gaussian_floor(schedule):
    # A Gaussian sample; the Monte-Carlo floor must match the closed form. In 2-D the per-draw
    # error ‖ε − ε̂‖²/2 has a standard deviation of about the floor itself (≤ 0.55 here), so with
    # 3,000 draws the standard error is ≤ 0.01 and a 0.05 band is 5 standard errors.
    generator = torch.Generator().manual_seed(6)
    cov = torch.tensor([[0.5, 0.2], [0.2, 0.3]], dtype=torch.float64)
    data = torch.randn(5000, 2, generator=generator, dtype=torch.float64) @ torch.linalg.cholesky(cov).T
    timesteps = [150, 400]
    estimated = loss_floor(data, schedule, timesteps, num_samples=3000, generator=generator)
    exact = loss_floor_gaussian(torch.zeros(2), cov, schedule, timesteps)
    assert float((estimated - exact).abs().max()) < 0.05


def test_floors_lie_in_unit_interval(schedule):
    # E‖ε − E[ε|x_t]‖² ≤ E‖ε‖² = D, because E[ε|x_t] is the best predictor and 0 is one
    # candidate; and a squared error is never negative.
    generator = torch.Generator().manual_seed(7)
    data = torch.rand(40, 3, generator=generator) * 2 - 1
    timesteps = [0, 10, 100, 500, 999]
    finite = loss_floor(data, schedule, timesteps, num_samples=512, generator=generator)
    gaussian = loss_floor_gaussian(data.mean(0), torch.cov(data.T), schedule, timesteps)
    for floors in (finite, gaussian):
        assert float(floors.min()) >= 0
        assert float(floors.max()) <= 1


def test_gaussian_floor_limits(schedule):
    # As ᾱ → 1 the floor tends to 1 for a full-rank Σ; as ᾱ → 0 it tends to 0 (formula above).
    floors = loss_floor_gaussian(torch.zeros(2), torch.eye(2) * 0.5, schedule, [0, 999])
    assert float(floors[0]) > 0.99
    assert float(floors[1]) < 1e-3


def test_seeded_floor_is_reproducible(schedule):
    data = torch.linspace(-1, 1, 10).unsqueeze(1)
    first = loss_floor(data, schedule, [100], num_samples=100, generator=torch.Generator().manual_seed(8))
    second = loss_floor(data, schedule, [100], num_samples=100, generator=torch.Generator().manual_seed(8))
    torch.testing.assert_close(first, second, rtol=0, atol=0)


def test_bad_input_is_rejected(schedule):
    data = torch.zeros(5, 2)
    with pytest.raises(ValueError, match="per-sample shape"):
        optimal_epsilon(torch.zeros(3, 3), 0, data, schedule)
    with pytest.raises(TypeError, match="floating-point"):
        optimal_epsilon(torch.zeros(3, 2, dtype=torch.long), 0, data, schedule)
    with pytest.raises(TypeError, match="torch.Tensor"):
        optimal_epsilon([[0.0, 0.0]], 0, data, schedule)
    with pytest.raises(ValueError, match="at least one point"):
        optimal_epsilon(torch.zeros(3, 2), 0, torch.zeros(0, 2), schedule)
    with pytest.raises(ValueError, match="NaN"):
        optimal_epsilon(torch.full((3, 2), math.nan), 0, data, schedule)
    with pytest.raises(ValueError, match="outside"):
        optimal_epsilon(torch.zeros(3, 2), 1000, data, schedule)
    with pytest.raises(TypeError, match="NoiseSchedule"):
        optimal_epsilon(torch.zeros(3, 2), 0, data, "linear")
    with pytest.raises(ValueError, match="num_samples"):
        loss_floor(data, schedule, [0], num_samples=0)
    with pytest.raises(TypeError, match="ints"):
        loss_floor(data, schedule, [0.5])


def test_bad_gaussian_is_rejected(schedule):
    with pytest.raises(ValueError, match="shape"):
        loss_floor_gaussian(torch.zeros(2), torch.eye(3), schedule, [0])
    with pytest.raises(ValueError, match="symmetric"):
        loss_floor_gaussian(torch.zeros(2), torch.tensor([[1.0, 0.5], [0.0, 1.0]]), schedule, [0])
    with pytest.raises(ValueError, match="semi-definite"):
        loss_floor_gaussian(torch.zeros(2), torch.diag(torch.tensor([1.0, -1.0])), schedule, [0])
    with pytest.raises(ValueError, match="vector"):
        optimal_epsilon_gaussian(torch.zeros(3, 2), 0, torch.zeros(1, 2), torch.eye(2), schedule)
