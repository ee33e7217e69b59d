"""One training loop for every ``prediction_type`` (ε, x₀ or v), with optional loss weighting.

Each step follows Ho et al. (2020), Algorithm 1: draw x₀ from the data, t uniformly from
[0, T) and ε ~ N(0, I), form x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε and take a gradient step on
‖target − model(x_t, t)‖², where the target is ε, x₀ or v. Lesson 3
(``notebooks/03_training_a_noise_predictor.ipynb``) builds this loop cell by cell first.

Checkpoints are saved and loaded weights-only by ``ddpm_lib.checkpoints``; ``load_pretrained``
here rebuilds a shipped model from its manifest entry.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from .checkpoints import load_checkpoint, manifest_entry, save_checkpoint
from .device import get_device
from .models import MLPDenoiser, UNet
from .schedules import BETA_SCHEDULES, PREDICTION_TYPES, NoiseSchedule, check_unit_range

__all__ = [
    "TrainingConfig",
    "TrainingResult",
    "build_model",
    "build_schedule",
    "target_loss_weight",
    "train",
    "load_pretrained",
    "save_checkpoint",
    "load_checkpoint",
]

LOSS_WEIGHTINGS = ("none", "snr", "min_snr")
MODEL_TYPES = ("mlp", "unet")
LR_SCHEDULES = ("constant", "cosine")


@dataclass
class TrainingConfig:
    """Everything that decides a training run; the same config and seed give the same weights."""

    # What the network outputs: "epsilon" (ε), "sample" (x₀) or "v_prediction" (v).
    prediction_type: str = "epsilon"
    # Number of optimiser steps.
    num_steps: int = 2000
    # Examples per step, drawn uniformly with replacement from the data.
    batch_size: int = 256
    # Peak learning rate of Adam.
    learning_rate: float = 1e-3
    # "constant", or "cosine": decay from the peak to 0 over the run after the warm-up.
    lr_schedule: str = "cosine"
    # Steps of linear warm-up from 0 to the peak learning rate.
    warmup_steps: int = 100
    # Seeds the model's initial weights and every random draw of the loop (batches, t, ε).
    seed: int = 0
    # Decay of an exponential moving average of the weights, e.g. 0.999; None = off. When on,
    # the trained model ends up holding the averaged weights.
    ema_decay: float | None = None
    # How the per-example loss is weighted over t: "none" (plain MSE on the target), "snr"
    # (the ε-equivalent weight: SNR(t) · ‖x₀ − x̂₀‖²) or "min_snr" (min(SNR(t), γ) · ‖x₀ − x̂₀‖²,
    # Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting Strategy").
    loss_weighting: str = "none"
    # γ of the min-SNR weighting; Hang et al. (2023) recommend 5.
    min_snr_gamma: float = 5.0
    # Gradients are rescaled to at most this global L2 norm; None = no clipping.
    grad_clip_norm: float | None = 1.0
    # The loss history is also kept per bucket of t: [0, T) cut into this many equal ranges.
    num_t_buckets: int = 10
    # Schedule settings, as in ``NoiseSchedule``.
    num_train_timesteps: int = 1000
    beta_schedule: str = "linear"
    beta_start: float = 1e-4
    beta_end: float = 0.02
    # Model settings: "mlp" (``MLPDenoiser``) or "unet" (``UNet``), and its keyword arguments.
    model_type: str = "mlp"
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        choices = {
            "prediction_type": PREDICTION_TYPES,
            "loss_weighting": LOSS_WEIGHTINGS,
            "lr_schedule": LR_SCHEDULES,
            "beta_schedule": BETA_SCHEDULES,
            "model_type": MODEL_TYPES,
        }
        for name, accepted in choices.items():
            if getattr(self, name) not in accepted:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; expected one of {accepted}")
        for name in ("num_steps", "batch_size", "num_t_buckets", "num_train_timesteps"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if self.ema_decay is not None and not 0.0 < self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be None (off) or in (0, 1), got {self.ema_decay!r}")
        if isinstance(self.warmup_steps, bool) or not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"warmup_steps must be an int ≥ 0, got {self.warmup_steps!r}")
        if self.grad_clip_norm is not None and not self.grad_clip_norm > 0:
            raise ValueError(f"grad_clip_norm must be None (off) or > 0, got {self.grad_clip_norm!r}")
        if not self.min_snr_gamma > 0:
            raise ValueError(f"min_snr_gamma must be positive, got {self.min_snr_gamma!r}")
        # JSON round trips turn tuples into lists; the U-Net wants a tuple.
        if "channel_mults" in self.model_kwargs:
            self.model_kwargs = {**self.model_kwargs, "channel_mults": tuple(self.model_kwargs["channel_mults"])}

    def to_dict(self) -> dict[str, Any]:
        """Return the config as plain JSON-ready values (tuples become lists)."""
        values = asdict(self)
        values["model_kwargs"] = {k: list(v) if isinstance(v, tuple) else v for k, v in self.model_kwargs.items()}
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainingConfig":
        """Build a config from ``to_dict``'s output; unknown keys raise ValueError."""
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown TrainingConfig fields {sorted(unknown)}; expected {sorted(cls.__dataclass_fields__)}")
        return cls(**values)


