"""DDPM ancestral and DDIM samplers over a grid of timesteps.

Each sampler is a loop around a public single step (``ddpm_step``, ``ddim_step``) so a lesson can
show one step on its own and a test can check it alone. Models follow the contract
``model(x_t, timesteps) -> tensor shaped like x_t``, where ``timesteps`` is a long tensor of
shape (B,).
"""

from __future__ import annotations

import logging
import math
import numbers
from dataclasses import dataclass
from typing import Callable, Iterable, Literal, Sequence, Union

import numpy as np
import torch
from tqdm.auto import tqdm

from .schedules import VARIANCE_TYPES, NoiseSchedule, check_finite, check_prediction_type, check_same_shape

Model = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
TIMESTEP_SPACINGS = ("leading", "trailing", "linspace")
RecordSteps = Union[None, Literal["all"], int, Sequence[int]]
logger = logging.getLogger(__name__)


@dataclass
class StepOutput:
    """One reverse step: the next sample x_s and the x̂₀ the step used (after any clipping)."""

    prev_sample: torch.Tensor
    pred_original_sample: torch.Tensor


@dataclass
class SamplerOutput:
    """A sampler's result.

    ``sample`` is the final x₀ estimate, shape (B, …). When a trajectory was requested,
    ``timesteps`` (K,) lists the step each frame was taken at (−1 marks the final sample),
    ``x_t`` (K, B, …) contains the sample entering that step and ``pred_original_sample`` (K, B, …)
    the x̂₀ predicted there. The first frame is x_T and the last is the final sample. Frames are
    stored on the CPU; otherwise the three trajectory fields are None.
    """

    sample: torch.Tensor
    timesteps: torch.Tensor | None = None
    x_t: torch.Tensor | None = None
    pred_original_sample: torch.Tensor | None = None


def timestep_grid(num_train_timesteps: int, num_inference_steps: int, spacing: str = "trailing") -> torch.Tensor:
    """Return the decreasing timesteps a sampler visits, shape (num_inference_steps,).

    ``leading``: 0, k, 2k, … with k = T // n, reversed (``diffusers``' default; for 10 of 1000
    steps it starts at t = 900, where x_t still contains signal). ``trailing``: T−1, T−1−T/n, …,
    rounded (starts at the last step, recommended by Lin et al. 2024, "Common Diffusion Noise
    Schedules and Sample Steps are Flawed", table 2). ``linspace``: n points from T−1 to 0, rounded.
    Every grid lies in [0, T), is strictly decreasing and has exactly n entries.
    """
    if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int):
        raise TypeError(f"num_inference_steps must be an int, got {type(num_inference_steps).__name__}")
    if not 1 <= num_inference_steps <= num_train_timesteps:
        raise ValueError(
            f"num_inference_steps must be between 1 and num_train_timesteps={num_train_timesteps}, "
            f"got {num_inference_steps}"
        )
    if spacing not in TIMESTEP_SPACINGS:
        raise ValueError(f"unknown timestep spacing {spacing!r}; expected one of {TIMESTEP_SPACINGS}")

    steps = num_inference_steps
    if spacing == "leading":
        ratio = num_train_timesteps // steps
        grid = torch.arange(steps) * ratio
    elif spacing == "trailing":
        # NumPy's arange and linspace, as in diffusers: exact .5 ties are common (T = 1000, n = 27) and
        # round differently after torch's float arithmetic, which would shift grid entries by one.
        ratio = num_train_timesteps / steps
        grid = np.round(np.arange(num_train_timesteps, 0, -ratio)).astype(np.int64) - 1
        # NOTE: float error can give arange n + 1 entries, the last −1 (T = 17, n = 7); diffusers
        # 0.42.1 keeps it, this grid drops it.
        return torch.from_numpy(grid[:steps].copy())
    else:
        if steps == 1:
            grid = torch.tensor([num_train_timesteps - 1])
        else:
            grid = torch.from_numpy(np.linspace(0, num_train_timesteps - 1, steps).round().astype(np.int64))
    return grid.flip(0).long()


def _previous_timestep(grid: list[int], index: int) -> int:
    return int(grid[index + 1]) if index + 1 < len(grid) else -1


