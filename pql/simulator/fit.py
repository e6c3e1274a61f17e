"""Fit for the simulated product: who each trial user is, with known effects on conversion.

`pql simulate --fit` gives every account a company size band, an industry and a country,
and every user a role and an e-mail address (work or free-mail). Their effects are
published (`FIT_COEFFICIENTS`) and add to the trial-end log-odds of the behaviour model,
so the oracle stays the true probability of what is observable:

    p_trial_end = sigmoid(TRIAL_END_INTERCEPT + behaviour terms + fit terms)

Only values known during the trial enter it. The attribute tables are point-in-time
(`updated_at`), and carry two kinds of later rows a careless join would leak:

- some accounts are re-enriched after their trial (a new company size estimate);
- the role of users who did not give one at signup is filled in one day after they
  convert (a sales call): in the data it exists only for converters, so a join that
  ignores `updated_at` would hand the model the outcome.

The draws come from their own random stream, so the behaviour of a simulated user is
the same with and without fit; only the conversions (through the oracle) change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

DAY_MS = 24 * 3600 * 1000
#: The random stream of fit draws (streams 0 and 1.. are the population and the blocks).
FIT_STREAM = 1_000_000

COMPANY_SIZES = ("1-10", "11-50", "51-200", "201-500", "501-1000", "1000+")
INDUSTRIES = ("software", "agency", "retail", "finance", "education", "healthcare", "manufacturing")
#: Common countries, then a tail of rare ones (few rows each: training pools them).
COUNTRIES = ("US", "GB", "DE", "FR", "IN", "BR", "CA", "NL", "ES", "AU", "NZ", "SG", "JP", "MX")
ROLES = ("founder", "engineer", "marketing", "sales", "student", "other")
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com")

_SIZE_P = np.array([0.36, 0.27, 0.16, 0.11, 0.06, 0.04])
_SIZE_P_TEAM = np.array([0.15, 0.25, 0.22, 0.18, 0.12, 0.08])  # accounts that invite members
_INDUSTRY_P = np.array([0.28, 0.16, 0.14, 0.12, 0.12, 0.10, 0.08])
_COUNTRY_P = np.array(
    [0.34, 0.11, 0.10, 0.07, 0.09, 0.06, 0.06, 0.04, 0.04, 0.04, 0.02, 0.012, 0.004, 0.004]
)
_ROLE_P = np.array([0.22, 0.30, 0.14, 0.12, 0.10, 0.12])
#: P(the user gave no role at signup): filled in after conversion for those who convert.
ROLE_MISSING_AT_SIGNUP = 0.35
#: P(a work address) per company size band: the smallest companies use free mail most.
_WORK_MAIL_P = np.array([0.35, 0.70, 0.85, 0.90, 0.92, 0.95])
#: Share of accounts re-enriched with a new company size after their trial.
RE_ENRICHED = 0.3

#: Known effects on the trial-end log-odds, per level (a level not listed: 0; an
#: unknown role: 0). Published beside the behaviour coefficients, like them.
FIT_COEFFICIENTS: Mapping[str, Mapping[str, float]] = MappingProxyType(
    {
        "company_size": MappingProxyType(
            {
                "1-10": -0.5,
                "11-50": 0.0,
                "51-200": 0.45,
                "201-500": 0.8,
                "501-1000": 0.6,
                "1000+": 0.3,
            }
        ),
        "industry": MappingProxyType(
            {"software": 0.35, "agency": -0.25, "retail": -0.35, "finance": 0.25, "education": -0.7}
        ),
        "country": MappingProxyType({"US": 0.2, "IN": -0.5, "BR": -0.3, "DE": 0.1}),
        "role": MappingProxyType({"founder": 0.6, "sales": 0.2, "student": -1.2, "other": -0.3}),
        "email_kind": MappingProxyType({"work": 0.5, "personal": -0.4}),
    }
)


def _effects(name: str, levels: tuple[str, ...]) -> np.ndarray:
    return np.array([FIT_COEFFICIENTS[name].get(level, 0.0) for level in levels])


@dataclass(frozen=True)
class Fit:
    """Level codes per account and per user (users numbered as the population)."""

    size: np.ndarray  # per account, index into COMPANY_SIZES
    industry: np.ndarray
    country: np.ndarray
    resized: np.ndarray  # per account: the band of the post-trial re-enrichment, -1 none
    resized_after_days: np.ndarray  # per account: days after the owner's signup
    role: np.ndarray  # per user, index into ROLES
    role_known: np.ndarray  # per user: given at signup
    work_mail: np.ndarray  # per user
    free_mail: np.ndarray  # per user: index into FREE_MAIL (personal addresses)

    def logit(self, account: np.ndarray) -> np.ndarray:
        """Each user's fit term of the trial-end log-odds, from values known in the trial."""
        z = (
            _effects("company_size", COMPANY_SIZES)[self.size[account]]
            + _effects("industry", INDUSTRIES)[self.industry[account]]
            + _effects("country", COUNTRIES)[self.country[account]]
            + np.where(self.role_known, _effects("role", ROLES)[self.role], 0.0)
        )
        mail = _effects("email_kind", ("work", "personal"))
        return z + np.where(self.work_mail, mail[0], mail[1])


