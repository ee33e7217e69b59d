"""Retrain a shipped checkpoint from its seed: ``python -m ddpm_lib.train --preset digits-eps``.

Each preset fixes the data, the ``TrainingConfig`` (seed included) and how the result is scored.
The command trains on the CPU with one thread by default. So with the same torch build it
reproduces the shipped weights bit for bit, whatever the number of cores. It saves
``data/checkpoints/NAME.pt`` and writes the manifest entry: config, sha256, size, metrics with
their data-vs-data baseline, training time, machine, torch version and date. ``--list`` prints
the presets.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import metrics
from .checkpoints import CHECKPOINT_DIR, merge_manifest_metrics, read_manifest, save_checkpoint, update_manifest
from .data import load_digits, make_toy_dataset
from .sampling import ddim_sample, ddpm_sample
from .training import TrainingConfig, build_model, build_schedule, load_pretrained, train


@dataclass(frozen=True)
class Preset:
    """A shipped checkpoint: its data set, training config and evaluation samplers."""

    dataset: str  # "swiss_roll" (2,000 points, seed 0) or "digits" (16×16 train split)
    config: TrainingConfig
    # (sampler, num_inference_steps, num_samples, clip_sample) scored into the manifest. Clipping
    # x̂₀ to [−1, 1] at each step matches the data range of every preset.
    evaluations: tuple[tuple[str, int, int, bool], ...] = field(default=())
    description: str = ""


SWISS_ROLL = dict(
    num_steps=4000, batch_size=256, learning_rate=3e-3, warmup_steps=100, seed=0, model_type="mlp",
    model_kwargs={"data_dim": 2, "hidden_dim": 128, "num_blocks": 3, "time_embed_dim": 64},
)  # fmt: skip
DIGITS = dict(
    num_steps=1500, batch_size=32, learning_rate=2e-3, warmup_steps=100, seed=0, ema_decay=0.995, model_type="unet",
    model_kwargs={"in_channels": 1, "base_channels": 16, "channel_mults": (1, 2, 2), "time_embed_dim": 64},
)  # fmt: skip
SWISS_ROLL_EVAL = (("ddpm", 1000, 2000, False),)
DIGITS_EVAL = (("ddim", 50, 1000, True),)
DIGITS_EVAL_FULL = (("ddim", 50, 1000, True), ("ddpm", 1000, 1000, True))

PRESETS: dict[str, Preset] = {
    "swissroll-eps": Preset("swiss_roll", TrainingConfig(prediction_type="epsilon", **SWISS_ROLL), SWISS_ROLL_EVAL),
    "swissroll-x0": Preset("swiss_roll", TrainingConfig(prediction_type="sample", **SWISS_ROLL), SWISS_ROLL_EVAL),
    "swissroll-v": Preset("swiss_roll", TrainingConfig(prediction_type="v_prediction", **SWISS_ROLL), SWISS_ROLL_EVAL),
    "digits-eps": Preset("digits", TrainingConfig(prediction_type="epsilon", **DIGITS), DIGITS_EVAL_FULL),
    "digits-x0": Preset("digits", TrainingConfig(prediction_type="sample", **DIGITS), DIGITS_EVAL),
    "digits-v": Preset("digits", TrainingConfig(prediction_type="v_prediction", **DIGITS), DIGITS_EVAL),
    "digits-x0-snr": Preset(
        "digits", TrainingConfig(prediction_type="sample", loss_weighting="snr", **DIGITS), DIGITS_EVAL
    ),
    "digits-x0-minsnr5": Preset(
        "digits",
        TrainingConfig(prediction_type="sample", loss_weighting="min_snr", min_snr_gamma=5.0, **DIGITS),
        DIGITS_EVAL,
    ),
}
CLASSIFIER_PRESET = "digits-classifier"
PRESET_NAMES = tuple(PRESETS) + (CLASSIFIER_PRESET,)


def load_dataset(name: str) -> torch.Tensor:
    """Return a preset's training data: the Swiss roll (2,000 points, seed 0) or the digits train split."""
    if name == "swiss_roll":
        return make_toy_dataset("swiss_roll", num_points=2000, seed=0)
    if name == "digits":
        return load_digits(size=16, split="train")
    raise ValueError(f"unknown preset data set {name!r}; expected 'swiss_roll' or 'digits'")


def _machine() -> str:
    return f"{platform.machine()} {platform.processor() or platform.system()}, {torch.get_num_threads()} torch thread(s)"


def evaluate_preset(
    name: str, seed: int = 1234, only: list[str] | None = None, checkpoint_dir: Path = CHECKPOINT_DIR
) -> dict[str, Any]:
    """Sample from the saved checkpoint ``name`` and score it against its data-vs-data baseline.

    Returns ``{"SAMPLER-STEPS": {...metric fields...}}`` for each of the preset's evaluations, or
    for those whose key is in ``only`` (such as ``["ddim-50"]``).
    """
    preset = PRESETS[name]
    model, schedule, entry = load_pretrained(name, device="cpu", checkpoint_dir=checkpoint_dir)
    prediction_type = entry["config"]["prediction_type"]
    results = {}
    for sampler, steps, num_samples, clip_sample in preset.evaluations:
        if only is not None and f"{sampler}-{steps}" not in only:
            continue
        shape = (num_samples, 2) if preset.dataset == "swiss_roll" else (num_samples, 1, 16, 16)
        generator = torch.Generator().manual_seed(seed)
        sample_fn = ddpm_sample if sampler == "ddpm" else ddim_sample
        start = time.perf_counter()
        samples = sample_fn(
            model,
            schedule,
            shape,
            num_inference_steps=steps,
            prediction_type=prediction_type,
            clip_sample=clip_sample,
            generator=generator,
        ).sample
        seconds = time.perf_counter() - start
        if preset.dataset == "swiss_roll":
            scores = metrics.score_swiss_roll(samples)
        else:
            scores = metrics.score_digits(samples)
        scores.update(sampler=sampler, num_inference_steps=steps, num_samples=num_samples, clip_sample=clip_sample, seed=seed)
        scores["sampling_seconds"] = round(seconds, 1)
        results[f"{sampler}-{steps}"] = scores
        print(f"{name} {sampler}-{steps}: {scores}", flush=True)
    return results


