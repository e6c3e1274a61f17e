"""End-to-end training time and the quality targets on simulated data.

    python benchmarks/bench_training.py                 # 100k users, seed 7
    python benchmarks/bench_training.py --users 20000

Simulates a product (not timed), then times the whole `pql train` path: reading the
files, features, labels, LightGBM fit, calibration, evaluation with baselines, and
MLflow logging plus registration into a fresh sqlite store. Prints the split of time
between stages and the quality figures of the issue: on the test rows of the
trial-end snapshot, ROC-AUC and top-decile lift against the simulator's oracle
probabilities on the same rows, and ECE.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pql.features.pipeline import load_dataset
from pql.features.spec import load_spec
from pql.simulator import simulate
from pql.training.tracking import log_and_register, open_tracking
from pql.training.train import train_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--entity", choices=("user", "account"), default="user", help="score users or accounts"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pql-bench-train-") as tmp:
        folder = Path(tmp)
        summary = simulate(args.users, args.seed, folder / "data")
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
        os.chdir(folder)
        stages: dict[str, float] = {}
        started = time.perf_counter()
        client = open_tracking()
        stages["open tracking store"] = time.perf_counter() - started

        mark = time.perf_counter()
        spec_path = summary.spec_path if args.entity == "user" else summary.account_spec_path
        dataset = load_dataset(load_spec(spec_path))
        stages["read + validate data"] = time.perf_counter() - mark
        mark = time.perf_counter()
        result = train_model(dataset)
        stages.update(result.timings)
        stages["train (other)"] = time.perf_counter() - mark - sum(result.timings.values())
        mark = time.perf_counter()
        registered = log_and_register(client, dataset, result)
        stages["mlflow log + register + gate"] = time.perf_counter() - mark
        total = time.perf_counter() - started

    rows = result.row_counts["labelled_rows"]
    print(
        f"training {len(dataset.entities):,} {args.entity}s of {summary.users:,} users "
        f"({summary.events:,} events), {rows:,} labelled "
        f"snapshot rows: end to end {total:.1f} s ({rows / total:,.0f} rows/s; target <= 60 s)"
    )
    print("stages: " + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items()))
    m = result.metrics
    day = max(float(k.split("_")[1].removeprefix("day")) for k in m if k.startswith("test_day"))
    model, oracle = f"test_day{day:g}", f"oracle_test_day{day:g}"
    auc_ratio = m[f"{model}_roc_auc"] / m[f"{oracle}_roc_auc"]
    lift_ratio = m[f"{model}_lift_top_10pct"] / m[f"{oracle}_lift_top_10pct"]
    print(
        f"trial-end snapshot (day {day:g}) test rows: ROC-AUC {m[f'{model}_roc_auc']:.4f} vs "
        f"oracle {m[f'{oracle}_roc_auc']:.4f} = {auc_ratio:.3f}x (target >= 0.97); "
        f"top-decile lift {m[f'{model}_lift_top_10pct']:.3f} vs oracle "
        f"{m[f'{oracle}_lift_top_10pct']:.3f} = {lift_ratio:.3f}x (target >= 0.95); "
        f"ECE {m[f'{model}_ece']:.4f} (target <= 0.02)"
    )
    day_keys = [k for k in m if k.startswith("test_day") and k.endswith("_roc_auc")]
    for key in sorted(day_keys, key=lambda k: float(k.split("_")[1].removeprefix("day"))):
        prefix = key.removesuffix("_roc_auc")
        print(
            f"  {prefix}: ROC-AUC {m[key]:.4f}, PR-AUC {m[prefix + '_pr_auc']:.4f}, "
            f"ECE {m[prefix + '_ece']:.4f}, lift@10% {m[prefix + '_lift_top_10pct']:.3f}"
        )
    print(
        f"all test rows: ROC-AUC {m['test_roc_auc']:.4f}, PR-AUC {m['test_pr_auc']:.4f}, "
        f"ECE {m['test_ece']:.4f}; {result.verdict}"
    )
    print(f"gate: {registered.decision.summary}")


if __name__ == "__main__":
    main()
