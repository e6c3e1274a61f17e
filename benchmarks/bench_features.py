"""Batch feature building vs. a plain-pandas peer, and the per-request live cost.

    python benchmarks/bench_features.py                     # 1M and 10M events
    python benchmarks/bench_features.py --events 200000     # quick look
    python benchmarks/bench_features.py --events 1000000 --windows 1 7 28 --timezone Asia/Shanghai

For each size it simulates a product (pql's own simulator), builds the training rows
for the spec's 4 snapshot cutoffs, and times `features.frames.build_features` against
`benchmarks.pandas_peer.pandas_features` (vectorised pandas, one pass per cutoff) in
the same run, checking that both give identical numbers. Peak memory is traced
(tracemalloc sees numpy's and pandas' buffers) in a separate, untimed run. With
`--windows` / `--timezone`, the same rows are also built with those settings (extra
recent windows, local calendar days) and timed against the default in the same run.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.pandas_peer import pandas_features
from pql.features.definitions import FeatureDefinitions
from pql.features.frames import build_features, epoch_ms
from pql.features.live import entity_features
from pql.features.rows import snapshot_rows
from pql.features.spec import load_spec
from pql.simulator import simulate

GIB = 1024**3


def _simulated(target_events: int, seed: int, folder: Path):
    """Simulate enough users for about `target_events` events (pilot-estimated rate)."""
    pilot = simulate(5_000, seed, folder / "pilot")
    users = max(1_000, round(target_events / (pilot.events / pilot.users)))
    summary = simulate(users, seed, folder / f"n{target_events}")
    spec = load_spec(summary.spec_path)
    events = pd.read_parquet(summary.events_path)
    for column in ("user_id", "account_id", "event"):
        events[column] = events[column].astype("category")
    trials = pd.read_parquet(summary.trials_path)
    entities = trials.rename(columns={"user_id": "entity_id"})[
        ["entity_id", "account_id", "signup_at", "converted_at"]
    ]
    rows = snapshot_rows(entities, spec.snapshots_days, events["timestamp"].max()).rows
    return spec, events, rows


def _timed(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


def _peak_bytes(function) -> int:
    gc.collect()
    tracemalloc.start()
    tracemalloc.reset_peak()
    baseline = tracemalloc.get_traced_memory()[0]
    result = function()
    peak = tracemalloc.get_traced_memory()[1] - baseline
    tracemalloc.stop()
    del result
    return peak


def _one_user(events: pd.DataFrame, n: int, seed: int) -> dict:
    """`n` events drawn from the log, re-timed into one user's 14-day trial."""
    rng = np.random.default_rng(seed)
    sample = events.iloc[rng.choice(len(events), n, replace=False)]
    signup = int(epoch_ms(events["timestamp"].head(1))[0])
    times = np.sort(signup + rng.integers(0, 14 * 86_400_000, n))
    return {
        "event_names": sample["event"].astype(str).tolist(),
        "time_ms": times,
        "signup_ms": signup,
        "as_of_ms": signup + 14 * 86_400_000,
        "session_ids": (times // 1_800_000).tolist(),
        "properties": {"bytes": sample["bytes"].to_numpy()},
    }


def _variant(spec, windows: list[int] | None, timezone: str | None):
    """The spec with other windows / time zone, or None when neither is asked for."""
    if windows is None and timezone is None:
        return None
    features = spec.features.model_copy(update={"windows_days": windows or [7]})
    return spec.model_copy(update={"features": features, "timezone": timezone or "UTC"})


def bench_size(
    target: int, seed: int, repeats: int, peer: bool, folder: Path, variant=None
) -> None:
    spec, events, rows = _simulated(target, seed, folder)
    if variant is not None:
        variant = variant(spec)
    definitions = FeatureDefinitions.from_spec(spec)
    columns = ["user_id", "account_id", "event", "timestamp", "session_id", "bytes"]
    event_bytes = int(events[columns].memory_usage(deep=True, index=False).sum())
    label = (
        f"{len(events):,} events x {len(spec.snapshots_days)} cutoffs "
        f"({events['user_id'].nunique():,} users, {len(rows):,} rows)"
    )

    def ours():
        return build_features(definitions, events, rows)

    ours_s, frame = _timed(ours, repeats)
    line = f"features {label}: pql {ours_s:.2f} s ({len(events) / ours_s / 1e6:.2f}M events/s)"
    if peer:
        peer_s, peer_frame = _timed(lambda: pandas_features(definitions, events, rows), 1)
        pd.testing.assert_frame_equal(frame, peer_frame, check_dtype=False, atol=1e-9)
        line += (
            f" | pandas peer {peer_s:.2f} s ({len(events) / peer_s / 1e6:.2f}M events/s)"
            f" | speed-up {peer_s / ours_s:.1f}x | identical numbers: yes"
        )
    print(line, flush=True)
    if variant is not None:
        other = FeatureDefinitions.from_spec(variant)
        other_s, other_frame = _timed(lambda: build_features(other, events, rows), repeats)
        print(
            f"variant {label}: windows {variant.features.windows_days}, {variant.timezone}: "
            f"{other_s:.2f} s = {other_s / ours_s:.2f}x the default "
            f"({len(other.names)} features vs {len(definitions.names)})",
            flush=True,
        )
        del other_frame
    peak = _peak_bytes(ours)
    print(
        f"memory  {label}: pql peak {peak / GIB:.2f} GiB = {peak / event_bytes:.2f}x "
        f"the event columns ({event_bytes / GIB:.2f} GiB in memory)",
        flush=True,
    )
    del frame


def bench_single(seed: int, n_events: int, calls: int, folder: Path, variant=None) -> None:
    spec, events, _ = _simulated(200_000, seed, folder)
    if variant is not None:
        spec = variant(spec)
    definitions = FeatureDefinitions.from_spec(spec)
    request = _one_user(events, n_events, seed)
    for _ in range(50):
        entity_features(definitions, **request)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        entity_features(definitions, **request)
        times.append(time.perf_counter() - started)
    frame = pd.DataFrame(
        {
            "user_id": "u",
            "event": request["event_names"],
            "timestamp": pd.to_datetime(request["time_ms"], unit="ms", utc=True),
            "session_id": request["session_ids"],
            "bytes": request["properties"]["bytes"],
        }
    )
    row = pd.DataFrame(
        {
            "entity_id": ["u"],
            "as_of": pd.to_datetime([request["as_of_ms"]], unit="ms", utc=True),
            "signup_at": pd.to_datetime([request["signup_ms"]], unit="ms", utc=True),
            "converted_at": pd.NaT,
        }
    )
    frame_s, _ = _timed(lambda: build_features(definitions, frame, row), 200)
    times_ms = np.array(times) * 1e3
    settings = (
        "" if variant is None else f" (windows {spec.features.windows_days}, {spec.timezone})"
    )
    print(
        f"live    one user{settings}, {n_events} events: median {np.median(times_ms):.3f} ms, "
        f"p99 {np.percentile(times_ms, 99):.3f} ms over {calls} calls "
        f"| same via the pandas frame path: median {frame_s * 1e3:.3f} ms",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of pql (median)")
    parser.add_argument("--no-peer", action="store_true", help="skip the pandas peer")
    parser.add_argument("--single-events", type=int, default=500)
    parser.add_argument("--single-calls", type=int, default=2_000)
    parser.add_argument("--windows", type=int, nargs="+", help="also time these windows")
    parser.add_argument("--timezone", help="also time calendar days in this time zone")
    args = parser.parse_args()

    def variant(spec):
        return _variant(spec, args.windows, args.timezone)

    chosen = variant if args.windows or args.timezone else None
    with tempfile.TemporaryDirectory(prefix="pql-bench-") as tmp:
        folder = Path(tmp)
        bench_single(args.seed, args.single_events, args.single_calls, folder)
        if chosen is not None:
            bench_single(args.seed, args.single_events, args.single_calls, folder, chosen)
        for target in args.events:
            bench_size(target, args.seed, args.repeats, not args.no_peer, folder, chosen)


if __name__ == "__main__":
    main()
