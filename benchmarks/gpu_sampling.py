"""Sampling time of the shipped checkpoints on the CPU and, when present, on CUDA.

For each of ``digits-eps`` and ``swissroll-eps`` this times ``ddpm_sample`` with 1,000 steps and
``ddim_sample`` with 100, 50, 20 and 10 steps, on every available device. Each case runs once as
a warm-up (CUDA kernels load and cuDNN picks algorithms on the first call), then ``--repeats``
more times. The device is synchronised before each clock read, because CUDA runs kernels
asynchronously and a clock read right after the call would time only the launches. The table
reports the median with the minimum and maximum, and each device's speed-up over the CPU.

Run from the repository root (the CPU row of the 1,000-step digits case takes minutes on two
cores; ``--skip-cpu-ddpm`` leaves it out):

    python -m benchmarks.gpu_sampling --repeats 5
    python -m benchmarks.gpu_sampling --devices cuda --repeats 10
"""

from __future__ import annotations

import argparse
import time

import torch

from ddpm_lib import ddim_sample, ddpm_sample
from ddpm_lib.device import describe_device, synchronize
from ddpm_lib.training import load_pretrained

from .timing import Spread, spread

CHECKPOINTS = {"digits-eps": (1, 16, 16), "swissroll-eps": (2,)}  # per-sample shape of each checkpoint
# (sampler name, sampler, num_inference_steps)
CASES = (("DDPM", ddpm_sample, 1000),) + tuple(("DDIM", ddim_sample, steps) for steps in (100, 50, 20, 10))


def available_devices() -> list[str]:
    """Return "cpu" plus "cuda" when a CUDA device is present."""
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def time_sampler(sample_fn, device: torch.device, repeats: int) -> Spread:
    """Time ``sample_fn()`` ``repeats`` times after one warm-up call, synchronising ``device`` around each."""
    sample_fn()
    seconds = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        sample_fn()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return spread(seconds)


def benchmark(devices: list[str], batch_size: int, repeats: int, skip_cpu_ddpm: bool) -> list[dict]:
    """Time every checkpoint, sampler and step count on each device and return one row per case."""
    rows = []
    for device_name in devices:
        device = torch.device(device_name)
        for checkpoint, sample_shape in CHECKPOINTS.items():
            model, schedule, entry = load_pretrained(checkpoint, device=device)
            prediction_type = entry["config"]["prediction_type"]
            shape = (batch_size, *sample_shape)
            for sampler_name, sampler, num_steps in CASES:
                if skip_cpu_ddpm and device.type == "cpu" and sampler_name == "DDPM":
                    continue

                def sample_fn(sampler=sampler, num_steps=num_steps):
                    generator = torch.Generator().manual_seed(0)
                    return sampler(
                        model, schedule, shape, num_inference_steps=num_steps,
                        prediction_type=prediction_type, generator=generator,
                    )  # fmt: skip

                result = time_sampler(sample_fn, device, repeats)
                rows.append(dict(device=describe_device(device), device_type=device.type, checkpoint=checkpoint,
                                 sampler=sampler_name, steps=num_steps, seconds=result))  # fmt: skip
                print(f"  {describe_device(device)} {checkpoint} {sampler_name}-{num_steps}: {result.format()} s", flush=True)
    return rows


def print_table(rows: list[dict], batch_size: int) -> None:
    """Print a Markdown table with the median time per case and the speed-up over the CPU."""
    cpu_medians = {(r["checkpoint"], r["sampler"], r["steps"]): r["seconds"].median for r in rows if r["device_type"] == "cpu"}
    print(f"\nBatch of {batch_size} samples; seconds per full sampling run, median (min–max, repeats).\n")
    print("| device | checkpoint | sampler | steps | seconds | ms per step | speed-up over CPU |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        key = (row["checkpoint"], row["sampler"], row["steps"])
        median = row["seconds"].median
        speedup = f"{cpu_medians[key] / median:.1f}×" if key in cpu_medians and row["device_type"] != "cpu" else "–"
        print(f"| {row['device']} | {row['checkpoint']} | {row['sampler']} | {row['steps']} | "
              f"{row['seconds'].format()} | {1000 * median / row['steps']:.2f} | {speedup} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", nargs="+", choices=("cpu", "cuda"), default=None,
                        help="devices to time (default: the CPU, plus CUDA when present)")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=256, help="samples per sampling run (default 256)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per case after one warm-up (default 5)")
    parser.add_argument("--skip-cpu-ddpm", action="store_true", help="leave out the 1,000-step DDPM runs on the CPU")
    args = parser.parse_args()
    devices = args.devices or available_devices()
    if "cuda" in devices and not torch.cuda.is_available():
        parser.error("--devices cuda was requested but CUDA is not available")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} CPU threads, devices: {', '.join(devices)}", flush=True)
    print_table(benchmark(devices, args.batch_size, args.repeats, args.skip_cpu_ddpm), args.batch_size)


if __name__ == "__main__":
    main()
