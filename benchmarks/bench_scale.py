"""Features of a large simulated log: local in memory, out of core in buckets, Spark.

    python benchmarks/bench_scale.py                          # 1M users, ~52M events
    python benchmarks/bench_scale.py --users 100000 --spark-partitions 8   # quick look
    python benchmarks/bench_scale.py --skip buckets           # local and Spark only

Simulates a product (pql's own simulator, ~52 events per user), then builds the training
feature rows three ways, each in its own child process: the local engine (the whole log
in memory), `--engine buckets` (split once on disk, one bucket at a time) and
`--engine spark` on local[2]. It prints each run's wall time and peak resident memory
(the child's own, from os.wait4; Spark's JVM and Python workers are grandchildren, so
its figure is the driver's only and only its time is compared), checks that all three
outputs are equal value for value, and projects the cluster time for 1B events from the
throughput per core measured here, printing the assumptions with it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

GIB = 1024**3
#: the Spark child's JVM heap (`--spark-memory`), passed through the environment
MEMORY = "PQL_BENCH_SPARK_MEMORY"


# --- the child runs -------------------------------------------------------------------------


def _child(engine: str, spec_path: Path, out: Path, buckets: int, partitions: int) -> dict:
    from pql.features.spec import load_spec

    spec = load_spec(spec_path)
    started = time.perf_counter()
    if engine == "local":
        from pql.clikit import write_frame
        from pql.features.pipeline import load_dataset, training_features

        dataset = load_dataset(spec)
        frame, _ = training_features(dataset)
        write_frame(frame, out)
        rows, events = len(frame), dataset.quality.rows_read
    elif engine == "buckets":
        from pql.engines.buckets import features_run

        run = features_run(spec, out, None, buckets)
        rows, events = run.rows_written, run.summary.rows_read
    else:
        from pql.engines.spark import features_run as spark_features_run
        from pql.engines.spark import spark_session

        # local mode runs the executors inside the driver's JVM: its heap is theirs
        os.environ["PYSPARK_SUBMIT_ARGS"] = f"--driver-memory {os.environ[MEMORY]} pyspark-shell"
        spark = spark_session("local[2]")
        spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
        run = spark_features_run(spark, spec, str(out), None, partitions=partitions)
        rows, events = run.rows_written, run.summary.rows_read
        spark.stop()
    return {"seconds": time.perf_counter() - started, "rows": rows, "events": events}


def _measured(args: list[str], script: str = __file__) -> dict:
    """Run `script --child args` (this script by default); its result plus its own peak
    resident memory (bench_training_scale uses it for its children too)."""
    child = subprocess.Popen(
        [sys.executable, script, "--child", *args],
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    if status != 0:
        raise SystemExit(f"child run {args[0]} failed (status {status})")
    result = json.loads(output.decode().strip().splitlines()[-1])
    result["peak_gib"] = usage.ru_maxrss * 1024 / GIB  # Linux: KiB
    return result


# --- checking ---------------------------------------------------------------------------------


def _tidy(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.sort_values(["entity_id", "snapshot_day"], kind="stable").reset_index(drop=True)
    for name in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[name]):
            out[name] = pd.to_datetime(out[name], utc=True).astype("datetime64[us, UTC]")
        elif out[name].dtype == object or isinstance(out[name].dtype, pd.StringDtype):
            values = out[name].astype(object)
            out[name] = values.where(values.notna(), None)
        elif pd.api.types.is_numeric_dtype(out[name]):
            out[name] = out[name].astype("float64")
    return out


def _check_equal(reference: Path, other: Path, name: str) -> None:
    expected, got = _tidy(pd.read_parquet(reference)), _tidy(pd.read_parquet(other))
    pd.testing.assert_frame_equal(got, expected, check_exact=True, check_dtype=False)
    print(f"  {name}: {len(got):,} rows equal to the local engine's, value for value")


# --- the run ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--folder", type=Path, default=Path("bench-scale-data"))
    parser.add_argument("--buckets", type=int, default=16)
    parser.add_argument("--spark-partitions", type=int, default=32)
    parser.add_argument(
        "--skip", action="append", default=[], choices=["local", "buckets", "spark"]
    )
    parser.add_argument("--cluster-cores", type=int, default=64)
    parser.add_argument(
        "--spark-memory", default="6g", help="JVM heap of Spark local[2] (Spark's default: 1g)"
    )
    parser.add_argument("--child", nargs=5, metavar=("ENGINE", "SPEC", "OUT", "B", "P"))
    args = parser.parse_args()
    if args.child:
        engine, spec, out, buckets, partitions = args.child
        print(json.dumps(_child(engine, Path(spec), Path(out), int(buckets), int(partitions))))
        return

    os.environ[MEMORY] = args.spark_memory
    from pql.simulator import simulate

    data = args.folder / f"u{args.users}-s{args.seed}"
    if not (data / "pql.yaml").exists():
        started = time.perf_counter()
        simulate(args.users, args.seed, data)
        print(f"simulated {args.users:,} users in {time.perf_counter() - started:.0f}s")
    spec = data / "pql.yaml"
    common = [str(args.buckets), str(args.spark_partitions)]
    results: dict[str, dict] = {}
    for engine in ("local", "buckets", "spark"):
        if engine in args.skip:
            continue
        out = data / f"features-{engine}.parquet"
        results[engine] = _measured([engine, str(spec), str(out), *common])
        r = results[engine]
        print(
            f"{engine:8s} {r['seconds']:8.1f}s  peak RSS {r['peak_gib']:5.2f} GiB"
            + (f" (driver only; JVM heap {args.spark_memory})" if engine == "spark" else "")
            + f"  {r['events']:,} events -> {r['rows']:,} rows",
            flush=True,
        )
    events = next(iter(results.values()))["events"]
    reference = next((e for e in ("local", "buckets") if e in results), None)
    for engine in results:
        if reference is not None and engine != reference:
            _check_equal(
                data / f"features-{reference}.parquet",
                data / f"features-{engine}.parquet",
                engine,
            )
    if "local" in results and "buckets" in results:
        local, bucketed = results["local"], results["buckets"]
        print(
            f"buckets vs local: time x{bucketed['seconds'] / local['seconds']:.2f}, "
            f"peak memory x{bucketed['peak_gib'] / local['peak_gib']:.2f}"
        )
    _projection(results, events, args.cluster_cores)


def _projection(results: dict[str, dict], events: int, cores: int) -> None:
    """1B events on a cluster, from the throughput per core measured in this run."""
    target = 1_000_000_000
    print(f"\nprojection for {target:,} events on {cores} executor cores:")
    estimates = {}
    if "buckets" in results:
        # one Python process; pyarrow's reads and writes may use a second core
        per_core_buckets = events / results["buckets"]["seconds"]
        print(
            f"  measured: {per_core_buckets:,.0f} events/s in one process (buckets, split "
            "included; an upper bound per core: Arrow I/O may use both cores)"
        )
        estimates["from the bucket engine's rate (optimistic: no Spark overhead)"] = target / (
            per_core_buckets * cores
        )
    if "spark" in results:
        per_core_spark = events / (results["spark"]["seconds"] * 2)
        print(f"  measured: {per_core_spark:,.0f} events/s per core (Spark local[2], 2 cores)")
        estimates["from Spark local[2]'s per-core rate"] = target / (per_core_spark * cores)
    for how, seconds in estimates.items():
        print(f"  ~{seconds / 60:,.1f} min {how}")
    print(
        "  assumptions: each executor core runs as fast as one core here; work grows\n"
        "  linearly with events (the feature core is per entity) and partitions are even\n"
        "  (one heavy entity bounds its partition's time); reading 1B events from object\n"
        "  storage and the shuffle keep pace (not measured here); both passes are counted;\n"
        "  executors have memory for their partition (see the peak per event above);\n"
        "  this machine's 2 cores are shared with other work while measuring."
    )


if __name__ == "__main__":
    main()
