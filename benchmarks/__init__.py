"""Speed and quality benchmarks; `python -m benchmarks` runs them all and rewrites BENCHMARKS.md."""
