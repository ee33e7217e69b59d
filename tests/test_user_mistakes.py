"""Mistakes a student makes with the public API, found by using it as the README shows.

Each case used to return a silently wrong result or fail deep inside torch. Each now raises
ValueError or TypeError naming the value, or does the right thing by default.
"""

import math

import pytest
import torch

from ddpm_lib import MLPDenoiser, NoiseSchedule, ddim_sample, ddpm_sample, ddpm_step
from ddpm_lib.data import make_toy_dataset
from ddpm_lib.metrics import sliced_wasserstein
from ddpm_lib.training import TrainingConfig, build_model, build_schedule, load_pretrained, train


@pytest.fixture(scope="module")
def schedule():
    return NoiseSchedule(num_train_timesteps=50)


def _constant_model(value: float):
    return lambda x_t, timesteps: torch.full_like(x_t, value)


def test_sampler_uses_model_prediction_type(schedule):
    # A model that predicts x0 = 0.5 everywhere: DDIM with eta = 0 ends exactly on x0 at the last
    # step (its x_s = sqrt(abar_s) x0_hat + ... with abar_{-1} = 1), whatever x_T was.
    model = _constant_model(0.5)
    model.prediction_type = "sample"
    default = ddim_sample(model, schedule, (4, 2), num_inference_steps=5, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(default.sample, torch.full((4, 2), 0.5), atol=1e-6)


def test_sampler_rejects_contradicting_type(schedule):
    model = MLPDenoiser()
    model.prediction_type = "sample"
    with pytest.raises(ValueError, match="prediction_type='epsilon' contradicts the model"):
        ddpm_sample(model, schedule, (4, 2), prediction_type="epsilon")


def test_shipped_model_carries_prediction_type():
    model, _, entry = load_pretrained("swissroll-x0", device="cpu")
    assert model.prediction_type == "sample"
    assert entry["config"]["prediction_type"] == "sample"


def test_classifier_is_not_a_denoiser():
    with pytest.raises(ValueError, match="load_digits_classifier"):
        load_pretrained("digits-classifier", device="cpu")


@pytest.mark.parametrize("bad_range", [0.0, -1.0, math.nan, math.inf, "1"])
def test_clip_sample_range_rejected(schedule, bad_range):
    with pytest.raises(ValueError, match="clip_sample_range must be a finite number > 0"):
        ddim_sample(_constant_model(0.0), schedule, (4, 2), num_inference_steps=3, clip_sample=True,
                    clip_sample_range=bad_range)  # fmt: skip


def test_nan_model_output_names_timestep(schedule):
    with pytest.raises(ValueError, match="NaN or infinite values at timestep 49"):
        ddim_sample(_constant_model(math.nan), schedule, (4, 2), num_inference_steps=5)


def test_integer_model_output_rejected(schedule):
    def integer_model(x_t, timesteps):
        return torch.zeros(x_t.shape, dtype=torch.long)

    with pytest.raises(TypeError, match="must return a float tensor"):
        ddpm_sample(integer_model, schedule, (4, 2), num_inference_steps=3)


@pytest.mark.parametrize("record, error", [("ALL", ValueError), ("bogus", ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_record_rejected(schedule, record, error):
    with pytest.raises(error, match="record must be None"):
        ddim_sample(_constant_model(0.0), schedule, (4, 2), num_inference_steps=3, record=record)


def test_step_names_bad_timestep(schedule):
    x = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="timestep -1 is outside"):
        ddpm_step(schedule, x, -1, x)
    with pytest.raises(ValueError, match="prev_timestep=-5"):
        ddpm_step(schedule, x, 0, x, prev_timestep=-5)


def test_diverging_training_raises():
    config = TrainingConfig(num_steps=30, batch_size=16, warmup_steps=1, learning_rate=1e6, grad_clip_norm=None)
    data = make_toy_dataset("swiss_roll", num_points=64, seed=0)
    with pytest.raises(ValueError, match="lower learning_rate"):
        train(build_model(config), build_schedule(config), data, config, progress=False, device="cpu")


@pytest.mark.parametrize("field, value", [("warmup_steps", -1), ("grad_clip_norm", 0.0), ("grad_clip_norm", -1.0)])
def test_training_config_rejects(field, value):
    with pytest.raises(ValueError, match=field):
        TrainingConfig(**{field: value})


@pytest.mark.parametrize("count", [0, -1])
def test_sliced_wasserstein_needs_projections(count):
    points = torch.zeros(8, 2)
    with pytest.raises(ValueError, match="num_projections must be an int ≥ 1"):
        sliced_wasserstein(points, points, num_projections=count)
