"""Training throughput of the digits U-Net against this machine's float32 matrix-multiply rate."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ddpm_lib import NoiseSchedule

from .sampler_overhead import digits_unet
from .timing import spread, time_call


def matmul_rate(size: int = 1024, calls: int = 20, repeats: int = 5) -> list[float]:
    """Measured float32 matrix-multiply FLOP/s, one figure per repeat (the practical ceiling)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    rates = []
    for _ in range(repeats):
        seconds = time_call(lambda: [torch.mm(a, b) for _ in range(calls)])
        rates.append(2 * size**3 * calls / seconds)
    return rates


def _training_step(model, optimizer, schedule, batch: torch.Tensor, generator: torch.Generator) -> None:
    timesteps = torch.randint(0, schedule.num_train_timesteps, (batch.shape[0],), generator=generator)
    noise = torch.randn(batch.shape, generator=generator)
    x_t = schedule.add_noise(batch, noise, timesteps)
    loss = F.mse_loss(model(x_t, timesteps), noise)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def run(batch_size: int = 128, steps: int = 10, repeats: int = 3) -> dict:
    model = digits_unet().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    schedule = NoiseSchedule()
    batch = torch.rand(batch_size, 1, 16, 16) * 2 - 1
    generator = torch.Generator().manual_seed(0)

    with FlopCounterMode(display=False) as counter:
        _training_step(model, optimizer, schedule, batch, generator)
    flops_per_step = counter.get_total_flops()

    step_rates = []
    for _ in range(repeats):
        seconds = time_call(lambda: [_training_step(model, optimizer, schedule, batch, generator) for _ in range(steps)])
        step_rates.append(steps / seconds)
    ceiling = matmul_rate()
    achieved = [rate * flops_per_step for rate in step_rates]
    return {
        "batch_size": batch_size,
        "flops_per_step": flops_per_step,
        "steps_per_s": spread(step_rates),
        "achieved_flops": spread(achieved),
        "matmul_flops": spread(ceiling),
        "percent_of_ceiling": spread([100 * a / c for a, c in zip(achieved, ceiling)]),
    }
