"""Tests for ddpm_lib.training: the config, the loss weights, the loop and reproducibility.

Expected values come from the identities ‖ε − ε̂‖² = SNR·‖x₀ − x̂₀‖² and
‖v − v̂‖² = (1 + SNR)·‖x₀ − x̂₀‖² (Salimans & Ho 2022), from min-SNR-γ = min(SNR, γ) in x₀-space
(Hang et al. 2023), evaluated on a two-step schedule with β = 0.5 (ᾱ = 1/2, 1/4 so SNR = 1, 1/3),
and from the EMA update θ_ema ← d·θ_ema + (1 − d)·θ. Models and budgets are tiny so the file runs
in seconds.
"""

import dataclasses

import pytest
import torch

from ddpm_lib import train as train_command
from ddpm_lib.schedules import NoiseSchedule
from ddpm_lib.training import (
    TrainingConfig,
    TrainingResult,
    build_model,
    build_schedule,
    target_loss_weight,
    train,
)

TINY_MLP = {"data_dim": 2, "hidden_dim": 16, "num_blocks": 1, "time_embed_dim": 8}


def tiny_config(**changes) -> TrainingConfig:
    values = dict(num_steps=30, batch_size=32, learning_rate=1e-2, warmup_steps=0, model_kwargs=TINY_MLP,
                  num_train_timesteps=50, num_t_buckets=5)  # fmt: skip
    values.update(changes)
    return TrainingConfig(**values)


def run(config: TrainingConfig, data: torch.Tensor) -> tuple[torch.nn.Module, TrainingResult]:
    model = build_model(config)
    result = train(model, build_schedule(config), data, config, progress=False, device="cpu")
    return model, result


@pytest.fixture(autouse=True)
def one_thread():
    # The tiny models here gain nothing from threads, and on a busy CPU extra threads slow them down.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def points():
    return torch.randn(64, 2, generator=torch.Generator().manual_seed(0)).clamp(-1, 1)


@pytest.fixture
def half_schedule():
    # β_0 = β_1 = 0.5: ᾱ = (1/2, 1/4), SNR = (1, 1/3), exact in binary floating point.
    return NoiseSchedule(num_train_timesteps=2, beta_start=0.5, beta_end=0.5)


# ---------------------------------------------------------------------- config
@pytest.mark.parametrize(
    "field, value",
    [("prediction_type", "noise"), ("loss_weighting", "p2"), ("model_type", "cnn"), ("ema_decay", 1.0),
     ("num_steps", 0), ("learning_rate", 0.0), ("beta_schedule", "exp")],
)  # fmt: skip
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        tiny_config(**{field: value})


def test_config_dict_round_trip():
    config = tiny_config(model_type="unet", model_kwargs={"base_channels": 8, "channel_mults": (1, 2)})
    restored = TrainingConfig.from_dict(config.to_dict())
    assert restored == config
    assert restored.model_kwargs["channel_mults"] == (1, 2)


def test_config_from_dict_rejects_unknown_key():
    with pytest.raises(ValueError, match="unknown TrainingConfig fields"):
        TrainingConfig.from_dict({**tiny_config().to_dict(), "epochs": 3})


# ---------------------------------------------------------------------- loss weights
def test_snr_weight_per_target(half_schedule):
    timesteps = torch.tensor([0, 1])
    snr = torch.tensor([1.0, 1 / 3])
    expected = {"sample": snr, "epsilon": torch.ones(2), "v_prediction": snr / (1 + snr)}
    for prediction_type, weight in expected.items():
        actual = target_loss_weight(half_schedule, timesteps, prediction_type, "snr")
        torch.testing.assert_close(actual, weight)


def test_min_snr_weight_per_target(half_schedule):
    # γ = 0.5 caps SNR = 1 at 0.5 and leaves SNR = 1/3: min(SNR, γ) = (0.5, 1/3).
    timesteps = torch.tensor([0, 1])
    snr = torch.tensor([1.0, 1 / 3])
    capped = torch.tensor([0.5, 1 / 3])
    expected = {"sample": capped, "epsilon": capped / snr, "v_prediction": capped / (1 + snr)}
    for prediction_type, weight in expected.items():
        actual = target_loss_weight(half_schedule, timesteps, prediction_type, "min_snr", min_snr_gamma=0.5)
        torch.testing.assert_close(actual, weight)


def test_none_weight_is_one(half_schedule):
    weight = target_loss_weight(half_schedule, torch.tensor([0, 1]), "v_prediction", "none")
    torch.testing.assert_close(weight, torch.ones(2))


