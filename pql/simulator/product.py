"""A simulated SaaS product whose trial conversions follow a known model.

Why simulate: a real event log never tells you how good a conversion model *could* be.
Here every conversion is drawn from a published model of observable behaviour
(`TRIAL_END_COEFFICIENTS`, `MID_TRIAL_COEFFICIENTS`), and each user's true trial-end
probability is written next to the data (`oracle_p_trial_end`), so a trained model can be
judged against the best achievable score and its reasons against the true drivers.

The data is built to look like the awkward parts of a real log: accounts whose members
sign up after the owner invites them, weekday and working-hour rhythms, users who never
come back, activity that fades, events after conversion and after the trial (which the
feature code must ignore), and an observation window that cuts the last trials short.

Everything is vectorised over a block of users (users x days grids, ``np.repeat`` to
expand counts into events) and written block by block, so memory is bounded by the
chunk, not by the number of users. Each block draws from its own child of
``SeedSequence(seed)``: the data depends on ``(n_users, seed, start, signup_days)`` only,
never on ``chunk_users``, which only sets how much is held in memory per write.
"""

from __future__ import annotations

import datetime as dt
import importlib.resources
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from numbers import Integral
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pql.errors import DataError
from pql.features.entities import ORACLE_COLUMN
from pql.simulator.fit import draw_fit, with_fit, write_fit_tables

__all__ = [
    "ACCOUNT_SPEC",
    "CONVERSION_EVENT",
    "EVENT_TYPES",
    "MID_TRIAL_COEFFICIENTS",
    "MID_TRIAL_INTERCEPT",
    "TRIAL_END_COEFFICIENTS",
    "TRIAL_END_INTERCEPT",
    "SimulationSummary",
    "mid_trial_daily_hazard",
    "simulate",
    "trial_end_probability",
]

SECOND_MS = 1_000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS

#: The account-level spec written beside `pql.yaml` (entity: account, same data).
ACCOUNT_SPEC = "pql-accounts.yaml"

#: Every user's trial lasts this long from their own signup.
TRIAL_DAYS = 14
#: Paid users (and, less, lapsed ones) keep using the product this long after the trial.
POST_TRIAL_DAYS = 7
#: The observation ends this long after the signup period, so late trials are cut short.
OBSERVATION_TAIL_DAYS = 7
#: A trial-end converter pays within this long after the trial ends.
TRIAL_END_PAYMENT_DAYS = 3
#: Calendar days (UTC, from the signup date) on which a user can be active.
GRID_DAYS = TRIAL_DAYS + POST_TRIAL_DAYS + 1
#: Accounts have 1 to this many users.
MAX_ACCOUNT_SIZE = 10
#: Users per random-number block: the unit of generation, fixed so the data does not
#: depend on the caller's chunk size.
BLOCK_USERS = 5_000
#: session_id = user number * SESSION_STRIDE + the session's rank within the user.
SESSION_STRIDE = 1_000

CONVERSION_EVENT = "subscription_started"

#: Event names written to `events.parquet`: the contract with `simulated_pql.yaml`.
EVENT_TYPES: tuple[str, ...] = (
    # key actions (named in the spec)
    "teammate_invited",
    "project_created",
    "integration_connected",
    "pricing_viewed",
    "usage_limit_hit",
    "file_uploaded",
    "dashboard_viewed",
    "support_ticket_opened",
    # noise: no effect on conversion
    "report_viewed",
    "comment_added",
    "search_performed",
    "settings_updated",
    "help_article_viewed",
    "notification_opened",
    "export_downloaded",
    "onboarding_step_completed",
    # the conversion itself, written at converted_at; must stay last (never sampled)
    CONVERSION_EVENT,
)
_E = {name: i for i, name in enumerate(EVENT_TYPES)}
_N_BEHAVIOUR = len(EVENT_TYPES) - 1  # types sampled for ordinary events

#: Share of an average user's events per type before the per-user multipliers.
_BASE_SHARE = np.array(
    [
        0.004,  # teammate_invited (the accepted invites come from invite sessions)
        0.040,  # project_created
        0.010,  # integration_connected
        0.015,  # pricing_viewed
        0.010,  # usage_limit_hit
        0.070,  # file_uploaded
        0.200,  # dashboard_viewed
        0.006,  # support_ticket_opened
        0.100,  # report_viewed
        0.080,  # comment_added
        0.100,  # search_performed
        0.030,  # settings_updated
        0.040,  # help_article_viewed
        0.080,  # notification_opened
        0.030,  # export_downloaded
        0.040,  # onboarding_step_completed
    ]
)

# ---------------------------------------------------------------------------------------
# The true conversion model. Every input is observable in the event log, computed over
# the user's own events with signup_at <= timestamp < cut-off; no hidden term enters it.
# ---------------------------------------------------------------------------------------

#: Trial-end decision, for everyone who has not paid mid-trial:
#: p = sigmoid(TRIAL_END_INTERCEPT + sum(coefficient * observable)), the observables taken
#: over the whole trial [signup_at, trial_end_at).
TRIAL_END_INTERCEPT = -5.0
TRIAL_END_COEFFICIENTS: Mapping[str, float] = MappingProxyType(
    {
        "log1p_invites": 0.80,  # log(1 + teammate_invited count)
        "log1p_projects": 0.50,  # log(1 + project_created count)
        "any_integration": 0.90,  # 1 if integration_connected at least once
        "log1p_pricing_views": 0.80,  # log(1 + pricing_viewed count)
        "any_limit_hit": 0.70,  # 1 if usage_limit_hit at least once
        "log1p_active_days": 0.90,  # log(1 + distinct UTC dates with an event)
        "decline": -1.60,  # max(0, (prev7 - last7) / (prev7 + last7)), event counts
        "log1p_support_tickets": -0.40,  # log(1 + support_ticket_opened count)
    }
)

