"""The trained-model bundle: everything scoring needs, in one self-contained folder.

DESIGN section 4: the LightGBM booster, the calibrator, the spec it was trained with,
the feature list, the PQL threshold, the training reference statistics (percentiles
for reason text) and its metrics. `training` writes it, `serving` loads it; serving
needs only lightgbm, numpy and pandas to use it (the calibrator is stored as plain
numbers, not a pickled scikit-learn object).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import yaml

from pql.errors import PqlError
from pql.features.attributes import AttributeEncoding
from pql.features.definitions import FeatureDefinitions
from pql.features.spec import Spec, parse_spec
from pql.serving.single_row import SingleRowContributions

BUNDLE_FILE = "bundle.json"
BOOSTER_FILE = "booster.txt"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Calibrator:
    """Raw log-odds -> calibrated probability: isotonic steps or a Platt sigmoid."""

    kind: Literal["isotonic", "platt"]
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    slope: float = 1.0
    intercept: float = 0.0
    #: outputs stay inside what the calibration set can support (about half a
    #: conversion in its rows at either end); 0 / 1 for bundles from before the bound
    low: float = 0.0
    high: float = 1.0

    @cached_property
    def _steps(self) -> tuple[np.ndarray, np.ndarray]:
        """The isotonic steps as arrays, made once (a request would convert them)."""
        return np.asarray(self.x, dtype=np.float64), np.asarray(self.y, dtype=np.float64)

    def __call__(self, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        if self.kind == "isotonic":
            out = np.interp(raw, *self._steps)
        else:
            out = 1.0 / (1.0 + np.exp(-(self.slope * raw + self.intercept)))
        return np.clip(out, self.low, self.high)


@dataclass(frozen=True)
class Tiers:
    """Cuts: hot (= PQL) at or above `hot`, warm at or above `warm`.

    `hot`/`warm` are calibrated probabilities (what people read). With `top_percent`
    tiers, the cuts are also kept on the raw score (`hot_raw`/`warm_raw`) and decide
    the tier: calibration may map many rows to one probability (an isotonic plateau),
    and a cut on that plateau would flag all of them; the raw score ranks them apart.
    """

    hot: float
    warm: float
    hot_raw: float | None = None
    warm_raw: float | None = None

    def name(self, probability: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
        if raw is not None and self.hot_raw is not None and self.warm_raw is not None:
            value, hot, warm = np.asarray(raw), self.hot_raw, self.warm_raw
        else:
            value, hot, warm = np.asarray(probability), self.hot, self.warm
        return np.where(value >= hot, "hot", np.where(value >= warm, "warm", "cold"))

    def is_hot(self, probability: np.ndarray, raw: np.ndarray | None = None) -> np.ndarray:
        return self.name(probability, raw) == "hot"


@dataclass(frozen=True)
class ModelBundle:
    spec_yaml: str
    feature_names: tuple[str, ...]
    booster_text: str
    calibrator: Calibrator
    tiers: Tiers
    reference: dict[str, tuple[float, ...]]  # feature -> percentiles 0, 1, ..., 100
    metrics: dict[str, float] = field(default_factory=dict)
    trained_at: str = ""
    base_rate: float = float("nan")
    info: dict[str, Any] = field(default_factory=dict)
    # feature (and "__probability__") -> {"edges": [...], "proportions": [...]}: the
    # training distribution `pql monitor` measures drift against (PSI). Optional, so
    # bundles trained before it existed still load (monitoring then says so).
    drift_reference: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    #: fit attributes' encoding (`features.attributes.AttributeEncoding.to_dict`): the
    #: columns after the behaviour features; empty for a behaviour-only model
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> float:
        """The PQL threshold on the calibrated probability."""
        return self.tiers.hot

    @cached_property
    def spec(self) -> Spec:
        return parse_spec(yaml.safe_load(self.spec_yaml), source="model bundle spec")

    @cached_property
    def definitions(self) -> FeatureDefinitions:
        return FeatureDefinitions.from_spec(self.spec)

    @cached_property
    def encoding(self) -> AttributeEncoding:
        """How fit attributes become model columns (empty: a behaviour-only model)."""
        return AttributeEncoding.from_dict(self.attributes)

    @cached_property
    def booster(self) -> lgb.Booster:
        return lgb.Booster(model_str=self.booster_text)

    @cached_property
    def single_row(self) -> SingleRowContributions | None:
        """LightGBM's single-row fast path for a request's one row (same numbers), made
        once per model: every `Scorer` of this bundle shares it."""
        return SingleRowContributions.for_model(self.booster_text)

    def save(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / BOOSTER_FILE).write_text(self.booster_text, encoding="utf-8")
        meta = asdict(self)
        meta.pop("booster_text")
        meta["format_version"] = FORMAT_VERSION
        (folder / BUNDLE_FILE).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> ModelBundle:
        folder = Path(folder)
        try:
            meta = json.loads((folder / BUNDLE_FILE).read_text(encoding="utf-8"))
            booster_text = (folder / BOOSTER_FILE).read_text(encoding="utf-8")
        except (OSError, json.JSONDecodeError) as exc:
            raise PqlError(f"{folder}: not a pql model bundle ({exc})") from None
        if meta.pop("format_version", None) != FORMAT_VERSION:
            raise PqlError(f"{folder}: unsupported bundle format")
        return cls(
            spec_yaml=meta["spec_yaml"],
            feature_names=tuple(meta["feature_names"]),
            booster_text=booster_text,
            calibrator=Calibrator(**{k: _tuple(v) for k, v in meta["calibrator"].items()}),
            tiers=Tiers(**meta["tiers"]),
            reference={k: tuple(v) for k, v in meta["reference"].items()},
            metrics=meta.get("metrics", {}),
            trained_at=meta.get("trained_at", ""),
            base_rate=meta.get("base_rate", float("nan")),
            info=meta.get("info", {}),
            drift_reference=meta.get("drift_reference", {}),
            attributes=meta.get("attributes", {}),
        )


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value
