"""One row's exact contributions through LightGBM's single-row fast path.

`Booster.predict` sets up a predictor, copies its parameters and checks its input on
every call: for the one row of an HTTP request that set-up costs more than the trees.
LightGBM's C API has a path made for this case (`LGBM_BoosterPredictForMatSingleRowFast`):
the configuration is parsed once and each call only walks the trees. It gives the same
numbers as `Booster.predict(..., pred_contrib=True)`, bit for bit (tests check it).

It is reached through the `lightgbm` package's own library handle (`lightgbm.basic._LIB`);
when that is missing (a future release), `for_model` returns None and the caller keeps
`Booster.predict`.

The path runs on a private copy of the model. LightGBM keeps the iteration range of the
last predictor made on a booster inside the booster, and the fast path reads it on every
call: a `predict(start_iteration=t, num_iteration=1)` on the same booster (as
`serving.contributions` makes per tree) would leave it computing one tree's
contributions.
"""

from __future__ import annotations

import ctypes
import threading
import weakref
from typing import Any

import lightgbm as lgb
import numpy as np

#: LightGBM C API constants (c_api.h)
_PREDICT_CONTRIB = 3
_FLOAT64 = 1


class SingleRowContributions:
    """Contributions (features + base value) of one float64 row, set up once per model."""

    def __init__(self, library: Any, check: Any, booster: Any) -> None:
        self._library, self._check = library, check
        self._booster = booster  # outlives the configuration that points into it
        self.n_features = n_features = booster.num_feature()
        self._handle = ctypes.c_void_p()
        check(
            library.LGBM_BoosterPredictForMatSingleRowFastInit(
                booster._handle,
                ctypes.c_int(_PREDICT_CONTRIB),
                ctypes.c_int(0),  # start iteration
                ctypes.c_int(-1),  # all iterations
                ctypes.c_int(_FLOAT64),
                ctypes.c_int32(n_features),
                ctypes.c_char_p(b"num_threads=1"),
                ctypes.byref(self._handle),
            )
        )
        # the configuration holds buffers of its own: one call at a time
        self._lock = threading.Lock()
        weakref.finalize(self, library.LGBM_FastConfigFree, self._handle)

    @classmethod
    def for_model(cls, model_text: str) -> SingleRowContributions | None:
        """The fast path for a model (LightGBM's text form), on a booster of its own that
        nothing else predicts with; None where this LightGBM does not offer the path."""
        try:
            from lightgbm.basic import _LIB, _safe_call

            return cls(_LIB, _safe_call, lgb.Booster(model_str=model_text))
        except (ImportError, AttributeError):
            return None

    def __call__(self, row: np.ndarray) -> np.ndarray:
        """(1, n_features + 1): the row's contributions, the base value last."""
        values = np.ascontiguousarray(row, dtype=np.float64).reshape(-1)
        if len(values) != self.n_features:
            raise ValueError(f"expected {self.n_features} features, got {len(values)}")
        out = np.empty(self.n_features + 1, dtype=np.float64)
        written = ctypes.c_int64()
        with self._lock:
            self._check(
                self._library.LGBM_BoosterPredictForMatSingleRowFast(
                    self._handle,
                    values.ctypes.data_as(ctypes.c_void_p),
                    ctypes.byref(written),
                    out.ctypes.data_as(ctypes.POINTER(ctypes.c_double)),
                )
            )
        return out.reshape(1, -1)
