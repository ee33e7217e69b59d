"""Seconds of CPU training for the 2-D Swiss roll to reach a sliced Wasserstein target.

For each prediction_type the MLP of the shipped ``swissroll-*`` presets trains with a constant
learning rate (the presets' peak, so that a run can be stopped at any time), and the clock is
paused while samples are drawn and scored at fixed marks of training time.
"""

from __future__ import annotations

import time

import torch

from ddpm_lib import ddpm_sample
from ddpm_lib.metrics import score_swiss_roll
from ddpm_lib.train import PRESETS, load_dataset
from ddpm_lib.training import build_model, build_schedule, training_loss

MARKS_S = (5, 10, 15, 20, 30, 45, 60)
TARGET_RATIO = 1.5
NUM_SAMPLES = 1000
PRESET_FOR_TYPE = {"epsilon": "swissroll-eps", "sample": "swissroll-x0", "v_prediction": "swissroll-v"}


def _score(model, schedule, prediction_type: str) -> float:
    model.eval()
    samples = ddpm_sample(
        model, schedule, (NUM_SAMPLES, 2), prediction_type=prediction_type, clip_sample=False,
        generator=torch.Generator().manual_seed(0),
    ).sample  # fmt: skip
    model.train()
    return score_swiss_roll(samples)["ratio"]


def run_one(prediction_type: str) -> dict:
    """Train one model, score it at each mark of training time and return the ratios."""
    config = PRESETS[PRESET_FOR_TYPE[prediction_type]].config
    torch.manual_seed(config.seed)
    model = build_model(config).train()
    schedule = build_schedule(config)
    data = load_dataset("swiss_roll")
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    generator = torch.Generator().manual_seed(config.seed)

    trained_s, steps, ratios = 0.0, 0, {}
    for mark in MARKS_S:
        while trained_s < mark:
            start = time.perf_counter()
            index = torch.randint(0, data.shape[0], (config.batch_size,), generator=generator)
            loss, _, _ = training_loss(model, schedule, data[index], config, generator)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            trained_s += time.perf_counter() - start
            steps += 1
        ratios[mark] = _score(model, schedule, prediction_type)
    reached = next((mark for mark in MARKS_S if ratios[mark] <= TARGET_RATIO), None)
    return {"prediction_type": prediction_type, "ratios": ratios, "steps": steps, "seconds_to_target": reached}


def run() -> list[dict]:
    return [run_one(prediction_type) for prediction_type in PRESET_FOR_TYPE]
