"""A simulated freemium product: free with no end, conversions at any age, a known oracle.

Why a second simulator: the trial simulator (`product`) decides conversions at a trial
end, so it cannot test what a freemium model must do: rank a 300-day-old free user
and a 3-day-old one on what each did lately and in total. Here:

- users sign up over most of a year and stay free with no end; the log runs a year;
- each user switches week by week between engaged and faded (some never come back
  once faded, the others return), so activity fades and returns over months;
- every day a still-free user converts with a daily hazard that is a published
  function of observable behaviour on the days before (`DAILY_COEFFICIENTS`):
  events in the last 7 days, teammates invited so far, pricing viewed in the last
  14 days, usage limits hit so far and whether an integration was ever connected;
- the simulator knows every day's hazard, so for each training cutoff (the calendar
  cuts of the spec: every `freemium.every_days` from the first event) it writes the
  true probability of converting within the label horizon given the user's behaviour
  (`oracle.parquet`: user_id, as_of, age_days, oracle_p). It uses behaviour after the
  cutoff, so no model can reach it; it is the ceiling a trained model is judged against.

Days are counted from each user's own signup (day k = [signup + k days, signup + k + 1
days)); the hazard of day k reads days 0 .. k - 1, and a conversion falls at a uniform
time within its day. Everything is vectorised over a block of users x days.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from pql.errors import DataError
from pql.features.spec import parse_spec
from pql.simulator.product import DAY_MS, _check_int, _parse_start, _prepare_out_dir

__all__ = [
    "DAILY_COEFFICIENTS",
    "DAILY_INTERCEPT",
    "FREEMIUM_EVENTS",
    "FreemiumSummary",
    "daily_hazard",
    "simulate_freemium",
]

CONVERSION_EVENT = "subscription_started"
SIGNUP_EVENT = "signed_up"
#: Behaviour event types drawn every active day (the conversion and signup are not).
FREEMIUM_EVENTS: tuple[str, ...] = (
    "dashboard_viewed",
    "project_created",
    "file_uploaded",
    "teammate_invited",
    "integration_connected",
    "pricing_viewed",
    "usage_limit_hit",
    "report_viewed",
    "search_performed",
    "settings_updated",
)
_T = {name: i for i, name in enumerate(FREEMIUM_EVENTS)}
#: An average user's events per type on an active day (before per-user tilts).
_BASE_RATE = np.array([1.4, 0.25, 0.6, 0.05, 0.02, 0.06, 0.05, 0.6, 0.8, 0.15])
#: Types whose rate varies most between users (what they came for).
_TILTED = np.array(
    [
        name
        in {
            "teammate_invited",
            "pricing_viewed",
            "usage_limit_hit",
            "integration_connected",
            "project_created",
        }
        for name in FREEMIUM_EVENTS
    ]
)

#: The true daily conversion model: h = sigmoid(intercept + sum(coefficient * observable)),
#: the observables taken over the user's own events on the days before.
DAILY_INTERCEPT = -8.4
DAILY_COEFFICIENTS: Mapping[str, float] = MappingProxyType(
    {
        "log1p_events_last_7_days": 0.55,
        "log1p_teammates_invited": 0.7,
        "viewed_pricing_last_14_days": 1.3,
        "log1p_usage_limits_hit": 0.5,
        "connected_an_integration": 0.5,
    }
)

#: Weekly chance an engaged user fades, and a faded returner comes back.
FADE_PER_WEEK = 0.10
RETURN_PER_WEEK = 0.08
#: Share of users who, once faded, never come back.
NEVER_RETURN_SHARE = 0.35
#: Activity of a faded user relative to engaged (an occasional visit).
FADED_ACTIVITY = 0.04
BLOCK_USERS = 2_000

_TS = pa.timestamp("ms", tz="UTC")
EVENTS_SCHEMA = pa.schema([("user_id", pa.string()), ("event", pa.string()), ("timestamp", _TS)])
ORACLE_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("as_of", _TS),
        ("age_days", pa.float64()),
        ("oracle_p", pa.float64()),
    ]
)


@dataclass(frozen=True)
class FreemiumSummary:
    users: int
    events: int
    conversions: int
    start: dt.datetime
    end: dt.datetime
    events_path: Path
    oracle_path: Path
    spec_path: Path

    @property
    def conversion_rate(self) -> float:
        return self.conversions / self.users if self.users else 0.0


def daily_hazard(
    events_7d: np.ndarray,
    invited: np.ndarray,
    pricing_14d: np.ndarray,
    limits: np.ndarray,
    integrations: np.ndarray,
) -> np.ndarray:
    """The day's conversion probability from the counts of the days before it."""
    c = DAILY_COEFFICIENTS
    z = (
        DAILY_INTERCEPT
        + c["log1p_events_last_7_days"] * np.log1p(events_7d)
        + c["log1p_teammates_invited"] * np.log1p(invited)
        + c["viewed_pricing_last_14_days"] * (pricing_14d > 0)
        + c["log1p_usage_limits_hit"] * np.log1p(limits)
        + c["connected_an_integration"] * (integrations > 0)
    )
    return 1.0 / (1.0 + np.exp(-z))


