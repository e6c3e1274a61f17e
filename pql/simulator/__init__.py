"""A simulated SaaS product whose conversions follow a known model (see `product`).

Used by `pql simulate`, `pql demo`, the tests, the notebooks and the benchmarks; no
production code imports it (an import contract in `make test` says so).
"""

from pql.simulator.product import *  # noqa: F403  (the names `product.__all__` lists)
from pql.simulator.product import __all__ as __all__
