"""Run every benchmark and rewrite BENCHMARKS.md: `python -m benchmarks` (about 10 minutes on 2 cores)."""

from __future__ import annotations

import argparse
import datetime
import platform
import sys
from pathlib import Path

import torch

from . import notebook_runtime, sampler_overhead, slider_latency, throughput, training_quality
from .report import write_report

SECTIONS = ("sampler", "slider", "notebooks", "training", "throughput")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", choices=SECTIONS, nargs="+", help="run only these sections (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of each timed sampler loop (default 3)")
    parser.add_argument("--output", type=Path, default=Path(__file__).resolve().parent.parent / "BENCHMARKS.md")
    parser.add_argument(
        "--threads", type=int, default=1,
        help="torch CPU threads (default 1, as the lessons use: on a shared 2-core machine two threads "
        "stall each other and time the contention, not the code)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.threads < 1:
        parser.error(f"--threads must be at least 1, got {args.threads}")
    torch.set_num_threads(args.threads)
    sections = args.only or SECTIONS

    results: dict[str, object] = {
        "machine": f"{platform.machine()} {platform.system()}, {torch.get_num_threads()} torch threads, "
        f"{_cpu_name()}, Python {platform.python_version()}, torch {torch.__version__}",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""),
    }
    runners = {
        "sampler": lambda: sampler_overhead.run(repeats=args.repeats),
        "slider": slider_latency.run,
        "notebooks": notebook_runtime.run,
        "training": training_quality.run,
        "throughput": throughput.run,
    }
    for name in sections:
        print(f"running {name} …", flush=True)
        results[name] = runners[name]()
    write_report(results, args.output)
    print(f"wrote {args.output}")


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