def _clip(x0: torch.Tensor, clip_sample: bool, clip_sample_range: float) -> torch.Tensor:
    return x0.clamp(-clip_sample_range, clip_sample_range) if clip_sample else x0


def _check_clip_range(clip_sample_range: float) -> None:
    valid = isinstance(clip_sample_range, (int, float)) and not isinstance(clip_sample_range, bool)
    if not valid or not math.isfinite(clip_sample_range) or clip_sample_range <= 0:
        raise ValueError(f"clip_sample_range must be a finite number > 0, got {clip_sample_range!r}")


def _resolve_prediction_type(model: "Model", prediction_type: str | None) -> str:
    """Return the prediction type to sample with: the argument, else the model's own, else ε.

    ``load_pretrained`` sets ``model.prediction_type`` from the manifest, so a shipped x₀ or v
    model is never sampled as if it predicted ε; an argument that contradicts it raises.
    """
    model_type = getattr(model, "prediction_type", None)
    if prediction_type is None:
        return check_prediction_type(model_type) if model_type is not None else "epsilon"
    check_prediction_type(prediction_type)
    if model_type is not None and prediction_type != model_type:
        raise ValueError(
            f"prediction_type={prediction_type!r} contradicts the model, which was trained to predict "
            f"{model_type!r}; pass prediction_type={model_type!r} or leave it out"
        )
    return prediction_type


def _check_model_output(model_output: object, sample: torch.Tensor, timestep: int) -> None:
    """Check the first model output: a finite float tensor shaped like x_t."""
    if not isinstance(model_output, torch.Tensor) or not model_output.dtype.is_floating_point:
        raise TypeError(
            f"the model must return a float tensor shaped like x_t, got {type(model_output).__name__} "
            f"{getattr(model_output, 'dtype', '')} at timestep {timestep}"
        )
    if not bool(torch.isfinite(model_output).all()):
        raise ValueError(
            f"the model returned NaN or infinite values at timestep {timestep}; check its weights and inputs"
        )


