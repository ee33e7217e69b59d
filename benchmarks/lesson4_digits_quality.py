"""Lesson 4's digits sample-quality table: each shipped digits checkpoint under three samplers.

For each checkpoint (default: ``digits-eps``, ``digits-x0``, ``digits-v``, ``digits-x0-snr``,
``digits-x0-minsnr5``) and each sampler (DDIM with 10 and 50 steps, DDPM with 1,000 steps), draw
``--num-samples`` digits from the same sampler seed, with x̂₀ clamped to [−1, 1] at each step
as in the shipped checkpoints' evaluation (``--no-clip`` turns that off), and score them with
``ddpm_lib.metrics.score_digits``: the Fréchet distance in the features of the shipped digits
classifier, as a ratio to the held-out-data baseline. DDPM with 1,000 steps is too slow for the
lesson's 60 s budget, so the lesson reads these numbers from ``data/lesson4/digits_sample_quality.json``.

Run from the repository root (one checkpoint or sampler at a time is fine; results are merged):

    python -m benchmarks.lesson4_digits_quality
    python -m benchmarks.lesson4_digits_quality --names digits-eps --samplers ddpm-1000
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import json
import platform
import time
from pathlib import Path

import torch

from ddpm_lib import metrics
from ddpm_lib.sampling import ddim_sample, ddpm_sample
from ddpm_lib.training import load_pretrained

OUTPUT = Path(__file__).resolve().parent.parent / "data" / "lesson4" / "digits_sample_quality.json"
NAMES = ("digits-eps", "digits-x0", "digits-v", "digits-x0-snr", "digits-x0-minsnr5")
SAMPLERS = ("ddim-10", "ddim-50", "ddpm-1000")


def sample_and_score(name: str, sampler: str, num_samples: int, seed: int, clip_sample: bool) -> dict:
    """Draw ``num_samples`` digits from checkpoint ``name`` with ``sampler`` and score them."""
    model, schedule, entry = load_pretrained(name, device="cpu")
    kind, steps = sampler.split("-")
    sample_fn = ddpm_sample if kind == "ddpm" else ddim_sample
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    samples = sample_fn(
        model, schedule, (num_samples, 1, 16, 16), num_inference_steps=int(steps),
        prediction_type=entry["config"]["prediction_type"], clip_sample=clip_sample, generator=generator,
    ).sample
    seconds = time.perf_counter() - start
    scores = metrics.score_digits(samples)
    scores.update(num_samples=num_samples, seed=seed, clip_sample=clip_sample, sampling_seconds=round(seconds, 1),
                  checkpoint_sha256=entry["sha256"])
    return scores


def merge_result(name: str, sampler: str, scores: dict, header: dict) -> None:
    """Write one score into the JSON file, keeping the others (a lock file serialises writers)."""
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    with open(OUTPUT.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        results = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {"results": {}}
        results.update(header)
        results["results"].setdefault(name, {})[sampler] = scores
        OUTPUT.write_text(json.dumps(results, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--names", nargs="+", default=list(NAMES), help="checkpoint names from the manifest")
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--num-samples", type=int, default=297, help="digits per score (at least 297)")
    parser.add_argument("--seed", type=int, default=1234, help="sampler seed")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--no-clip", action="store_true", help="do not clamp x̂₀ to [−1, 1] while sampling")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    header = {
        "description": "Fréchet distance in digits-classifier features / held-out-data baseline "
        "(ddpm_lib.metrics.score_digits), same sampler seed for every checkpoint.",
        "command": "python -m benchmarks.lesson4_digits_quality",
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}",
    }
    for name in args.names:
        for sampler in args.samplers:
            scores = sample_and_score(name, sampler, args.num_samples, args.seed, clip_sample=not args.no_clip)
            scores["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            merge_result(name, sampler, scores, header)
            print(f"{name} {sampler}: ratio {scores['ratio']} ({scores['sampling_seconds']} s)", flush=True)


if __name__ == "__main__":
    main()