def _before(counts: np.ndarray, window: int | None) -> np.ndarray:
    """Per (user, day k): the sum over days [k - window, k) (all days before k: None)."""
    cumulative = np.zeros((counts.shape[0], counts.shape[1] + 1), dtype=np.float64)
    np.cumsum(counts, axis=1, out=cumulative[:, 1:])
    upto = cumulative[:, :-1]  # sum of days < k
    if window is None:
        return upto
    shifted = np.zeros_like(upto)
    shifted[:, window:] = cumulative[:, : counts.shape[1] - window]
    return upto - shifted


def _engaged(rng: np.random.Generator, n: int, weeks: int) -> np.ndarray:
    """(n, weeks) engaged flags: a two-state chain per user; some never return."""
    returns = rng.random(n) >= NEVER_RETURN_SHARE
    state = np.ones(n, dtype=bool)
    out = np.empty((n, weeks), dtype=bool)
    draws = rng.random((n, weeks))
    for week in range(weeks):
        out[:, week] = state
        fade = state & (draws[:, week] < FADE_PER_WEEK)
        back = ~state & returns & (draws[:, week] < RETURN_PER_WEEK)
        state = (state & ~fade) | back
    return out


@dataclass(frozen=True)
class _Block:
    events: pa.Table
    oracle: pa.Table
    conversions: int


def _oracle(
    hazard: np.ndarray,
    signup_ms: np.ndarray,
    drawn_ms: np.ndarray,
    cuts_ms: np.ndarray,
    horizon: int,
    max_age_days: float,
    end_ms: int,
    ids: np.ndarray,
) -> pa.Table:
    """P(convert in [cut, cut + horizon) | free at the cut, behaviour), per user and cut.

    A cut falls at a fraction f of the user's day j; a day's conversion time is uniform
    within it, so the rest of day j survives with (1 - h_j) / (1 - h_j f), the whole
    days j+1 .. j+H-1 with their (1 - h), and the first f of day j+H with 1 - h_(j+H) f.
    """
    n, days = hazard.shape
    padded = np.zeros((n, days + horizon + 2))
    padded[:, :days] = hazard
    log_survive = np.zeros((n, padded.shape[1] + 1))
    np.cumsum(np.log1p(-padded), axis=1, out=log_survive[:, 1:])
    cuts = cuts_ms[cuts_ms + horizon * DAY_MS <= end_ms]
    age = (cuts[None, :] - signup_ms[:, None]) / DAY_MS
    valid = (age > 0) & (age <= max_age_days) & (drawn_ms[:, None] > cuts[None, :])
    rows, cols = np.nonzero(valid)
    age = age[rows, cols]
    j = np.floor(age).astype(np.int64)
    f = age - j
    h_first, h_last = padded[rows, j], padded[rows, j + horizon]
    middle = np.exp(log_survive[rows, j + horizon] - log_survive[rows, j + 1])
    survive = (1 - h_first) / (1 - h_first * f) * middle * (1 - h_last * f)
    return pa.table(
        {
            "user_id": pa.array(ids[rows], pa.string()),
            "as_of": pa.array(cuts[cols], _TS),
            "age_days": pa.array(age),
            "oracle_p": pa.array(1.0 - survive),
        },
        schema=ORACLE_SCHEMA,
    )


