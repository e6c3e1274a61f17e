"""Where training stops: memory per snapshot row on the driver, with and without sampling.

    python benchmarks/bench_training_scale.py                      # 100k users
    python benchmarks/bench_training_scale.py --users 20000 --rates 1 0.1

Simulates a product (pql's simulator), builds its training snapshot rows once (the rows
`pql train` gathers on the driver, whichever engine built them), then trains on them in
a child process per `model.negative_sample` rate. It prints the gathered frame's bytes
per row (ids and float64 features, measured with pandas' deep memory usage), and each
child's peak resident memory (from os.wait4: the rows, labels, split copies, LightGBM's
binned data, calibration, baselines, evaluation) and how much of it training added to
the rows and libraries already loaded, its training time, and the held-out test
metrics, so the memory a row costs during training is measured, not guessed. Peaks and
times are medians over `--repeat` children.
"""

from __future__ import annotations

import argparse
import json
import pickle
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_scale import _measured as measured_child

GIB = 1024**3


def _child(rows_file: Path, rate: float) -> dict:
    import gc

    import psutil

    from pql.training.train import train_rows

    with rows_file.open("rb") as handle:
        source = pickle.load(handle)
    gc.collect()
    # resident now: the libraries and the gathered rows, before training adds its copies;
    # then the peak is reset (Linux: clear_refs 5), so training's own peak is read after
    loaded = psutil.Process().memory_info().rss
    Path("/proc/self/clear_refs").write_text("5")
    spec = source.spec
    model = spec.model.model_copy(update={"negative_sample": rate})
    source = replace(source, spec=spec.model_copy(update={"model": model}))
    started = time.perf_counter()
    result = train_rows(source)
    metrics = result.metrics
    return {
        "loaded_gib": loaded / GIB,
        "training_peak_gib": _peak_since_reset() / GIB,
        "seconds": time.perf_counter() - started,
        "fit_seconds": result.timings["fit"],
        "test_roc_auc": metrics["test_roc_auc"],
        "test_pr_auc": metrics["test_pr_auc"],
        "test_ece": metrics["test_ece"],
        "test_mean_predicted": float(result.test["probability"].mean()),
        "test_observed": float(result.test["label"].mean()),
    }


def _peak_since_reset() -> int:
    """This process's peak resident bytes since the last clear_refs reset (VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _measured(rows_file: Path, rate: float) -> dict:
    """One child run at `rate`: its result plus its peak memory (bench_scale's probe)."""
    return measured_child([str(rows_file), str(rate)], script=__file__)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--folder", type=Path, default=Path("bench-training-data"))
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0, 0.1])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", nargs=2, metavar=("ROWS", "RATE"))
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(Path(args.child[0]), float(args.child[1]))))
        return

    from pql.features.pipeline import load_dataset
    from pql.features.spec import load_spec
    from pql.simulator import simulate
    from pql.training.rows import from_dataset

    data = args.folder / f"u{args.users}-s{args.seed}"
    if not (data / "pql.yaml").exists():
        simulate(args.users, args.seed, data)
    source = from_dataset(load_dataset(load_spec(data / "pql.yaml")))
    frame = source.rows
    features = len(source.definitions.names)
    per_row = frame.memory_usage(deep=True).sum() / len(frame)
    feature_bytes = frame[list(source.definitions.names)].memory_usage(deep=True).sum()
    print(
        f"{len(frame):,} snapshot rows x {features} features: {per_row:,.0f} bytes a row "
        f"gathered ({feature_bytes / len(frame) / features:.1f} bytes a feature value, ids "
        f"{per_row - feature_bytes / len(frame):,.0f} bytes)"
    )
    rows_file = data / "training-rows.pickle"
    with rows_file.open("wb") as handle:
        pickle.dump(source, handle, protocol=pickle.HIGHEST_PROTOCOL)
    baseline = None
    for rate in args.rates:
        runs = [_measured(rows_file, rate) for _ in range(args.repeat)]
        peak = statistics.median(r["peak_gib"] for r in runs)
        added = statistics.median(r["training_peak_gib"] - r["loaded_gib"] for r in runs)
        seconds = statistics.median(r["seconds"] for r in runs)
        fit = statistics.median(r["fit_seconds"] for r in runs)
        last = runs[-1]
        baseline = baseline or (peak, seconds)
        print(
            f"negative_sample {rate:g}: peak RSS {peak:.2f} GiB (x{peak / baseline[0]:.2f}), "
            f"training's own peak added {added:.2f} GiB to the loaded rows and libraries "
            f"({added * GIB / len(frame):,.0f} bytes a row), "
            f"train {seconds:.1f}s (LightGBM fit {fit:.1f}s, x{seconds / baseline[1]:.2f}); "
            f"test ROC-AUC {last['test_roc_auc']:.4f}, PR-AUC {last['test_pr_auc']:.4f}, "
            f"ECE {last['test_ece']:.4f}, mean predicted {last['test_mean_predicted']:.4f} "
            f"vs observed {last['test_observed']:.4f}",
            flush=True,
        )
    rows_file.unlink()
    print(
        f"median of {args.repeat} child run(s) per rate; this machine's cores may be shared "
        "with other work while measuring"
    )


if __name__ == "__main__":
    main()
