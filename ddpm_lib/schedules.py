"""Noise schedules, the closed-form forward process and the ε / x₀ / v / score conversions.

Notation follows Ho et al. (2020), "Denoising Diffusion Probabilistic Models", and the names
follow Hugging Face ``diffusers``:

| symbol        | code                  | meaning                                             |
|---------------|-----------------------|-----------------------------------------------------|
| T             | num_train_timesteps   | length of the forward chain, t = 0 … T−1            |
| β_t           | betas                 | variance of the noise added at step t               |
| α_t           | alphas                | 1 − β_t                                             |
| ᾱ_t           | alphas_cumprod        | α_0 · α_1 ⋯ α_t, the fraction of signal power kept  |
| SNR(t)        | snr                   | ᾱ_t / (1 − ᾱ_t), signal-to-noise ratio of x_t       |
| ε             | noise                 | standard normal noise                               |
| x_t           | sample / noisy sample | √ᾱ_t x₀ + √(1 − ᾱ_t) ε                              |
| v             | velocity              | √ᾱ_t ε − √(1 − ᾱ_t) x₀ (Salimans & Ho 2022)         |

Code index t = 0 is the first noising step (the paper's t = 1).
"""

from __future__ import annotations

import math
from typing import Union

import torch

BETA_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2", "cosine", "sigmoid")
PREDICTION_TYPES = ("epsilon", "sample", "v_prediction")
VARIANCE_TYPES = ("fixed_small", "fixed_large")
CONVERSION_TARGETS = PREDICTION_TYPES + ("score",)

Timesteps = Union[int, torch.Tensor]


def check_prediction_type(prediction_type: str, accepted: tuple[str, ...] = PREDICTION_TYPES) -> str:
    """Return ``prediction_type`` unchanged, or raise ValueError naming the accepted names."""
    if prediction_type not in accepted:
        raise ValueError(f"unknown prediction_type {prediction_type!r}; expected one of {accepted}")
    return prediction_type


def cosine_alphas_cumprod(t: torch.Tensor, offset: float = 0.008) -> torch.Tensor:
    """Return the cosine schedule's ᾱ(t) = cos²((t + s) / (1 + s) · π/2) for t in [0, 1].

    Nichol & Dhariwal (2021), "Improved Denoising Diffusion Probabilistic Models", eq. 17,
    with the offset s = 0.008. This is the curve before normalising by ᾱ(0).
    """
    return torch.cos((t + offset) / (1 + offset) * math.pi / 2) ** 2


def make_betas(
    num_train_timesteps: int,
    beta_schedule: str = "linear",
    beta_start: float = 1e-4,
    beta_end: float = 0.02,
    max_beta: float = 0.999,
) -> torch.Tensor:
    """Return the betas of a named schedule as a float64 tensor of shape (T,).

    ``linear``: evenly spaced from ``beta_start`` to ``beta_end`` (Ho et al. 2020).
    ``scaled_linear``: evenly spaced in √β, then squared (Stable Diffusion's schedule).
    ``squaredcos_cap_v2`` (alias ``cosine``): β_t = 1 − ᾱ(t+1)/ᾱ(t) from the cosine curve,
    capped at ``max_beta`` (Nichol & Dhariwal 2021); ``beta_start``/``beta_end`` are unused.
    ``sigmoid``: a sigmoid over [−6, 6] rescaled to [beta_start, beta_end] (as in ``diffusers``).
    """
    if isinstance(num_train_timesteps, bool) or not isinstance(num_train_timesteps, int):
        raise TypeError(f"num_train_timesteps must be an int, got {type(num_train_timesteps).__name__}")
    if num_train_timesteps < 1:
        raise ValueError(f"num_train_timesteps must be at least 1, got {num_train_timesteps}")
    if beta_schedule not in BETA_SCHEDULES:
        raise ValueError(f"unknown beta_schedule {beta_schedule!r}; expected one of {BETA_SCHEDULES}")
    if not (0 < beta_start <= beta_end < 1):
        raise ValueError(
            f"betas must satisfy 0 < beta_start <= beta_end < 1, got beta_start={beta_start}, beta_end={beta_end}"
        )

    num_steps = num_train_timesteps
    if beta_schedule == "linear":
        return torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64)
    if beta_schedule == "scaled_linear":
        return torch.linspace(beta_start**0.5, beta_end**0.5, num_steps, dtype=torch.float64) ** 2
    if beta_schedule == "sigmoid":
        return torch.sigmoid(torch.linspace(-6, 6, num_steps, dtype=torch.float64)) * (beta_end - beta_start) + beta_start

    # squaredcos_cap_v2 / cosine
    grid = torch.arange(num_steps + 1, dtype=torch.float64) / num_steps
    alpha_bar = cosine_alphas_cumprod(grid)
    betas = 1 - alpha_bar[1:] / alpha_bar[:-1]
    return betas.clamp(max=max_beta)


