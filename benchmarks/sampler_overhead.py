"""Sampler overhead: a sampling loop's wall time over the time of its model calls alone.

The floor is the same number of model calls on the same inputs with nothing else. Beside our
`ddpm_sample` / `ddim_sample`, the same ratio is measured for a loop of `diffusers`'
`DDPMScheduler.step` / `DDIMScheduler.step` around the same model.
"""

from __future__ import annotations

import torch

from ddpm_lib import MLPDenoiser, NoiseSchedule, UNet, ddim_sample, ddpm_sample, timestep_grid

from .timing import paired_ratios, spread, time_interleaved


def _model_calls_alone(model, x: torch.Tensor, grid: torch.Tensor) -> None:
    with torch.inference_mode():
        for t in grid.tolist():
            model(x, torch.full((x.shape[0],), t, dtype=torch.long))


def _diffusers_loop(model, scheduler, x_T: torch.Tensor, num_steps: int, seed: int, **step_kwargs) -> None:
    scheduler.set_timesteps(num_steps)
    generator = torch.Generator().manual_seed(seed)
    sample = x_T.clone()
    with torch.inference_mode():
        for t in scheduler.timesteps:
            output = model(sample, t.expand(sample.shape[0]).long())
            sample = scheduler.step(output, t, sample, generator=generator, **step_kwargs).prev_sample


def _diffusers_schedulers():
    from diffusers import DDIMScheduler, DDPMScheduler

    common = dict(num_train_timesteps=1000, beta_schedule="linear", clip_sample=False, prediction_type="epsilon")
    return (
        DDPMScheduler(**common, timestep_spacing="trailing"),
        DDIMScheduler(**common, timestep_spacing="trailing", set_alpha_to_one=True),
    )


def measure_case(name: str, model: torch.nn.Module, shape: tuple[int, ...], repeats: int) -> list[dict]:
    """Measure the DDPM (1000 steps) and DDIM (50 steps) overhead ratios for one model."""
    model.eval()
    schedule = NoiseSchedule()
    ddpm_scheduler, ddim_scheduler = _diffusers_schedulers()
    x_T = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    rows = []
    for sampler_name, steps in (("ddpm_sample", 1000), ("ddim_sample", 50)):
        grid = timestep_grid(1000, steps)
        sampler = ddpm_sample if sampler_name == "ddpm_sample" else ddim_sample
        scheduler = ddpm_scheduler if sampler_name == "ddpm_sample" else ddim_scheduler
        functions = {
            "floor": lambda: _model_calls_alone(model, x_T, grid),
            "ours": lambda: sampler(
                model, schedule, shape, num_inference_steps=steps, x_T=x_T, generator=torch.Generator().manual_seed(1)
            ),
            "diffusers": lambda: _diffusers_loop(model, scheduler, x_T, steps, seed=1),
        }
        times = time_interleaved(functions, repeats)
        rows.append(
            {
                "model": name,
                "sampler": f"{sampler_name} ({steps} steps)",
                "floor_s": spread(times["floor"]),
                "ours_s": spread(times["ours"]),
                "diffusers_s": spread(times["diffusers"]),
                "ours_ratio": paired_ratios(times["ours"], times["floor"]),
                "diffusers_ratio": paired_ratios(times["diffusers"], times["floor"]),
                "ours_vs_diffusers": paired_ratios(times["ours"], times["diffusers"]),
            }
        )
    return rows


def digits_unet() -> torch.nn.Module:
    """Return the shipped digits U-Net (its weights do not change the timing)."""
    try:
        from ddpm_lib.training import load_pretrained

        model, _, _ = load_pretrained("digits-eps")
        return model
    except Exception:  # noqa: BLE001 - the benchmark still runs on a checkout without checkpoints
        return UNet()


def run(repeats: int = 3) -> list[dict]:
    torch.manual_seed(0)
    rows = measure_case("2-D MLP, 1,000 points", MLPDenoiser(), (1000, 2), repeats)
    rows += measure_case("digits U-Net, 16 images of 16×16", digits_unet(), (16, 1, 16, 16), repeats)
    return rows