def _step_noise(like: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    # Draw on the generator's device so one seed gives the same noise whatever device the model uses.
    device = generator.device if generator is not None else like.device
    noise = torch.randn(like.shape, generator=generator, device=device, dtype=like.dtype)
    return noise.to(like.device)


def _combine(coefficients: tuple[float, float], sample: torch.Tensor, model_output: torch.Tensor) -> torch.Tensor:
    """Return a · x_t + b · model_output for coefficients (a, b), skipping a zero term."""
    coef_sample, coef_output = coefficients
    if coef_sample == 0.0:
        return coef_output * model_output if coef_output != 1.0 else model_output
    return coef_sample * sample + coef_output * model_output


def _check_step_input(
    schedule: NoiseSchedule, model_output: torch.Tensor, sample: torch.Tensor, timestep: int, prev_timestep: int | None
) -> tuple[int, int]:
    """Validate one step's arguments and return (t, s) as ints, s defaulting to t − 1."""
    check_same_shape(model_output, sample, "model_output", "sample")
    if isinstance(timestep, torch.Tensor):
        timestep = int(timestep.item()) if timestep.numel() == 1 else timestep
    if isinstance(timestep, bool) or not isinstance(timestep, int):
        raise TypeError(f"timestep must be one int for the whole batch, got {timestep!r}")
    if not 0 <= timestep < schedule.num_train_timesteps:
        raise ValueError(
            f"timestep {timestep} is outside [0, {schedule.num_train_timesteps}); "
            f"this schedule has num_train_timesteps={schedule.num_train_timesteps}"
        )
    prev_timestep = timestep - 1 if prev_timestep is None else int(prev_timestep)
    if prev_timestep < -1 or prev_timestep >= timestep:
        raise ValueError(
            f"a reverse step needs 0 <= t and -1 <= prev_timestep < t, got t={timestep}, prev_timestep={prev_timestep}"
        )
    return timestep, prev_timestep


def ddpm_step(
    schedule: NoiseSchedule,
    model_output: torch.Tensor,
    timestep: int,
    sample: torch.Tensor,
    prev_timestep: int | None = None,
    prediction_type: str = "epsilon",
    variance_type: str = "fixed_small",
    clip_sample: bool = False,
    clip_sample_range: float = 1.0,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> StepOutput:
    """Take one DDPM ancestral step from x_t to x_s (s = ``prev_timestep``, default t − 1).

    Args:
        schedule: the noise schedule the model was trained with.
        model_output: the model's prediction of type ``prediction_type``, shape like ``sample``.
        timestep: t, an int in [0, T), the same for the whole batch.
        sample: x_t, shape (B, …).
        prev_timestep: s, with −1 ≤ s < t; −1 means this is the last step.
        variance_type: ``fixed_small`` (β̃) or ``fixed_large`` (β).
        clip_sample: clamp x̂₀ to [−clip_sample_range, clip_sample_range] before using it.
        generator: seeds the added noise.
        noise: the standard normal z to add; drawn from ``generator`` when None.
    Returns:
        ``StepOutput`` with x_s and the x̂₀ used.
    """
    check_prediction_type(prediction_type)
    if variance_type not in VARIANCE_TYPES:
        raise ValueError(f"unknown variance_type {variance_type!r}; expected one of {VARIANCE_TYPES}")
    t, s = _check_step_input(schedule, model_output, sample, timestep, prev_timestep)
    alpha_bar_t, alpha_bar_s = schedule.alpha_bar_value(t), schedule.alpha_bar_value(s)

    # 1. x̂₀ from the model output (Ho et al. 2020, eq. 15 for ε), optionally clipped.
    pred_original_sample = _combine(schedule.conversion_coefficients(t, prediction_type, "sample"), sample, model_output)
    pred_original_sample = _clip(pred_original_sample, clip_sample, clip_sample_range)

    # 2. The posterior mean of q(x_s | x_t, x₀) (eq. 7, generalised to a stride t → s):
    #    μ̃ = √ᾱ_s β_{t|s} / (1 − ᾱ_t) · x̂₀ + √α_{t|s} (1 − ᾱ_s) / (1 − ᾱ_t) · x_t, α_{t|s} = ᾱ_t / ᾱ_s.
    alpha_t_given_s = alpha_bar_t / alpha_bar_s
    beta_t_given_s = 1 - alpha_t_given_s
    coef_x0 = math.sqrt(alpha_bar_s) * beta_t_given_s / (1 - alpha_bar_t)
    coef_xt = math.sqrt(alpha_t_given_s) * (1 - alpha_bar_s) / (1 - alpha_bar_t)
    mean = coef_x0 * pred_original_sample + coef_xt * sample

    # 3. Add σ z, except on the last step, where the posterior variance is 0 (Algorithm 2, line 3).
    if s < 0:
        return StepOutput(mean, pred_original_sample)
    if variance_type == "fixed_large":
        variance = beta_t_given_s
    else:
        variance = (1 - alpha_bar_s) / (1 - alpha_bar_t) * beta_t_given_s
    if noise is None:
        noise = _step_noise(sample, generator)
    else:
        check_same_shape(noise, sample, "noise", "sample")
    return StepOutput(mean + math.sqrt(variance) * noise, pred_original_sample)


def _check_eta(eta: float) -> float:
    if isinstance(eta, bool) or not isinstance(eta, (int, float)) or not 0.0 <= float(eta) <= 1.0:
        raise ValueError(f"eta must be a number in [0, 1], got {eta!r}")
    return float(eta)


def ddim_step(
    schedule: NoiseSchedule,
    model_output: torch.Tensor,
    timestep: int,
    sample: torch.Tensor,
    prev_timestep: int | None = None,
    eta: float = 0.0,
    prediction_type: str = "epsilon",
    clip_sample: bool = False,
    clip_sample_range: float = 1.0,
    generator: torch.Generator | None = None,
    noise: torch.Tensor | None = None,
) -> StepOutput:
    """Take one DDIM step from x_t to x_s (Song et al. 2021, "Denoising Diffusion Implicit Models", eq. 12).

    x_s = √ᾱ_s x̂₀ + √(1 − ᾱ_s − σ²) ε̂ + σ z, with σ = η √((1 − ᾱ_s)/(1 − ᾱ_t)) √(1 − ᾱ_t/ᾱ_s).
    η = 0 is deterministic; η = 1 has the DDPM posterior variance β̃. ε̂ comes from the unclipped
    model output, as in ``diffusers``' default. Arguments are as for ``ddpm_step``.
    """
    check_prediction_type(prediction_type)
    eta = _check_eta(eta)
    t, s = _check_step_input(schedule, model_output, sample, timestep, prev_timestep)
    alpha_bar_t, alpha_bar_s = schedule.alpha_bar_value(t), schedule.alpha_bar_value(s)

    # 1. x̂₀ and ε̂ from the model output; ε̂ before any clipping of x̂₀.
    pred_original_sample = _combine(schedule.conversion_coefficients(t, prediction_type, "sample"), sample, model_output)
    pred_epsilon = _combine(schedule.conversion_coefficients(t, prediction_type, "epsilon"), sample, model_output)
    pred_original_sample = _clip(pred_original_sample, clip_sample, clip_sample_range)

    # 2. σ_t(η) = η √β̃, eq. 16, in double precision.
    std_dev = eta * math.sqrt((1 - alpha_bar_s) / (1 - alpha_bar_t) * (1 - alpha_bar_t / alpha_bar_s))
    direction_scale = math.sqrt(max(1 - alpha_bar_s - std_dev**2, 0.0))

    # 3. Point back along the predicted noise direction, then add fresh noise if η > 0.
    prev_sample = math.sqrt(alpha_bar_s) * pred_original_sample + direction_scale * pred_epsilon
    if std_dev > 0 and s >= 0:
        if noise is None:
            noise = _step_noise(sample, generator)
        else:
            check_same_shape(noise, sample, "noise", "sample")
        prev_sample = prev_sample + std_dev * noise
    return StepOutput(prev_sample, pred_original_sample)


def _record_indices(record: RecordSteps, num_steps: int) -> set[int]:
    """Turn ``record`` into the set of grid positions whose input x_t is kept."""
    if record is None:
        return set()
    if isinstance(record, str):
        if record != "all":
            raise ValueError(f'record must be None, "all", a frame count or a list of grid positions, got {record!r}')
        return set(range(num_steps))
    if isinstance(record, bool) or not isinstance(record, (int, list, tuple, range, torch.Tensor)):
        raise TypeError(
            f'record must be None, "all", an int frame count ≥ 2 or a list of grid positions, got {record!r}'
        )
    if isinstance(record, int):
        if record < 2:
            raise ValueError(f"record as an int is a frame count and must be at least 2, got {record}")
        count = min(record - 1, num_steps)
        positions = torch.linspace(0, num_steps - 1, count).round().long().tolist()
        return set(positions)
    positions = set()
    for index in record:
        if not 0 <= int(index) < num_steps:
            raise ValueError(f"record position {index} is outside [0, {num_steps}) for a grid of {num_steps} steps")
        positions.add(int(index))
    return positions


def _model_device(model: Model) -> torch.device:
    if isinstance(model, torch.nn.Module):
        for parameter in model.parameters():
            return parameter.device
    return torch.device("cpu")


def _is_shape(shape: object) -> bool:
    """Return True for a non-empty tuple, list or torch.Size of positive ints (numpy ints included)."""
    if not isinstance(shape, (tuple, list)) or len(shape) == 0:
        return False
    return all(not isinstance(size, bool) and isinstance(size, numbers.Integral) and size >= 1 for size in shape)


def _check_sampler_input(model: Model, schedule: NoiseSchedule, shape: Sequence[int], x_T: torch.Tensor | None) -> None:
    """Reject a bad model, schedule, shape or x_T before any sampling starts."""
    if not callable(model):
        raise TypeError(f"model must be callable as model(x_t, timesteps), got {type(model).__name__}")
    if not isinstance(schedule, NoiseSchedule):
        raise TypeError(f"schedule must be a NoiseSchedule, got {type(schedule).__name__}")
    if not _is_shape(shape):
        raise ValueError(f"shape must be a non-empty sequence of positive ints such as (64, 2), got {shape!r}")
    if x_T is not None:
        check_finite(x_T, "x_T")


def _run_sampler(
    step_fn: Callable[..., StepOutput],
    model: Model,
    schedule: NoiseSchedule,
    shape: Sequence[int],
    num_inference_steps: int,
    timestep_spacing: str,
    generator: torch.Generator | None,
    x_T: torch.Tensor | None,
    record: RecordSteps,
    progress: bool,
    device: torch.device | str | None,
    step_kwargs: dict,
) -> SamplerOutput:
    _check_sampler_input(model, schedule, shape, x_T)
    device = torch.device(device) if device is not None else _model_device(model)
    grid = timestep_grid(schedule.num_train_timesteps, num_inference_steps, timestep_spacing).tolist()
    if x_T is None:
        noise_device = generator.device if generator is not None else device
        sample = torch.randn(tuple(shape), generator=generator, device=noise_device).to(device)
    else:
        if tuple(x_T.shape) != tuple(shape):
            raise ValueError(f"x_T has shape {tuple(x_T.shape)} but shape={tuple(shape)} was requested")
        sample = x_T.to(device)
    keep = _record_indices(record, len(grid))
    frames_t, frames_x, frames_x0 = [], [], []

    with torch.inference_mode():
        for index in tqdm(range(len(grid)), desc=step_fn.__name__, disable=not progress, leave=False):
            t = grid[index]
            batch_t = torch.full((sample.shape[0],), t, dtype=torch.long, device=device)
            model_output = model(sample, batch_t)
            if index == 0:
                _check_model_output(model_output, sample, t)
            step = step_fn(
                schedule, model_output, t, sample, _previous_timestep(grid, index), generator=generator, **step_kwargs
            )
            if index in keep:
                frames_t.append(t)
                frames_x.append(sample.detach().cpu())
                frames_x0.append(step.pred_original_sample.detach().cpu())
            sample = step.prev_sample

    if not keep:
        return SamplerOutput(sample)
    final = sample.detach().cpu()
    return SamplerOutput(
        sample,
        torch.tensor(frames_t + [-1]),
        torch.stack(frames_x + [final]),
        torch.stack(frames_x0 + [final]),
    )


def ddpm_sample(
    model: Model,
    schedule: NoiseSchedule,
    shape: Sequence[int],
    num_inference_steps: int | None = None,
    prediction_type: str | None = None,
    variance_type: str = "fixed_small",
    clip_sample: bool = False,
    clip_sample_range: float = 1.0,
    generator: torch.Generator | None = None,
    x_T: torch.Tensor | None = None,
    record: RecordSteps = None,
    timestep_spacing: str = "trailing",
    progress: bool = False,
    device: torch.device | str | None = None,
) -> SamplerOutput:
    """Draw samples with DDPM ancestral sampling (Ho et al. 2020, Algorithm 2).

    Args:
        model: ``model(x_t, timesteps) -> prediction`` shaped like x_t.
        schedule: the schedule the model was trained with.
        shape: the output shape (B, …).
        num_inference_steps: grid size, 1 to T (default T, every step).
        prediction_type: what the model predicts: ``epsilon``, ``sample`` or ``v_prediction``
            (default: the model's ``prediction_type`` attribute, set by ``load_pretrained``, else ``epsilon``).
        variance_type: ``fixed_small`` (β̃) or ``fixed_large`` (β).
        clip_sample: clamp x̂₀ to [−clip_sample_range, clip_sample_range] at every step.
        generator: seeds x_T and every step's noise; the same seed gives the same samples.
        x_T: a starting point instead of drawing one, shape ``shape``.
        record: which frames to keep for animation: None, ``"all"``, a frame count, or grid positions.
        timestep_spacing: ``trailing``, ``leading`` or ``linspace`` (see ``timestep_grid``).
        progress: show a tqdm bar.
        device: where to sample (default: the model's device).
    Returns:
        ``SamplerOutput`` with the samples and, when ``record`` is set, the trajectory.
    """
    prediction_type = _resolve_prediction_type(model, prediction_type)
    _check_clip_range(clip_sample_range)
    steps = schedule.num_train_timesteps if num_inference_steps is None else num_inference_steps
    step_kwargs = dict(
        prediction_type=prediction_type,
        variance_type=variance_type,
        clip_sample=clip_sample,
        clip_sample_range=clip_sample_range,
    )
    return _run_sampler(
        ddpm_step, model, schedule, shape, steps, timestep_spacing, generator, x_T, record, progress, device, step_kwargs
    )


def ddim_sample(
    model: Model,
    schedule: NoiseSchedule,
    shape: Sequence[int],
    num_inference_steps: int = 50,
    eta: float = 0.0,
    prediction_type: str | None = None,
    clip_sample: bool = False,
    clip_sample_range: float = 1.0,
    generator: torch.Generator | None = None,
    x_T: torch.Tensor | None = None,
    record: RecordSteps = None,
    timestep_spacing: str = "trailing",
    progress: bool = False,
    device: torch.device | str | None = None,
) -> SamplerOutput:
    """Draw samples with DDIM (Song et al. 2021); η = 0 is deterministic given x_T.

    Arguments are as for ``ddpm_sample``, plus ``eta`` in [0, 1].
    """
    prediction_type = _resolve_prediction_type(model, prediction_type)
    _check_clip_range(clip_sample_range)
    eta = _check_eta(eta)
    step_kwargs = dict(
        eta=eta, prediction_type=prediction_type, clip_sample=clip_sample, clip_sample_range=clip_sample_range
    )
    return _run_sampler(
        ddim_step,
        model,
        schedule,
        shape,
        num_inference_steps,
        timestep_spacing,
        generator,
        x_T,
        record,
        progress,
        device,
        step_kwargs,
    )


def sample_in_chunks(
    sampler: Callable[..., SamplerOutput],
    model: Model,
    schedule: NoiseSchedule,
    shape: Sequence[int],
    chunk_size: int = 256,
    generator: torch.Generator | None = None,
    **sampler_kwargs,
) -> torch.Tensor:
    """Draw ``shape[0]`` samples in chunks, halving the chunk size after a GPU out-of-memory error.

    Each chunk is one call of ``sampler`` with at most ``chunk_size`` samples, and its result moves
    to the CPU before the next chunk starts. When a chunk raises ``torch.cuda.OutOfMemoryError``,
    the chunk size is halved, ``generator`` is rewound to where that chunk started and the chunk is
    retried. The same seed and the same sequence of chunk sizes give the same samples.

    Args:
        sampler: ``ddpm_sample`` or ``ddim_sample``.
        model, schedule: as for the sampler.
        shape: the shape of all samples together, (N, …).
        chunk_size: the largest number of samples per sampler call, at least 1.
        generator: seeds x_T and the noise of every chunk, used chunk after chunk.
        **sampler_kwargs: passed to the sampler (``num_inference_steps``, ``eta``, ``prediction_type``,
            …). ``x_T`` and ``record`` are rejected because only the final samples are returned.
    Returns:
        the samples, shape ``shape``, on the CPU.
    Raises:
        RuntimeError: when even one sample at a time runs out of GPU memory.
    """
    # 1. Check the arguments before any sampling starts.
    if not callable(sampler):
        raise TypeError(f"sampler must be a function such as ddpm_sample, got {type(sampler).__name__}")
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
    if not _is_shape(shape):
        raise ValueError(f"shape must be a non-empty sequence of positive ints such as (64, 2), got {shape!r}")
    shape = tuple(int(size) for size in shape)
    rejected = sorted({"x_T", "record", "shape"} & set(sampler_kwargs))
    if rejected:
        raise ValueError(f"sample_in_chunks does not accept {rejected}; call the sampler directly for them")

    # 2. Sample chunk after chunk; on out-of-memory, halve the chunk and retry it from the same seed state.
    chunks: list[torch.Tensor] = []
    num_done = 0
    while num_done < shape[0]:
        size = min(chunk_size, shape[0] - num_done)
        generator_state = generator.get_state() if generator is not None else None
        try:
            output = sampler(model, schedule, (size, *shape[1:]), generator=generator, **sampler_kwargs)
        except torch.cuda.OutOfMemoryError as error:
            if size == 1:
                raise RuntimeError(
                    f"sampling ran out of GPU memory even with chunk_size=1 (one sample of shape {shape[1:]}); "
                    "free GPU memory (restart other notebooks' kernels), use a smaller model or image size, "
                    "or sample on the CPU with device='cpu' or the environment variable DDPM_DEVICE=cpu"
                ) from error
            chunk_size = size // 2
            logger.warning("sampling ran out of GPU memory with %d samples per chunk; retrying with %d", size, chunk_size)
            if generator is not None:
                generator.set_state(generator_state)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            continue
        chunks.append(output.sample.cpu())
        num_done += size
    return torch.cat(chunks)
