"""Lesson 4 on 2-D data: ε, x₀ and v targets (and two x₀ weightings) over several training seeds.

For each training seed and each variant, the Swiss-roll MLP of the ``swissroll-*`` presets is
trained with ``BASE_CONFIG``, changing only ``prediction_type`` or ``loss_weighting`` and the seed.
``BASE_CONFIG`` takes half the shipped presets' steps (2,000 instead of 4,000, learning rate 2e-3
instead of 3e-3) so that 15 runs fit in about an hour on a busy 2-core CPU, so its models are not
the shipped checkpoints. Each model is then measured:

1. the x₀-space MSE at each t in ``EVAL_TIMESTEPS`` on 1,000 held-out Swiss-roll points
   (``make_toy_dataset`` seed 1) with fixed noise (generator seed 0), as in the lesson;
2. the sliced Wasserstein distance of 2,000 samples to the training roll, as a ratio to the
   held-out-data baseline (``metrics.score_swiss_roll``), for DDPM with 1,000 steps and DDIM with
   50 and 10 steps, sampler seed 1234.

Results go to ``data/lesson4/targets_2d.json`` (rewritten after every model, so an interrupted run
keeps what it finished). Run from the repository root:

    python -m benchmarks.lesson4_targets_2d --seeds 0 1 2

Training uses one torch thread by default, like ``python -m ddpm_lib.train``.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import platform
import time
from pathlib import Path

import torch

from ddpm_lib import metrics
from ddpm_lib.data import make_toy_dataset
from ddpm_lib.parameterization import error_per_timestep
from ddpm_lib.sampling import ddim_sample, ddpm_sample
from ddpm_lib.training import TrainingConfig, build_model, build_schedule, train

OUTPUT = Path(__file__).resolve().parent.parent / "data" / "lesson4" / "targets_2d.json"
# Timesteps where the per-t error is measured; denser at small t, where the targets differ most.
EVAL_TIMESTEPS = [0, 10, 25, 50, 100, 150, 200, 300, 400, 500, 600, 700, 800, 900, 950, 999]
# variant name -> (prediction_type, loss_weighting)
VARIANTS = {
    "eps": ("epsilon", "none"),
    "x0": ("sample", "none"),
    "v": ("v_prediction", "none"),
    "x0-snr": ("sample", "snr"),
    "x0-minsnr5": ("sample", "min_snr"),
}
SAMPLERS = (("ddpm", 1000), ("ddim", 50), ("ddim", 10))
BASE_CONFIG = TrainingConfig(
    num_steps=2000, batch_size=256, learning_rate=2e-3, warmup_steps=100, seed=0, model_type="mlp",
    model_kwargs={"data_dim": 2, "hidden_dim": 128, "num_blocks": 3, "time_embed_dim": 64},
)
NUM_SAMPLES = 2000
SAMPLER_SEED = 1234


def heldout_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Return the held-out x₀ (1000, 2) and the fixed noise ε (1000, 2) used for per-t errors."""
    x0 = make_toy_dataset("swiss_roll", num_points=1000, seed=1)
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(0))
    return x0, noise


def measure_model(model, schedule, prediction_type: str) -> dict:
    """Return the per-t x₀-space errors and the sample-quality ratio for each sampler."""
    x0, noise = heldout_batch()
    errors = error_per_timestep(model, schedule, prediction_type, x0, noise, torch.tensor(EVAL_TIMESTEPS))
    ratios = {}
    for sampler, steps in SAMPLERS:
        sample_fn = ddpm_sample if sampler == "ddpm" else ddim_sample
        generator = torch.Generator().manual_seed(SAMPLER_SEED)
        samples = sample_fn(
            model, schedule, (NUM_SAMPLES, 2), num_inference_steps=steps, prediction_type=prediction_type,
            generator=generator,
        ).sample
        ratios[f"{sampler}-{steps}"] = metrics.score_swiss_roll(samples)["ratio"]
    return {"x0_mse_per_t": [round(float(e), 6) for e in errors], "sw_ratio": ratios}


def run_one(variant: str, seed: int) -> dict:
    """Train one variant with one seed on the CPU and measure it."""
    prediction_type, loss_weighting = VARIANTS[variant]
    config = dataclasses.replace(BASE_CONFIG, prediction_type=prediction_type, loss_weighting=loss_weighting, seed=seed)
    model = build_model(config)
    schedule = build_schedule(config)
    data = make_toy_dataset("swiss_roll", num_points=2000, seed=0)
    result = train(model, schedule, data, config, progress=False, device="cpu")
    measured = measure_model(model, schedule, prediction_type)
    measured["training_seconds"] = round(result.seconds, 1)
    return measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    results: dict = {
        "description": "Swiss roll, MLP trained 2,000 steps (BASE_CONFIG) with prediction_type / loss_weighting "
        "/ seed changed; x0_mse_per_t on 1,000 held-out points (seed 1) with fixed noise (seed 0); sw_ratio = "
        "sliced Wasserstein / held-out baseline for 2,000 samples, sampler seed 1234.",
        "command": "python -m benchmarks.lesson4_targets_2d --seeds " + " ".join(map(str, args.seeds)),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}",
        "eval_timesteps": EVAL_TIMESTEPS,
        "seeds": args.seeds,
        "runs": {variant: {} for variant in args.variants},
    }
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for variant in args.variants:
            start = time.perf_counter()
            results["runs"][variant][str(seed)] = run_one(variant, seed)
            results["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            OUTPUT.write_text(json.dumps(results, indent=1) + "\n")
            print(f"{variant} seed {seed}: {results['runs'][variant][str(seed)]['sw_ratio']} "
                  f"({time.perf_counter() - start:.0f} s)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