def train_preset(name: str, progress: bool = True, checkpoint_dir: Path = CHECKPOINT_DIR) -> dict[str, Any]:
    """Train preset ``name`` from its seed, save the checkpoint and write its manifest entry.

    With another ``checkpoint_dir`` the shipped files are left alone, and the new sha256 is
    compared with the shipped one: equal hashes mean a bit-for-bit reproduction.
    """
    shipped = read_manifest(CHECKPOINT_DIR).get(name, {}).get("sha256")
    preset = PRESETS[name]
    config = preset.config
    data = load_dataset(preset.dataset)
    model = build_model(config)
    schedule = build_schedule(config)
    result = train(model, schedule, data, config, progress=progress, device="cpu")
    saved = save_checkpoint(model, Path(checkpoint_dir) / f"{name}.pt", config.to_dict())
    entry = {
        **saved,
        "kind": "denoiser",
        "dataset": preset.dataset,
        "config": config.to_dict(),
        "num_parameters": sum(p.numel() for p in model.parameters()),
        "final_loss": round(float(result.losses[-max(1, config.num_steps // 20) :].mean()), 5),
        "training_seconds": round(result.seconds, 1),
        "machine": _machine(),
        "torch_version": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"python -m ddpm_lib.train --preset {name}",
        "metrics": {},
    }
    update_manifest(name, entry, checkpoint_dir)
    if shipped is not None and Path(checkpoint_dir).resolve() != CHECKPOINT_DIR.resolve():
        verdict = "matches" if shipped == saved["sha256"] else "differs from"
        print(f"{name}: sha256 {verdict} the shipped checkpoint's", flush=True)
    print(f"{name}: saved {saved['file']} ({saved['size_bytes']} bytes, sha256 {saved['sha256'][:12]}…) "
          f"after {result.seconds:.1f} s, final loss {entry['final_loss']}", flush=True)  # fmt: skip
    return entry


def train_classifier_preset(checkpoint_dir: Path = CHECKPOINT_DIR) -> dict[str, Any]:
    """Train the digits classifier behind the Fréchet distance and write its manifest entry."""
    start = time.perf_counter()
    classifier, accuracy = metrics.train_digits_classifier(seed=0)
    seconds = time.perf_counter() - start
    saved = save_checkpoint(classifier, Path(checkpoint_dir) / f"{CLASSIFIER_PRESET}.pt", metrics.CLASSIFIER_CONFIG)
    entry = {
        **saved,
        "kind": "classifier",
        "dataset": "digits",
        "config": metrics.CLASSIFIER_CONFIG,
        "num_parameters": sum(p.numel() for p in classifier.parameters()),
        "metrics": {"heldout_accuracy": round(accuracy, 4)},
        "training_seconds": round(seconds, 1),
        "machine": _machine(),
        "torch_version": torch.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": f"python -m ddpm_lib.train --preset {CLASSIFIER_PRESET}",
    }
    update_manifest(CLASSIFIER_PRESET, entry, checkpoint_dir)
    print(f"{CLASSIFIER_PRESET}: held-out accuracy {accuracy:.4f}, {seconds:.1f} s", flush=True)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ddpm_lib.train", description=__doc__.split("\n")[0])
    parser.add_argument("--preset", choices=PRESET_NAMES, action="append", help="preset to train (repeatable)")
    parser.add_argument("--list", action="store_true", help="print the presets and which are in the manifest, then exit")
    parser.add_argument("--skip-eval", action="store_true", help="train and save only; score later with --eval-only")
    parser.add_argument("--eval-only", action="store_true", help="score the saved checkpoint without retraining")
    parser.add_argument(
        "--evaluations", nargs="+", metavar="KEY", help="score only these evaluations, e.g. ddim-50 (default: all)"
    )
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=CHECKPOINT_DIR,
        help="folder for the checkpoint and its manifest (default: the shipped data/checkpoints); "
        "another folder leaves the shipped files alone and reports whether the sha256 matches",
    )
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1; changes the last bits)")
    parser.add_argument("--no-progress", action="store_true", help="hide the tqdm progress bar")
    args = parser.parse_args(argv)

    if args.list:
        shipped = read_manifest()
        for name in PRESET_NAMES:
            status = f"shipped, sha256 {shipped[name]['sha256'][:12]}…" if name in shipped else "not trained yet"
            print(f"{name:20s} {status}")
        return 0
    if not args.preset:
        parser.error("give --preset NAME (or --list)")
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    for name in args.preset:
        if name == CLASSIFIER_PRESET:
            if not args.eval_only:
                train_classifier_preset(args.checkpoint_dir)
            continue
        if not args.eval_only:
            train_preset(name, progress=not args.no_progress, checkpoint_dir=args.checkpoint_dir)
        if not args.skip_eval:
            results = evaluate_preset(name, only=args.evaluations, checkpoint_dir=args.checkpoint_dir)
            merge_manifest_metrics(name, results, args.checkpoint_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
