"""One small simulated product, trained once per test session (it takes seconds)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from features.pipeline import Dataset, load_dataset
from features.simulator import simulate
from features.spec import load_spec
from training.train import TrainingResult, train_model


@dataclass(frozen=True)
class Trained:
    folder: Path
    dataset: Dataset
    result: TrainingResult


@pytest.fixture(scope="session")
def simulated_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("simulated")
    simulate(4000, 11, folder)
    return folder


@pytest.fixture(scope="session")
def trained(simulated_folder: Path) -> Trained:
    dataset = load_dataset(load_spec(simulated_folder / "pql.yaml"))
    return Trained(simulated_folder, dataset, train_model(dataset))
