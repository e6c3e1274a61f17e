"""Reason audit figures: contradictions between reason texts and the entities' own data.

    .venv/bin/python benchmarks/bench_reason_audit.py [--users 20000]

Three products, each trained and then every live entity at the end of the data plus a
sample of training rows explained and audited (`pql.serving.reason_audit`):

- the demo (simulated SaaS trial), user level;
- the same, account level;
- a freemium note-taking app generated here, unlike the simulator: other events
  (notes, notebooks, sharing, search, sync, exports), users who stay free for months,
  conversions at any age, a negative action (sync errors).

Prints one line per product: entities, reasons checked, contradictions (expected 0).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from pql.features.pipeline import live_features, load_dataset, training_features
from pql.features.spec import load_spec
from pql.serving.reason_audit import audit_scores
from pql.serving.scoring import Scorer
from pql.simulator import ACCOUNT_SPEC, simulate
from pql.training.train import train_model

NOTE_EVENTS = {  # event -> daily rate for an engaged user
    "note_created": 2.0,
    "note_edited": 4.0,
    "notebook_created": 0.15,
    "notebook_shared": 0.05,
    "search_used": 1.0,
    "template_used": 0.1,
    "pdf_exported": 0.08,
    "device_synced": 0.6,
    "sync_error": 0.05,
    "pricing_viewed": 0.03,
}


def note_app(users: int, seed: int, folder: Path) -> Path:
    """A freemium note app: six months of signups, activity that fades and returns,
    conversions (plan_upgraded) at any age driven by sharing, exports and pricing views."""
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2026-01-01", tz="UTC")
    days = 240
    signup = rng.uniform(0, 180, users)
    engagement = rng.gamma(0.8, 1.0, users)
    rows: list[tuple[str, str, float]] = []
    for user in range(users):
        uid = f"n{user:06d}"
        life = days - signup[user]
        age = np.arange(0, int(life))
        fade = np.exp(-age / rng.uniform(20, 200)) * (rng.random(len(age)) < 0.5) + 0.05
        drive = 0.0
        converted = None
        for name, rate in NOTE_EVENTS.items():
            counts = rng.poisson(rate * engagement[user] * fade)
            for day in np.repeat(age, counts):
                rows.append((uid, name, signup[user] + day + rng.random()))
            if name in ("notebook_shared", "pdf_exported", "pricing_viewed"):
                drive += counts.sum()
        hazard = 1 - np.exp(-0.02 * drive)
        if rng.random() < hazard and life > 3:
            converted = signup[user] + rng.uniform(3, life)
            rows.append((uid, "plan_upgraded", converted))
        rows.append((uid, "signed_in", signup[user]))
    frame = pd.DataFrame(rows, columns=["user_id", "event", "day"])
    frame["timestamp"] = start + pd.to_timedelta(frame.pop("day"), unit="D")
    folder.mkdir(parents=True, exist_ok=True)
    frame.sort_values("timestamp").to_parquet(folder / "events.parquet", index=False)
    spec = {
        "product": "notes",
        "data": {"events": {"path": "events.parquet"}},
        "label": {"conversion_event": "plan_upgraded", "horizon_days": 30},
        "snapshots_days": [7, 30, 60, 90],
        "actions": {
            "create_note": {"events": ["note_created"], "label": "created a note"},
            "edit_note": {"events": ["note_edited"]},
            "create_notebook": {"events": ["notebook_created"]},
            "share_notebook": {"events": ["notebook_shared"], "kind": "collaboration"},
            "search": {"events": ["search_used"]},
            "use_template": {"events": ["template_used"]},
            "export_pdf": {"events": ["pdf_exported"], "label": "exported a PDF"},
            "sync_device": {"events": ["device_synced"]},
            "sync_error": {"events": ["sync_error"], "kind": "negative"},
            "view_pricing": {"events": ["pricing_viewed"], "kind": "intent"},
        },
        "pql": {"top_percent": 10},
        "model": {"min_positives": 30},
    }
    path = folder / "pql.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def audit(spec_path: Path, label: str) -> None:
    started = time.perf_counter()
    dataset = load_dataset(load_spec(spec_path))
    result = train_model(dataset)
    scorer = Scorer(result.bundle)
    live, _ = live_features(dataset, dataset.data_end)
    rows, _ = training_features(dataset)
    sample = rows.sample(min(20_000, len(rows)), random_state=0)
    entities = reasons = contradictions = 0
    examples: list[str] = []
    for frame in (live, sample):
        report = audit_scores(scorer, frame)
        entities += report.checked_entities
        reasons += report.checked_reasons
        contradictions += len(report.contradictions)
        examples += [f"{c.text!r}: {c.problem}" for c in report.contradictions[:3]]
    print(
        f"{label}: {entities:,} entities (live + training sample), {reasons:,} reasons, "
        f"{contradictions:,} contradictions; test PR-AUC {result.metrics['test_pr_auc']:.3f}, "
        f"hot share validation {100 * result.metrics['validation_hot_share']:.1f}% / test "
        f"{100 * result.metrics['test_hot_share']:.1f}% (target "
        f"{dataset.spec.pql.top_percent:g}%) [{time.perf_counter() - started:.0f}s]"
    )
    for line in examples:
        print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--note-users", type=int, default=8_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        simulate(args.users, 7, root / "demo")
        audit(root / "demo" / "pql.yaml", "demo, users")
        audit(root / "demo" / ACCOUNT_SPEC, "demo, accounts")
        audit(note_app(args.note_users, 5, root / "notes"), "freemium note app")


if __name__ == "__main__":
    main()
