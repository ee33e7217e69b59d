"""The best possible noise predictor E[ε | x_t, t] and the loss it cannot go below.

Lesson 2 ("why noise is learnable") derives everything here. For one known clean sample x₀,
the noise is fixed by x_t: ε = (x_t − √ᾱ_t x₀) / √(1 − ᾱ_t). For a data set, several x₀ could
have produced the same x_t, so the predictor that minimises the mean squared error is the
conditional mean E[ε | x_t, t], and the error that remains is the loss floor.

Two data models have closed forms:

- a finite data set {x₀ⁱ}, each point equally likely (the empirical distribution a network is
  trained on): the posterior over the points is a softmax, ``optimal_epsilon``;
- a Gaussian x₀ ~ N(μ, Σ): everything is linear, ``optimal_epsilon_gaussian``.

The score of the noisy marginal follows from Tweedie's formula:
∇ log p_t(x_t) = −E[ε | x_t] / √(1 − ᾱ_t).

Loss units are per dimension, the units of ``F.mse_loss(pred, target)`` with reduction "mean".
"""

from __future__ import annotations

import math
from typing import Sequence, Union

import torch

from .schedules import NoiseSchedule, Timesteps

TimestepList = Union[int, Sequence[int], torch.Tensor]

# A finite-set posterior needs a (rows × N) matrix of logits; queries are cut into chunks so that
# this matrix has at most this many float64 entries (2**22 entries = 32 MiB).
MAX_LOGIT_ENTRIES = 2**22


# ---------------------------------------------------------------------- input checks
def _check_tensor(value: object, name: str, min_ndim: int = 1) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if not value.dtype.is_floating_point:
        raise TypeError(f"{name} must have a floating-point dtype, got {value.dtype}; use .float()")
    if value.ndim < min_ndim:
        raise ValueError(f"{name} must have at least {min_ndim} dimensions, got shape {tuple(value.shape)}")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} contains NaN or infinite values")
    return value


def _check_data(data: object) -> torch.Tensor:
    data = _check_tensor(data, "data", min_ndim=2)
    if data.shape[0] < 1:
        raise ValueError("data must contain at least one point, got shape (0, …)")
    return data


def _check_sample(x_t: object, feature_shape: torch.Size, name_of_reference: str) -> torch.Tensor:
    x_t = _check_tensor(x_t, "x_t", min_ndim=2)
    if x_t.shape[1:] != feature_shape:
        raise ValueError(
            f"x_t has shape {tuple(x_t.shape)} but {name_of_reference} has per-sample shape "
            f"{tuple(feature_shape)}; x_t must be (B, {', '.join(map(str, feature_shape))})"
        )
    return x_t


def _check_schedule(schedule: object) -> NoiseSchedule:
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a ddpm_lib NoiseSchedule, got {type(schedule).__name__}")
    return schedule


def _timestep_list(timesteps: TimestepList, schedule: NoiseSchedule) -> list[int]:
    """Return ``timesteps`` (an int, a sequence of ints or an integer tensor) as a checked list."""
    if isinstance(timesteps, (list, tuple)):
        if not all(isinstance(t, int) and not isinstance(t, bool) for t in timesteps):
            raise TypeError(f"timesteps must be ints, got {timesteps!r}")
        timesteps = torch.tensor(timesteps, dtype=torch.long)
    timesteps = schedule.check_timesteps(timesteps)
    if timesteps.ndim > 1:
        raise ValueError(f"timesteps must be a scalar or 1-D, got shape {tuple(timesteps.shape)}")
    return timesteps.reshape(-1).tolist()


def _check_gaussian(mean: object, cov: object) -> tuple[torch.Tensor, torch.Tensor]:
    mean = _check_tensor(mean, "mean", min_ndim=1)
    cov = _check_tensor(cov, "cov", min_ndim=2)
    dim = mean.numel()
    if mean.ndim != 1:
        raise ValueError(f"mean must be a vector of shape (D,), got shape {tuple(mean.shape)}")
    if cov.shape != (dim, dim):
        raise ValueError(f"cov must have shape ({dim}, {dim}) to match mean, got {tuple(cov.shape)}")
    cov64 = cov.double()
    asymmetry = float((cov64 - cov64.T).abs().max())
    if asymmetry > 1e-6:
        raise ValueError(f"cov must be symmetric, but cov - cov.T has an entry of {asymmetry:.3g}")
    if float(torch.linalg.eigvalsh(cov64).min()) < -1e-6:
        raise ValueError("cov must be positive semi-definite (it has a negative eigenvalue)")
    return mean, cov


