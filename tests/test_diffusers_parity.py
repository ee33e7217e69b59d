"""Parity with Hugging Face diffusers' DDPMScheduler and DDIMScheduler on shared inputs.

The expected values here are diffusers' own outputs (tested against version 0.42.1). Only the
scheduler classes are used, built from keyword arguments, so nothing is downloaded. Differences
that are deliberate in ddpm_lib are stated where they matter:

- diffusers computes betas and ᾱ in float32, ddpm_lib in float64 before storing float32, so ᾱ
  agree to about 1e-6 rather than bit for bit;
- diffusers' DDPM/DDIM schedulers clip x̂₀ by default (``clip_sample=True``); ddpm_lib does not,
  so every scheduler here is built with an explicit ``clip_sample``;
- DDIMScheduler only supports ᾱ = 1 after the last step when ``set_alpha_to_one=True``, which is
  what ddpm_lib always uses;
- diffusers' "trailing" grid sometimes has n + 1 entries, the last one −1 (T = 1000, n = 61),
  because of float error in ``np.arange``; ddpm_lib keeps the first n;
- on a last step that is not t = 0 (trailing grids), DDPMScheduler adds noise with its variance
  (β_{t|s} for ``fixed_large``), while ddpm_lib adds none, as in Ho et al. (2020), Algorithm 2.
"""

import pytest
import torch

diffusers = pytest.importorskip("diffusers")
from diffusers import DDIMScheduler, DDPMScheduler  # noqa: E402

from ddpm_lib.sampling import ddim_step, ddpm_sample, ddpm_step, timestep_grid  # noqa: E402
from ddpm_lib.schedules import PREDICTION_TYPES, NoiseSchedule  # noqa: E402

# Schedules both libraries implement. DDIMScheduler raises NotImplementedError for "sigmoid",
# but DDPMScheduler supports it (GeoDiff's schedule), so ᾱ parity uses DDPMScheduler.
SHARED_SCHEDULES = ("linear", "scaled_linear", "squaredcos_cap_v2", "sigmoid")
BETAS = dict(beta_start=1e-4, beta_end=0.02)


def ddpm_scheduler(**config) -> DDPMScheduler:
    return DDPMScheduler(num_train_timesteps=1000, **BETAS, **config)


def ddim_scheduler(**config) -> DDIMScheduler:
    return DDIMScheduler(num_train_timesteps=1000, **BETAS, set_alpha_to_one=True, **config)


def shared_inputs(seed: int = 0, shape=(2, 1, 4, 4)):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)


def test_ddim_rejects_sigmoid_schedule():
    # The reason SHARED_SCHEDULES' sigmoid entry is checked with DDPMScheduler only.
    with pytest.raises(NotImplementedError):
        DDIMScheduler(beta_schedule="sigmoid")


