"""The simulator's fit: attribute tables, their published effects in the oracle, and the
later rows a careless join would leak."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pql.features.entities import ORACLE_COLUMN
from pql.features.spec import load_spec
from pql.simulator import simulate
from pql.simulator.fit import FIT_COEFFICIENTS, FREE_MAIL


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("fit-pair")
    plain = simulate(1500, 3, root / "plain")
    fit = simulate(1500, 3, root / "fit", fit=True)
    return plain, fit


def _logit(p: np.ndarray) -> np.ndarray:
    return np.log(p) - np.log1p(-p)


def test_the_oracle_adds_the_published_fit_effects_of_values_known_in_the_trial(pair):
    plain, fit = pair
    before = pd.read_parquet(plain.trials_path).set_index("user_id")[ORACLE_COLUMN]
    trials = pd.read_parquet(fit.trials_path).set_index("user_id")
    users = pd.read_parquet(fit.out_dir / "users.parquet")
    accounts = pd.read_parquet(fit.out_dir / "accounts.parquet")
    at_signup = users.sort_values("updated_at").drop_duplicates("user_id").set_index("user_id")
    first = accounts.sort_values("updated_at").drop_duplicates("account_id")
    first = first.set_index("account_id")
    account = trials["account_id"]
    known = {
        "company_size": account.map(first["company_size"]),
        "industry": account.map(first["industry"]),
        "country": account.map(first["country"]),
        "role": at_signup["role"].reindex(trials.index),
        "email_kind": at_signup["email"]
        .reindex(trials.index)
        .map(lambda e: "personal" if e.split("@")[1] in set(FREE_MAIL) else "work"),
    }
    expected = sum(
        values.map(lambda v, n=name: FIT_COEFFICIENTS[n].get(v, 0.0) if isinstance(v, str) else 0.0)
        for name, values in known.items()
    )
    shift = _logit(trials[ORACLE_COLUMN].to_numpy()) - _logit(
        before.reindex(trials.index).to_numpy()
    )
    assert np.allclose(shift, expected.to_numpy(float), atol=1e-6)
    assert expected.std() > 0.3  # the effects are there, not all zero


def test_later_rows_exist_only_after_the_trial_or_the_conversion(pair):
    _, fit = pair
    trials = pd.read_parquet(fit.trials_path).set_index("user_id")
    users = pd.read_parquet(fit.out_dir / "users.parquet")
    late = users[users.duplicated("user_id", keep="first")]
    assert len(late) and late["role"].notna().all()
    converted = trials.loc[late["user_id"], "converted_at"]
    assert converted.notna().all()  # the role is filled in only for converters ...
    assert (late["updated_at"].to_numpy() > converted.to_numpy()).all()  # ... after it
    accounts = pd.read_parquet(fit.out_dir / "accounts.parquet")
    again = accounts[accounts.duplicated("account_id", keep="first")]
    first_signup = trials.groupby("account_id")["signup_at"].min()
    trial_end = again["account_id"].map(first_signup) + pd.Timedelta(days=14)
    assert len(again) and (again["updated_at"] > trial_end).all()


def test_the_fit_specs_name_the_tables(pair):
    _, fit = pair
    user_spec = load_spec(fit.spec_path)
    assert [t.level for t in user_spec.data.attributes] == ["user", "account"]
    assert user_spec.output.attributes == ["company_size", "industry", "country"]
    account_spec = load_spec(fit.account_spec_path)
    assert [t.level for t in account_spec.data.attributes] == ["account"]


def test_without_fit_nothing_is_written_beside(pair):
    plain, _ = pair
    assert not (plain.out_dir / "users.parquet").exists()
    assert load_spec(plain.spec_path).data.attributes == []