class NoiseSchedule:
    """A discrete DDPM noise schedule and everything computed from it.

    Buffers (``betas``, ``alphas``, ``alphas_cumprod``, …) are computed in float64 and stored in
    ``dtype`` (float32 or float64) on ``device``. Methods that mix buffers with a tensor gather
    the entries for ``timesteps`` and cast only those to the tensor's dtype, so a float16 or
    bfloat16 model never rounds the schedule itself.

    Args:
        num_train_timesteps: T, the number of forward steps (at least 1).
        beta_schedule: one of ``linear``, ``scaled_linear``, ``squaredcos_cap_v2`` (or ``cosine``)
            and ``sigmoid``.
        beta_start, beta_end: the first and last β for ``linear``, ``scaled_linear`` and ``sigmoid``.
        dtype: float32 (default, works on every device) or float64.
        device: where the buffers live.
    """

    def __init__(
        self,
        num_train_timesteps: int = 1000,
        beta_schedule: str = "linear",
        beta_start: float = 1e-4,
        beta_end: float = 0.02,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ) -> None:
        if dtype not in (torch.float32, torch.float64):
            raise ValueError(f"schedule dtype must be torch.float32 or torch.float64, got {dtype}")
        betas = make_betas(num_train_timesteps, beta_schedule, beta_start, beta_end)
        alphas = 1 - betas
        alphas_cumprod = torch.cumprod(alphas, dim=0)
        # ᾱ_{t-1}, with ᾱ_{-1} = 1: "no noise yet" before the first step.
        alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), alphas_cumprod[:-1]])

        self.num_train_timesteps = num_train_timesteps
        self.beta_schedule = beta_schedule
        self.beta_start = beta_start
        self.beta_end = beta_end
        self.dtype = dtype
        self.device = torch.device(device)

        def store(values: torch.Tensor) -> torch.Tensor:
            return values.to(device=self.device, dtype=dtype)

        self.betas = store(betas)
        self.alphas = store(alphas)
        self.alphas_cumprod = store(alphas_cumprod)
        self.alphas_cumprod_prev = store(alphas_cumprod_prev)
        self.snr = store(alphas_cumprod / (1 - alphas_cumprod))
        # β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t (Ho et al. 2020, eq. 7). β̃_0 = 0, so its log
        # is clipped to log β̃_1, as in the paper's released code, to stay finite.
        posterior_variance = (1 - alphas_cumprod_prev) / (1 - alphas_cumprod) * betas
        self.posterior_variance = store(posterior_variance)
        clip_value = posterior_variance[1] if num_train_timesteps > 1 else betas[0]
        self.posterior_log_variance_clipped = store(torch.log(torch.cat([clip_value.view(1), posterior_variance[1:]])))
        # ᾱ as Python floats (exact copies of the stored buffer) for the samplers' per-step
        # coefficients: scalar arithmetic in double precision costs far less than tensor ops.
        self._alphas_cumprod_values = self.alphas_cumprod.tolist()

    def __repr__(self) -> str:
        return (
            f"NoiseSchedule(num_train_timesteps={self.num_train_timesteps}, beta_schedule={self.beta_schedule!r}, "
            f"beta_start={self.beta_start}, beta_end={self.beta_end}, dtype={self.dtype})"
        )

    def to(self, device: torch.device | str) -> "NoiseSchedule":
        """Return a copy of this schedule with its buffers on ``device``."""
        return NoiseSchedule(
            self.num_train_timesteps, self.beta_schedule, self.beta_start, self.beta_end, self.dtype, device
        )

    # ------------------------------------------------------------------ timestep handling
    def check_timesteps(self, timesteps: Timesteps, allow_final: bool = False) -> torch.Tensor:
        """Return ``timesteps`` as a long tensor after checking they lie in [0, T).

        With ``allow_final`` the value −1 is accepted too: it stands for "after the last
        reverse step", where ᾱ = 1.
        """
        if isinstance(timesteps, bool):
            raise TypeError("timesteps must be an int or an integer tensor, got a bool")
        if isinstance(timesteps, int):
            timesteps = torch.tensor(timesteps)
        if not isinstance(timesteps, torch.Tensor):
            raise TypeError(
                f"timesteps must be an int or an integer tensor, got {timesteps!r} of type {type(timesteps).__name__}"
            )
        if timesteps.dtype.is_floating_point or timesteps.dtype.is_complex or timesteps.dtype == torch.bool:
            raise TypeError(f"timesteps must have an integer dtype, got {timesteps.dtype}; use .long()")
        low = -1 if allow_final else 0
        if timesteps.numel() > 0:
            t_min, t_max = int(timesteps.min()), int(timesteps.max())
            if t_min < low or t_max >= self.num_train_timesteps:
                bad = t_min if t_min < low else t_max
                raise ValueError(
                    f"timestep {bad} is outside [{low}, {self.num_train_timesteps}); "
                    f"this schedule has num_train_timesteps={self.num_train_timesteps}"
                )
        return timesteps.long()

    def alpha_bar_value(self, timestep: int) -> float:
        """Return ᾱ at one integer timestep as a Python float; timestep −1 gives 1.0."""
        if isinstance(timestep, bool) or not isinstance(timestep, int):
            raise TypeError(f"timestep must be an int, got {timestep!r} of type {type(timestep).__name__}")
        if not -1 <= timestep < self.num_train_timesteps:
            raise ValueError(
                f"timestep {timestep} is outside [-1, {self.num_train_timesteps}); "
                f"this schedule has num_train_timesteps={self.num_train_timesteps}"
            )
        return 1.0 if timestep < 0 else self._alphas_cumprod_values[timestep]

    def conversion_coefficients(self, timestep: int, from_type: str, to_type: str) -> tuple[float, float]:
        """Return (a, b) such that the ``to_type`` target equals a · x_t + b · model_output at ``timestep``.

        Every conversion between ε, x₀ and v is linear in x_t and the prediction (see ``convert``),
        so one timestep needs two numbers. They are computed in double precision, which keeps
        1 − ᾱ exact enough near t = 0 for float16 and bfloat16 samples.
        """
        check_prediction_type(from_type)
        check_prediction_type(to_type)
        alpha_bar = self.alpha_bar_value(int(timestep))
        signal, noise_scale = math.sqrt(alpha_bar), math.sqrt(1 - alpha_bar)
        # (x₀, ε) = (x0_from_x · x_t + x0_from_out · out, eps_from_x · x_t + eps_from_out · out)
        if from_type == "epsilon":
            x0_from_x, x0_from_out, eps_from_x, eps_from_out = 1 / signal, -noise_scale / signal, 0.0, 1.0
        elif from_type == "sample":
            x0_from_x, x0_from_out, eps_from_x, eps_from_out = 0.0, 1.0, 1 / noise_scale, -signal / noise_scale
        else:
            x0_from_x, x0_from_out, eps_from_x, eps_from_out = signal, -noise_scale, noise_scale, signal
        if to_type == "sample":
            return x0_from_x, x0_from_out
        if to_type == "epsilon":
            return eps_from_x, eps_from_out
        # v = √ᾱ ε − √(1−ᾱ) x₀
        return (
            signal * eps_from_x - noise_scale * x0_from_x,
            signal * eps_from_out - noise_scale * x0_from_out,
        )

    def gather(
        self, values: torch.Tensor, timesteps: Timesteps, like: torch.Tensor, dtype: torch.dtype | None = None
    ) -> torch.Tensor:
        """Gather ``values[timesteps]`` shaped to broadcast against ``like``, in ``dtype`` (default ``like``'s).

        ``timesteps`` is a scalar or has shape (B,) with B = like.shape[0]. The result has shape
        (B, 1, …, 1) or (1, …, 1); index −1 (where ``values`` has no entry) is not accepted here.
        """
        timesteps = self.check_timesteps(timesteps).to(values.device)
        if timesteps.ndim > 1 or (timesteps.ndim == 1 and timesteps.shape[0] not in (1, like.shape[0])):
            raise ValueError(
                f"timesteps must be a scalar or have shape ({like.shape[0]},) to match the batch, "
                f"got shape {tuple(timesteps.shape)}"
            )
        gathered = values[timesteps.reshape(-1)]
        gathered = gathered.reshape(-1, *([1] * (like.ndim - 1)))
        return gathered.to(device=like.device, dtype=dtype or like.dtype)

    def alphas_cumprod_at(
        self, timesteps: Timesteps, like: torch.Tensor, dtype: torch.dtype | None = None
    ) -> torch.Tensor:
        """ᾱ at ``timesteps`` shaped to broadcast against ``like``, in ``dtype`` (default ``like``'s).

        Timestep −1 gives ᾱ = 1.
        """
        timesteps = self.check_timesteps(timesteps, allow_final=True)
        padded = torch.cat([self.alphas_cumprod, torch.ones(1, dtype=self.dtype, device=self.device)])
        # Index −1 reads the appended 1.0: ᾱ after the last reverse step.
        index = torch.where(timesteps < 0, torch.full_like(timesteps, self.num_train_timesteps), timesteps)
        if index.ndim > 1 or (index.ndim == 1 and index.shape[0] not in (1, like.shape[0])):
            raise ValueError(
                f"timesteps must be a scalar or have shape ({like.shape[0]},), got shape {tuple(index.shape)}"
            )
        gathered = padded[index.reshape(-1).to(padded.device)]
        return gathered.reshape(-1, *([1] * (like.ndim - 1))).to(device=like.device, dtype=dtype or like.dtype)

    def coefficient_dtype(self, like: torch.Tensor) -> torch.dtype:
        """Return the dtype for coefficients applied to ``like``: the wider of it and the schedule's.

        ᾱ_0 = 0.9999 rounds to 1 in float16 and bfloat16, so 1 − ᾱ and its square root and inverse
        are formed in this dtype and only the finished coefficients are cast to ``like``'s dtype.
        """
        return torch.promote_types(self.dtype, like.dtype)

    def _signal_and_noise_scales(self, timesteps: Timesteps, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return √ᾱ_t and √(1 − ᾱ_t) shaped to broadcast against ``like``, in ``like``'s dtype."""
        alpha_bar = self.gather(self.alphas_cumprod, timesteps, like, dtype=self.coefficient_dtype(like))
        return alpha_bar.sqrt().to(like.dtype), (1 - alpha_bar).sqrt().to(like.dtype)

    # ------------------------------------------------------------------ forward process
    def add_noise(self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: Timesteps) -> torch.Tensor:
        """Sample q(x_t | x₀) in one jump: x_t = √ᾱ_t · x₀ + √(1 − ᾱ_t) · ε (Ho et al. 2020, eq. 4).

        Args:
            original_samples: x₀, shape (B, …).
            noise: ε, the same shape as x₀.
            timesteps: t, an int or a tensor of shape (B,), each in [0, T).
        Returns:
            x_t, the same shape and dtype as x₀.
        """
        check_same_shape(original_samples, noise, "original_samples", "noise")
        check_finite(original_samples, "original_samples")
        check_finite(noise, "noise")
        signal, noise_scale = self._signal_and_noise_scales(timesteps, original_samples)
        return signal * original_samples + noise_scale * noise

    def get_velocity(self, sample: torch.Tensor, noise: torch.Tensor, timesteps: Timesteps) -> torch.Tensor:
        """Return the v-prediction target v = √ᾱ_t · ε − √(1 − ᾱ_t) · x₀ (Salimans & Ho 2022).

        ``sample`` is the clean x₀, as in ``diffusers``' method of the same name.
        """
        check_same_shape(sample, noise, "sample", "noise")
        signal, noise_scale = self._signal_and_noise_scales(timesteps, sample)
        return signal * noise - noise_scale * sample

    def snr_at(self, timesteps: Timesteps) -> torch.Tensor:
        """Return SNR(t) = ᾱ_t / (1 − ᾱ_t) at ``timesteps`` as a 1-D tensor in the buffers' dtype."""
        timesteps = self.check_timesteps(timesteps).to(self.device)
        return self.snr[timesteps.reshape(-1)]

    # ------------------------------------------------------------------ reverse-process posterior
    def posterior_mean(
        self,
        pred_original_sample: torch.Tensor,
        sample: torch.Tensor,
        timesteps: Timesteps,
        prev_timesteps: Timesteps | None = None,
    ) -> torch.Tensor:
        """Return the mean of q(x_s | x_t, x₀) for s = ``prev_timesteps`` < t (default s = t − 1).

        μ̃ = √ᾱ_s β_{t|s} / (1 − ᾱ_t) · x₀ + √α_{t|s} (1 − ᾱ_s) / (1 − ᾱ_t) · x_t, with
        α_{t|s} = ᾱ_t / ᾱ_s and β_{t|s} = 1 − α_{t|s}. For s = t − 1 this is Ho et al. (2020),
        eq. 7; s = −1 means "the final sample", where ᾱ_s = 1 and the mean is x₀.
        """
        check_same_shape(pred_original_sample, sample, "pred_original_sample", "sample")
        alpha_bar_t, alpha_bar_s = self._step_alphas(timesteps, prev_timesteps, sample)
        alpha_t_given_s = alpha_bar_t / alpha_bar_s
        beta_t_given_s = 1 - alpha_t_given_s
        coef_x0 = (alpha_bar_s.sqrt() * beta_t_given_s / (1 - alpha_bar_t)).to(sample.dtype)
        coef_xt = (alpha_t_given_s.sqrt() * (1 - alpha_bar_s) / (1 - alpha_bar_t)).to(sample.dtype)
        return coef_x0 * pred_original_sample + coef_xt * sample

    def step_variance(
        self,
        timesteps: Timesteps,
        prev_timesteps: Timesteps | None = None,
        variance_type: str = "fixed_small",
        like: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Return the reverse-step variance from t to s = ``prev_timesteps`` (default t − 1).

        ``fixed_small``: β̃ = (1 − ᾱ_s) / (1 − ᾱ_t) · β_{t|s}, the true posterior variance, which
        is 0 on the last step. ``fixed_large``: β_{t|s} = 1 − ᾱ_t / ᾱ_s. Ho et al. (2020) found the
        two give similar samples (section 3.2).
        """
        if variance_type not in VARIANCE_TYPES:
            raise ValueError(f"unknown variance_type {variance_type!r}; expected one of {VARIANCE_TYPES}")
        if like is None:
            batch_size = timesteps.numel() if isinstance(timesteps, torch.Tensor) else 1
            like = torch.zeros(batch_size, dtype=self.dtype, device=self.device)
        alpha_bar_t, alpha_bar_s = self._step_alphas(timesteps, prev_timesteps, like)
        beta_t_given_s = 1 - alpha_bar_t / alpha_bar_s
        if variance_type == "fixed_large":
            return beta_t_given_s.to(like.dtype)
        return ((1 - alpha_bar_s) / (1 - alpha_bar_t) * beta_t_given_s).to(like.dtype)

    def _step_alphas(
        self, timesteps: Timesteps, prev_timesteps: Timesteps | None, like: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        timesteps = self.check_timesteps(timesteps)
        if prev_timesteps is None:
            prev_timesteps = timesteps - 1
        prev_timesteps = self.check_timesteps(prev_timesteps, allow_final=True)
        if bool((prev_timesteps >= timesteps).any()):
            raise ValueError(
                f"prev_timesteps must be smaller than timesteps, got t={timesteps.tolist()} and "
                f"prev={prev_timesteps.tolist()}"
            )
        # ᾱ in the wide dtype: callers cast the finished coefficients to ``like``'s dtype.
        dtype = self.coefficient_dtype(like)
        return self.alphas_cumprod_at(timesteps, like, dtype), self.alphas_cumprod_at(prev_timesteps, like, dtype)

    # ------------------------------------------------------------------ parameterisations
    def convert(
        self,
        model_output: torch.Tensor,
        sample: torch.Tensor,
        timesteps: Timesteps,
        from_type: str,
        to_type: str,
    ) -> torch.Tensor:
        """Convert a prediction between ε, x₀ and v, given x_t; ``to_type`` may also be ``score``.

        The three targets carry the same information once x_t and t are known:
        x₀ = (x_t − √(1−ᾱ) ε) / √ᾱ, ε = (x_t − √ᾱ x₀) / √(1−ᾱ), v = √ᾱ ε − √(1−ᾱ) x₀, and from
        v: x₀ = √ᾱ x_t − √(1−ᾱ) v, ε = √(1−ᾱ) x_t + √ᾱ v. The score of p_t is
        ∇ log p_t(x_t) = −E[ε | x_t] / √(1−ᾱ) (Tweedie's formula).

        Args:
            model_output: a prediction of type ``from_type``, shape (B, …).
            sample: x_t, the same shape.
            timesteps: t, an int or a tensor of shape (B,).
            from_type: ``epsilon``, ``sample`` or ``v_prediction``.
            to_type: ``epsilon``, ``sample``, ``v_prediction`` or ``score``.
        """
        check_prediction_type(from_type)
        check_prediction_type(to_type, CONVERSION_TARGETS)
        check_same_shape(model_output, sample, "model_output", "sample")
        signal, noise_scale = self._signal_and_noise_scales(timesteps, sample)

        # 1. Bring the prediction to (x̂₀, ε̂).
        if from_type == "epsilon":
            eps = model_output
            x0 = (sample - noise_scale * eps) / signal
        elif from_type == "sample":
            x0 = model_output
            eps = (sample - signal * x0) / noise_scale
        else:
            x0 = signal * sample - noise_scale * model_output
            eps = noise_scale * sample + signal * model_output

        # 2. Express it as the requested target.
        if to_type == "epsilon":
            return eps
        if to_type == "sample":
            return x0
        if to_type == "v_prediction":
            return signal * eps - noise_scale * x0
        return -eps / noise_scale

    def pred_original_sample(
        self, model_output: torch.Tensor, sample: torch.Tensor, timesteps: Timesteps, prediction_type: str
    ) -> torch.Tensor:
        """Return x̂₀ from a model output of ``prediction_type`` and x_t."""
        return self.convert(model_output, sample, timesteps, prediction_type, "sample")

    def pred_epsilon(
        self, model_output: torch.Tensor, sample: torch.Tensor, timesteps: Timesteps, prediction_type: str
    ) -> torch.Tensor:
        """Return ε̂ from a model output of ``prediction_type`` and x_t."""
        return self.convert(model_output, sample, timesteps, prediction_type, "epsilon")

    def training_target(
        self, original_samples: torch.Tensor, noise: torch.Tensor, timesteps: Timesteps, prediction_type: str
    ) -> torch.Tensor:
        """Return what a model of ``prediction_type`` is trained to output: ε, x₀ or v."""
        check_prediction_type(prediction_type)
        if prediction_type == "epsilon":
            return noise
        if prediction_type == "sample":
            return original_samples
        return self.get_velocity(original_samples, noise, timesteps)


def check_same_shape(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Raise TypeError unless both are tensors, ValueError unless their shapes match."""
    for value, name in ((a, name_a), (b, name_b)):
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    if a.shape != b.shape:
        raise ValueError(f"{name_a} has shape {tuple(a.shape)} but {name_b} has shape {tuple(b.shape)}; they must match")


def check_finite(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """Return ``tensor`` after checking that it is a floating-point tensor without NaN or infinity.

    For public entry points (``add_noise``, the samplers' ``x_T``, the metrics), not for
    per-step loops: the check reads every element and, on a GPU, waits for it.

    Raises:
        TypeError: ``tensor`` is not a tensor, or its dtype is not floating point.
        ValueError: some entries are NaN or infinite; the message gives the count and the first.
    """
    if not isinstance(tensor, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(tensor).__name__}")
    if not tensor.dtype.is_floating_point:
        raise TypeError(f"{name} must have a floating-point dtype such as torch.float32, got {tensor.dtype}; use .float()")
    finite = torch.isfinite(tensor)
    if not bool(finite.all()):
        first = tuple((~finite).nonzero()[0].tolist())
        raise ValueError(
            f"{name} contains {int((~finite).sum())} NaN or infinite values (the first, at index {first}, is "
            f"{tensor[first].item()}); expected finite numbers"
        )
    return tensor


def check_unit_range(tensor: torch.Tensor, name: str) -> torch.Tensor:
    """Return ``tensor`` after checking that it is finite and lies in [−1, 1], the range DDPM assumes for x₀."""
    check_finite(tensor, name)
    if tensor.numel() > 0:
        low, high = float(tensor.min()), float(tensor.max())
        if low < -1.0 or high > 1.0:
            raise ValueError(
                f"{name} has values in [{low:.3g}, {high:.3g}], outside [-1, 1]; scale the data to [-1, 1] "
                "first, as make_toy_dataset and load_digits do"
            )
    return tensor