def draw_fit(n_accounts: int, account: np.ndarray, account_size: np.ndarray, seed: int) -> Fit:
    """Attributes of every account and user, from the fit stream of `seed`."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(FIT_STREAM,)))
    team = np.zeros(n_accounts, bool)
    team[account[account_size > 1]] = True
    size = np.where(
        team,
        rng.choice(len(COMPANY_SIZES), n_accounts, p=_SIZE_P_TEAM),
        rng.choice(len(COMPANY_SIZES), n_accounts, p=_SIZE_P),
    )
    resize = rng.random(n_accounts) < RE_ENRICHED
    shift = rng.choice([-1, 1], n_accounts)
    resized = np.where(resize, np.clip(size + shift, 0, len(COMPANY_SIZES) - 1), -1)
    n_users = len(account)
    return Fit(
        size=size,
        industry=rng.choice(len(INDUSTRIES), n_accounts, p=_INDUSTRY_P),
        country=rng.choice(len(COUNTRIES), n_accounts, p=_COUNTRY_P / _COUNTRY_P.sum()),
        resized=resized,
        resized_after_days=rng.uniform(22, 40, n_accounts),
        role=rng.choice(len(ROLES), n_users, p=_ROLE_P),
        role_known=rng.random(n_users) >= ROLE_MISSING_AT_SIGNUP,
        work_mail=rng.random(n_users) < _WORK_MAIL_P[size[account]],
        free_mail=rng.integers(0, len(FREE_MAIL), n_users),
    )


_TS = pa.timestamp("ms", tz="UTC")


def write_fit_tables(
    fit: Fit,
    trials: pa.Table,
    account: np.ndarray,
    users_path: Path,
    accounts_path: Path,
) -> None:
    """users.parquet (user_id, updated_at, email, role) and accounts.parquet
    (account_id, updated_at, company_size, industry, country), from the written trials
    (one row per user, in user order: ids, signups and conversions)."""
    user_ids = trials["user_id"].to_numpy(zero_copy_only=False).astype(str)
    account_ids = trials["account_id"].to_numpy(zero_copy_only=False).astype(str)
    signup = trials["signup_at"].cast(pa.int64()).to_numpy()
    converted = pc.fill_null(trials["converted_at"].cast(pa.int64()), -1).to_numpy()

    domains = np.char.add(np.char.add("acme-", np.char.lower(account_ids)), ".com")
    free = np.array(FREE_MAIL)[fit.free_mail]
    email = np.char.add(np.char.add(user_ids, "@"), np.where(fit.work_mail, domains, free))
    roles = np.array(ROLES)[fit.role]
    # at signup: the e-mail, and the role when given; a day after conversion, the role
    # of converters who had not given one (sales asked)
    late = ~fit.role_known & (converted >= 0)
    users = pa.table(
        {
            "user_id": np.concatenate([user_ids, user_ids[late]]),
            "updated_at": pa.array(np.concatenate([signup, converted[late] + DAY_MS]), _TS),
            "email": np.concatenate([email, email[late]]),
            "role": pa.array(
                np.concatenate([np.where(fit.role_known, roles, None), roles[late]]),
                pa.string(),
            ),
        }
    )
    n_accounts = len(fit.size)
    first = np.full(n_accounts, np.iinfo(np.int64).max)
    np.minimum.at(first, account, signup)
    names = np.empty(n_accounts, dtype=object)
    names[account] = account_ids
    created = first - DAY_MS  # enriched when the account was created, before any trial day
    again = fit.resized >= 0
    later = first[again] + (fit.resized_after_days[again] * DAY_MS).astype(np.int64)
    sizes, industries, countries = (np.array(v) for v in (COMPANY_SIZES, INDUSTRIES, COUNTRIES))
    accounts = pa.table(
        {
            "account_id": pa.array(np.concatenate([names, names[again]]).astype(str)),
            "updated_at": pa.array(np.concatenate([created, later]), _TS),
            "company_size": np.concatenate([sizes[fit.size], sizes[fit.resized[again]]]),
            "industry": np.concatenate([industries[fit.industry], industries[fit.industry[again]]]),
            "country": np.concatenate([countries[fit.country], countries[fit.country[again]]]),
        }
    )
    pq.write_table(users, users_path, compression="zstd")
    pq.write_table(accounts, accounts_path, compression="zstd")


#: Spec text appended to `data:` of the simulated specs (the account spec takes only the
#: account table: an account has no single user's role or e-mail).
USER_ATTRIBUTES = """    - path: users.parquet
      level: user
      valid_from: updated_at
      columns:
        email_kind:
          kind: email_kind
          column: email
        role:
          kind: categorical
          reason: "Role: {value}"
"""
ACCOUNT_ATTRIBUTES = """    - path: accounts.parquet
      level: account
      valid_from: updated_at
      columns:
        company_size:
          kind: categorical
          reason: "Company of {value} employees"
        industry:
          kind: categorical
          reason: "Industry: {value}"
        country:
          kind: categorical
          reason: "Based in {value}"
"""
OUTPUT = """output:
  attributes: [company_size, industry, country]
"""


def with_fit(spec_text: str, *, user_level: bool) -> str:
    """The simulated spec with `data.attributes` and `output.attributes` added."""
    tables = (USER_ATTRIBUTES if user_level else "") + ACCOUNT_ATTRIBUTES
    anchor = "\nlabel:\n"
    if anchor not in spec_text:
        raise AssertionError("simulated_pql.yaml no longer has a top-level 'label:'")
    head, tail = spec_text.split(anchor, 1)
    return f"{head}\n  attributes:\n{tables}{anchor.lstrip()}{tail.rstrip()}\n{OUTPUT}"
