"""Who the scoring units are, when each signed up and when (if ever) it converted.

DESIGN section 2: with a trials table, signup and conversion come from it (conversion
from the events when the table has no `converted_at`); without one, signup is the
entity's first event and conversion the first occurrence of the spec's
`conversion_event`. An account signs up with its first user and converts with
its first converting user.

Event logs without a trials table may still say more (`features.plans`): a per-event
signup column (``data.events.columns.signup_at``, e.g. a registration time) gives the
signup instead of the first event, a plan column with ``label.paid_plans`` makes the
first paid event a conversion, and entities paying when first seen are no trials.
"""

from __future__ import annotations

import pandas as pd

from pql.features.plans import entity_key, paying_at_start, plan_conversions
from pql.features.spec import Spec

ENTITY_COLUMNS = ("entity_id", "account_id", "signup_at", "converted_at")
#: Optional trials-table column: each entity's true P(convert at trial end), known only
#: to a simulator (pql's own writes it). Training reports its model against it.
ORACLE_COLUMN = "oracle_p_trial_end"


def _first_account(events: pd.DataFrame) -> pd.Series:
    """Each user's account: the first non-missing account id seen for them."""
    known = events.loc[events["account_id"].notna(), ["user_id", "account_id"]]
    if known.empty:
        return pd.Series(dtype=object)
    first = known.drop_duplicates("user_id")
    return pd.Series(first["account_id"].astype(str).to_numpy(), index=first["user_id"].astype(str))


def _conversions(events: pd.DataFrame, key: str, conversion_event: str | None) -> pd.Series:
    if not conversion_event:
        return pd.Series(dtype="datetime64[ns, UTC]")
    converted = events.loc[events["event"] == conversion_event, [key, "timestamp"]]
    return converted.groupby(converted[key].astype(str))["timestamp"].min()


def _signups(usable: pd.DataFrame, key: str) -> pd.Series:
    """First event, or the earliest declared signup time where the log has one."""
    ids = usable[key].astype(str)
    signup = usable.groupby(ids)["timestamp"].min()
    if "signup_at" in usable.columns:
        declared = usable.groupby(ids)["signup_at"].min().reindex(signup.index)
        signup = declared.where(declared.notna(), signup)
    return signup


def event_conversions(spec: Spec, events: pd.DataFrame) -> pd.Series:
    """Entity -> its conversion time from the events: the first `conversion_event`, or
    the first event on a paid plan, whichever comes first."""
    key = entity_key(spec)
    usable = events[events[key].notna()]
    converted = _conversions(usable, key, spec.label.conversion_event)
    by_plan = plan_conversions(spec, usable, key)
    if len(by_plan):  # the earlier of the conversion event and the first paid event
        converted = pd.concat([converted, by_plan]).groupby(level=0).min()
    return converted


def _from_events(events: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    key = entity_key(spec)
    usable = events[events[key].notna()]
    signup = _signups(usable, key)
    if spec.label.paid_plans and spec.label.exclude_paying_at_start:
        signup = signup.drop(paying_at_start(spec, usable), errors="ignore")
    table = pd.DataFrame({"entity_id": signup.index.astype(str), "signup_at": signup.to_numpy()})
    table["converted_at"] = table["entity_id"].map(event_conversions(spec, usable))
    if key == "user_id":
        table["account_id"] = table["entity_id"].map(_first_account(events))
    else:
        table["account_id"] = table["entity_id"]
    return table


def _users_from_trials(trials: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    table = trials.rename(columns={"user_id": "entity_id"}).copy()
    table["entity_id"] = table["entity_id"].astype(str)
    if "account_id" not in table.columns or table["account_id"].isna().all():
        table["account_id"] = table["entity_id"].map(_first_account(events))
    return table


def _accounts_from_trials(trials: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    users = _users_from_trials(trials, events).dropna(subset=["account_id"])
    grouped = users.groupby("account_id")
    table = pd.DataFrame(
        {
            "signup_at": grouped["signup_at"].min(),
            "converted_at": grouped["converted_at"].min(),
            "users": grouped.size(),
        }
    )
    if "trial_end_at" in users.columns:
        table["trial_end_at"] = grouped["trial_end_at"].min()
    if ORACLE_COLUMN in users.columns:
        # Simulated data: the account pays when at least one member does, and members
        # decide independently, so P(account) = 1 - prod(1 - P(member)).
        stay = (1.0 - users[ORACLE_COLUMN].astype(float)).groupby(users["account_id"]).prod()
        table[ORACLE_COLUMN] = 1.0 - stay
    table = table.reset_index().rename(columns={"account_id": "entity_id"})
    table["account_id"] = table["entity_id"]
    return table


def build_entities(
    spec: Spec,
    events: pd.DataFrame,
    trials: pd.DataFrame | None,
    *,
    trials_convert: bool = True,
) -> pd.DataFrame:
    """One row per entity: entity_id, account_id, signup_at, converted_at (+ trial extras).

    Entities from the trials table keep their row even with no events at all: a trial
    user who never came back is exactly the user a score must rate low, not drop.
    `trials_convert` False: the table has no conversion column, so conversions come
    from the events or plans the label names.
    """
    if trials is None:
        table = _from_events(events, spec)
    elif spec.entity == "account":
        table = _accounts_from_trials(trials, events)
    else:
        table = _users_from_trials(trials, events)
    if trials is not None and not trials_convert:
        converted = event_conversions(spec, events)
        table["converted_at"] = pd.to_datetime(table["entity_id"].map(converted), utc=True)
    first = list(ENTITY_COLUMNS)
    rest = [c for c in table.columns if c not in first]
    table = table[first + rest].sort_values(["signup_at", "entity_id"], kind="stable")
    return table.reset_index(drop=True)
