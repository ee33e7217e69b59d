"""``sample_in_chunks`` halves its chunk after a GPU out-of-memory error, tested on the CPU.

A fake model raises ``torch.cuda.OutOfMemoryError`` for batches above a limit, as a GPU would.
The expected samples come from calling ``ddpm_sample`` directly with the chunk sizes the
halving must settle on, using one generator in the same order.
"""

from __future__ import annotations

import logging

import pytest
import torch

from ddpm_lib import NoiseSchedule, ddim_sample, ddpm_sample
from ddpm_lib.sampling import sample_in_chunks


class FakeGpuModel:
    """Predicts ε = 0.1·x_t, and runs out of "GPU memory" above ``max_batch`` samples."""

    def __init__(self, max_batch: int) -> None:
        self.max_batch = max_batch
        self.batch_sizes: list[int] = []

    def __call__(self, x_t: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        self.batch_sizes.append(x_t.shape[0])
        if x_t.shape[0] > self.max_batch:
            raise torch.cuda.OutOfMemoryError(f"fake: {x_t.shape[0]} samples exceed {self.max_batch}")
        return 0.1 * x_t


SCHEDULE = NoiseSchedule(100)


def test_chunks_halve_until_they_fit() -> None:
    model = FakeGpuModel(max_batch=10)
    samples = sample_in_chunks(ddpm_sample, model, SCHEDULE, (100, 2), chunk_size=64,
                               generator=torch.Generator().manual_seed(0), num_inference_steps=5)

    # 64, 32 and 16 fail at their first model call; 8 fits, so 100 = 12 chunks of 8, then 4.
    first_calls = [size for size in model.batch_sizes if size > 8]
    assert first_calls == [64, 32, 16]
    assert samples.shape == (100, 2)
    assert samples.device.type == "cpu"

    generator = torch.Generator().manual_seed(0)
    expected = [ddpm_sample(model, SCHEDULE, (size, 2), 5, generator=generator).sample for size in [8] * 12 + [4]]
    assert torch.equal(samples, torch.cat(expected))


def test_chunks_same_seed_same_samples() -> None:
    def run() -> torch.Tensor:
        return sample_in_chunks(ddim_sample, FakeGpuModel(max_batch=3), SCHEDULE, (10, 1, 4, 4), chunk_size=16,
                                generator=torch.Generator().manual_seed(7), num_inference_steps=4, eta=1.0)

    assert torch.equal(run(), run())


def test_chunks_without_oom_match_one_call() -> None:
    # With room for everything, one chunk is exactly one sampler call.
    model = FakeGpuModel(max_batch=1000)
    samples = sample_in_chunks(ddpm_sample, model, SCHEDULE, (50, 2), chunk_size=64,
                               generator=torch.Generator().manual_seed(3), num_inference_steps=5)
    expected = ddpm_sample(model, SCHEDULE, (50, 2), 5, generator=torch.Generator().manual_seed(3)).sample
    assert torch.equal(samples, expected)


def test_chunk_of_one_oom_raises_clear_error() -> None:
    model = FakeGpuModel(max_batch=0)
    with pytest.raises(RuntimeError, match="chunk_size=1") as info:
        sample_in_chunks(ddpm_sample, model, SCHEDULE, (20, 2), chunk_size=16, num_inference_steps=3)
    assert "DDPM_DEVICE=cpu" in str(info.value)
    assert isinstance(info.value.__cause__, torch.cuda.OutOfMemoryError)
    assert model.batch_sizes == [16, 8, 4, 2, 1]


def test_chunk_retries_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ddpm_lib.sampling"):
        sample_in_chunks(ddpm_sample, FakeGpuModel(max_batch=5), SCHEDULE, (12, 2), chunk_size=20,
                         num_inference_steps=2)
    messages = [record.getMessage() for record in caplog.records]
    assert any("12 samples per chunk; retrying with 6" in message for message in messages)
    assert any("6 samples per chunk; retrying with 3" in message for message in messages)


def test_other_errors_are_not_retried() -> None:
    def broken_model(x_t: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        raise ValueError("a bug in the model")

    with pytest.raises(ValueError, match="a bug in the model"):
        sample_in_chunks(ddpm_sample, broken_model, SCHEDULE, (8, 2), chunk_size=4, num_inference_steps=2)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"chunk_size": 0}, ValueError, "chunk_size"),
        ({"chunk_size": -4}, ValueError, "chunk_size"),
        ({"chunk_size": 2.5}, ValueError, "chunk_size"),
        ({"chunk_size": True}, ValueError, "chunk_size"),
        ({"shape": (0, 2)}, ValueError, "shape"),
        ({"shape": ()}, ValueError, "shape"),
        ({"shape": (4.0, 2)}, ValueError, "shape"),
        ({"x_T": torch.zeros(8, 2)}, ValueError, "x_T"),
        ({"record": "all"}, ValueError, "record"),
        ({"sampler": "ddpm"}, TypeError, "sampler"),
    ],
)
def test_sample_in_chunks_rejects_bad_arguments(kwargs, error, match) -> None:
    arguments = {"sampler": ddpm_sample, "model": FakeGpuModel(100), "schedule": SCHEDULE, "shape": (8, 2)}
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        sample_in_chunks(**arguments, num_inference_steps=2)
