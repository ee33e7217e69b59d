"""Loss weights over t and error scale factors that tell the ε, x₀ and v targets apart.

The three targets carry the same information given x_t and t (``NoiseSchedule.convert`` turns
one into another). What differs is how a plain mean squared error on each target weights the
timesteps once every error is expressed in x₀-space, and how an error in one target grows or
shrinks when converted into another. With SNR(t) = ᾱ_t / (1 − ᾱ_t):

| target          | plain MSE equals              | x₀-space weight | min-SNR-γ loss weight    |
|-----------------|-------------------------------|-----------------|--------------------------|
| ``epsilon``     | SNR(t) · ‖x₀ − x̂₀‖²           | SNR(t)          | min(SNR, γ) / SNR        |
| ``sample`` (x₀) | ‖x₀ − x̂₀‖²                    | 1               | min(SNR, γ)              |
| ``v_prediction``| (1 + SNR(t)) · ‖x₀ − x̂₀‖²     | 1 + SNR(t)      | min(SNR, γ) / (1 + SNR)  |

Lesson 4 (``notebooks/04_eps_x0_v_compared.ipynb``) derives these identities and measures them.
"""

from __future__ import annotations

from typing import Callable

import torch

from .schedules import PREDICTION_TYPES, NoiseSchedule, Timesteps, check_prediction_type, check_same_shape


def _snr_float64(schedule: NoiseSchedule, timesteps: Timesteps) -> torch.Tensor:
    # Recompute from ᾱ in float64 so 1 + SNR and 1 / SNR do not lose digits near t = 0 and t = T−1.
    timesteps = schedule.check_timesteps(timesteps).to(schedule.device).reshape(-1)
    alpha_bar = schedule.alphas_cumprod.to(torch.float64)[timesteps]
    return alpha_bar / (1 - alpha_bar)


def x0_space_weight(schedule: NoiseSchedule, timesteps: Timesteps, prediction_type: str) -> torch.Tensor:
    """Return the weight w(t) with ‖target − prediction‖² = w(t) · ‖x₀ − x̂₀‖² for one target.

    When a prediction of ``prediction_type`` is converted to x̂₀ with the same x_t, its squared
    error is w(t) times the squared error of x̂₀: w = SNR(t) for ``epsilon``, 1 for ``sample``,
    1 + SNR(t) for ``v_prediction``. So a plain MSE on that target is an x₀-space MSE weighted
    by w(t) (Salimans & Ho 2022, "Progressive Distillation for Fast Sampling of Diffusion Models";
    Hang et al. 2023).

    Args:
        schedule: the noise schedule.
        timesteps: an int or a 1-D integer tensor, each in [0, T).
        prediction_type: ``epsilon``, ``sample`` or ``v_prediction``.
    Returns:
        float64 tensor of shape (K,), K = number of timesteps, values in (0, ∞), no unit.
    """
    check_prediction_type(prediction_type)
    snr = _snr_float64(schedule, timesteps)
    if prediction_type == "epsilon":
        return snr
    if prediction_type == "sample":
        return torch.ones_like(snr)
    return 1 + snr


def min_snr_x0_weight(schedule: NoiseSchedule, timesteps: Timesteps, gamma: float = 5.0) -> torch.Tensor:
    """Return the min-SNR-γ weight in x₀-space, min(SNR(t), γ) (Hang et al. 2023).

    Hang et al. (2023), "Efficient Diffusion Training via Min-SNR Weighting Strategy", weight the
    x₀-space loss by min(SNR, γ): like ε-prediction at high noise, capped at γ where the SNR is
    large so nearly clean timesteps do not dominate. They recommend γ = 5.

    Returns:
        float64 tensor of shape (K,), values in (0, γ].
    """
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not gamma > 0:
        raise ValueError(f"gamma must be a positive number, got {gamma!r}")
    return _snr_float64(schedule, timesteps).clamp(max=float(gamma))


