"""pql: product-qualified leads from a product's event log.

The public API (see `pql.api` and docs/guides/python-api.md)::

    import pql

    dataset = pql.load_dataset("pql.yaml")
    result = pql.train(dataset)
    batch = pql.score_batch(result.bundle, dataset)

Names load on first use, so `import pql` (and `pql --help`) stays cheap, and the
kernel modules (`pql.errors`, `pql.settings`, `pql.clikit`) can be imported by the
packages below without a cycle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from pql.api import (
        build_features,
        load_dataset,
        load_model,
        load_spec,
        monitor,
        score_batch,
        score_events,
        score_frame,
        train,
    )
    from pql.errors import PqlError

__all__ = [
    "PqlError",
    "__version__",
    "build_features",
    "load_dataset",
    "load_model",
    "load_spec",
    "monitor",
    "score_batch",
    "score_events",
    "score_frame",
    "train",
]


def __getattr__(name: str) -> Any:
    if name == "PqlError":
        from pql.errors import PqlError

        return PqlError
    if name in __all__:
        from pql import api

        return getattr(api, name)
    raise AttributeError(f"module 'pql' has no attribute {name!r}")
