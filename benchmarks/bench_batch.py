"""Batch scoring with exact reasons: 100k and 1M users, time by stage.

    python benchmarks/bench_batch.py                    # 100k and 1M users
    python benchmarks/bench_batch.py --users 100000

A model is trained once on a 100k-user simulated product (not timed). Each size is
then simulated (not timed) and scored the way `pql score` does it: read and validate
the files, features through the training code path, TreeSHAP contributions, scores,
tiers and reason texts, and the leads file written. Every user is scored once, at the
end of their trial (the busiest scoring point: all of a trial's events count). The
peer for the scoring stage is LightGBM called in-process for probabilities alone, with
no reasons: the limit of what scoring can cost.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pql.features.pipeline import features_for_rows, load_dataset
from pql.features.spec import load_spec
from pql.serving.batch import score_feature_rows
from pql.serving.scoring import Scorer
from pql.simulator import simulate
from pql.training.train import train_model


def _model(folder: Path, seed: int) -> Scorer:
    summary = simulate(100_000, seed + 1, folder / "train")
    return Scorer(train_model(load_dataset(load_spec(summary.spec_path))).bundle)


def bench(users: int, seed: int, scorer: Scorer, folder: Path) -> None:
    summary = simulate(users, seed, folder / f"score-{users}")
    stages: dict[str, float] = {}
    started = time.perf_counter()
    dataset = load_dataset(load_spec(summary.spec_path))
    stages["read + validate"] = time.perf_counter() - started

    mark = time.perf_counter()
    rows = dataset.entities.assign(snapshot_day=np.nan)
    rows["as_of"] = rows["trial_end_at"].where(rows["converted_at"].isna(), rows["signup_at"])
    rows = rows[rows["as_of"] <= dataset.data_end]
    frame = features_for_rows(dataset, rows)
    stages["features"] = time.perf_counter() - mark

    mark = time.perf_counter()
    leads = score_feature_rows(scorer, frame)
    stages["scores + reasons"] = time.perf_counter() - mark

    mark = time.perf_counter()
    leads.to_parquet(folder / f"leads-{users}.parquet", index=False)
    stages["write leads"] = time.perf_counter() - mark
    total = time.perf_counter() - started

    matrix = frame[list(scorer.bundle.feature_names)].to_numpy(np.float64)
    mark = time.perf_counter()
    scorer.bundle.booster.predict(matrix)
    limit = time.perf_counter() - mark
    scoring = stages["scores + reasons"]
    print(
        f"batch   {len(leads):,} users ({summary.events:,} events) scored with reasons: "
        f"{total:.1f} s end to end ({len(leads) / total:,.0f} users/s) | "
        + ", ".join(f"{k} {v:.1f}s" for k, v in stages.items())
        + f" | peer: LightGBM probabilities only, in-process {limit:.1f}s "
        f"(scores + reasons cost {scoring / limit:.1f}x that)",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="pql-bench-batch-") as tmp:
        folder = Path(tmp)
        os.chdir(folder)
        scorer = _model(folder, args.seed)
        print(f"model: {scorer.bundle.booster.num_trees()} trees", flush=True)
        for users in args.users:
            bench(users, args.seed, scorer, folder)


if __name__ == "__main__":
    main()
