"""Developer tools the bot never runs: benchmarks, comparisons, evaluation helpers."""
