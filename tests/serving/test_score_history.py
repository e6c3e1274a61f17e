"""The score history: one file per run, its identity readable without its rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pql.errors import DataError
from pql.serving.score_history import (
    METADATA_KEY,
    history_folder,
    list_runs,
    read_runs,
    record_run,
)

AS_OF = pd.Timestamp("2026-03-01", tz="UTC")


def _leads(scored_at: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame]:
    leads = pd.DataFrame(
        {
            "entity_id": ["u2", "u1", "u3"],
            "account_id": ["a", "a", "b"],
            "status": ["scored", "scored", "not scored"],
            "probability": [0.7, 0.1, None],
            "score": pd.array([90, 20, None], dtype="Int64"),
            "tier": ["hot", "cold", None],
            "is_pql": pd.array([True, False, None], dtype="boolean"),
            "as_of": AS_OF,
            "scored_at": scored_at,
        }
    )
    features = pd.DataFrame(
        {"entity_id": ["u1", "u2"], "as_of": AS_OF, "x_count": [1.0, 5.0], "y_hours": [None, 2.0]}
    )
    return leads, features


def test_runs_round_trip_oldest_first(tmp_path: Path) -> None:
    folder = tmp_path / "acme"
    assert list_runs(folder) == []
    for minute in (5, 1):
        leads, features = _leads(pd.Timestamp(f"2026-03-02T10:0{minute}", tz="UTC"))
        record_run(
            folder, leads, features, product="acme", entity="user",
            feature_names=("x_count", "y_hours"), model_name="pql-acme", model_version="3",
        )  # fmt: skip
    runs = list_runs(folder)
    assert [r.scored_at.minute for r in runs] == [1, 5]
    run = runs[0]
    assert (run.product, run.entity, run.model_version, run.as_of) == ("acme", "user", "3", AS_OF)
    assert (run.entities_in, run.scored) == (3, 2)
    frame = run.frame().set_index("entity_id")
    assert list(frame.index) == ["u2", "u1"]  # scored rows only, best first
    assert frame.loc["u1", "x_count"] == 1.0 and pd.isna(frame.loc["u1", "y_hours"])
    assert frame.loc["u2", "tier"] == "hot"
    assert not list(folder.glob("*.partial"))


def test_folder_from_option_env_or_default(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("PQL_SCORE_HISTORY", raising=False)
    assert history_folder("acme") == Path("pql-scores") / "acme"
    monkeypatch.setenv("PQL_SCORE_HISTORY", str(tmp_path))
    assert history_folder("acme") == tmp_path / "acme"
    assert history_folder("acme", tmp_path / "x") == tmp_path / "x" / "acme"


def test_a_foreign_file_is_named(tmp_path: Path) -> None:
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "run-1.parquet")
    with pytest.raises(DataError, match=r"run-1\.parquet"):
        list_runs(tmp_path)


GOOD = {
    "product": "simulated", "entity": "user", "as_of": "2026-03-01T00:00:00+00:00",
    "scored_at": "2026-03-02T10:00:00+00:00", "model_name": "pql-simulated",
    "model_version": "1", "feature_names": ["x_count"], "entities_in": 2, "scored": 1,
}  # fmt: skip


def _write(path: Path, meta: object) -> None:
    table = pa.table({"entity_id": ["u1"], "x_count": [1.0]})
    table = table.replace_schema_metadata({METADATA_KEY: json.dumps(meta).encode()})
    pq.write_table(table, path)


@pytest.mark.parametrize(
    ("meta", "problem"),
    [
        ({"product": "simulated"}, "missing entity, as_of, scored_at"),
        ([1, 2], "a JSON list, not an object"),
        (GOOD | {"as_of": "yesterday"}, "as_of 'yesterday' is not an ISO 8601 time"),
        (GOOD | {"as_of": None}, "as_of None is not an ISO 8601 time"),
        (GOOD | {"scored_at": "2026-03-02T10:00"}, "scored_at '2026-03-02T10:00' has no time zone"),
        (GOOD | {"scored": "many"}, "scored 'many' is not a count"),
        (GOOD | {"feature_names": "x_count"}, "feature_names is not a list"),
    ],
)
def test_damaged_run_metadata_names_the_file_and_the_problem(tmp_path, meta, problem) -> None:
    _write(tmp_path / "run-20260302T100000000000Z.parquet", GOOD)
    damaged = tmp_path / "run-20260303T100000000000Z.parquet"
    _write(damaged, meta)
    with pytest.raises(DataError) as caught:
        list_runs(tmp_path)
    assert caught.value.exit_code == 3
    assert str(damaged) in caught.value.message and problem in caught.value.message
    listing = read_runs(tmp_path)  # the lenient listing keeps the good run
    assert [run.path.name for run in listing.runs] == ["run-20260302T100000000000Z.parquet"]
    assert [str(damaged) in e.message for e in listing.damaged] == [True]
