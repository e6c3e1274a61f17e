"""A simulated SaaS product whose conversions follow a known model (see `product`).

Used by `pql simulate`, `pql demo`, the tests, the notebooks and the benchmarks; no
production code imports it (an import contract in `make test` says so).
"""

from pql.simulator.product import (
    ACCOUNT_SPEC,
    CONVERSION_EVENT,
    EVENT_TYPES,
    MID_TRIAL_COEFFICIENTS,
    MID_TRIAL_INTERCEPT,
    TRIAL_END_COEFFICIENTS,
    TRIAL_END_INTERCEPT,
    SimulationSummary,
    mid_trial_daily_hazard,
    simulate,
    trial_end_probability,
)

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