@dataclass
class TrainingResult:
    """What ``train`` returns besides the trained model (which it updates in place).

    ``losses`` (num_steps,) is the weighted batch loss of every step. ``t_bucket_edges``
    (num_t_buckets + 1,) cut [0, T) into buckets; ``t_bucket_losses`` (num_t_buckets,) is the
    mean unweighted per-example loss in each bucket over the last quarter of training, and
    ``t_bucket_history`` (num_chunks, num_t_buckets) the same over successive chunks of steps
    (NaN where a chunk drew no t in a bucket). Losses are in the units of ``F.mse_loss`` on the
    target (per dimension). ``seconds`` is the wall time of the loop.
    """

    config: TrainingConfig
    losses: torch.Tensor
    t_bucket_edges: torch.Tensor
    t_bucket_losses: torch.Tensor
    t_bucket_history: torch.Tensor
    seconds: float


# ---------------------------------------------------------------------- building blocks
def build_schedule(config: TrainingConfig, device: torch.device | str = "cpu") -> NoiseSchedule:
    """Return the ``NoiseSchedule`` that ``config`` describes, with buffers on ``device``."""
    return NoiseSchedule(
        config.num_train_timesteps, config.beta_schedule, config.beta_start, config.beta_end, device=device
    )


def build_model(config: TrainingConfig) -> nn.Module:
    """Return a freshly initialised model for ``config``, its weights seeded by ``config.seed``.

    The global random state is left untouched: initialisation runs inside ``torch.random.fork_rng``.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        if config.model_type == "mlp":
            return MLPDenoiser(**config.model_kwargs)
        return UNet(**config.model_kwargs)


def target_loss_weight(
    schedule: NoiseSchedule,
    timesteps: torch.Tensor,
    prediction_type: str,
    loss_weighting: str = "none",
    min_snr_gamma: float = 5.0,
) -> torch.Tensor:
    """Return the factor w(t) applied to the plain MSE on the target, shape (B,), float32.

    Expressed in x₀-space, the plain MSE on each target is already weighted:
    ‖ε − ε̂‖² = SNR · ‖x₀ − x̂₀‖², ‖x₀ − x̂₀‖² = 1 · ‖x₀ − x̂₀‖², ‖v − v̂‖² = (1 + SNR) · ‖x₀ − x̂₀‖²
    (Salimans & Ho 2022, "Progressive Distillation for Fast Sampling of Diffusion Models").
    To reach a wanted x₀-space weight λ(t), the target's MSE is multiplied by λ / (its own weight):
    ``none``: 1 (no change); ``snr``: λ = SNR, the ε-prediction loss, so an x₀ model gets
    SNR, an ε model 1 and a v model SNR / (1 + SNR); ``min_snr``: λ = min(SNR, γ) (Hang et al.
    2023), giving min(SNR, γ) / SNR for ε, min(SNR, γ) for x₀ and min(SNR, γ) / (1 + SNR) for v.
    """
    if loss_weighting not in LOSS_WEIGHTINGS:
        raise ValueError(f"unknown loss_weighting {loss_weighting!r}; expected one of {LOSS_WEIGHTINGS}")
    if loss_weighting == "none":
        return torch.ones(timesteps.shape[0])
    alpha_bar = schedule.alphas_cumprod.double()[timesteps.to(schedule.device)]
    snr = alpha_bar / (1 - alpha_bar)
    own_weight = {"epsilon": snr, "sample": torch.ones_like(snr), "v_prediction": 1 + snr}[prediction_type]
    wanted = snr if loss_weighting == "snr" else snr.clamp(max=min_snr_gamma)
    return (wanted / own_weight).float()


def _learning_rate(config: TrainingConfig, step: int) -> float:
    if step < config.warmup_steps:
        return config.learning_rate * (step + 1) / config.warmup_steps
    if config.lr_schedule == "constant":
        return config.learning_rate
    progress = (step - config.warmup_steps) / max(1, config.num_steps - config.warmup_steps)
    return config.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))


class _TimestepBuckets:
    """Running sums of the per-example loss in equal-width buckets of t."""

    def __init__(self, num_buckets: int, num_train_timesteps: int):
        self.edges = torch.linspace(0, num_train_timesteps, num_buckets + 1)
        self.width = num_train_timesteps / num_buckets
        self.num_buckets = num_buckets
        self.reset()

    def reset(self) -> None:
        self.sums = torch.zeros(self.num_buckets, dtype=torch.float64)
        self.counts = torch.zeros(self.num_buckets, dtype=torch.float64)

    def add(self, timesteps: torch.Tensor, per_example_loss: torch.Tensor) -> None:
        index = (timesteps.cpu().double() / self.width).long().clamp(max=self.num_buckets - 1)
        self.sums.index_add_(0, index, per_example_loss.detach().cpu().double())
        self.counts.index_add_(0, index, torch.ones_like(index, dtype=torch.float64))

    def means(self) -> torch.Tensor:
        return torch.where(self.counts > 0, self.sums / self.counts.clamp(min=1), torch.nan)


def _check_data(data: torch.Tensor, config: TrainingConfig) -> None:
    if not isinstance(data, torch.Tensor) or not data.dtype.is_floating_point:
        raise TypeError(f"data must be a floating-point torch.Tensor of shape (N, ...), got {type(data).__name__}")
    if data.ndim < 2 or data.shape[0] < 1:
        raise ValueError(f"data must have shape (N, ...) with N ≥ 1, got {tuple(data.shape)}")
    expected_ndim = 2 if config.model_type == "mlp" else 4
    if data.ndim != expected_ndim:
        raise ValueError(
            f"model_type {config.model_type!r} expects data with {expected_ndim} dimensions, got shape {tuple(data.shape)}"
        )
    check_unit_range(data, "data")


# ---------------------------------------------------------------------- the loop
def training_loss(
    model: nn.Module,
    schedule: NoiseSchedule,
    x0: torch.Tensor,
    config: TrainingConfig,
    generator: torch.Generator,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Compute one batch's loss (Ho et al. 2020, Algorithm 1, lines 2–5, for any target).

    Returns ``(loss, timesteps, per_example_loss)``: the weighted scalar loss to minimise, the
    drawn t of shape (B,) and the unweighted per-example MSE on the target, shape (B,).
    """
    batch = x0.shape[0]
    # 1. t ~ Uniform{0, …, T−1} and ε ~ N(0, I), drawn on the generator's device (the CPU).
    timesteps = torch.randint(0, schedule.num_train_timesteps, (batch,), generator=generator).to(x0.device)
    noise = torch.randn(x0.shape, generator=generator).to(x0.device)

    # 2. x_t = √ᾱ_t x₀ + √(1 − ᾱ_t) ε (eq. 4) and the target for this prediction_type.
    x_t = schedule.add_noise(x0, noise, timesteps)
    target = schedule.training_target(x0, noise, timesteps, config.prediction_type)

    # 3. Per-example MSE on the target, then the weight over t (see ``target_loss_weight``).
    prediction = model(x_t, timesteps)
    per_example = F.mse_loss(prediction, target, reduction="none").flatten(1).mean(dim=1)
    weights = target_loss_weight(
        schedule, timesteps, config.prediction_type, config.loss_weighting, config.min_snr_gamma
    ).to(x0.device)
    return (weights * per_example).mean(), timesteps, per_example