def min_snr_loss_weight(
    schedule: NoiseSchedule, timesteps: Timesteps, prediction_type: str, gamma: float = 5.0
) -> torch.Tensor:
    """Return the factor on a target's plain MSE that makes it min-SNR-γ weighted in x₀-space.

    That factor is min(SNR, γ) / w(t), with w from ``x0_space_weight``: min(SNR, γ) / SNR for
    ``epsilon``, min(SNR, γ) for ``sample`` and min(SNR, γ) / (1 + SNR) for ``v_prediction``.

    Returns:
        float64 tensor of shape (K,), values in (0, γ].
    """
    return min_snr_x0_weight(schedule, timesteps, gamma) / x0_space_weight(schedule, timesteps, prediction_type)


def eps_to_x0_amplification(schedule: NoiseSchedule, timesteps: Timesteps) -> torch.Tensor:
    """Return 1/√SNR(t) = √(1 − ᾱ_t) / √ᾱ_t, the factor by which an ε̂ error becomes an x̂₀ error.

    x̂₀ = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t, so an error δ in ε̂ moves x̂₀ by −δ / √SNR(t): it is
    shrunk at low noise and blown up as SNR → 0 (large t).

    Returns:
        float64 tensor of shape (K,), values in (0, ∞), no unit.
    """
    return _snr_float64(schedule, timesteps).rsqrt()


def x0_to_eps_amplification(schedule: NoiseSchedule, timesteps: Timesteps) -> torch.Tensor:
    """Return √SNR(t), the factor by which an x̂₀ error becomes an ε̂ error.

    ε̂ = (x_t − √ᾱ_t x̂₀) / √(1 − ᾱ_t), so an error δ in x̂₀ moves ε̂ by −δ · √SNR(t): it is
    blown up at low noise (small t), where ε is hard to read off a nearly clean x_t.

    Returns:
        float64 tensor of shape (K,), values in (0, ∞), no unit.
    """
    return _snr_float64(schedule, timesteps).sqrt()


def _model_device(model) -> torch.device:
    if isinstance(model, torch.nn.Module):
        for parameter in model.parameters():
            return parameter.device
    return torch.device("cpu")


def error_per_timestep(
    model: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    schedule: NoiseSchedule,
    prediction_type: str,
    original_samples: torch.Tensor,
    noise: torch.Tensor,
    timesteps: torch.Tensor,
    space: str = "sample",
) -> torch.Tensor:
    """Measure a model's mean squared error at each timestep, converted to one common space.

    For each t: x_t = add_noise(x₀, ε, t), the model's output is converted (``NoiseSchedule.convert``)
    to ``space`` and compared with the true value there. Using the same x₀ and ε for every model
    makes models with different ``prediction_type`` directly comparable.

    Args:
        model: ``model(x_t, timesteps) -> output`` shaped like x_t.
        schedule: the schedule the model was trained with.
        prediction_type: what the model outputs: ``epsilon``, ``sample`` or ``v_prediction``.
        original_samples: a held-out batch x₀, shape (B, …), in [−1, 1].
        noise: fixed ε, the same shape as ``original_samples``, reused at every t.
        timesteps: 1-D integer tensor of shape (K,), each in [0, T).
        space: where to measure: ``sample`` (x₀, the default), ``epsilon`` or ``v_prediction``.
    Returns:
        float64 tensor of shape (K,): the MSE per dimension (``F.mse_loss`` units) at each t.
    """
    check_prediction_type(prediction_type)
    check_prediction_type(space, PREDICTION_TYPES)
    check_same_shape(original_samples, noise, "original_samples", "noise")
    timesteps = schedule.check_timesteps(timesteps)
    if timesteps.ndim != 1:
        raise ValueError(f"timesteps must be a 1-D tensor of shape (K,), got shape {tuple(timesteps.shape)}")

    device = _model_device(model)
    x0, eps = original_samples.to(device), noise.to(device)
    errors = []
    with torch.inference_mode():
        for t in timesteps.tolist():
            batch_t = torch.full((x0.shape[0],), t, dtype=torch.long, device=device)
            x_t = schedule.add_noise(x0, eps, batch_t)
            output = model(x_t, batch_t)
            predicted = schedule.convert(output, x_t, batch_t, prediction_type, space)
            target = schedule.training_target(x0, eps, batch_t, space)
            errors.append(torch.mean((predicted.double() - target.double()) ** 2))
    return torch.stack(errors).cpu()
