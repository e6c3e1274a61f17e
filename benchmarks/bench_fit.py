"""Behaviour only vs behaviour + fit vs the oracle, on the simulated product with fit.

    python benchmarks/bench_fit.py                  # 50k users, seed 7
    python benchmarks/bench_fit.py --users 20000

Simulates the product with fit (`pql simulate --fit`: company size, industry, country,
role, e-mail kind with published effects on conversion), then trains three models on
the same data and the same time-ordered split (the same labelled rows: attributes add
columns, never rows):

- behaviour only: the spec without `data.attributes`;
- behaviour + fit: the simulated spec (point-in-time attribute tables);
- leaky fit: the same tables with `valid_from` dropped, so values written after the
  cutoff (a role filled in after a converter's sales call) are taken as known at
  signup. It shows what the point-in-time join protects against; its figures are
  not achievable in production.

Prints PR-AUC on all test rows and on the trial-end snapshot's test rows (where the
simulator's oracle probability is defined) with 95% bootstrap intervals, the paired
difference of fit over behaviour, and the fit model's per-segment calibration.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pql.features.entities import ORACLE_COLUMN
from pql.features.pipeline import load_dataset
from pql.features.spec import Spec, load_spec
from pql.simulator import simulate
from pql.training.metrics import average_precision, paired_bootstrap_pr_auc
from pql.training.segments import segment_lines
from pql.training.train import train_model

RESAMPLES = 1000


def interval(y: np.ndarray, score: np.ndarray, seed: int = 0) -> tuple[float, float, float]:
    """PR-AUC and its 95% percentile bootstrap interval (rows resampled)."""
    rng = np.random.default_rng(seed)
    draws = np.array(
        [
            average_precision(y[pick], score[pick])
            for pick in (rng.integers(0, len(y), len(y)) for _ in range(RESAMPLES))
        ]
    )
    draws = draws[np.isfinite(draws)]
    low, high = np.quantile(draws, [0.025, 0.975])
    return average_precision(y, score), float(low), float(high)


def without_attributes(spec: Spec) -> Spec:
    data = spec.data.model_copy(update={"attributes": []})
    output = spec.output.model_copy(update={"attributes": []})
    return spec.model_copy(update={"data": data, "output": output})


def leaky(spec: Spec) -> Spec:
    tables = [t.model_copy(update={"valid_from": None}) for t in spec.data.attributes]
    return spec.model_copy(update={"data": spec.data.model_copy(update={"attributes": tables})})


def line(name: str, figures: tuple[float, float, float]) -> str:
    value, low, high = figures
    return f"  {name:<22} {value:.3f} (95% CI {low:.3f} to {high:.3f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pql-bench-fit-") as tmp:
        summary = simulate(args.users, args.seed, Path(tmp) / "data", fit=True)
        spec = load_spec(summary.spec_path)
        results = {}
        for name, variant in (
            ("behaviour only", without_attributes(spec)),
            ("behaviour + fit", spec),
            ("leaky fit (no valid_from)", leaky(spec)),
        ):
            dataset = load_dataset(variant)
            results[name] = (dataset, train_model(dataset))
    keys = ["entity_id", "snapshot_day"]
    base_dataset, base = results["behaviour only"]
    test = base.test[[*keys, "label", "probability"]].rename(columns={"probability": "p_base"})
    for name in ("behaviour + fit", "leaky fit (no valid_from)"):
        other = results[name][1].test[[*keys, "label", "probability"]]
        merged = test.merge(other, on=keys, suffixes=("", "_other"), validate="1:1")
        assert len(merged) == len(test) and (merged["label"] == merged["label_other"]).all()
        test[f"p {name}"] = merged["probability"].to_numpy()
    oracle = base_dataset.entities.set_index("entity_id")[ORACLE_COLUMN]
    last_day = test["snapshot_day"].max()
    end = test[test["snapshot_day"] == last_day]
    end_oracle = end["entity_id"].map(oracle).to_numpy(float)

    print(
        f"{summary.users:,} simulated users with fit (seed {args.seed}), "
        f"{summary.conversions:,} conversions; {len(base.test):,} test rows "
        f"({int(base.test['label'].sum()):,} positive), {len(end):,} at the trial-end "
        f"snapshot (day {last_day:g})"
    )
    columns = {
        "behaviour only": "p_base",
        "behaviour + fit": "p behaviour + fit",
        "leaky fit (no valid_from)": "p leaky fit (no valid_from)",
    }
    y_all = test["label"].to_numpy(float)
    print("test PR-AUC, all snapshot rows:")
    for name, column in columns.items():
        print(line(name, interval(y_all, test[column].to_numpy())))
    y_end = end["label"].to_numpy(float)
    print(f"test PR-AUC, trial-end snapshot rows (day {last_day:g}):")
    for name, column in columns.items():
        print(line(name, interval(y_end, end[column].to_numpy())))
    print(line("oracle", interval(y_end, end_oracle)))
    diff, low, high = paired_bootstrap_pr_auc(
        y_all, test["p behaviour + fit"].to_numpy(), test["p_base"].to_numpy(), seed=1
    )
    print(f"fit over behaviour, all test rows: {diff:+.3f} (95% CI {low:+.3f} to {high:+.3f})")
    fit_end = end["p behaviour + fit"].to_numpy()
    diff, low, high = paired_bootstrap_pr_auc(y_end, fit_end, end["p_base"].to_numpy(), seed=1)
    print(f"fit over behaviour, trial-end rows: {diff:+.3f} (95% CI {low:+.3f} to {high:+.3f})")
    diff, low, high = paired_bootstrap_pr_auc(y_end, fit_end, end_oracle, seed=1)
    ratio = average_precision(y_end, fit_end) / average_precision(y_end, end_oracle)
    print(
        f"behaviour + fit vs oracle, trial-end rows: {diff:+.3f} (95% CI {low:+.3f} to "
        f"{high:+.3f}); ratio {ratio:.3f}"
    )
    fit_result = results["behaviour + fit"][1]
    print("behaviour + fit, " + fit_result.verdict)
    print("per-segment calibration of behaviour + fit (test rows):")
    for text in segment_lines(fit_result.segments):
        print("  " + text)


if __name__ == "__main__":
    main()