#: Mid-trial purchase: on each UTC calendar day 1..13 after the signup date, the user pays
#: that day with probability sigmoid(MID_TRIAL_INTERCEPT + sum(coefficient * observable)),
#: the observables being cumulative counts over the calendar days before that day.
MID_TRIAL_INTERCEPT = -7.4
MID_TRIAL_COEFFICIENTS: Mapping[str, float] = MappingProxyType(
    {
        "log1p_pricing_views": 1.40,
        "log1p_limit_hits": 1.00,
        "log1p_invites": 0.30,
    }
)

# ---------------------------------------------------------------------------------------
# Behaviour (not part of the conversion model: it only shapes what users do).
# ---------------------------------------------------------------------------------------

#: P(account size = 1..10): mostly solo users, a long tail of teams.
_ACCOUNT_SIZE_P = np.array([0.60, 0.14, 0.08, 0.055, 0.04, 0.028, 0.02, 0.015, 0.012, 0.01])
_ACCOUNT_SIZE_P = _ACCOUNT_SIZE_P / _ACCOUNT_SIZE_P.sum()

#: Relative weight of each UTC hour for signups and session starts: working hours, with
#: a thin night (users in other time zones).
_HOUR_WEIGHTS = np.array(
    [
        *(0.3, 0.2, 0.15, 0.15, 0.2, 0.3),  # 00-05
        *(0.6, 1.2, 2.5, 3.5, 3.8, 3.6),  # 06-11
        *(3.0, 3.4, 3.6, 3.4, 3.0, 2.4),  # 12-17
        *(1.6, 1.2, 1.0, 0.8, 0.6, 0.4),  # 18-23
    ]
)
_HOUR_P = _HOUR_WEIGHTS / _HOUR_WEIGHTS.sum()

_WEEKEND_SIGNUP_WEIGHT = 0.4  # relative to a weekday
_SIGNUP_GROWTH = 0.5  # the last signup day gets 1.5x the signups of the first
_WEEKEND_ACTIVITY_LOGIT = -1.2
_ACTIVITY_INTERCEPT = 0.2
_ACTIVITY_ENGAGEMENT = 0.9
_GHOST_INTERCEPT = -0.9  # P(never back after day 0) ~ 30%
_DECLINER_SHARE = 0.35
_EVENTS_PER_SESSION = 3.5  # mean extra events per session at median engagement
_EVENT_GAP_MEAN_S = 80.0
_POST_TRIAL_KEEP_NON_CONVERTED = 0.2  # share of lapsed users' post-trial sessions kept
_UPLOAD_MEDIAN_BYTES = 300_000.0


@dataclass(frozen=True)
class SimulationSummary:
    """What `simulate` wrote, for the CLI line and for tests."""

    users: int
    accounts: int
    events: int
    conversions: int  # observed: converted_at before the end of observation
    mid_trial_conversions: int  # observed and before trial_end_at
    start: dt.datetime  # first possible signup (UTC)
    end: dt.datetime  # end of observation (UTC, exclusive)
    seed: int
    out_dir: Path
    events_path: Path
    trials_path: Path
    spec_path: Path
    account_spec_path: Path  # the same data scored per account

    @property
    def conversion_rate(self) -> float:
        return self.conversions / self.users

    @property
    def mid_trial_rate(self) -> float:
        return self.mid_trial_conversions / self.users


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def _linear(
    intercept: float, coefficients: Mapping[str, float], **observables: np.ndarray
) -> np.ndarray:
    """Names are checked so a renamed observable cannot silently drop out of the model."""
    missing = set(coefficients) - set(observables)
    extra = set(observables) - set(coefficients)
    if missing or extra:
        raise ValueError(f"observables mismatch: missing {sorted(missing)}, extra {sorted(extra)}")
    z = np.full(np.shape(next(iter(observables.values()))), intercept, dtype=float)
    for name, coefficient in coefficients.items():
        z = z + coefficient * np.asarray(observables[name], dtype=float)
    return z


def trial_end_probability(**observables: np.ndarray) -> np.ndarray:
    """The true P(convert at trial end); keyword names are those of TRIAL_END_COEFFICIENTS.

    Public so that notebooks and tests can recompute the oracle from features.
    """
    return _sigmoid(_linear(TRIAL_END_INTERCEPT, TRIAL_END_COEFFICIENTS, **observables))


def mid_trial_daily_hazard(**observables: np.ndarray) -> np.ndarray:
    """The true P(pay on a trial day | not paid yet); names as in MID_TRIAL_COEFFICIENTS."""
    return _sigmoid(_linear(MID_TRIAL_INTERCEPT, MID_TRIAL_COEFFICIENTS, **observables))


# ---------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise DataError(f"simulate: {name} must be a whole number, got {value!r}")
    if value < minimum:
        raise DataError(f"simulate: {name} must be at least {minimum}, got {value}")
    return int(value)


def _parse_start(start: str | dt.date) -> dt.date:
    """Signups are laid out on whole UTC days, so the start is a date, not a time."""
    if isinstance(start, dt.datetime):
        raise DataError(f"simulate: start must be a date (YYYY-MM-DD), got a time {start!r}")
    if isinstance(start, dt.date):
        return start
    try:
        return dt.date.fromisoformat(str(start))
    except ValueError:
        raise DataError(f"simulate: start must be a date as YYYY-MM-DD, got {start!r}") from None


