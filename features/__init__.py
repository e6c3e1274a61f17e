"""Event log -> point-in-time behavioural features.

This package knows nothing of models: it loads and validates a product's event log
against its spec (`pql.yaml`) and computes the same features for training snapshots
and for live scoring.
"""

from pql.errors import DataError, PqlError, SpecError

__all__ = ["DataError", "PqlError", "SpecError"]