@pytest.mark.parametrize("prediction_type", ["sample", "v_prediction"])
def test_snr_weighting_equals_epsilon_loss(prediction_type):
    # The "snr" weighting makes any target's loss equal the ε-loss of the same prediction.
    schedule = NoiseSchedule(num_train_timesteps=100)
    generator = torch.Generator().manual_seed(1)
    x0, noise, guess = (torch.randn(6, 2, generator=generator) for _ in range(3))
    timesteps = torch.tensor([0, 10, 30, 50, 80, 99])
    x_t = schedule.add_noise(x0, noise, timesteps)
    target = schedule.training_target(x0, noise, timesteps, prediction_type)
    weighted = target_loss_weight(schedule, timesteps, prediction_type, "snr") * ((guess - target) ** 2).mean(1)
    eps_guess = schedule.convert(guess, x_t, timesteps, prediction_type, "epsilon")
    torch.testing.assert_close(weighted, ((eps_guess - noise) ** 2).mean(1), rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------------- the loop
@pytest.mark.parametrize("prediction_type", ["epsilon", "sample", "v_prediction"])
def test_training_lowers_loss(prediction_type, points):
    config = tiny_config(prediction_type=prediction_type, num_steps=150, batch_size=64)
    _, result = run(config, points)
    assert result.losses.shape == (150,)
    assert result.losses[-20:].mean() < result.losses[:20].mean()


def test_result_buckets(points):
    _, result = run(tiny_config(), points)
    torch.testing.assert_close(result.t_bucket_edges, torch.linspace(0, 50, 6))
    assert result.t_bucket_losses.shape == (5,)
    assert result.t_bucket_history.shape[1] == 5
    assert not torch.isnan(result.t_bucket_history).all()


def test_same_seed_same_weights(points):
    first, _ = run(tiny_config(seed=3), points)
    second, _ = run(tiny_config(seed=3), points)
    for (name, a), b in zip(first.state_dict().items(), second.state_dict().values()):
        assert torch.equal(a, b), name


def test_other_seed_other_weights(points):
    first, _ = run(tiny_config(seed=3), points)
    second, _ = run(tiny_config(seed=4), points)
    assert not torch.equal(first.output[1].weight, second.output[1].weight)


def test_ema_after_one_step(points):
    # One step with d = 0.25: θ_ema = 0.25·θ₀ + 0.75·θ₁, with θ₁ the plain run's weights.
    config = tiny_config(num_steps=1)
    initial = build_model(config).state_dict()
    plain, _ = run(config, points)
    averaged, _ = run(dataclasses.replace(config, ema_decay=0.25), points)
    for name, value in averaged.state_dict().items():
        expected = 0.25 * initial[name] + 0.75 * plain.state_dict()[name]
        torch.testing.assert_close(value, expected, msg=name)


def test_train_leaves_model_in_eval_mode(points):
    model, _ = run(tiny_config(num_steps=2), points)
    assert not model.training


def test_train_rejects_schedule_mismatch(points):
    config = tiny_config()
    with pytest.raises(ValueError, match="num_train_timesteps"):
        train(build_model(config), NoiseSchedule(num_train_timesteps=20), points, config, progress=False)


def test_train_rejects_image_data_for_mlp():
    config = tiny_config()
    with pytest.raises(ValueError, match="expects data with 2 dimensions"):
        train(build_model(config), build_schedule(config), torch.zeros(4, 1, 8, 8), config, progress=False)


def test_unet_training_runs():
    unet = {"in_channels": 1, "base_channels": 8, "channel_mults": (1, 2), "time_embed_dim": 16}
    config = tiny_config(model_type="unet", model_kwargs=unet, num_steps=3, batch_size=4)
    images = torch.rand(8, 1, 8, 8) * 2 - 1
    model, result = run(config, images)
    assert torch.isfinite(result.losses).all()
    assert model(images, torch.zeros(8, dtype=torch.long)).shape == images.shape


# ---------------------------------------------------------------------- the training command
def test_command_lists_presets(capsys):
    assert train_command.main(["--list"]) == 0
    listed = capsys.readouterr().out
    for name in ("swissroll-eps", "digits-eps", "digits-x0-snr", "digits-x0-minsnr5", "digits-classifier"):
        assert name in listed


def test_command_rejects_unknown_preset():
    with pytest.raises(SystemExit):
        train_command.main(["--preset", "digits-huge"])


def test_presets_differ_only_in_target():
    # Each family shares architecture, seed and budget; only the target (and weighting) differs.
    for family in ("swissroll", "digits"):
        configs = [p.config.to_dict() for n, p in train_command.PRESETS.items() if n.startswith(family)]
        for config in configs:
            for key in ("prediction_type", "loss_weighting"):
                config.pop(key)
        assert all(config == configs[0] for config in configs)


def test_preset_retrains_bit_for_bit(tmp_path, monkeypatch):
    # The command saves identical bytes (so an identical sha256) when run twice from the same seed.
    tiny = train_command.Preset("swiss_roll", tiny_config(num_steps=5, seed=2))
    monkeypatch.setitem(train_command.PRESETS, "tiny", tiny)
    first = train_command.train_preset("tiny", progress=False, checkpoint_dir=tmp_path / "a")
    second = train_command.train_preset("tiny", progress=False, checkpoint_dir=tmp_path / "b")
    assert first["sha256"] == second["sha256"]
    assert first["config"] == tiny.config.to_dict()
