"""Turn the benchmark results into BENCHMARKS.md, with each figure beside its target."""

from __future__ import annotations

from pathlib import Path

GPU_NOTE = (
    "Not measured yet: no GPU was available to the sessions that ran these benchmarks. "
    "`python benchmarks/gpu_sampling.py` is the prepared script that times the samplers on CUDA "
    "beside the CPU; its figures go here when a GPU is available."
)


def _verdict(ok: bool) -> str:
    return "meets target" if ok else "**misses target**"


def _sampler(rows: list[dict]) -> list[str]:
    lines = [
        "## 1. Sampler overhead",
        "",
        "Wall time of a whole sampling loop divided by the time of the same model calls alone (the floor), "
        "measured round by round (floor, ours, `diffusers`), so each ratio pairs runs taken seconds apart. "
        "The `diffusers` loop is `DDPMScheduler.step` / `DDIMScheduler.step` (diffusers "
        "with `clip_sample=False`, trailing spacing) around the same model and inputs. "
        "Target: ours ≤ 1.1× the floor, and no slower than `diffusers`.",
        "",
        "| model | sampler | floor (s) | ours / floor | diffusers / floor | ours / diffusers | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        ok = row["ours_ratio"].median <= 1.1 and row["ours_vs_diffusers"].median <= 1.0
        lines.append(
            f"| {row['model']} | {row['sampler']} | {row['floor_s'].format()} | {row['ours_ratio'].format()} | "
            f"{row['diffusers_ratio'].format()} | {row['ours_vs_diffusers'].format()} | {_verdict(ok)} |"
        )
    return lines + ["", "Figures are median (min–max, number of repeats)."]


def _slider(rows: list[dict]) -> list[str]:
    lines = [
        "## 2. Slider latency",
        "",
        "One explorer update called directly (new state, redraw of the persistent artists, PNG encode), "
        "over a sweep of t values. Target: median ≤ 50 ms.",
        "",
        "| explorer | median (ms) | 95th percentile (ms) | moves | verdict |",
        "|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['explorer']} | {row['median_ms']:.1f} | {row['p95_ms']:.1f} | {row['moves']} | "
            f"{_verdict(row['median_ms'] <= 50)} |"
        )
    return lines


def _notebooks(rows: list[dict]) -> list[str]:
    lines = [
        "## 3. Notebook run time and 6. memory",
        "",
        "Each lesson executed top to bottom with nbclient in a fresh process (as nbval executes it), once. "
        "Peak memory is the kernel process's maximum resident set size. Target: ≤ 60 s each.",
        "",
        "| notebook | seconds | kernel peak RSS (MiB) | verdict |",
        "|---|---|---|---|",
    ]
    for row in rows:
        if "error" in row:
            lines.append(f"| {row['notebook']} | failed: {row['error']} | | **failed** |")
            continue
        lines.append(
            f"| {row['notebook']} | {row['seconds']:.1f} | {row['kernel_peak_mib']:.0f} | {_verdict(row['seconds'] <= 60)} |"
        )
    return lines


def _training(rows: list[dict]) -> list[str]:
    marks = list(rows[0]["ratios"]) if rows else []
    header = " | ".join(f"{mark} s" for mark in marks)
    lines = [
        "## 4. Training time to quality (2-D Swiss roll)",
        "",
        "The `swissroll-*` presets' MLP trained at a constant learning rate (the presets' peak); the clock "
        "stops while 1,000 samples are drawn (DDPM, 1,000 steps) and scored. Each cell is the sliced "
        "Wasserstein distance divided by the held-out-data baseline. One run per prediction_type. "
        "Target: ε reaches 1.5× within 30 s.",
        "",
        f"| prediction_type | {header} | seconds to reach 1.5× | steps in 60 s |",
        "|---|" + "---|" * len(marks) + "---|---|",
    ]
    for row in rows:
        cells = " | ".join(f"{row['ratios'][mark]:.2f}" for mark in marks)
        reached = row["seconds_to_target"]
        lines.append(
            f"| {row['prediction_type']} | {cells} | {reached if reached is not None else 'not within 60'} | {row['steps']} |"
        )
    return lines


def _throughput(result: dict) -> list[str]:
    return [
        "## 5. Training throughput against the machine",
        "",
        f"The shipped digits U-Net, batch {result['batch_size']} of 16×16 images, Adam. FLOPs per step "
        f"(forward + backward, counted by `torch.utils.flop_counter`): {result['flops_per_step'] / 1e9:.2f} GFLOP. "
        "The ceiling is this machine's measured float32 1024×1024 matrix-multiply rate.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| training steps per second | {result['steps_per_s'].format()} |",
        f"| achieved GFLOP/s | {_scaled(result['achieved_flops'])} |",
        f"| matmul GFLOP/s (ceiling) | {_scaled(result['matmul_flops'])} |",
        f"| achieved / ceiling (%) | {result['percent_of_ceiling'].format()} |",
    ]


def _scaled(spread) -> str:
    return f"{spread.median / 1e9:.3g} ({spread.low / 1e9:.3g}–{spread.high / 1e9:.3g}, n={spread.repeats})"


def write_report(results: dict, path: Path) -> None:
    lines = [
        "# Benchmarks",
        "",
        f"- Machine: {results['machine']}",
        f"- Date: {results['date']}",
        f"- Command: `{results['command']}`",
        "",
        "Every figure is measured in one run on one machine. These machines are shared and noisy, so "
        "ratios taken side by side are the figures to trust; absolute times are given beside them.",
        "",
    ]
    sections = (
        ("sampler", _sampler),
        ("slider", _slider),
        ("notebooks", _notebooks),
        ("training", _training),
        ("throughput", _throughput),
    )
    for key, render in sections:
        if key in results:
            lines += render(results[key]) + [""]
        else:
            lines += [f"<!-- {key}: not run in this invocation -->", ""]
    lines += ["## 7. GPU", "", GPU_NOTE, ""]
    if "notes" in results:
        lines += ["## Findings", "", results["notes"], ""]
    path.write_text("\n".join(lines))
