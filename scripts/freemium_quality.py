"""Model quality on the simulated freemium product, against its oracle and the baselines.

    .venv/bin/python scripts/freemium_quality.py                    # 10,000 users, seed 7
    .venv/bin/python scripts/freemium_quality.py --split cutoff     # split by cutoff time

It simulates a freemium product (`pql simulate --shape freemium`), trains as `pql train`
does (`training.train.train_model`: calendar cuts, entity split by signup, LightGBM,
calibration, rule / points / logistic baselines fitted on the same training rows) and
prints, on the held-out test rows, ROC-AUC and PR-AUC of the model, of the rule and
logistic baselines and of the oracle (the simulator's true probability for each test
row, which knows behaviour after the cutoff: a ceiling, not a peer), each with a 95%
bootstrap interval over test rows (percentile method, 1,000 resamples).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pql.features.pipeline import load_dataset
from pql.features.spec import load_spec
from pql.simulator.freemium import simulate_freemium
from pql.training.metrics import evaluate
from pql.training.train import train_model

RESAMPLES = 1_000


def _interval(y: np.ndarray, score: np.ndarray, seed: int) -> dict[str, tuple[float, float]]:
    rng = np.random.default_rng(seed)
    found: dict[str, list[float]] = {"roc_auc": [], "pr_auc": []}
    for _ in range(RESAMPLES):
        pick = rng.integers(0, len(y), len(y))
        if y[pick].min() == y[pick].max():
            continue
        result = evaluate(y[pick], np.clip(score[pick], 0, 1), threshold=0.5)
        for key in found:
            found[key].append(result[key])
    return {
        k: (float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))) for k, v in found.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--split", choices=["signup", "cutoff"], default="signup")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pql-freemium-") as tmp:
        summary = simulate_freemium(args.users, args.seed, Path(tmp))
        spec = load_spec(summary.spec_path)
        if args.split == "cutoff":
            split = spec.model.split.model_copy(update={"by": "cutoff"})
            spec = spec.model_copy(update={"model": spec.model.model_copy(update={"split": split})})
        dataset = load_dataset(spec)
        oracle = pd.read_parquet(summary.oracle_path)
    result = train_model(dataset)
    test = result.test.merge(
        oracle, left_on=["entity_id", "as_of"], right_on=["user_id", "as_of"], how="left"
    )
    if test["oracle_p"].isna().any():
        raise SystemExit(f"{int(test['oracle_p'].isna().sum())} test rows have no oracle value")
    y = test["label"].to_numpy()
    print(
        f"data    {summary.users:,} free users, {summary.events:,} events, "
        f"{summary.conversions:,} conversions; split by {args.split}; "
        f"{result.row_counts['labelled_rows']:,} labelled rows",
        flush=True,
    )
    for part in result.splits:
        print(
            f"split   {part.name}: {part.entities:,} entities, {part.rows:,} rows, "
            f"{part.positives:,} positives, signups {part.first_signup[:10]} .. "
            f"{part.last_signup[:10]}",
            flush=True,
        )
    m = result.metrics
    rows = {
        "model": test["probability"].to_numpy(),
        "oracle": test["oracle_p"].to_numpy(),
    }
    print(f"test    {len(y):,} rows, {int(y.sum()):,} positives ({y.mean():.1%})")
    for name, score in rows.items():
        point = evaluate(y, score, threshold=0.5)
        spread = _interval(y, score, args.seed)
        print(
            f"{name:9s}ROC-AUC {point['roc_auc']:.3f} (95% CI {spread['roc_auc'][0]:.3f}-"
            f"{spread['roc_auc'][1]:.3f})  PR-AUC {point['pr_auc']:.3f} (95% CI "
            f"{spread['pr_auc'][0]:.3f}-{spread['pr_auc'][1]:.3f})",
            flush=True,
        )
    for name in ("rule", "logistic"):
        prefix = f"baseline_{name}"
        print(
            f"{name:9s}ROC-AUC {m[f'{prefix}_test_roc_auc']:.3f}  PR-AUC "
            f"{m[f'{prefix}_test_pr_auc']:.3f} (model - {name} PR-AUC "
            f"{m[f'{prefix}_pr_auc_diff']:+.3f}, 95% CI {m[f'{prefix}_pr_auc_diff_low']:+.3f} "
            f"to {m[f'{prefix}_pr_auc_diff_high']:+.3f}): {result.baseline_descriptions[name]}",
            flush=True,
        )
    bands = sorted(k for k in m if k.startswith("test_age") and k.endswith("_roc_auc"))
    for key in bands:
        band = key.removeprefix("test_").removesuffix("_roc_auc")
        print(
            f"band    {band}: ROC-AUC {m[key]:.3f}, PR-AUC {m[f'test_{band}_pr_auc']:.3f} "
            f"({int(m[f'test_{band}_rows']):,} rows)",
            flush=True,
        )
    print(f"tiers   {result.tier_note}")


if __name__ == "__main__":
    main()
