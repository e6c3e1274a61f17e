"""Spec fields that would run code paths unchecked are refused by `pql validate`."""

from __future__ import annotations

from pathlib import Path

import pytest

from pql.errors import SpecError
from pql.features.spec import load_spec

BASE = (
    "product: x\n"
    "data: {events: {path: e.csv}}\n"
    "label: {conversion_event: paid}\n"
    "actions: {a: {events: [a], reason: 'Did {count}'}}\n"
)


def _bomb() -> str:
    lines = ['l0: &l0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 20):
        lines.append(f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "]")
    return BASE + "model:\n  params:\n" + "".join(f"    {line}\n" for line in lines)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (_bomb(), "YAML aliases"),
        (BASE + "model: {params: " + "{a: " * 50_000 + "1" + "}" * 50_000 + "}\n", "nested"),
        (BASE + "model: {params: {num_leaves: {a: 1}}}\n", "model.params"),
        (BASE + "model: {params: {'Bad Key': 1}}\n", "not a LightGBM parameter name"),
        (BASE.replace("Did {count}", "{count:>50000000}"), "placeholders as {name} only"),
        (BASE.replace("Did {count}", "{count:{action.__class__}}"), "placeholders as {name}"),
        (BASE.replace("reason: 'Did {count}'", "label: 'did {count}'"), "plain words only"),
    ],
)
def test_refused_with_a_clear_message(tmp_path: Path, text: str, message: str) -> None:
    spec = tmp_path / "pql.yaml"
    spec.write_text(text)
    with pytest.raises(SpecError, match=message.replace("{", r"\{").replace(".", r"\.")):
        load_spec(spec)


def test_ordinary_params_and_words_pass(tmp_path: Path) -> None:
    spec = tmp_path / "pql.yaml"
    spec.write_text(
        BASE.replace("reason: 'Did {count}'", "label: 'uploaded a file'")
        + "model: {params: {num_leaves: 31, learning_rate: 0.05, boosting: gbdt}}\n"
    )
    loaded = load_spec(spec)
    assert loaded.model.params["num_leaves"] == 31
    assert loaded.actions["a"].label == "uploaded a file"