def _prepare_out_dir(out_dir: str | Path) -> Path:
    path = Path(out_dir)
    if path.exists() and not path.is_dir():
        raise DataError(f"simulate: output folder {path} is an existing file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"simulate: cannot create output folder {path}: {exc.strerror}") from None
    return path


def _rng(seed: int, stream: int) -> np.random.Generator:
    """Independent generator per stream (0 = population, b + 1 = block b)."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(stream,)))


# ---------------------------------------------------------------------------------------
# Population: accounts, signups, invitations (global, cheap: a few arrays of n_users)
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Population:
    """Users numbered in signup order, so ids grow with time as in a real database."""

    signup_ms: np.ndarray  # int64 per user, ascending
    account: np.ndarray  # account number per user (accounts numbered by owner signup)
    account_size: np.ndarray  # size of the user's account, per user
    is_owner: np.ndarray  # bool per user
    n_accounts: int
    invite_user: np.ndarray  # per invite session: the inviting owner's user number (sorted)
    invite_start_ms: np.ndarray  # per invite session: when the owner sent the invites
    invite_count: np.ndarray  # per invite session: invites sent (accepted + unanswered)


def _ranks_within(counts: np.ndarray) -> np.ndarray:
    """0, 1, ... within each consecutive group of the given sizes."""
    total = int(counts.sum())
    return np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)


def _cumsum_within(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Running sum restarting at each consecutive group of the given sizes."""
    running = np.cumsum(values)
    first = np.repeat(np.cumsum(counts) - counts, counts)
    return running - running[first] + values[first]


def _draw_account_sizes(n_users: int, rng: np.random.Generator) -> np.ndarray:
    sizes = rng.choice(np.arange(1, MAX_ACCOUNT_SIZE + 1), size=n_users, p=_ACCOUNT_SIZE_P)
    total = np.cumsum(sizes)
    last = int(np.searchsorted(total, n_users))
    sizes = sizes[: last + 1].copy()
    sizes[-1] -= int(total[last]) - n_users  # trim the last account to hit n_users exactly
    return sizes


def _draw_signups(n: int, rng: np.random.Generator, start_ms: int, signup_days: int) -> np.ndarray:
    """Owner signups: fewer at weekends, slowly growing, during working hours."""
    day = np.arange(signup_days)
    weekday = (start_ms // DAY_MS + 3 + day) % 7  # 1970-01-01 was a Thursday (3)
    weight = np.where(weekday >= 5, _WEEKEND_SIGNUP_WEIGHT, 1.0)
    weight = weight * (1.0 + _SIGNUP_GROWTH * day / max(signup_days - 1, 1))
    days = rng.choice(signup_days, size=n, p=weight / weight.sum())
    hours = rng.choice(24, size=n, p=_HOUR_P) + rng.random(n)
    return np.sort(start_ms + days * DAY_MS + (hours * HOUR_MS).astype(np.int64))


def _clipped_lognormal(
    rng: np.random.Generator, n: int, median: float, sigma: float, low: float, high: float
) -> np.ndarray:
    return np.clip(rng.lognormal(np.log(median), sigma, n), low, high)


def _plan_population(
    n_users: int, rng: np.random.Generator, start_ms: int, signup_days: int
) -> _Population:
    """Accounts, owners' signups, invitation waves and the members they bring in.

    An owner invites in one wave (or two for bigger teams); each member signs up a while
    after the wave that invited them, so member signups trail the owner's by hours to
    days. Some invites are never answered. At most ~6.5 days pass between an owner's
    signup and a member's, less than the observation tail, so every user signs up
    inside the observed window.
    """
    sizes = _draw_account_sizes(n_users, rng)
    n_acc = len(sizes)
    owner_signup = _draw_signups(n_acc, rng, start_ms, signup_days)

    members = sizes - 1
    two_waves = (sizes >= 3) & (rng.random(n_acc) < 0.4)
    wave1 = owner_signup + _clipped_lognormal(
        rng, n_acc, 3 * HOUR_MS, 1.3, 10 * MINUTE_MS, 2 * DAY_MS
    )
    wave2 = wave1 + rng.uniform(1 * DAY_MS, 3 * DAY_MS, n_acc)

    m_account = np.repeat(np.arange(n_acc), members)
    m_rank = _ranks_within(members)
    m_second = two_waves[m_account] & (m_rank > 0) & (rng.random(len(m_account)) < 0.5)
    m_invited = np.where(m_second, wave2[m_account], wave1[m_account])
    accept = _clipped_lognormal(rng, len(m_account), 2 * HOUR_MS, 1.2, 5 * MINUTE_MS, 1.5 * DAY_MS)
    m_signup = (m_invited + accept).astype(np.int64)

    signup = np.concatenate([owner_signup, m_signup])
    account = np.concatenate([np.arange(n_acc), m_account])
    is_owner = np.concatenate([np.ones(n_acc, bool), np.zeros(len(m_account), bool)])
    order = np.argsort(signup, kind="stable")
    user_of = np.empty(n_users, np.int64)
    user_of[order] = np.arange(n_users)
    owner_user = user_of[:n_acc]

    in_wave2 = np.bincount(m_account[m_second], minlength=n_acc)
    in_wave1 = members - in_wave2
    unanswered = rng.poisson(0.4, (2, n_acc))
    has_team = members > 0
    invite_user = np.concatenate([owner_user[has_team], owner_user[two_waves]])
    invite_start = np.concatenate([wave1[has_team], wave2[two_waves]]).astype(np.int64)
    invite_count = np.concatenate(
        [
            in_wave1[has_team] + unanswered[0, has_team],
            in_wave2[two_waves] + unanswered[1, two_waves],
        ]
    )
    sent = invite_count > 0  # a second wave may have lost all its invitees to the first
    invite_user, invite_start, invite_count = (
        invite_user[sent],
        invite_start[sent],
        invite_count[sent],
    )
    by_user = np.lexsort((invite_start, invite_user))
    return _Population(
        signup_ms=signup[order],
        account=account[order],
        account_size=sizes[account[order]],
        is_owner=is_owner[order],
        n_accounts=n_acc,
        invite_user=invite_user[by_user],
        invite_start_ms=invite_start[by_user],
        invite_count=invite_count[by_user],
    )


# ---------------------------------------------------------------------------------------
# One block of users: traits -> sessions -> events -> conversions
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Users:
    """One block's users; `date0_ms` is the UTC midnight of each signup date."""

    first: int  # global number of the block's first user
    signup_ms: np.ndarray
    date0_ms: np.ndarray
    trial_end_ms: np.ndarray
    account: np.ndarray
    account_size: np.ndarray
    is_owner: np.ndarray

    @property
    def n(self) -> int:
        return len(self.signup_ms)


@dataclass(frozen=True)
class _Traits:
    """Latent, never written: they shape behaviour, conversion sees only the behaviour."""

    log_engagement: np.ndarray
    ghost: np.ndarray  # never back after the signup day
    decay: np.ndarray  # per-day drop in the activity log-odds (declining users)
    extra_session_p: np.ndarray
    events_per_session: np.ndarray
    type_weights: np.ndarray  # (n, behaviour types): the user's taste for each event type


@dataclass
class _Sessions:
    user: np.ndarray  # local user number in the block
    start_ms: np.ndarray
    day: np.ndarray  # calendar day since the signup date
    invites: np.ndarray  # forced teammate_invited events (invite sessions), else 0
    signup: np.ndarray  # bool: the session opened at signup


@dataclass
class _Events:
    user: np.ndarray
    ts_ms: np.ndarray
    type: np.ndarray
    session: np.ndarray  # index into _Sessions

    def take(self, mask: np.ndarray) -> _Events:
        return _Events(self.user[mask], self.ts_ms[mask], self.type[mask], self.session[mask])


def _block_users(pop: _Population, lo: int, hi: int) -> _Users:
    signup = pop.signup_ms[lo:hi]
    return _Users(
        first=lo,
        signup_ms=signup,
        date0_ms=signup // DAY_MS * DAY_MS,
        trial_end_ms=signup + TRIAL_DAYS * DAY_MS,
        account=pop.account[lo:hi],
        account_size=pop.account_size[lo:hi],
        is_owner=pop.is_owner[lo:hi],
    )


def _draw_traits(users: _Users, rng: np.random.Generator) -> _Traits:
    """Engagement drives almost everything, so many events correlate with conversion
    without causing it; the type multipliers give each user their own mix."""
    n = users.n
    log_e = rng.normal(0.0, 0.75, n)
    ghost = rng.random(n) < _sigmoid(_GHOST_INTERCEPT - 0.6 * log_e)
    decliner = rng.random(n) < _DECLINER_SHARE
    decay = np.where(decliner, rng.uniform(0.08, 0.30, n), rng.normal(0.0, 0.02, n))

    weights = np.tile(_BASE_SHARE, (n, 1))
    team_owner = users.is_owner & (users.account_size > 1)
    weights[:, _E["teammate_invited"]] *= np.where(
        team_owner, 2.0, np.where(users.is_owner, 1.0, 0.4)
    )
    weights[:, _E["project_created"]] *= rng.lognormal(0.0, 0.8, n)
    weights[:, _E["integration_connected"]] *= (rng.random(n) < 0.35) * rng.lognormal(0.0, 0.5, n)
    weights[:, _E["pricing_viewed"]] *= rng.lognormal(0.3 * log_e, 1.1)
    weights[:, _E["usage_limit_hit"]] *= np.exp(1.2 * log_e) * (rng.random(n) < 0.6)
    weights[:, _E["file_uploaded"]] *= rng.lognormal(0.0, 1.0, n)
    weights[:, _E["support_ticket_opened"]] *= rng.lognormal(-0.3, 1.0, n)
    for name in ("report_viewed", "comment_added", "search_performed", "export_downloaded"):
        weights[:, _E[name]] *= rng.lognormal(0.0, 0.5, n)
    return _Traits(
        log_engagement=log_e,
        ghost=ghost,
        decay=decay,
        extra_session_p=_sigmoid(-0.8 + 0.9 * log_e),
        events_per_session=_EVENTS_PER_SESSION * np.exp(0.5 * log_e),
        type_weights=weights,
    )


def _day_factors() -> np.ndarray:
    """How each event type's weight moves through the trial (days since signup date)."""
    k = np.arange(GRID_DAYS)
    factors = np.ones((GRID_DAYS, _N_BEHAVIOUR))
    factors[:, _E["onboarding_step_completed"]] = np.maximum(5.0 * 0.45**k, 0.1)
    factors[:, _E["help_article_viewed"]] = np.where(k < 2, 2.0, 1.0)
    factors[:, _E["project_created"]] = np.where(k < 3, 1.6, 1.0)
    factors[:, _E["integration_connected"]] = np.where(k < 4, 1.8, 0.7)
    # intent rises as the trial's end approaches, and fades once the decision is made
    factors[:, _E["pricing_viewed"]] = np.where(
        k < TRIAL_DAYS, 1.0 + 0.2 * np.maximum(k - 7, 0), 0.5
    )
    factors[:, _E["usage_limit_hit"]] = 0.5 + 0.08 * k  # limits bite as usage accumulates
    return factors


_DAY_FACTORS = _day_factors()


def _draw_sessions(
    users: _Users, traits: _Traits, pop: _Population, rng: np.random.Generator
) -> _Sessions:
    """Active days on a users x days grid, 1-3 sessions per active day, plus the owners'
    invite sessions. The signup opens the first session; later ones start in working
    hours; nothing starts after POST_TRIAL_DAYS past the trial end."""
    n = users.n
    k = np.arange(GRID_DAYS)
    weekday = (users.date0_ms[:, None] // DAY_MS + 3 + k) % 7
    logit = (
        _ACTIVITY_INTERCEPT
        + _ACTIVITY_ENGAGEMENT * traits.log_engagement[:, None]
        - traits.decay[:, None] * k
        + np.where(weekday >= 5, _WEEKEND_ACTIVITY_LOGIT, 0.0)
    )
    active = rng.random((n, GRID_DAYS)) < _sigmoid(logit)
    active[:, 0] = True
    active[traits.ghost, 1:] = False
    extra = rng.binomial(2, np.broadcast_to(traits.extra_session_p[:, None], (n, GRID_DAYS)))
    extra[:, 0] = extra[:, 0] > 1  # the signup day has 1-2 sessions, later days 1-3
    per_day = np.where(active, 1 + extra, 0).ravel()

    cell = np.repeat(np.arange(n * GRID_DAYS), per_day)
    user, day = cell // GRID_DAYS, cell % GRID_DAYS
    rank = _ranks_within(per_day)
    hours = rng.choice(24, size=len(cell), p=_HOUR_P) + rng.random(len(cell))
    start = users.date0_ms[user] + day * DAY_MS + (hours * HOUR_MS).astype(np.int64)
    later_same_day = users.signup_ms[user] + rng.uniform(0.5, 8.0, len(cell)) * HOUR_MS
    start = np.where(day == 0, later_same_day.astype(np.int64), start)
    signup = (day == 0) & (rank == 0)
    start = np.where(signup, users.signup_ms[user], start)
    keep = start < users.trial_end_ms[user] + POST_TRIAL_DAYS * DAY_MS

    lo, hi = np.searchsorted(pop.invite_user, [users.first, users.first + n])
    inv_user = pop.invite_user[lo:hi] - users.first
    inv_start = pop.invite_start_ms[lo:hi]
    return _Sessions(
        user=np.concatenate([user[keep], inv_user]),
        start_ms=np.concatenate([start[keep], inv_start]),
        day=np.concatenate([day[keep], (inv_start - users.date0_ms[inv_user]) // DAY_MS]),
        invites=np.concatenate([np.zeros(int(keep.sum()), np.int64), pop.invite_count[lo:hi]]),
        signup=np.concatenate([signup[keep], np.zeros(hi - lo, bool)]),
    )


def _draw_types(
    users: _Users,
    traits: _Traits,
    sessions: _Sessions,
    session: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Categorical draw per event from its user's and day's mix, vectorised by offsetting
    each (user, day) row's cumulative probabilities by its row number."""
    probs = traits.type_weights[:, None, :] * _DAY_FACTORS[None, :, :]
    cumulative = np.cumsum(probs, axis=2)
    cumulative /= cumulative[:, :, -1:]
    cumulative[:, :, -1] = 1.0
    rows = np.arange(users.n * GRID_DAYS, dtype=float)
    flat = (cumulative.reshape(-1, _N_BEHAVIOUR) + rows[:, None]).ravel()
    row = sessions.user[session] * GRID_DAYS + np.minimum(sessions.day[session], GRID_DAYS - 1)
    picked = np.searchsorted(flat, row + rng.random(len(session)), side="right")
    return np.minimum(picked - row * _N_BEHAVIOUR, _N_BEHAVIOUR - 1)


def _draw_events(
    users: _Users, traits: _Traits, sessions: _Sessions, rng: np.random.Generator
) -> _Events:
    """Events within a session are a minute or two apart. The signup session opens with an
    onboarding step; invite sessions carry the owner's teammate_invited events."""
    n_sessions = len(sessions.user)
    mean = np.where(sessions.invites > 0, 1.0, traits.events_per_session[sessions.user])
    counts = np.where(sessions.invites > 0, 0, 1) + rng.poisson(mean)
    session = np.repeat(np.arange(n_sessions), counts)
    gaps = (rng.exponential(_EVENT_GAP_MEAN_S, len(session)) + 3.0) * SECOND_MS
    first = np.cumsum(counts) - counts
    gaps[first[counts > 0]] = 0.0  # the session's first event opens it
    offsets = _cumsum_within(gaps, counts).astype(np.int64)
    types = _draw_types(users, traits, sessions, session, rng)
    types[first[sessions.signup & (counts > 0)]] = _E["onboarding_step_completed"]

    inv_session = np.repeat(np.arange(n_sessions), sessions.invites)
    inv_gaps = rng.uniform(15, 120, len(inv_session)) * SECOND_MS
    inv_offsets = _cumsum_within(inv_gaps, sessions.invites).astype(np.int64)
    session = np.concatenate([session, inv_session])
    return _Events(
        user=sessions.user[session],
        ts_ms=sessions.start_ms[session] + np.concatenate([offsets, inv_offsets]),
        type=np.concatenate([types, np.full(len(inv_session), _E["teammate_invited"])]),
        session=session,
    )


@dataclass(frozen=True)
class _Decision:
    converted_ms: np.ndarray  # int64, -1 = never converts
    mid_trial: np.ndarray  # bool
    p_trial_end: np.ndarray


@dataclass(frozen=True)
class _TrialActivity:
    """What the true model may look at: the user's own events in [signup_at, trial_end_at),
    as a feature builder sees them with as_of = trial_end_at (ordinary events never
    precede the signup, and the conversion event is added only after the decision)."""

    cube: np.ndarray  # (users, calendar days since signup date, behaviour types) counts
    last7: np.ndarray  # events in [trial_end - 7 days, trial_end)
    prev7: np.ndarray  # events in [trial_end - 14 days, trial_end - 7 days)

    @classmethod
    def of(cls, users: _Users, events: _Events) -> _TrialActivity:
        n = users.n
        in_trial = events.ts_ms < users.trial_end_ms[events.user]
        user, ts, kind = events.user[in_trial], events.ts_ms[in_trial], events.type[in_trial]
        day = (ts - users.date0_ms[user]) // DAY_MS
        cells = (user * GRID_DAYS + day) * _N_BEHAVIOUR + kind
        cube = np.bincount(cells, minlength=n * GRID_DAYS * _N_BEHAVIOUR)
        recent = ts >= users.trial_end_ms[user] - 7 * DAY_MS
        last7 = np.bincount(user[recent], minlength=n)
        return cls(
            cube=cube.reshape(n, GRID_DAYS, _N_BEHAVIOUR),
            last7=last7,
            prev7=np.bincount(user, minlength=n) - last7,
        )

    def count(self, name: str) -> np.ndarray:
        return self.cube[:, :, _E[name]].sum(axis=1)

    def count_before_day(self, name: str) -> np.ndarray:
        """Column j: events on calendar days 0..j, i.e. before day j + 1 began."""
        return np.cumsum(self.cube[:, :, _E[name]], axis=1)

    @property
    def active_days(self) -> np.ndarray:
        return (self.cube.sum(axis=2) > 0).sum(axis=1)

    @property
    def decline(self) -> np.ndarray:
        total = self.prev7 + self.last7
        return np.maximum(self.prev7 - self.last7, 0) / np.maximum(total, 1)


def _decide(
    users: _Users, events: _Events, rng: np.random.Generator, fit_logit: np.ndarray | None = None
) -> _Decision:
    """Apply the known model: a mid-trial daily hazard, then the trial-end decision
    (`fit_logit`: the users' fit terms of the trial-end log-odds, `simulator.fit`)."""
    n = users.n
    trial = _TrialActivity.of(users, events)
    p = trial_end_probability(
        log1p_invites=np.log1p(trial.count("teammate_invited")),
        log1p_projects=np.log1p(trial.count("project_created")),
        any_integration=trial.count("integration_connected") > 0,
        log1p_pricing_views=np.log1p(trial.count("pricing_viewed")),
        any_limit_hit=trial.count("usage_limit_hit") > 0,
        log1p_active_days=np.log1p(trial.active_days),
        decline=trial.decline,
        log1p_support_tickets=np.log1p(trial.count("support_ticket_opened")),
    )
    if fit_logit is not None:
        p = np.clip(p, 1e-12, 1 - 1e-12)
        p = _sigmoid(np.log(p) - np.log1p(-p) + fit_logit)

    def before(name: str) -> np.ndarray:  # for calendar days 1 .. TRIAL_DAYS - 1
        return np.log1p(trial.count_before_day(name)[:, : TRIAL_DAYS - 1])

    hazard = mid_trial_daily_hazard(
        log1p_pricing_views=before("pricing_viewed"),
        log1p_limit_hits=before("usage_limit_hit"),
        log1p_invites=before("teammate_invited"),
    )
    pays = rng.random(hazard.shape) < hazard
    mid: np.ndarray = np.asarray(pays.any(axis=1))
    mid_day = np.argmax(pays, axis=1) + 1
    mid_at = users.date0_ms + mid_day * DAY_MS + (rng.random(n) * DAY_MS).astype(np.int64)
    end_pays = rng.random(n) < p
    delay = rng.random(n) * TRIAL_END_PAYMENT_DAYS * DAY_MS
    end_at = users.trial_end_ms + delay.astype(np.int64)
    converted = np.where(mid, mid_at, np.where(end_pays, end_at, -1))
    return _Decision(converted_ms=converted, mid_trial=mid, p_trial_end=p)


def _after_trial(
    users: _Users, sessions: _Sessions, decision: _Decision, rng: np.random.Generator
) -> np.ndarray:
    """Sessions to keep: paying users go on using the product after the trial, the others
    mostly stop (a few come back). Returns a bool mask over sessions."""
    after = sessions.start_ms >= users.trial_end_ms[sessions.user]
    paying = decision.converted_ms[sessions.user] >= 0
    lapsed_back = rng.random(len(after)) < _POST_TRIAL_KEEP_NON_CONVERTED
    return ~after | paying | lapsed_back


def _with_conversions(
    users: _Users, sessions: _Sessions, events: _Events, decision: _Decision
) -> tuple[_Sessions, _Events]:
    """subscription_started at converted_at, alone in its own (checkout) session."""
    payer = np.flatnonzero(decision.converted_ms >= 0)
    at = decision.converted_ms[payer]
    first_new = len(sessions.user)
    sessions = _Sessions(
        user=np.concatenate([sessions.user, payer]),
        start_ms=np.concatenate([sessions.start_ms, at]),
        day=np.concatenate([sessions.day, (at - users.date0_ms[payer]) // DAY_MS]),
        invites=np.concatenate([sessions.invites, np.zeros(len(payer), np.int64)]),
        signup=np.concatenate([sessions.signup, np.zeros(len(payer), bool)]),
    )
    events = _Events(
        user=np.concatenate([events.user, payer]),
        ts_ms=np.concatenate([events.ts_ms, at]),
        type=np.concatenate([events.type, np.full(len(payer), _E[CONVERSION_EVENT])]),
        session=np.concatenate([events.session, first_new + np.arange(len(payer))]),
    )
    return sessions, events


def _session_ids(users: _Users, sessions: _Sessions) -> np.ndarray:
    """Globally unique, and in time order within each user."""
    order = np.lexsort((sessions.start_ms, sessions.user))
    rank = np.empty(len(order), np.int64)
    rank[order] = _ranks_within(np.bincount(sessions.user, minlength=users.n))
    return (users.first + sessions.user) * SESSION_STRIDE + rank


@dataclass(frozen=True)
class _Block:
    events: pa.Table
    trials: pa.Table
    n_events: int
    conversions: int
    mid_trial_conversions: int


def _simulate_block(
    pop: _Population,
    lo: int,
    hi: int,
    seed: int,
    end_ms: int,
    ids: _IdMaker,
    fit_logit: np.ndarray | None = None,
) -> _Block:
    """Users [lo, hi) of one block, from its own random stream."""
    rng = _rng(seed, 1 + lo // BLOCK_USERS)
    users = _block_users(pop, lo, hi)
    traits = _draw_traits(users, rng)
    sessions = _draw_sessions(users, traits, pop, rng)
    events = _draw_events(users, traits, sessions, rng)
    decision = _decide(users, events, rng, None if fit_logit is None else fit_logit[lo:hi])
    events = events.take(_after_trial(users, sessions, decision, rng)[events.session])
    sessions, events = _with_conversions(users, sessions, events, decision)
    horizon = np.minimum(users.trial_end_ms + POST_TRIAL_DAYS * DAY_MS, end_ms)
    events = events.take(events.ts_ms < horizon[events.user])
    order = np.lexsort((events.ts_ms, events.user))
    events = events.take(order)
    session_id = _session_ids(users, sessions)[events.session]

    observed = (decision.converted_ms >= 0) & (decision.converted_ms < end_ms)
    n_bytes = np.where(
        events.type == _E["file_uploaded"],
        np.round(rng.lognormal(np.log(_UPLOAD_MEDIAN_BYTES), 1.5, len(events.type))),
        np.nan,
    )
    user_ids, account_ids = ids(lo, hi, users.account)
    return _Block(
        events=_events_table(events, session_id, n_bytes, user_ids, account_ids),
        trials=_trials_table(users, decision, observed, user_ids, account_ids),
        n_events=len(events.ts_ms),
        conversions=int(observed.sum()),
        mid_trial_conversions=int((observed & decision.mid_trial).sum()),
    )


# ---------------------------------------------------------------------------------------
# Arrow tables and files
# ---------------------------------------------------------------------------------------

_TS = pa.timestamp("ms", tz="UTC")
EVENTS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("account_id", pa.string()),
        ("event", pa.dictionary(pa.int32(), pa.string())),
        ("timestamp", _TS),
        ("session_id", pa.int64()),
        ("bytes", pa.float64()),
    ]
)
TRIALS_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("account_id", pa.string()),
        ("signup_at", _TS),
        ("trial_end_at", _TS),
        ("converted_at", _TS),
        ("plan", pa.string()),
        (ORACLE_COLUMN, pa.float64()),
    ]
)
_EVENT_DICTIONARY = pa.array(EVENT_TYPES, pa.string())

#: (first user, end user, account numbers) -> (user ids, account ids) for a block.
_IdMaker = Callable[[int, int, np.ndarray], tuple[pa.Array, pa.Array]]


def _padded_ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    digits = pc.utf8_lpad(pa.array(numbers).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def _id_maker(n_users: int, n_accounts: int) -> _IdMaker:
    """Zero-padded ids ("u0000042", "a000017"), wide enough for the population."""
    user_width = max(7, len(str(n_users - 1)))
    account_width = max(6, len(str(n_accounts - 1)))

    def ids(lo: int, hi: int, account: np.ndarray) -> tuple[pa.Array, pa.Array]:
        users = _padded_ids("u", np.arange(lo, hi), user_width)
        return users, _padded_ids("a", account, account_width)

    return ids


def _events_table(
    events: _Events,
    session_id: np.ndarray,
    n_bytes: np.ndarray,
    user_ids: pa.Array,
    account_ids: pa.Array,
) -> pa.Table:
    local = pa.array(events.user)
    event = pa.DictionaryArray.from_arrays(
        pa.array(events.type.astype(np.int32)), _EVENT_DICTIONARY
    )
    return pa.Table.from_arrays(
        [
            user_ids.take(local),
            account_ids.take(local),
            event,
            pa.array(events.ts_ms, _TS),
            pa.array(session_id, pa.int64()),
            pa.array(n_bytes, pa.float64(), from_pandas=True),
        ],
        schema=EVENTS_SCHEMA,
    )


def _trials_table(
    users: _Users,
    decision: _Decision,
    observed: np.ndarray,
    user_ids: pa.Array,
    account_ids: pa.Array,
) -> pa.Table:
    plan = np.where(users.account_size > 1, "team", "pro")
    return pa.Table.from_arrays(
        [
            user_ids,
            account_ids,
            pa.array(users.signup_ms, _TS),
            pa.array(users.trial_end_ms, _TS),
            pa.array(decision.converted_ms, _TS, mask=~observed),
            pa.array(plan, pa.string(), mask=~observed),
            pa.array(decision.p_trial_end, pa.float64()),
        ],
        schema=TRIALS_SCHEMA,
    )


def _spec_bytes() -> bytes:
    return importlib.resources.files("pql.simulator").joinpath("simulated_pql.yaml").read_bytes()


def _account_spec_bytes() -> bytes:
    """The same product scored per account (team): its own product name and registry."""
    text = _spec_bytes().decode("utf-8")
    for old, new in (
        ("product: simulated\n", "product: simulated_accounts\n"),
        ("entity: user\n", "entity: account\n"),
    ):
        if old not in text:
            raise AssertionError(f"simulated_pql.yaml no longer has {old!r}")
        text = text.replace(old, new, 1)
    return text.encode("utf-8")


def _to_utc(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, tz=dt.UTC)


def simulate(
    n_users: int,
    seed: int,
    out_dir: str | Path,
    *,
    start: str = "2026-01-05",
    signup_days: int = 150,
    chunk_users: int = 50_000,
    progress: Callable[[int], None] | None = None,
    fit: bool = False,
) -> SimulationSummary:
    """Write events.parquet, trials.parquet and pql.yaml for `n_users` simulated trials.

    Signups fall on `signup_days` days from `start` (a UTC date); observation ends
    OBSERVATION_TAIL_DAYS after that, so the last trials are incomplete. Output is the
    same for the same (n_users, seed, start, signup_days); `chunk_users` (rounded up to
    whole blocks of BLOCK_USERS) only bounds memory, and `progress(users_done)` is
    called after each chunk. `fit` adds who the users are (`simulator.fit`):
    users.parquet and accounts.parquet, their effects in the oracle, and the specs'
    `data.attributes`. Files are written under temporary names and renamed at
    the end, so a failed run leaves no half-written data set behind.
    """
    n_users = _check_int("n_users", n_users, 1)
    seed = _check_int("seed", seed, 0)
    signup_days = _check_int("signup_days", signup_days, 1)
    chunk_users = _check_int("chunk_users", chunk_users, 1)
    start_date = _parse_start(start)
    if progress is not None and not callable(progress):
        raise DataError(f"simulate: progress must be a callable or None, got {progress!r}")
    out = _prepare_out_dir(out_dir)

    start_ms = int(dt.datetime(*start_date.timetuple()[:3], tzinfo=dt.UTC).timestamp() * 1000)
    end_ms = start_ms + (signup_days + OBSERVATION_TAIL_DAYS) * DAY_MS
    pop = _plan_population(n_users, _rng(seed, 0), start_ms, signup_days)
    ids = _id_maker(n_users, pop.n_accounts)
    drawn = draw_fit(pop.n_accounts, pop.account, pop.account_size, seed) if fit else None
    fit_logit = drawn.logit(pop.account) if drawn is not None else None
    blocks_per_chunk = max(1, -(-chunk_users // BLOCK_USERS))

    names: tuple[str, ...] = ("events.parquet", "trials.parquet", "pql.yaml", ACCOUNT_SPEC)
    names += ("users.parquet", "accounts.parquet") if fit else ()
    paths = {name: out / name for name in names}
    partial = {name: path.with_name(path.name + ".partial") for name, path in paths.items()}
    totals = np.zeros(3, np.int64)
    try:
        with (
            pq.ParquetWriter(partial["events.parquet"], EVENTS_SCHEMA, compression="zstd") as ew,
            pq.ParquetWriter(partial["trials.parquet"], TRIALS_SCHEMA, compression="zstd") as tw,
        ):
            for chunk_lo in range(0, n_users, blocks_per_chunk * BLOCK_USERS):
                chunk_hi = min(n_users, chunk_lo + blocks_per_chunk * BLOCK_USERS)
                blocks = [
                    _simulate_block(
                        pop, lo, min(lo + BLOCK_USERS, chunk_hi), seed, end_ms, ids, fit_logit
                    )
                    for lo in range(chunk_lo, chunk_hi, BLOCK_USERS)
                ]
                ew.write_table(pa.concat_tables([b.events for b in blocks]))
                tw.write_table(pa.concat_tables([b.trials for b in blocks]))
                totals += [
                    sum(b.n_events for b in blocks),
                    sum(b.conversions for b in blocks),
                    sum(b.mid_trial_conversions for b in blocks),
                ]
                del blocks
                if progress is not None:
                    progress(chunk_hi)
        spec_text, account_text = _spec_bytes(), _account_spec_bytes()
        if drawn is not None:
            trials = pq.read_table(partial["trials.parquet"])
            write_fit_tables(
                drawn, trials, pop.account, partial["users.parquet"], partial["accounts.parquet"]
            )
            spec_text = with_fit(spec_text.decode("utf-8"), user_level=True).encode("utf-8")
            account_text = with_fit(account_text.decode("utf-8"), user_level=False).encode()
        partial["pql.yaml"].write_bytes(spec_text)
        partial[ACCOUNT_SPEC].write_bytes(account_text)
        for name, path in paths.items():
            os.replace(partial[name], path)
    except OSError as exc:
        raise DataError(f"simulate: cannot write to {out}: {exc.strerror or exc}") from None
    finally:
        for path in partial.values():
            path.unlink(missing_ok=True)

    return SimulationSummary(
        users=n_users,
        accounts=pop.n_accounts,
        events=int(totals[0]),
        conversions=int(totals[1]),
        mid_trial_conversions=int(totals[2]),
        start=_to_utc(start_ms),
        end=_to_utc(end_ms),
        seed=seed,
        out_dir=out,
        events_path=paths["events.parquet"],
        trials_path=paths["trials.parquet"],
        spec_path=paths["pql.yaml"],
        account_spec_path=paths[ACCOUNT_SPEC],
    )