@torch.no_grad()
def _update_ema(ema_model: nn.Module, model: nn.Module, decay: float) -> None:
    for ema_param, param in zip(ema_model.parameters(), model.parameters()):
        ema_param.lerp_(param, 1 - decay)


def train(
    model: nn.Module,
    schedule: NoiseSchedule,
    data: torch.Tensor,
    config: TrainingConfig,
    progress: bool = True,
    device: torch.device | str | None = None,
) -> TrainingResult:
    """Train ``model`` in place to predict ``config.prediction_type`` from (x_t, t).

    Args:
        model: ``model(x_t, timesteps) -> tensor shaped like x_t``, e.g. from ``build_model``.
        schedule: the noise schedule (its T must match ``config.num_train_timesteps``).
        data: the training set x₀, shape (N, 2) for the MLP or (N, C, H, W) for the U-Net, in [−1, 1].
        config: a ``TrainingConfig``; its seed fixes batches, t and ε, so the same model init,
            data and config give the same weights bit for bit on the same CPU, torch build and
            thread count.
        progress: show a tqdm bar with the running loss.
        device: where to train (default: ``get_device()``); the model is moved there.
    Returns:
        ``TrainingResult`` with the loss per step and per t-bucket. With ``ema_decay`` set, the
        model holds the averaged weights when this returns.
    """
    _check_data(data, config)
    if schedule.num_train_timesteps != config.num_train_timesteps:
        raise ValueError(
            f"schedule has num_train_timesteps={schedule.num_train_timesteps} but the config says "
            f"{config.num_train_timesteps}; build the schedule with build_schedule(config)"
        )
    device = get_device() if device is None else torch.device(device)
    model.to(device).train()
    schedule = schedule.to(device)
    data = data.to(device)
    generator = torch.Generator().manual_seed(config.seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    ema_model = copy.deepcopy(model).eval().requires_grad_(False) if config.ema_decay is not None else None

    losses = torch.zeros(config.num_steps)
    recent = _TimestepBuckets(config.num_t_buckets, config.num_train_timesteps)
    chunk = _TimestepBuckets(config.num_t_buckets, config.num_train_timesteps)
    chunk_size = max(1, config.num_steps // 20)
    history = []
    start = time.perf_counter()
    bar = tqdm(range(config.num_steps), desc=f"train {config.prediction_type}", disable=not progress, leave=False)
    for step in bar:
        index = torch.randint(0, data.shape[0], (config.batch_size,), generator=generator).to(device)
        loss, timesteps, per_example = training_loss(model, schedule, data[index], config, generator)

        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(config, step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip_norm)
        optimizer.step()
        if ema_model is not None:
            _update_ema(ema_model, model, config.ema_decay)

        losses[step] = loss.detach().cpu()
        if not torch.isfinite(losses[step]):
            raise ValueError(
                f"the training loss became {float(losses[step])} at step {step}; lower learning_rate "
                f"(now {config.learning_rate}) or keep grad_clip_norm set"
            )
        chunk.add(timesteps, per_example)
        if step >= config.num_steps - max(1, config.num_steps // 4):
            recent.add(timesteps, per_example)
        if (step + 1) % chunk_size == 0 or step + 1 == config.num_steps:
            history.append(chunk.means())
            chunk.reset()
            bar.set_postfix(loss=f"{losses[max(0, step - chunk_size + 1) : step + 1].mean():.4f}")

    if ema_model is not None:
        model.load_state_dict(ema_model.state_dict())
    model.eval()
    return TrainingResult(
        config, losses, recent.edges, recent.means().float(), torch.stack(history).float(), time.perf_counter() - start
    )


# ---------------------------------------------------------------------- shipped models
def load_pretrained(
    name: str, device: torch.device | str | None = None, checkpoint_dir=None
) -> tuple[nn.Module, NoiseSchedule, dict[str, Any]]:
    """Load a shipped checkpoint such as ``digits-eps`` (weights-only, sha256-checked).

    Args:
        name: a name listed in ``data/checkpoints/manifest.json`` (``python -m ddpm_lib.train
            --list`` prints them).
        device: where to put the model (default: ``get_device()``).
        checkpoint_dir: the folder holding the manifest (default: the project's ``data/checkpoints``).
    Returns:
        ``(model, schedule, entry)``: the model in eval mode, its noise schedule on the same device,
        and the manifest entry (``entry["config"]["prediction_type"]`` names what the model predicts).
        The model also carries it as ``model.prediction_type``, which the samplers use by default.
    """
    entry = manifest_entry(name, checkpoint_dir)
    if entry.get("kind") == "classifier":
        raise ValueError(
            f"{name!r} is the digits classifier, not a denoiser; load it with ddpm_lib.metrics.load_digits_classifier()"
        )
    config = TrainingConfig.from_dict(entry["config"])
    device = get_device() if device is None else torch.device(device)
    model = build_model(config)
    load_checkpoint(entry["path"], model, expected_sha256=entry["sha256"], preset=name)
    model.prediction_type = config.prediction_type
    return model.to(device).eval(), build_schedule(config, device), entry