# ---------------------------------------------------------------------- finite data set
def optimal_original_sample(
    x_t: torch.Tensor, timesteps: Timesteps, data: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    """Compute E[x₀ | x_t, t] when x₀ is drawn uniformly from the finite set ``data``.

    The posterior over the N points is p(i | x_t) ∝ exp(−‖x_t − √ᾱ_t x₀ⁱ‖² / (2(1 − ᾱ_t))), the
    likelihood of q(x_t | x₀ⁱ) = N(√ᾱ_t x₀ⁱ, (1 − ᾱ_t) I) under a uniform prior. The result is the
    posterior-weighted average of the points. The work is done in float64 with a max-subtracted
    softmax (log-sum-exp), so it stays finite even at t = 0 where 1 − ᾱ_t ≈ 1e-4.

    Args:
        x_t: noisy samples, shape (B, …) with the same per-sample shape as ``data``: (B, D) for
            points, (B, C, H, W) for images.
        timesteps: an int, or one timestep per row, shape (B,), each in [0, T).
        data: the training set, shape (N, …), any values.
        schedule: the noise schedule that produced x_t.
    Returns:
        E[x₀ | x_t], shape and dtype of ``x_t``.
    """
    return _posterior_mean(x_t, timesteps, data, schedule).to(x_t.dtype)


def _posterior_mean(
    x_t: torch.Tensor, timesteps: Timesteps, data: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    """Return E[x₀ | x_t, t] in float64, shaped like ``x_t``; see ``optimal_original_sample``."""
    data = _check_data(data)
    x_t = _check_sample(x_t, data.shape[1:], "data")
    schedule = _check_schedule(schedule)
    flat_x = x_t.reshape(x_t.shape[0], -1).double()
    alpha_bar = schedule.gather(schedule.alphas_cumprod, timesteps, flat_x).double()  # (B, 1) or (1, 1)
    alpha_bar = alpha_bar.expand(flat_x.shape[0], 1)

    points = data.reshape(data.shape[0], -1).to(device=flat_x.device, dtype=torch.float64)  # (N, D)
    means = []
    for x_chunk, a in _chunks(flat_x, alpha_bar, points.shape[0]):
        weights = torch.softmax(_partial_logits(x_chunk, a, points), dim=1)  # max-subtracted
        means.append(weights @ points)
    return torch.cat(means).reshape(x_t.shape)


def _chunks(flat_x: torch.Tensor, alpha_bar: torch.Tensor, num_points: int):
    """Yield (rows of x_t, their ᾱ) in chunks of at most MAX_LOGIT_ENTRIES // N rows."""
    rows_per_chunk = max(1, MAX_LOGIT_ENTRIES // num_points)
    for start in range(0, flat_x.shape[0], rows_per_chunk):
        yield flat_x[start : start + rows_per_chunk], alpha_bar[start : start + rows_per_chunk]


def _partial_logits(x: torch.Tensor, alpha_bar: torch.Tensor, points: torch.Tensor) -> torch.Tensor:
    """Return −‖x − √ᾱ x₀ⁱ‖² / (2(1 − ᾱ)) + ‖x‖² / (2(1 − ᾱ)), shape (b, N).

    ‖x − √ᾱ x₀ⁱ‖² = ‖x‖² − 2√ᾱ x·x₀ⁱ + ᾱ‖x₀ⁱ‖². The ‖x‖² term is the same for every i, so it
    cancels in a softmax over i and is left out here.
    """
    squared_norms = (points**2).sum(dim=1)  # (N,)
    return (alpha_bar.sqrt() * (x @ points.T) - 0.5 * alpha_bar * squared_norms) / (1 - alpha_bar)


def optimal_epsilon(
    x_t: torch.Tensor, timesteps: Timesteps, data: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    """Compute E[ε | x_t, t] for a finite data set: the minimiser of the ε-prediction MSE.

    E[ε | x_t] = (x_t − √ᾱ_t E[x₀ | x_t]) / √(1 − ᾱ_t), with E[x₀ | x_t] from
    ``optimal_original_sample``. For a set of one point this is the exact noise.

    Args:
        x_t: noisy samples, shape (B, …), the per-sample shape of ``data``.
        timesteps: an int, or one timestep per row, shape (B,), each in [0, T).
        data: the training set, shape (N, …).
        schedule: the noise schedule that produced x_t.
    Returns:
        E[ε | x_t, t], shape and dtype of ``x_t``; values are unitless like ε.
    """
    # Both E[x₀ | x_t] and the conversion stay in float64, because x_t − √ᾱ x̂₀ cancels almost
    # completely at small t, where it is then divided by √(1 − ᾱ_t) ≈ 0.01.
    pred_original_sample = _posterior_mean(x_t, timesteps, data, schedule)
    eps = schedule.convert(pred_original_sample, x_t.double(), timesteps, "sample", "epsilon")
    return eps.to(x_t.dtype)


def optimal_score(
    x_t: torch.Tensor, timesteps: Timesteps, data: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    """Compute the score ∇ log p_t(x_t) of the noised finite data set.

    Tweedie's formula: ∇ log p_t(x_t) = −E[ε | x_t] / √(1 − ᾱ_t). Arguments as for
    ``optimal_epsilon``; the result has the shape and dtype of ``x_t``, in units of 1 / (units of x).
    """
    eps = optimal_epsilon(x_t, timesteps, data, schedule)
    return schedule.convert(eps.double(), x_t.double(), timesteps, "epsilon", "score").to(x_t.dtype)


def log_density(
    x_t: torch.Tensor, timesteps: Timesteps, data: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    """Compute log p_t(x_t), the log density of x_t when x₀ is drawn uniformly from ``data``.

    p_t is a mixture of N equal Gaussians N(√ᾱ_t x₀ⁱ, (1 − ᾱ_t) I), so
    log p_t(x) = logsumexp_i(−‖x − √ᾱ_t x₀ⁱ‖² / (2(1 − ᾱ_t))) − log N − (D/2) log(2π(1 − ᾱ_t)).
    Its gradient is the score that ``optimal_score`` returns.

    Args:
        x_t: points to evaluate, shape (B, …), the per-sample shape of ``data``.
        timesteps: an int, or one timestep per row, shape (B,), each in [0, T).
        data: the training set, shape (N, …).
        schedule: the noise schedule.
    Returns:
        A float64 tensor of shape (B,), in nats.
    """
    data = _check_data(data)
    x_t = _check_sample(x_t, data.shape[1:], "data")
    schedule = _check_schedule(schedule)
    flat_x = x_t.reshape(x_t.shape[0], -1).double()
    alpha_bar = schedule.gather(schedule.alphas_cumprod, timesteps, flat_x).double().expand(flat_x.shape[0], 1)
    points = data.reshape(data.shape[0], -1).to(device=flat_x.device, dtype=torch.float64)  # (N, D)
    num_points, dim = points.shape

    values = []
    for x_chunk, a in _chunks(flat_x, alpha_bar, num_points):
        mixture = torch.logsumexp(_partial_logits(x_chunk, a, points), dim=1)  # (b,)
        dropped_term = (x_chunk**2).sum(dim=1) / (2 * (1 - a[:, 0]))
        normaliser = math.log(num_points) + 0.5 * dim * torch.log(2 * math.pi * (1 - a[:, 0]))
        values.append(mixture - dropped_term - normaliser)
    return torch.cat(values)


def loss_floor(
    data: torch.Tensor,
    schedule: NoiseSchedule,
    timesteps: TimestepList,
    num_samples: int = 2048,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Estimate the lowest ε-prediction loss any model can reach on ``data``, at each t.

    Monte-Carlo estimate of E‖ε − E[ε | x_t, t]‖² / D with x₀ drawn uniformly from ``data``
    (with replacement) and ε ~ N(0, I), using ``num_samples`` draws per timestep. Its standard
    error is about floor · √(2 / D) / √num_samples when the per-sample errors are roughly Gaussian.

    Args:
        data: the training set, shape (N, …); D is the number of values per sample.
        schedule: the noise schedule.
        timesteps: an int, a list of ints or a 1-D integer tensor, each in [0, T).
        num_samples: Monte-Carlo draws per timestep (at least 1).
        generator: a seeded ``torch.Generator`` on data's device for reproducible estimates.
    Returns:
        A float64 tensor of shape (len(timesteps),), values in [0, 1] up to Monte-Carlo error,
        in per-dimension units (those of ``F.mse_loss`` with reduction "mean").
    """
    data = _check_data(data)
    schedule = _check_schedule(schedule)
    steps = _timestep_list(timesteps, schedule)
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")

    floors = []
    for t in steps:
        index = torch.randint(data.shape[0], (num_samples,), generator=generator, device=data.device)
        x_0 = data[index].double()
        noise = torch.randn(x_0.shape, generator=generator, device=data.device, dtype=torch.float64)
        x_t = schedule.add_noise(x_0, noise, t)
        pred = optimal_epsilon(x_t, t, data, schedule)
        floors.append(((noise - pred) ** 2).mean())
    return torch.stack(floors).cpu()


# ---------------------------------------------------------------------- Gaussian data
def _noisy_covariance(cov: torch.Tensor, alpha_bar: float) -> torch.Tensor:
    """Return Cov(x_t) = ᾱ Σ + (1 − ᾱ) I for x₀ ~ N(μ, Σ), in float64."""
    identity = torch.eye(cov.shape[0], dtype=torch.float64, device=cov.device)
    return alpha_bar * cov.double() + (1 - alpha_bar) * identity


def optimal_epsilon_gaussian(
    x_t: torch.Tensor, timesteps: Timesteps, mean: torch.Tensor, cov: torch.Tensor, schedule: NoiseSchedule
) -> torch.Tensor:
    """Compute E[ε | x_t, t] in closed form when x₀ ~ N(mean, cov).

    x_t and ε are jointly Gaussian with Cov(x_t) = S = ᾱΣ + (1 − ᾱ)I and Cov(ε, x_t) = √(1 − ᾱ) I,
    so E[ε | x_t] = √(1 − ᾱ) S⁻¹ (x_t − √ᾱ μ) (the Gaussian conditioning formula).

    Args:
        x_t: noisy samples, shape (B, D).
        timesteps: an int, or one timestep per row, shape (B,), each in [0, T).
        mean: μ, shape (D,).
        cov: Σ, shape (D, D), symmetric positive semi-definite.
        schedule: the noise schedule that produced x_t.
    Returns:
        E[ε | x_t, t], shape and dtype of ``x_t``.
    """
    mean, cov = _check_gaussian(mean, cov)
    x_t = _check_sample(x_t, mean.shape, "mean")
    schedule = _check_schedule(schedule)
    x64 = x_t.double()
    alpha_bar = schedule.gather(schedule.alphas_cumprod, timesteps, x64).double().expand(x64.shape[0], 1)
    mean64 = mean.to(device=x64.device, dtype=torch.float64)
    cov = cov.to(x64.device)

    # One linear solve per distinct timestep.
    eps = torch.empty_like(x64)
    for value in alpha_bar[:, 0].unique():
        rows = alpha_bar[:, 0] == value
        a = float(value)
        centred = x64[rows] - a**0.5 * mean64  # (b, D)
        solved = torch.linalg.solve(_noisy_covariance(cov, a), centred.T).T
        eps[rows] = (1 - a) ** 0.5 * solved
    return eps.to(x_t.dtype)


def loss_floor_gaussian(
    mean: torch.Tensor, cov: torch.Tensor, schedule: NoiseSchedule, timesteps: TimestepList
) -> torch.Tensor:
    """Return the lowest ε-prediction loss per dimension when x₀ ~ N(mean, cov), at each t.

    The floor is tr Cov(ε | x_t) / D = (D − (1 − ᾱ) tr((ᾱΣ + (1 − ᾱ)I)⁻¹)) / D. In one dimension
    with variance σ² it is ᾱσ² / (ᾱσ² + 1 − ᾱ). It tends to 1 as ᾱ → 1 (unless Σ is singular)
    and to 0 as ᾱ → 0.

    Args:
        mean: μ, shape (D,). The floor does not depend on it, but it fixes D and is checked.
        cov: Σ, shape (D, D), symmetric positive semi-definite.
        schedule: the noise schedule.
        timesteps: an int, a list of ints or a 1-D integer tensor, each in [0, T).
    Returns:
        A float64 tensor of shape (len(timesteps),) with values in [0, 1].
    """
    mean, cov = _check_gaussian(mean, cov)
    schedule = _check_schedule(schedule)
    steps = _timestep_list(timesteps, schedule)
    dim = mean.numel()
    alphas_cumprod = schedule.alphas_cumprod.double().cpu()
    cov = cov.double().cpu()
    floors = []
    for t in steps:
        a = float(alphas_cumprod[t])
        trace_inverse = torch.linalg.inv(_noisy_covariance(cov, a)).diagonal().sum()
        floors.append((dim - (1 - a) * trace_inverse) / dim)
    return torch.stack(floors)
