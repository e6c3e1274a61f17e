"""Loading an event log with exact duplicates over every source column: pql vs. pandas.

    python benchmarks/bench_ingest.py                  # 10M events
    python benchmarks/bench_ingest.py --rows 1000000   # quick look

Writes a Parquet log with the three mapped columns (user, event, time) and two columns
the spec does not map (`item_id` text, `price` number), 1% of rows sent twice. Times
`features.ingest.load_events` (read, id normalisation, timestamp parsing, every
unusable reason, duplicates identical in every column) against the peer in the same
run: `pandas.read_parquet` plus `DataFrame.duplicated()` over all columns (only the
duplicate check, no validation). Prints the median of `--repeats` runs and the ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pql.features.ingest import load_events
from pql.features.spec import parse_spec


def write_log(path: Path, rows: int, seed: int = 0) -> int:
    """The log, with 1% of its rows repeated; returns how many repeats it holds."""
    rng = np.random.default_rng(seed)
    unique = rows - rows // 100
    frame = pd.DataFrame(
        {
            "user_id": pd.Series(rng.integers(0, 200_000, unique)).map("u{}".format),
            "event": rng.choice([f"e{i}" for i in range(30)], unique),
            "timestamp": pd.Timestamp("2026-01-01", tz="UTC")
            + pd.to_timedelta(rng.integers(0, 90 * 86_400_000, unique), unit="ms"),
            "item_id": pd.Series(rng.integers(0, 50_000, unique)).map("item-{}".format),
            "price": rng.uniform(0, 100, unique).round(2),
        }
    )
    repeats = frame.sample(rows - unique, random_state=seed)
    pd.concat([frame, repeats], ignore_index=True).to_parquet(path, index=False)
    return int(pd.concat([frame, repeats]).duplicated().sum())


def timed(run, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.parquet"
        expected = write_log(path, args.rows)
        spec = parse_spec(
            {
                "product": "bench",
                "data": {"events": {"path": str(path)}},
                "label": {"conversion_event": "e1"},
                "actions": {"a": {"events": ["e2"]}},
            }
        )
        pql_s, loaded = timed(lambda: load_events(spec), args.repeats)
        peer_s, peer = timed(lambda: int(pd.read_parquet(path).duplicated().sum()), args.repeats)
    found = loaded.report.unusable["exact duplicate"]  # type: ignore[attr-defined]
    print(f"{args.rows:,} events, {expected:,} exact duplicates (every column)")
    print(f"pql load_events:                  median {pql_s:6.2f} s, {found:,} duplicates")
    print(f"pandas read_parquet + duplicated: median {peer_s:6.2f} s, {peer:,} duplicates")
    print(f"ratio pql / pandas: {pql_s / peer_s:.2f}")
    if found != expected or peer != expected:
        raise SystemExit("duplicate counts disagree")


if __name__ == "__main__":
    main()
