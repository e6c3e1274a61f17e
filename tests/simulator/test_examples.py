"""Example specs stay valid and in step with what the simulator writes."""

from __future__ import annotations

from pathlib import Path

import yaml

from pql.features.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]


def test_simulated_example_matches_the_simulator_spec() -> None:
    example = yaml.safe_load((ROOT / "examples/simulated/pql.yaml").read_text())
    packaged = yaml.safe_load((ROOT / "pql/simulator/simulated_pql.yaml").read_text())
    for source in ("events", "trials"):
        example["data"][source]["path"] = Path(example["data"][source]["path"]).name
    assert example == packaged
    spec = load_spec(ROOT / "examples/simulated/pql.yaml")
    assert spec.data.events.path == ROOT / "examples/simulated/data/events.parquet"
