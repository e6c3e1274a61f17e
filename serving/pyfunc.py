"""The bundle as an MLflow pyfunc model: `mlflow.pyfunc.load_model` (and Spark UDFs).

Input: a feature frame (columns = the bundle's feature names). Output: one row per
input row with probability, 0-100 score, tier, PQL flag and the reasons as JSON text
(plain columns, so the output also fits a Spark UDF's struct type).
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from mlflow.pyfunc import PythonModel

from pql.serving.bundle import ModelBundle
from pql.serving.scoring import Scorer

BUNDLE_ARTIFACT = "bundle"


class PqlModel(PythonModel):
    def load_context(self, context: Any) -> None:
        self.scorer = Scorer(ModelBundle.load(context.artifacts[BUNDLE_ARTIFACT]))

    @property
    def bundle(self) -> ModelBundle:
        return self.scorer.bundle

    def predict(
        self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None
    ) -> pd.DataFrame:
        scored = self.scorer.score_frame(pd.DataFrame(model_input))
        return pd.DataFrame(
            {
                "probability": scored["probability"].astype(float),
                "score": scored["score"].astype(float),
                "tier": scored["tier"].astype(str),
                "is_pql": scored["is_pql"].astype(bool),
                "reasons": [json.dumps(r) for r in scored["reasons"]],
                "negative_reasons": [json.dumps(r) for r in scored["negative_reasons"]],
            }
        )