@pytest.mark.parametrize("name", SHARED_SCHEDULES)
@pytest.mark.parametrize("num_train_timesteps", [1, 10, 1000])
def test_alphas_cumprod_parity(name, num_train_timesteps):
    # Both in float32; diffusers' float32 cumulative product drifts by about 1e-7 per step.
    reference = DDPMScheduler(num_train_timesteps=num_train_timesteps, beta_schedule=name, **BETAS)
    ours = NoiseSchedule(num_train_timesteps, name, **BETAS)
    torch.testing.assert_close(ours.betas, reference.betas, rtol=0, atol=1e-5)
    torch.testing.assert_close(ours.alphas_cumprod, reference.alphas_cumprod, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", SHARED_SCHEDULES)
def test_add_noise_and_velocity_parity(name):
    reference = ddpm_scheduler(beta_schedule=name)
    ours = NoiseSchedule(1000, name, **BETAS)
    x0, noise = shared_inputs()
    timesteps = torch.tensor([0, 999])
    torch.testing.assert_close(
        ours.add_noise(x0, noise, timesteps), reference.add_noise(x0, noise, timesteps), rtol=0, atol=1e-5
    )
    torch.testing.assert_close(
        ours.get_velocity(x0, noise, timesteps), reference.get_velocity(x0, noise, timesteps), rtol=0, atol=1e-5
    )


def grid_parity_cases():
    # The counts include ones whose grids contain exact .5 ties (T = 1000: n = 27 for linspace,
    # n = 48 for trailing) and one where np.arange overshoots (T = 1000, n = 61).
    for num_train_timesteps in (7, 17, 100, 1000):
        for count in (2, 3, 6, 7, 10, 15, 27, 48, 50, 61, 99, 333, 999, 1000):
            if count <= num_train_timesteps:
                for spacing in ("leading", "trailing", "linspace"):
                    yield num_train_timesteps, count, spacing
    # One step: leading and trailing agree, but diffusers' linspace gives [0] (np.linspace(0, T−1, 1)),
    # while ddpm_lib starts the single step at T − 1, so linspace is left out here.
    for spacing in ("leading", "trailing"):
        yield 1000, 1, spacing


@pytest.mark.parametrize("num_train_timesteps, count, spacing", list(grid_parity_cases()))
def test_timestep_grid_parity(num_train_timesteps, count, spacing):
    for scheduler_class in (DDPMScheduler, DDIMScheduler):
        reference = scheduler_class(num_train_timesteps=num_train_timesteps, timestep_spacing=spacing)
        reference.set_timesteps(count)
        expected = reference.timesteps.tolist()
        if spacing == "trailing" and len(expected) == count + 1:
            assert expected[-1] == -1
            expected = expected[:-1]
        assert timestep_grid(num_train_timesteps, count, spacing).tolist() == expected


# The step comparisons are exact up to rounding for two reasons.
# 1. Same noise: DDPMScheduler.step draws its variance noise with randn_tensor(shape,
#    generator=generator, device="cpu", dtype=model_output.dtype), which for one CPU generator is
#    torch.randn(shape, generator=generator, dtype=...). A generator seeded identically reproduces
#    that draw, and ddpm_step receives it through its ``noise`` argument. DDIMScheduler.step takes
#    the noise directly as ``variance_noise``.
# 2. Same ᾱ, in float64: near t = 0, 1 − ᾱ_t ≈ 1e-4 loses about four digits to cancellation in
#    float32, so float32 steps differ by ~1e-5 for rounding reasons alone. The steps are therefore
#    compared in float64 with diffusers' ᾱ replaced by ddpm_lib's; test_alphas_cumprod_parity
#    covers the ᾱ themselves. test_ddpm_sampling_loop_parity compares a float32 run end to end.
def diffusers_step_noise(shape, seed):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def float64_pair(reference, **config):
    """ddpm_lib's float64 schedule, and ``reference`` switched to the same ᾱ in float64."""
    ours = NoiseSchedule(1000, dtype=torch.float64, **BETAS, **config)
    reference.alphas_cumprod = ours.alphas_cumprod.clone()
    reference.one = torch.tensor(1.0, dtype=torch.float64)
    reference.final_alpha_cumprod = torch.tensor(1.0, dtype=torch.float64)
    return ours


def shared_inputs64(seed: int):
    return tuple(x.double() for x in shared_inputs(seed))


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
@pytest.mark.parametrize("spacing", ["leading", "trailing"])
@pytest.mark.parametrize("clip_sample", [False, True])
@pytest.mark.parametrize("index", [0, 4, 9])
def test_ddpm_step_parity(prediction_type, spacing, clip_sample, index):
    reference = ddpm_scheduler(prediction_type=prediction_type, clip_sample=clip_sample, timestep_spacing=spacing)
    reference.set_timesteps(10)
    ours = float64_pair(reference)
    t = int(reference.timesteps[index])
    prev = int(reference.previous_timestep(t))
    model_output, sample = shared_inputs64(seed=index)

    expected = reference.step(model_output, t, sample, generator=torch.Generator().manual_seed(11))
    noise = diffusers_step_noise(sample.shape, seed=11)
    step = ddpm_step(
        ours, model_output, t, sample, prev, prediction_type=prediction_type, clip_sample=clip_sample, noise=noise
    )
    # On a trailing grid the last step is t = 99 → −1; diffusers still adds noise there, with the
    # variance clamped to 1e-20 (std 1e-10), far below the tolerance, while ddpm_lib adds none.
    torch.testing.assert_close(step.pred_original_sample, expected.pred_original_sample, rtol=0, atol=1e-5)
    torch.testing.assert_close(step.prev_sample, expected.prev_sample, rtol=0, atol=1e-5)


@pytest.mark.parametrize("t", [999, 500, 1])
def test_ddpm_fixed_large_parity(t):
    # Every-step chain (no set_timesteps), so s = t − 1 and the fixed_large variance is β_t.
    reference = ddpm_scheduler(variance_type="fixed_large", clip_sample=False)
    ours = float64_pair(reference)
    model_output, sample = shared_inputs64(seed=t)
    expected = reference.step(model_output, t, sample, generator=torch.Generator().manual_seed(3))
    step = ddpm_step(ours, model_output, t, sample, variance_type="fixed_large", noise=diffusers_step_noise(sample.shape, 3))
    torch.testing.assert_close(step.prev_sample, expected.prev_sample, rtol=0, atol=1e-5)


@pytest.mark.parametrize("prediction_type", PREDICTION_TYPES)
@pytest.mark.parametrize("spacing", ["leading", "trailing"])
@pytest.mark.parametrize("clip_sample", [False, True])
@pytest.mark.parametrize("eta", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("index", [0, 9])
def test_ddim_step_parity(prediction_type, spacing, clip_sample, eta, index):
    reference = ddim_scheduler(prediction_type=prediction_type, clip_sample=clip_sample, timestep_spacing=spacing)
    reference.set_timesteps(10)
    ours = float64_pair(reference)
    t = int(reference.timesteps[index])
    # DDIMScheduler.step always steps back by T // n, which on these grids is the next grid entry,
    # and reads a negative result as "after the last step" (ᾱ = 1), which ddpm_lib writes as −1.
    prev = max(t - 1000 // 10, -1)
    model_output, sample = shared_inputs64(seed=index + 20)
    # DDIMScheduler.step accepts the noise directly as variance_noise, so both sides share it.
    noise = diffusers_step_noise(sample.shape, seed=5)

    expected = reference.step(model_output, t, sample, eta=eta, variance_noise=noise)
    step = ddim_step(
        ours, model_output, t, sample, prev, eta=eta, prediction_type=prediction_type, clip_sample=clip_sample, noise=noise
    )
    torch.testing.assert_close(step.pred_original_sample, expected.pred_original_sample, rtol=0, atol=1e-5)
    torch.testing.assert_close(step.prev_sample, expected.prev_sample, rtol=0, atol=1e-5)


def test_ddpm_sampling_loop_parity():
    # A whole 10-step DDPM run with one seeded generator. The diffusers loop below draws x_T and
    # then each step's noise from that generator in the same order as ddpm_sample, and on a leading
    # grid the last step is t = 0, where neither adds noise, so the results agree.
    def model(x_t, timesteps):
        return 0.3 * x_t + 1e-4 * timesteps.view(-1, 1, 1, 1).float()

    shape = (2, 1, 4, 4)
    reference = ddpm_scheduler(clip_sample=False, timestep_spacing="leading")
    reference.set_timesteps(10)
    generator = torch.Generator().manual_seed(123)
    sample = torch.randn(shape, generator=generator)
    for t in reference.timesteps:
        model_output = model(sample, torch.full((shape[0],), int(t)))
        sample = reference.step(model_output, t, sample, generator=generator).prev_sample

    ours = ddpm_sample(
        model,
        NoiseSchedule(1000, **BETAS),
        shape,
        num_inference_steps=10,
        timestep_spacing="leading",
        generator=torch.Generator().manual_seed(123),
    )
    torch.testing.assert_close(ours.sample, sample, rtol=1e-5, atol=1e-5)
