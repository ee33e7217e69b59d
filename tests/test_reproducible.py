"""The same seed gives the same samples and the same trained weights, bit for bit, on the CPU.

A lesson promises that rerunning a cell or restarting the notebook reproduces its output. That
holds only if the samplers and the training loop draw every random number from the generator
they are given. Each test runs the same thing twice and compares with ``torch.equal`` (no
tolerance), and checks that another seed changes the result, so the generator is really used.
"""

from __future__ import annotations

import pytest
import torch

from ddpm_lib import MLPDenoiser, NoiseSchedule, UNet, ddim_sample, ddpm_sample
from ddpm_lib.training import TrainingConfig, build_model, build_schedule, train

NUM_STEPS = 8
SAMPLERS = {
    "ddpm": lambda model, schedule, shape, generator: ddpm_sample(
        model, schedule, shape, num_inference_steps=NUM_STEPS, generator=generator, record=4
    ),
    "ddim_eta_half": lambda model, schedule, shape, generator: ddim_sample(
        model, schedule, shape, num_inference_steps=NUM_STEPS, eta=0.5, generator=generator, record=4
    ),
}


def seeded_model(model_class, seed: int = 0, **kwargs) -> torch.nn.Module:
    """Build a model with weights drawn from ``seed``, leaving the global random state alone."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return model_class(**kwargs).eval()


def run_sampler(name: str, model, shape, seed: int):
    return SAMPLERS[name](model, NoiseSchedule(100), shape, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize(
    ("model_class", "kwargs", "shape"),
    [
        (MLPDenoiser, {"hidden_dim": 32, "num_blocks": 2}, (64, 2)),
        (UNet, {"base_channels": 8, "channel_mults": (1, 2), "time_embed_dim": 16}, (2, 1, 8, 8)),
    ],
    ids=["mlp", "unet"],
)
def test_sampler_same_seed_bit_identical(sampler, model_class, kwargs, shape) -> None:
    model = seeded_model(model_class, **kwargs)
    first = run_sampler(sampler, model, shape, seed=0)
    second = run_sampler(sampler, model, shape, seed=0)
    other = run_sampler(sampler, model, shape, seed=1)

    assert torch.equal(first.sample, second.sample)
    assert torch.equal(first.x_t, second.x_t)
    assert torch.equal(first.pred_original_sample, second.pred_original_sample)
    assert not torch.equal(first.sample, other.sample), "another seed gave the same samples"


def train_once(config: TrainingConfig, data: torch.Tensor):
    model = build_model(config)
    result = train(model, build_schedule(config), data, config, progress=False, device="cpu")
    return model, result


@pytest.mark.parametrize(
    "config",
    [
        TrainingConfig(num_steps=25, batch_size=64, warmup_steps=5, num_train_timesteps=100,
                       model_kwargs={"hidden_dim": 32, "num_blocks": 2}),
        TrainingConfig(num_steps=25, batch_size=64, warmup_steps=5, num_train_timesteps=100,
                       prediction_type="v_prediction", ema_decay=0.9, loss_weighting="min_snr",
                       model_kwargs={"hidden_dim": 32, "num_blocks": 2}),
        TrainingConfig(num_steps=3, batch_size=4, warmup_steps=1, num_train_timesteps=100, model_type="unet",
                       model_kwargs={"base_channels": 8, "channel_mults": (1, 2), "time_embed_dim": 16}),
    ],
    ids=["mlp_eps", "mlp_v_ema_min_snr", "unet_eps"],
)
def test_training_same_seed_bit_identical(config: TrainingConfig) -> None:
    generator = torch.Generator().manual_seed(0)
    if config.model_type == "mlp":
        data = torch.rand(256, 2, generator=generator) * 2 - 1
    else:
        data = torch.rand(32, 1, 8, 8, generator=generator) * 2 - 1

    model_a, result_a = train_once(config, data)
    model_b, result_b = train_once(config, data)
    model_c, result_c = train_once(TrainingConfig(**{**config.__dict__, "seed": 1}), data)

    assert torch.equal(result_a.losses, result_b.losses)
    state_a, state_b = model_a.state_dict(), model_b.state_dict()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), f"weights {name} differ between two runs with one seed"
    assert not torch.equal(result_a.losses, result_c.losses), "another seed gave the same losses"

    # The trained models also sample identically from one seed.
    shape = (16, 2) if config.model_type == "mlp" else (2, 1, 8, 8)
    schedule = build_schedule(config)
    sample_a = ddpm_sample(model_a, schedule, shape, 4, prediction_type=config.prediction_type,
                           generator=torch.Generator().manual_seed(0)).sample
    sample_b = ddpm_sample(model_b, schedule, shape, 4, prediction_type=config.prediction_type,
                           generator=torch.Generator().manual_seed(0)).sample
    assert torch.equal(sample_a, sample_b)