def _block(
    rng: np.random.Generator,
    first_user: int,
    signup_ms: np.ndarray,
    end_ms: int,
    days: int,
    cuts_ms: np.ndarray,
    spec_rows: tuple[int, float],
    width: int,
) -> _Block:
    n = len(signup_ms)
    horizon, max_age_days = spec_rows
    observed_days = np.ceil((end_ms - signup_ms) / DAY_MS).astype(int)  # days in the log
    activity = np.clip(rng.lognormal(np.log(0.25), 0.7, n), 0.01, 0.95)
    engaged = np.repeat(_engaged(rng, n, -(-days // 7)), 7, axis=1)[:, :days]
    active = rng.random((n, days)) < activity[:, None] * np.where(engaged, 1.0, FADED_ACTIVITY)
    active[:, 0] = True  # the signup day
    active &= np.arange(days)[None, :] < observed_days[:, None]
    rates = _BASE_RATE * np.where(_TILTED, rng.lognormal(-0.3, 0.9, (n, len(_BASE_RATE))), 1.0)
    rates *= rng.lognormal(0.0, 0.4, n)[:, None]  # heavier and lighter users
    counts = rng.poisson(rates[:, None, :] * active[:, :, None]).astype(np.int32)  # n, days, T

    total = counts.sum(axis=2)
    hazard = daily_hazard(
        _before(total, 7),
        _before(counts[:, :, _T["teammate_invited"]], None),
        _before(counts[:, :, _T["pricing_viewed"]], 14),
        _before(counts[:, :, _T["usage_limit_hit"]], None),
        _before(counts[:, :, _T["integration_connected"]], None),
    )
    hazard[:, 0] = 0.0  # nobody pays in the hour they sign up
    converts = rng.random((n, days)) < hazard
    converts &= np.arange(days)[None, :] < observed_days[:, None]
    has = converts.any(axis=1)
    day_of = np.where(has, converts.argmax(axis=1), days)
    drawn_ms = np.where(
        has, signup_ms + day_of * DAY_MS + rng.integers(0, DAY_MS, n), np.iinfo(np.int64).max
    )
    converted_ms = np.where(drawn_ms < end_ms, drawn_ms, np.iinfo(np.int64).max)
    seen = converted_ms < end_ms

    user, day, kind = np.nonzero(counts)
    repeat = counts[user, day, kind]
    user, day, kind = (np.repeat(a, repeat) for a in (user, day, kind))
    stamp = signup_ms[user] + day * DAY_MS + rng.integers(0, DAY_MS, len(user))
    keep = (stamp < end_ms) & (stamp < converted_ms[user]) & (stamp > signup_ms[user])
    user, kind, stamp = user[keep], kind[keep], stamp[keep]
    names = np.array(FREEMIUM_EVENTS, dtype=object)[kind]
    everyone = np.arange(n)
    all_users = np.concatenate([everyone, user, everyone[seen]])
    all_names = np.concatenate(
        [
            np.full(n, SIGNUP_EVENT, dtype=object),
            names,
            np.full(int(seen.sum()), CONVERSION_EVENT, dtype=object),
        ]
    )
    all_stamps = np.concatenate([signup_ms, stamp, converted_ms[seen]])
    ids = np.array([f"f{first_user + i:0{width}d}" for i in range(n)], dtype=object)
    events = pa.table(
        {
            "user_id": pa.array(ids[all_users], pa.string()),
            "event": pa.array(all_names, pa.string()),
            "timestamp": pa.array(all_stamps, _TS),
        },
        schema=EVENTS_SCHEMA,
    )

    oracle = _oracle(hazard, signup_ms, drawn_ms, cuts_ms, horizon, max_age_days, end_ms, ids)
    return _Block(events, oracle, int(seen.sum()))


def _spec_text() -> str:
    return (
        importlib.resources.files("pql.simulator")
        .joinpath("simulated_freemium.yaml")
        .read_text(encoding="utf-8")
    )


def simulate_freemium(
    n_users: int,
    seed: int,
    out_dir: str | Path,
    *,
    start: str = "2025-01-06",
    days: int = 365,
    signup_days: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> FreemiumSummary:
    """Write events.parquet, oracle.parquet and pql.yaml for `n_users` free users.

    The log runs `days` days from `start` (a UTC date); signups fall on the first
    `signup_days` of them (default: all but the last 28), so the oldest users are
    almost a year old at the end. Same arguments, same data. Files are written under
    temporary names and renamed at the end.
    """
    n_users = _check_int("n_users", n_users, 1)
    seed = _check_int("seed", seed, 0)
    days = _check_int("days", days, 30)
    signup_days = _check_int("signup_days", signup_days or days - 28, 1)
    if signup_days > days:
        raise DataError(f"simulate: signup_days ({signup_days}) is longer than days ({days})")
    start_date = _parse_start(start)
    out = _prepare_out_dir(out_dir)
    spec = parse_spec(yaml.safe_load(_spec_text()), source="simulated_freemium.yaml")
    horizon = int(spec.label.horizon_days)
    if horizon != spec.label.horizon_days:
        raise AssertionError("simulated_freemium.yaml: label.horizon_days must be whole days")
    every_ms = round(spec.freemium.every_days * DAY_MS)

    start_ms = int(dt.datetime(*start_date.timetuple()[:3], tzinfo=dt.UTC).timestamp() * 1000)
    end_ms = start_ms + days * DAY_MS
    population = np.random.default_rng(np.random.SeedSequence([seed, 0]))
    signup_ms = np.sort(start_ms + population.integers(0, signup_days * DAY_MS, n_users))
    # training cuts fall every freemium.every_days from the first event (the first signup)
    cuts_ms = signup_ms[0] + every_ms * np.arange(1, (end_ms - signup_ms[0]) // every_ms + 1)
    spec_rows = (horizon, spec.freemium.max_age_days)
    width = len(str(n_users))
    names = ("events.parquet", "oracle.parquet", "pql.yaml")
    paths = {name: out / name for name in names}
    partial = {name: path.with_name(path.name + ".partial") for name, path in paths.items()}
    n_events = conversions = 0
    try:
        with (
            pq.ParquetWriter(partial["events.parquet"], EVENTS_SCHEMA, compression="zstd") as ew,
            pq.ParquetWriter(partial["oracle.parquet"], ORACLE_SCHEMA, compression="zstd") as ow,
        ):
            for number, lo in enumerate(range(0, n_users, BLOCK_USERS)):
                hi = min(n_users, lo + BLOCK_USERS)
                rng = np.random.default_rng(np.random.SeedSequence([seed, number + 1]))
                block = _block(rng, lo, signup_ms[lo:hi], end_ms, days, cuts_ms, spec_rows, width)
                ew.write_table(block.events)
                ow.write_table(block.oracle)
                n_events += block.events.num_rows
                conversions += block.conversions
                if progress is not None:
                    progress(hi)
        partial["pql.yaml"].write_text(_spec_text(), encoding="utf-8")
        for name, path in paths.items():
            os.replace(partial[name], path)
    except OSError as exc:
        raise DataError(f"simulate: cannot write to {out}: {exc.strerror or exc}") from None
    finally:
        for path in partial.values():
            path.unlink(missing_ok=True)
    return FreemiumSummary(
        users=n_users,
        events=n_events,
        conversions=conversions,
        start=dt.datetime.fromtimestamp(start_ms / 1000, tz=dt.UTC),
        end=dt.datetime.fromtimestamp(end_ms / 1000, tz=dt.UTC),
        events_path=paths["events.parquet"],
        oracle_path=paths["oracle.parquet"],
        spec_path=paths["pql.yaml"],
    )
