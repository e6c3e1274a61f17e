"""Freemium training rows and features vs. the trial shape, on the same year of history.

    python benchmarks/bench_freemium.py                  # 100k users, a year
    python benchmarks/bench_freemium.py --users 20000    # quick look

It simulates a freemium product (`pql simulate --shape freemium`: users signing up over
a year, converting at any age), reads it once, then builds the training rows and their
features (`features.pipeline.training_features`) twice on the same data set: with the
freemium shape (every still-free user at calendar cuts every `freemium.every_days`, up
to `max_age_days` old) and with the trial shape (signup + `snapshots_days`). Each is timed
`--repeats` times (median); peak memory is traced (tracemalloc sees numpy's and pandas'
buffers) in a separate, untimed run. Ratios are freemium / trial from the same run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pql.features.pipeline import Dataset, load_dataset, training_features
from pql.features.shape import ProductShape
from pql.features.spec import load_spec
from pql.simulator.freemium import simulate_freemium

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_features import _peak_bytes, _timed

GIB = 1024**3


def _shaped(dataset: Dataset, shape: str) -> Dataset:
    return replace(dataset, shape=ProductShape(shape, False, "set by the benchmark"))  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per shape (median)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pql-bench-") as tmp:
        started = time.perf_counter()
        summary = simulate_freemium(args.users, args.seed, Path(tmp), days=args.days)
        simulated = time.perf_counter() - started
        started = time.perf_counter()
        dataset = load_dataset(load_spec(summary.spec_path))
        loaded = time.perf_counter() - started
    spec = dataset.spec
    print(
        f"data    {summary.users:,} free users, {summary.events:,} events over {args.days} days "
        f"({summary.start:%Y-%m-%d} .. {summary.end:%Y-%m-%d}), {summary.conversions:,} "
        f"conversions; simulated in {simulated:.1f} s, read in {loaded:.1f} s",
        flush=True,
    )
    print(
        f"shapes  trial: signup + {spec.snapshots_days} days; freemium: every still-free user "
        f"at calendar cuts every {spec.freemium.every_days:g} days, up to "
        f"{spec.freemium.max_age_days:g} days old",
        flush=True,
    )
    results = {}
    for shape in ("trial", "freemium"):
        shaped = _shaped(dataset, shape)
        seconds, (frame, rows) = _timed(
            lambda shaped=shaped: training_features(shaped), args.repeats
        )
        peak = _peak_bytes(lambda shaped=shaped: training_features(shaped))
        results[shape] = (seconds, len(frame), peak)
        print(
            f"{shape:9s}{len(frame):,} training rows ({rows.candidates:,} candidate cutoffs, "
            f"{len(frame) / summary.users:.1f} per user), {frame.shape[1]} columns: median "
            f"{seconds:.2f} s over {args.repeats} runs "
            f"({len(frame) / seconds / 1e3:,.0f}k rows/s), "
            f"peak {peak / GIB:.2f} GiB",
            flush=True,
        )
        del frame, rows
    (t_s, t_rows, t_peak), (f_s, f_rows, f_peak) = results["trial"], results["freemium"]
    print(
        f"ratio   freemium / trial: rows {f_rows / t_rows:.1f}x, time {f_s / t_s:.1f}x, "
        f"peak memory {f_peak / t_peak:.1f}x; time per row {f_s / f_rows / (t_s / t_rows):.2f}x",
        flush=True,
    )


if __name__ == "__main__":
    main()
